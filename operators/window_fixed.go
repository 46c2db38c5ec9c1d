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
// State is indexed twice. Each window keeps its panes column-wise (accumulators, revisions,
// owning key) for firing and snapshots. Each key, interned once in keys, keeps references to
// its panes in the windows it appears in, sorted by window start, so that a record costs one
// map lookup however many windows it updates, and a key's bytes are copied once, when it first
// appears, not once per window.
//
// Invariants after OnWatermark(wm): wins is sorted by start; windows with end <= wm have fired
// (a prefix), the rest have not; no window has end + lateness <= wm; a key is in keys iff it
// has a pane; next is the smallest watermark at which OnWatermark has work (first unfired end,
// or first end + lateness).
type fixedWindows struct {
	size, slide, lateness int64

	wins []*paneWindow
	keys map[string]*fixedKey
	next int64

	// The key of the previous record, so that a run of one key skips the map.
	last    *fixedKey
	lastKey []byte

	perm []int32 // scratch for sorting a window's keys
}

type fixedKey struct {
	key   string    // encoded key, shared by the map and every pane
	panes []paneRef // sorted by window start
}

type paneRef struct {
	win *paneWindow
	p   int32 // pane number in win
}

// paneWindow is one [start, end) window and its panes (one per key), stored column-wise.
type paneWindow struct {
	start, end int64
	fired      bool
	keys       []*fixedKey       // pane p's key
	accs       []agg.Accumulator // pane p's accumulators are accs[p*nAggs : (p+1)*nAggs]
	revs       []int32           // pane p's next revision: the number of rows it has emitted
}

func newFixedWindows(size, slide, lateness int64) *fixedWindows {
	return &fixedWindows{size: size, slide: slide, lateness: lateness, next: math.MaxInt64, keys: make(map[string]*fixedKey)}
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
	n := len(w.funcs)
	for s := open; s <= t; s += f.slide {
		if j == len(fk.panes) || fk.panes[j].win.start != s {
			pw := f.window(s, wm)
			fk.panes = slices.Insert(fk.panes, j, paneRef{win: pw, p: pw.add(fk, w.zeroAccs)})
		}
		ref := fk.panes[j]
		j++
		pw, p := ref.win, int(ref.p)
		accs := pw.accs[p*n : p*n+n]
		w.add(accs, r, seq)
		if pw.fired { // a revision (or the first row of a new key in a fired window), at once
			w.emit(out, w.rowSlab(1), pw.start, pw.end, fk.key, accs, pw.revs[p])
			pw.revs[p]++
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
		fk = &fixedKey{key: string(buf)}
		f.keys[fk.key] = fk
	}
	f.last = fk
	f.lastKey = append(f.lastKey[:0], buf...)
	return fk
}

// add appends a pane for fk and returns its number.
func (pw *paneWindow) add(fk *fixedKey, zero []agg.Accumulator) int32 {
	p := int32(len(pw.keys))
	pw.keys = append(pw.keys, fk)
	pw.accs = append(pw.accs, zero...)
	pw.revs = append(pw.revs, 0)
	return p
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
	hint := 0
	if n > 0 { // the newest window's key count predicts the next one's
		hint = len(f.wins[n-1].keys)
	}
	pw := &paneWindow{start: start, end: start + f.size, keys: make([]*fixedKey, 0, hint)}
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
			rows += len(pw.keys)
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
		for _, fk := range f.wins[k].keys {
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
func (f *fixedWindows) sorted(pw *paneWindow) []int32 {
	f.perm = f.perm[:0]
	for p := range pw.keys {
		f.perm = append(f.perm, int32(p))
	}
	keys := pw.keys
	slices.SortFunc(f.perm, func(a, b int32) int { return strings.Compare(keys[a].key, keys[b].key) })
	return f.perm
}

// fire emits revision 0 of every pane of pw in key order.
func (f *fixedWindows) fire(w *Window, pw *paneWindow, slab []row.Value, out *Output) []row.Value {
	pw.fired = true
	n := len(w.funcs)
	for _, p := range f.sorted(pw) {
		slab = w.emit(out, slab, pw.start, pw.end, pw.keys[p].key, pw.accs[int(p)*n:int(p)*n+n], pw.revs[p])
		pw.revs[p]++
	}
	return slab
}
