package operators

import (
	"bytes"
	"math"
	"slices"
	"strings"

	"github.com/glintstream/glint/operators/agg"
)

// sessionWindows holds session windows: per key, disjoint sessions sorted by start.
//
// Each live session has exactly one valid timer, at its next action time: its end while it
// has updates not yet emitted (pending), else end + lateness (purge). A timer whose time no
// longer matches its session's timerAt, or whose session died (merged away or purged), is
// skipped when popped. Extending a session moves its action time later, which needs no new
// timer (the old one re-arms when popped); only a move earlier pushes one.
//
// A session's state (bounds, revision, pending flag, accumulators) is a row of rows, shared
// copy-on-write with captures (cow.go); the *session the owner indexes it by is only a handle.
// Rows of dead sessions are reused; all rows are dropped when no session is left.
type sessionWindows struct {
	gap, lateness int64

	keys   map[string]*sessionKey
	timers timerHeap
	live   int // sessions held

	rows pageStore[sessRow]
	pool pagePool[sessRow]
	free []int32 // rows of dead sessions, to reuse

	last    *sessionKey // the key of the previous record
	lastKey []byte

	fired, purged []*session // scratch for OnWatermark
}

type sessionKey struct {
	key      string     // encoded key, shared with the map; never modified (captures read it)
	sessions []*session // disjoint, sorted by start
}

// session is the owner's handle on a live or dead session.
type session struct {
	owner   *sessionKey
	slot    int32 // its row in sessionWindows.rows while live
	dead    bool
	timerAt int64
}

// sessRow is a session's state: what snapshots hold.
type sessRow struct {
	key        *sessionKey // nil in a free row
	start, end int64       // [first event, last event + gap)
	rev        int32       // revision of the next emission: the rows this session (or those it absorbed) emitted
	pending    bool        // has updates not emitted yet (fires when the watermark reaches end)
}

func newSessionWindows(clk *cowClock, nAggs int, gap, lateness int64) *sessionWindows {
	sw := &sessionWindows{gap: gap, lateness: lateness, keys: make(map[string]*sessionKey)}
	sw.rows = newPageStore(clk, &sw.pool, nAggs)
	return sw
}

// row returns s's state for reading (see pages.at).
func (sw *sessionWindows) row(s *session) *sessRow {
	return &sw.rows.list[s.slot>>pageShift].rows[s.slot&pageMask]
}

// mut is sw.rows.mut(s.slot) written for the concrete row type, which costs less than the
// generic method (the slow path, writable, stays out of line).
func (sw *sessionWindows) mut(s *session) (*sessRow, []agg.Accumulator) {
	pg := &sw.rows.list[s.slot>>pageShift]
	if pg.gen <= sw.rows.frozen {
		pg = sw.writable(s.slot >> pageShift)
	}
	j, n := int(s.slot&pageMask), sw.rows.nAggs
	return &pg.rows[j], pg.accs[j*n : j*n+n]
}

//go:noinline
func (sw *sessionWindows) writable(k int32) *page[sessRow] { return sw.rows.writable(k) }

func (sw *sessionWindows) onRecord(w *Window, r *Record, seq int64, out *Output) {
	lo, hi, wm := r.Time, r.Time+sw.gap, w.wm
	sk := sw.lookup(w.keyBuf)
	// Sessions overlapping [lo, hi): since they are disjoint and sorted, ends are sorted too.
	i, j := 0, 0
	if sk != nil {
		ss := sk.sessions
		for i < len(ss) && sw.row(ss[i]).end <= lo {
			i++
		}
		j = i
		for j < len(ss) && sw.row(ss[j]).start < hi {
			j++
		}
	}
	if i == j { // a new session of its own
		if hi+sw.lateness <= wm {
			w.late(out, r.Ref, lateReason("session", 1, lo, hi, lo, hi, wm, sw.lateness))
			return
		}
		if sk == nil {
			sk = &sessionKey{key: string(w.keyBuf)}
			sw.keys[sk.key] = sk
			sw.last = sk
			sw.lastKey = append(sw.lastKey[:0], w.keyBuf...)
		}
		s := sw.open(sessRow{key: sk, start: lo, end: hi}, w.zeroAccs)
		sk.sessions = slices.Insert(sk.sessions, i, s)
		sw.updated(w, s, r, seq, out)
		return
	}
	s := sk.sessions[i]
	if cur := sw.row(s); lo < cur.start || hi > cur.end || j > i+1 {
		sw.extend(w, sk, i, j, lo, hi)
	}
	sw.updated(w, s, r, seq, out)
}

// extend grows session i of sk to hold [lo, hi), merging sessions i+1..j-1 (which [lo, hi)
// overlaps) into it, in start order. Every live session has end + lateness > wm, so the
// merged one is never late.
func (sw *sessionWindows) extend(w *Window, sk *sessionKey, i, j int, lo, hi int64) {
	sr, accs := sw.mut(sk.sessions[i])
	sr.start = min(sr.start, lo)
	for _, o := range sk.sessions[i+1 : j] {
		or, oaccs := sw.mut(o) // another row: sr and accs stay valid
		for k, f := range w.funcs {
			f.Merge(&accs[k], &oaccs[k])
		}
		sr.rev = max(sr.rev, or.rev)
		sr.end = or.end
		o.dead = true
		sw.live--
		sw.freeRow(o)
	}
	sr.end = max(sr.end, hi)
	if j > i+1 {
		sk.sessions = slices.Delete(sk.sessions, i+1, j)
	}
}

