package operators

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/glintstream/glint/operators/agg"
)

// WindowCapture is a Window's state frozen at Capture, to be encoded (AppendSnapshot) on any
// goroutine while the window's owner goes on with OnRecord, OnWatermark and Restore.
//
// It shares the window's state pages copy-on-write (see cow.go): Capture costs O(windows +
// pages), not O(panes), and after it the owner copies each page once, on its first write
// to it, while the capture is outstanding. Call Release when done with it so that the owner
// stops copying; a capture never released costs one page copy per written page per later
// capture, and keeps its pages alive, but is otherwise harmless.
type WindowCapture struct {
	clk      *cowClock
	header   []byte
	funcs    []agg.Func // never modified by the window
	seq, wm  int64
	wins     []capturedWindow // tumbling, sliding
	sessions *pages[sessRow]  // session
	released atomic.Bool
}

type capturedWindow struct {
	start int64
	fired bool
	panes pages[pane]
}

// Capture freezes the window's state for a snapshot and returns it. It runs on the owner's
// goroutine like every other method of w and costs O(windows + pages): it copies each
// window's list of page headers (56 bytes per page of 512 panes or sessions), about 0.1 ms
// for a million keys. Capture().AppendSnapshot gives the bytes AppendSnapshot would have
// given at this moment.
func (w *Window) Capture() *WindowCapture {
	// Pages of generation <= gen are now frozen in every store; new ones get a later gen.
	gen := w.clk.gen
	w.clk.gen++
	reclaim := w.clk.outstanding.Add(1) == 1 // no capture is reading retired pages any more
	c := &WindowCapture{clk: w.clk, header: w.appendHeader(nil), funcs: w.funcs, seq: w.seq, wm: w.wm}
	if w.sess != nil {
		p := w.sess.rows.freeze(gen)
		c.sessions = &p
		if reclaim {
			w.sess.pool.reclaim(len(p.list))
		}
		return c
	}
	c.wins = make([]capturedWindow, len(w.fixed.wins))
	pages := 0
	for i, pw := range w.fixed.wins {
		c.wins[i] = capturedWindow{start: pw.start, fired: pw.fired, panes: pw.panes.freeze(gen)}
		pages += len(pw.panes.list)
	}
	if reclaim {
		w.fixed.pool.reclaim(pages)
	}
	return c
}

// AppendSnapshot appends the captured state to dst, exactly as Window.AppendSnapshot did at
// Capture, and returns the extended buffer. It only reads the capture and may run on any
// goroutine, several at once, concurrently with the window's owner; it costs what
// Window.AppendSnapshot costs (sorting every window's keys). It panics after Release.
func (c *WindowCapture) AppendSnapshot(dst []byte) []byte {
	if c.released.Load() {
		panic("operators: WindowCapture.AppendSnapshot after Release")
	}
	dst, start := beginSnapshot(dst, windowMagic)
	dst = append(dst, c.header...)
	dst = appendVarint(dst, c.seq)
	dst = appendVarint(dst, c.wm)
	if c.sessions != nil {
		dst = appendCapturedSessions(dst, c.funcs, c.sessions)
	} else {
		dst = appendUvarint(dst, uint64(len(c.wins)))
		var sorted []keyedPane
		for i := range c.wins {
			cw := &c.wins[i]
			sorted = sortPanes(sorted[:0], &cw.panes)
			dst = appendPaneWindow(dst, c.funcs, cw.start, cw.fired, &cw.panes, sorted)
		}
	}
	return endSnapshot(dst, start)
}

// Release tells the window that the capture will not be read again; its owner then writes
// the shared pages in place instead of copying them. It may be called on any goroutine, after
// every AppendSnapshot on c has returned; calls after the first do nothing.
func (c *WindowCapture) Release() {
	if c.released.CompareAndSwap(false, true) {
		c.wins, c.sessions = nil, nil
		c.clk.outstanding.Add(-1) // last: the owner may write the pages once it sees this
	}
}

// keyedSession is a captured session's position in snapshot order.
type keyedSession struct {
	key   string
	start int64
	slot  int32
}

// appendCapturedSessions appends the sessions of rows grouped by key, keys sorted, each
// key's sessions by start: the order of sessionWindows.appendState.
func appendCapturedSessions(dst []byte, funcs []agg.Func, rows *pages[sessRow]) []byte {
	order := make([]keyedSession, 0, rows.len())
	for i := range rows.n {
		if sr, _ := rows.at(i); sr.key != nil {
			order = append(order, keyedSession{key: sr.key.key, start: sr.start, slot: i})
		}
	}
	slices.SortFunc(order, func(a, b keyedSession) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.start, b.start)
	})
	keys := 0
	for i := range order {
		if i == 0 || order[i].key != order[i-1].key {
			keys++
		}
	}
	dst = appendUvarint(dst, uint64(keys))
	from := len(dst)
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && order[j].key == order[i].key {
			j++
		}
		dst = appendString(dst, order[i].key)
		dst = appendUvarint(dst, uint64(j-i))
		for k, ks := range order[i:j] {
			sr, accs := rows.at(ks.slot)
			dst = appendSession(dst, funcs, sr, accs)
			dst = growForRest(dst, from, i+k, len(order))
		}
		i = j
	}
	return dst
}
