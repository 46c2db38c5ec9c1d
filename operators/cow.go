package operators

import (
	"maps"
	"sync/atomic"

	"github.com/glintstream/glint/operators/agg"
)

// Window state lives in pages shared copy-on-write with captures (as pebble shares memtables
// with flushes and etcd's bbolt shares pages with read transactions):
//
//   - Panes (tumbling/sliding, one store per window) and sessions (one store per operator) are
//     rows in a pageStore: pages of pageRows rows, each row with its accumulators beside it.
//   - Capture freezes every page existing at that moment: each store's frozen becomes the
//     clock's gen, and gen moves on, so pages created later are not frozen. It copies each
//     store's list of page headers: O(windows + pages), not O(rows).
//   - The owner writes a row only through mut or push, which first copy a frozen page
//     (deep-copying accumulators that hold maps or sketches) and put the copy in the owner's
//     list. The capture keeps the old arrays, which nobody writes any more.
//   - Release tells the owner a capture is done. Once none is outstanding, the next write to a
//     frozen page of a store thaws the store instead of copying: the owner writes in place.
//   - The arrays a copy replaced are recycled (pagePool) for the copies after the next
//     capture, so that steady-state checkpoints make the owner allocate nothing.
//
// Page size: a page of 512 rows costs one copy of ~90 KB (two aggregates), tens of
// microseconds, on the first write after a capture, and a million rows are 2,000 pages, whose
// headers Capture copies in well under a millisecond.
//
// Race walk-through: the encoder reads page P while the owner handles a record for a row of
// P. The owner sees P.gen <= frozen and a capture outstanding (the counter is decremented by
// Release only after the encoder's last read), so it writes to a copy P' that replaces P in
// its own list; P's arrays are never written again. Once the counter reads 0, every read by
// an encoder happened before its Release (sync/atomic orders them), so the owner may write P
// in place.

const (
	pageShift = 9
	pageRows  = 1 << pageShift // rows per full page: a copy costs ~pageRows*(16+80*aggs) bytes
	pageMask  = pageRows - 1
)

// cowClock is a window's copy-on-write state shared by its stores and its captures. gen and
// copies belong to the owner's goroutine; outstanding is the one field captures touch.
type cowClock struct {
	gen         uint64       // generation of pages created or copied since the last Capture (>= 1)
	outstanding atomic.Int32 // captures not yet released
	copies      int64        // pages copied because a capture held them
}

func newCowClock() *cowClock { return &cowClock{gen: 1} }

// A page holds up to pageRows rows and their accumulators: row i's are
// accs[i*nAggs:(i+1)*nAggs]. All pages of a store but the last are full. Pages are values
// in a store's list (one load less on the hot path); the arrays are what captures share.
type page[R any] struct {
	gen  uint64
	rows []R
	accs []agg.Accumulator
}

// pages is a column of rows addressed by number, 0 to n-1, in pages. Reading it is all a
// capture does; pageStore adds the owner's writes.
type pages[R any] struct {
	list  []page[R]
	n     int32
	nAggs int
}

func (s *pages[R]) len() int { return int(s.n) }

// at returns row i and its accumulators for reading. The caller must not write through them
// (nor call agg.Func.Result, which may compact a sketch), and must not keep them across a
// mut or push on the store.
func (s *pages[R]) at(i int32) (*R, []agg.Accumulator) {
	pg := &s.list[i>>pageShift]
	j := int(i & pageMask)
	return &pg.rows[j], pg.accs[j*s.nAggs : (j+1)*s.nAggs : (j+1)*s.nAggs]
}

// pageStore is the owner's pages: every write goes through mut or push.
type pageStore[R any] struct {
	pages[R]
	frozen uint64 // pages with gen <= frozen may be read by a capture: never write them
	clk    *cowClock
	pool   *pagePool[R] // shared by the stores of a window
}

func newPageStore[R any](clk *cowClock, pool *pagePool[R], nAggs int) pageStore[R] {
	return pageStore[R]{pages: pages[R]{nAggs: nAggs}, clk: clk, pool: pool}
}

// pagePool recycles the arrays of full pages that copy-on-write replaced, so that the
// owner's copies after a capture do not allocate once checkpoints are under way. It matters:
// allocating during a GC cycle of a large heap makes the owner assist the collector, and
// 200 MB of copies for a million panes stalled single records for 100-200 ms (measured).
//
// Arrays replaced while a capture is outstanding are retired: a capture may read them.
// reclaim, called when none is outstanding, makes them free for reuse. The pool never holds
// more pages than the window's state has (no capture can make the owner copy more), so its
// memory is at most that of the state's pages, and goes as the state shrinks.
type pagePool[R any] struct {
	free, retired []page[R]
}

// reclaim frees the retired pages and keeps at most limit free ones.
func (p *pagePool[R]) reclaim(limit int) {
	p.free = append(p.free, p.retired...)
	clear(p.retired)
	p.retired = p.retired[:0]
	if len(p.free) > limit {
		clear(p.free[limit:])
		p.free = p.free[:limit]
	}
}