// open returns a new live session with state r and accumulators zero, reusing a free row.
func (sw *sessionWindows) open(r sessRow, zero []agg.Accumulator) *session {
	s := &session{owner: r.key, timerAt: math.MaxInt64}
	if n := len(sw.free); n > 0 {
		s.slot = sw.free[n-1]
		sw.free = sw.free[:n-1]
		sr, accs := sw.mut(s)
		*sr = r
		copy(accs, zero)
	} else {
		s.slot = sw.rows.push(r, zero, 0)
	}
	sw.live++
	return s
}

// freeRow releases the row of s, which has died, for reuse.
func (sw *sessionWindows) freeRow(s *session) {
	if sw.live == 0 { // nothing left: drop every row (a capture may still hold the pages)
		sw.rows = newPageStore(sw.rows.clk, sw.rows.pool, sw.rows.nAggs)
		sw.free = sw.free[:0]
		return
	}
	sr, accs := sw.mut(s)
	*sr = sessRow{}
	clear(accs) // drops maps and sketches
	sw.free = append(sw.free, s.slot)
}

// updated adds r to s and either emits s at once (its end has passed the watermark) or marks
// it pending, then arms its timer.
func (sw *sessionWindows) updated(w *Window, s *session, r *Record, seq int64, out *Output) {
	// sw.mut(s) by hand: the compiler does not inline it, and this is the hot path.
	pg := &sw.rows.list[s.slot>>pageShift]
	if pg.gen <= sw.rows.frozen {
		pg = sw.writable(s.slot >> pageShift)
	}
	j, n := int(s.slot&pageMask), sw.rows.nAggs
	sr, accs := &pg.rows[j], pg.accs[j*n:j*n+n]
	w.add(accs, r, seq)
	at := sr.end
	if sr.end <= w.wm {
		w.emit(out, w.rowSlab(1), sr.start, sr.end, s.owner.key, accs, sr.rev)
		sr.rev++
		sr.pending = false
		at = sr.end + sw.lateness
	} else {
		sr.pending = true
	}
	if at < s.timerAt {
		s.timerAt = at
		sw.timers.push(timer{at: at, s: s})
	}
}

// lookup returns the state of the key in buf, or nil.
func (sw *sessionWindows) lookup(buf []byte) *sessionKey {
	if sw.last != nil && bytes.Equal(buf, sw.lastKey) {
		return sw.last
	}
	sk := sw.keys[string(buf)]
	if sk != nil {
		sw.last = sk
		sw.lastKey = append(sw.lastKey[:0], buf...)
	}
	return sk
}

func (sw *sessionWindows) onWatermark(w *Window, wm int64, out *Output) {
	if len(sw.timers) == 0 || sw.timers[0].at > wm {
		return
	}
	sw.fired = sw.fired[:0]
	for len(sw.timers) > 0 && sw.timers[0].at <= wm {
		s := sw.timers.pop().s
		if s.dead || s.timerAt > wm {
			continue // superseded: merged away, purged, or re-armed later
		}
		sr := sw.row(s)
		if sr.pending && sr.end <= wm {
			sr, _ = sw.mut(s)
			sr.pending = false
			sw.fired = append(sw.fired, s)
		}
		if sr.end+sw.lateness <= wm {
			sw.purge(s)
			continue
		}
		s.timerAt = sr.end + sw.lateness
		if sr.pending {
			s.timerAt = sr.end
		}
		sw.timers.push(timer{at: s.timerAt, s: s})
	}
	if len(sw.fired) > 0 {
		sw.emitFired(w, out)
	}
	for _, s := range sw.purged { // after emitting: a session may fire and be purged at once
		sw.freeRow(s)
	}
	clear(sw.purged)
	sw.purged = sw.purged[:0]
}

// emitFired emits the sessions in sw.fired in order of end, start and key.
func (sw *sessionWindows) emitFired(w *Window, out *Output) {
	slices.SortFunc(sw.fired, func(a, b *session) int {
		ra, rb := sw.row(a), sw.row(b)
		switch {
		case ra.end != rb.end:
			return cmpInt64(ra.end, rb.end)
		case ra.start != rb.start:
			return cmpInt64(ra.start, rb.start)
		}
		return strings.Compare(a.owner.key, b.owner.key)
	})
	slab := w.rowSlab(len(sw.fired))
	for _, s := range sw.fired {
		sr, accs := sw.mut(s)
		slab = w.emit(out, slab, sr.start, sr.end, s.owner.key, accs, sr.rev)
		sr.rev++
	}
	clear(sw.fired)
}

// purge drops s for good; later events that would have joined it start a new session, or are
// late if that one would be too. Its row is freed by the caller, after emitting.
func (sw *sessionWindows) purge(s *session) {
	s.dead = true
	sw.live--
	sk := s.owner
	i := slices.Index(sk.sessions, s)
	sk.sessions = slices.Delete(sk.sessions, i, i+1)
	if len(sk.sessions) == 0 {
		delete(sw.keys, sk.key)
		if sw.last == sk {
			sw.last = nil
		}
	}
	sw.purged = append(sw.purged, s)
}

// A timer asks for a session to be looked at once the watermark reaches at.
type timer struct {
	at int64
	s  *session
}

// timerHeap is a binary min-heap on at (container/heap would box every push).
type timerHeap []timer

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p].at <= q[i].at {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = timer{}
	q = q[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && q[l].at < q[m].at {
			m = l
		}
		if r := l + 1; r < n && q[r].at < q[m].at {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
