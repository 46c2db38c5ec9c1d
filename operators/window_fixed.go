package operators

import (
	"bytes"
	"math"
	"slices"
	"strings"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// fixedWindows holds tumbling and sliding windows: all have the same size and start on a
// multiple of slide (tumbling: slide == size), so ordering by start orders them by end.
//
// State is indexed twice. Each window keeps its panes in a pageStore (owning key, revision,
// accumulators; shared copy-on-write with captures, see cow.go) for firing and snapshots.
// Each key, interned once in keys, keeps references to its panes in the windows it appears
// in, sorted by window start, so that a record costs one map lookup however many windows it
// updates, and a key's bytes are copied once, when it first appears, not once per window.
//
// Invariants after OnWatermark(wm): wins is sorted by start; windows with end <= wm have fired
// (a prefix), the rest have not; no window has end + lateness <= wm; a key is in keys iff it
// has a pane; next is the smallest watermark at which OnWatermark has work (first unfired end,
// or first end + lateness).
type fixedWindows struct {
	clk                   *cowClock
	pool                  pagePool[pane] // shared by every window's panes
	nAggs                 int
	size, slide, lateness int64

	wins []*paneWindow
	keys map[string]*fixedKey
	next int64

	// The key of the previous record, so that a run of one key skips the map.
	last    *fixedKey
	lastKey []byte

	perm []keyedPane // scratch for sorting a window's keys
}

type fixedKey struct {
	key   string    // encoded key, shared by the map and every pane; never modified
	panes []paneRef // sorted by window start
	first [1]paneRef
}

// newFixedKey returns the state of a new key, with room for one pane in the same allocation
// (tumbling windows need no more).
func newFixedKey(key string) *fixedKey {
	fk := &fixedKey{key: key}
	fk.panes = fk.first[:0]
	return fk
}

type paneRef struct {
	win *paneWindow
	p   int32 // pane number in win
}

// paneWindow is one [start, end) window and its panes (one per key). Panes are only added
// (pane p is row p of panes) until the whole window is purged.
type paneWindow struct {
	start, end int64
	fired      bool
	panes      pageStore[pane]
	hint       int // capacity of the first page of panes
}

// pane is a (window, key) state; its accumulators are beside it in the pageStore.
type pane struct {
	key *fixedKey // key.key is never modified, so captures may read it
	rev int32     // the next revision: the number of rows this pane has emitted
}

func newFixedWindows(clk *cowClock, nAggs int, size, slide, lateness int64) *fixedWindows {
	return &fixedWindows{clk: clk, nAggs: nAggs, size: size, slide: slide, lateness: lateness, next: math.MaxInt64, keys: make(map[string]*fixedKey)}
}

func (f *fixedWindows) onRecord(w *Window, r *Record, seq int64, out *Output) {
	t, wm := r.Time, w.wm
	closedAt := max(wm, w.horizon) // lateness only: firing follows the watermark alone
	// The windows holding t start at k*slide in (t-size, t]; the earliest end first, so the
	// late ones (end + lateness <= wm) come first. Tumbling: exactly one.
	first := floorDiv(t, f.slide) * f.slide
	if f.slide != f.size {
		first = floorDiv(t-f.size, f.slide)*f.slide + f.slide
	}
	open := first
	for open <= t && open+f.size+f.lateness <= closedAt {
		open += f.slide
	}
	if open > first { // missed some: one late record naming them
		n := int((open - first) / f.slide)
		last := open - f.slide
		w.late(out, r.Ref, lateReason("window", n, first, first+f.size, last, last+f.size, closedAt, f.lateness))
	}
	if open > t {
		return
	}
	fk := f.key(w.keyBuf)
	// Walk the key's panes and the record's windows together, creating missing panes.
	j := len(fk.panes)
	for j > 0 && fk.panes[j-1].win.start >= open {
		j--
	}
	n := f.nAggs
	for s := open; s <= t; s += f.slide {
		if j == len(fk.panes) || fk.panes[j].win.start != s {
			pw := f.window(s, wm)
			fk.panes = slices.Insert(fk.panes, j, paneRef{win: pw, p: pw.add(fk, w.zeroAccs)})
		}
		ref := fk.panes[j]
		j++
		pw := ref.win
		// pw.mut(ref.p) by hand: the compiler does not inline it, and this is the hot path.
		pg := &pw.panes.list[ref.p>>pageShift]
		if pg.gen <= pw.panes.frozen {
			pg = pw.writable(ref.p >> pageShift)
		}
		pi := int(ref.p & pageMask)
		pn, accs := &pg.rows[pi], pg.accs[pi*n:pi*n+n]
		w.add(accs, r, seq)
		if pw.fired { // a revision (or the first row of a new key in a fired window), at once
			w.emit(out, w.rowSlab(1), pw.start, pw.end, fk.key, accs, pn.rev)
			pn.rev++
		}
	}
}

// key returns the interned state of the key in buf, creating it.
func (f *fixedWindows) key(buf []byte) *fixedKey {
	if f.last != nil && bytes.Equal(buf, f.lastKey) {
		return f.last
	}
	fk := f.keys[string(buf)]
	if fk == nil {
		fk = newFixedKey(string(buf))
		f.keys[fk.key] = fk
	}
	f.last = fk
	f.lastKey = append(f.lastKey[:0], buf...)
	return fk
}

// mut is pw.panes.mut(p) written for the concrete row type, which costs less than the generic
// method (the slow path, writable, stays out of line).
func (pw *paneWindow) mut(p int32) (*pane, []agg.Accumulator) {
	pg := &pw.panes.list[p>>pageShift]
	if pg.gen <= pw.panes.frozen {
		pg = pw.writable(p >> pageShift)
	}
	j, n := int(p&pageMask), pw.panes.nAggs
	return &pg.rows[j], pg.accs[j*n : j*n+n]
}

//go:noinline
func (pw *paneWindow) writable(k int32) *page[pane] { return pw.panes.writable(k) }

// add appends a pane for fk and returns its number.
func (pw *paneWindow) add(fk *fixedKey, zero []agg.Accumulator) int32 {
	return pw.panes.push(pane{key: fk}, zero, pw.hint)
}

func (f *fixedWindows) newWindow(start int64) *paneWindow {
	return &paneWindow{start: start, end: start + f.size, panes: newPageStore(f.clk, &f.pool, f.nAggs)}
}

// window returns the window starting at start, creating it (fired if its end <= wm).
func (f *fixedWindows) window(start, wm int64) *paneWindow {
	n := len(f.wins)
	if n > 0 && f.wins[n-1].start == start { // in-order data: the newest window
		return f.wins[n-1]
	}
	i, found := slices.BinarySearchFunc(f.wins, start, func(pw *paneWindow, s int64) int {
		return cmpInt64(pw.start, s)
	})
	if found {
		return f.wins[i]
	}
	pw := f.newWindow(start)
	if n > 0 { // the newest window's key count predicts the next one's
		pw.hint = f.wins[n-1].panes.len()
	}
	if pw.end <= wm {
		pw.fired = true
		f.next = min(f.next, pw.end+f.lateness)
	} else {
		f.next = min(f.next, pw.end)
	}
	f.wins = slices.Insert(f.wins, i, pw)
	return pw
}

func (f *fixedWindows) onWatermark(w *Window, wm int64, out *Output) {
	if wm < f.next {
		return
	}
	// Fire, in window order, every window with end <= wm that has not fired.
	rows := 0
	for _, pw := range f.wins {
		if pw.end > wm {
			break
		}
		if !pw.fired {
			rows += pw.panes.len()
		}
	}
	if rows > 0 {
		slab := w.rowSlab(rows)
		for _, pw := range f.wins {
			if pw.end > wm {
				break
			}
			if !pw.fired {
				slab = f.fire(w, pw, slab, out)
			}
		}
	}
	// Purge the prefix past its allowed lateness. Windows go in start order, so each one's
	// panes are the first of their keys'.
	k := 0
	for k < len(f.wins) && f.wins[k].end+f.lateness <= wm {
		ps := &f.wins[k].panes
		for p := range int32(ps.len()) {
			pn, _ := ps.at(p)
			fk := pn.key
			fk.panes = slices.Delete(fk.panes, 0, 1)
			if len(fk.panes) == 0 {
				delete(f.keys, fk.key)
				if f.last == fk {
					f.last = nil
				}
			}
		}
		k++
	}
	f.wins = slices.Delete(f.wins, 0, k)
	f.next = math.MaxInt64
	if len(f.wins) > 0 {
		f.next = f.wins[0].end + f.lateness
	}
	for _, pw := range f.wins {
		if !pw.fired {
			f.next = min(f.next, pw.end)
			break
		}
	}
}

// sorted returns pw's pane numbers in key order (in f.perm, valid until the next call).
func (f *fixedWindows) sorted(pw *paneWindow) []keyedPane {
	if cap(f.perm) > 4*pw.panes.len()+1024 { // do not hold on to the scratch of a huge window
		f.perm = nil
	}
	f.perm = sortPanes(f.perm[:0], &pw.panes.pages)
	return f.perm
}

// keyedPane is a pane number and its key, for sorting.
type keyedPane struct {
	key string
	p   int32
}

// sortPanes appends the panes of ps to dst in key order.
func sortPanes(dst []keyedPane, ps *pages[pane]) []keyedPane {
	dst = slices.Grow(dst, int(ps.n))
	for p := range ps.n {
		pn, _ := ps.at(p)
		dst = append(dst, keyedPane{key: pn.key.key, p: p})
	}
	slices.SortFunc(dst, func(a, b keyedPane) int { return strings.Compare(a.key, b.key) })
	return dst
}

// fire emits revision 0 of every pane of pw in key order.
func (f *fixedWindows) fire(w *Window, pw *paneWindow, slab []row.Value, out *Output) []row.Value {
	pw.fired = true
	for _, kp := range f.sorted(pw) {
		pn, accs := pw.mut(kp.p)
		slab = w.emit(out, slab, pw.start, pw.end, pn.key.key, accs, pn.rev)
		pn.rev++
	}
	return slab
}