// get returns a free page's arrays (stale contents) or false.
func (p *pagePool[R]) get() (page[R], bool) {
	n := len(p.free)
	if n == 0 {
		return page[R]{}, false
	}
	pg := p.free[n-1]
	p.free[n-1] = page[R]{}
	p.free = p.free[:n-1]
	return pg, true
}

// mut returns row i and its accumulators for writing, copying its page first if a capture
// may hold it. The result is valid until the next push on s. (Hot paths use a copy of this
// written for their concrete row type, which costs less: see paneWindow.mut.)
func (s *pageStore[R]) mut(i int32) (*R, []agg.Accumulator) {
	pg := &s.list[i>>pageShift]
	if pg.gen <= s.frozen { // rare: the first write to a page since a capture
		pg = s.writable(i >> pageShift)
	}
	j := int(i & pageMask)
	return &pg.rows[j], pg.accs[j*s.nAggs : (j+1)*s.nAggs : (j+1)*s.nAggs]
}

// writable returns page k, whose gen is <= s.frozen, ready for writing: a copy if a capture
// may hold it, else the page itself, and then the whole store is thawed.
func (s *pageStore[R]) writable(k int32) *page[R] {
	if s.clk.outstanding.Load() == 0 {
		s.frozen = 0
		return &s.list[k]
	}
	return s.unshare(k, cap(s.list[k].rows))
}

// push appends a row with accumulators zero (len nAggs) and returns its number. hint is the
// capacity of a first page, a guess of how many rows the store will hold.
func (s *pageStore[R]) push(r R, zero []agg.Accumulator, hint int) int32 {
	i := s.n
	k := i >> pageShift
	if int(k) == len(s.list) {
		c := pageRows
		if k == 0 {
			c = min(max(hint, 1), pageRows)
		}
		s.list = append(s.list, page[R]{gen: s.clk.gen, rows: make([]R, 0, c), accs: make([]agg.Accumulator, 0, c*s.nAggs)})
	}
	pg := &s.list[k]
	if pg.gen <= s.frozen {
		pg = s.writable(k)
	}
	if len(pg.rows) == cap(pg.rows) { // a first page, grown as a slice is
		pg = s.unshare(k, min(max(2*cap(pg.rows), 4), pageRows))
	}
	pg.rows = append(pg.rows, r)
	pg.accs = append(pg.accs, zero...)
	s.n++
	return i
}

// unshare replaces page k by a copy with room for c rows and returns it. If the old page may
// be held by a capture its accumulators are deep-copied; else they move.
func (s *pageStore[R]) unshare(k int32, c int) *page[R] {
	old := s.list[k]
	np, ok := page[R]{}, false
	if c == pageRows {
		np, ok = s.pool.get()
	}
	if ok {
		np.rows, np.accs = np.rows[:len(old.rows)], np.accs[:len(old.accs)]
		clear(np.rows[len(old.rows):cap(np.rows)]) // drop stale references past the end
		clear(np.accs[len(old.accs):cap(np.accs)])
	} else {
		np = page[R]{rows: make([]R, len(old.rows), c), accs: make([]agg.Accumulator, len(old.accs), c*s.nAggs)}
	}
	np.gen = s.clk.gen
	copy(np.rows, old.rows)
	if old.gen > s.frozen {
		copy(np.accs, old.accs)
	} else {
		s.clk.copies++
		for i := range old.accs {
			np.accs[i] = cloneAccumulator(&old.accs[i])
		}
		if cap(old.rows) == pageRows {
			s.pool.retired = append(s.pool.retired, old)
		}
	}
	s.list[k] = np
	return &s.list[k]
}

// freeze freezes the store's pages for a capture of generation gen (see Window.Capture)
// and returns them. The result is immutable: safe to read on any goroutine until the capture
// is released.
func (s *pageStore[R]) freeze(gen uint64) pages[R] {
	s.frozen = gen
	return pages[R]{list: append([]page[R](nil), s.list...), n: s.n, nAggs: s.nAggs}
}

// cloneAccumulator returns a copy of a that shares no mutable state with it: maps and
// sketches are copied, strings (immutable) are shared. TestCloneAccumulatorCoversFields
// fails if agg.Accumulator grows a field of a kind not handled here.
func cloneAccumulator(a *agg.Accumulator) agg.Accumulator {
	c := *a
	if a.Set != nil {
		c.Set = maps.Clone(a.Set)
	}
	if a.Set64 != nil {
		c.Set64 = maps.Clone(a.Set64)
	}
	if a.HLL != nil {
		c.HLL = a.HLL.Clone() // Clone only reads the sketch
	}
	return c
}

// appendAccs appends the snapshot of accumulators accs of funcs without modifying them
// (agg.AppendAccumulator compacts an approx_count_distinct sketch first, so it is given a
// clone; the encoding is the same), so that pages a capture shares are only ever read.
func appendAccs(dst []byte, funcs []agg.Func, accs []agg.Accumulator) []byte {
	for i, f := range funcs {
		a := &accs[i]
		if a.HLL != nil {
			tmp := *a
			tmp.HLL = a.HLL.Clone()
			a = &tmp
		}
		dst = agg.AppendAccumulator(dst, f, a)
	}
	return dst
}
