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
type sessionWindows struct {
	gap, lateness int64

	keys   map[string]*sessionKey
	timers timerHeap
	live   int // sessions held

	last    *sessionKey // the key of the previous record
	lastKey []byte

	fired []*session // scratch for OnWatermark
}

type sessionKey struct {
	key      string     // encoded key, shared with the map
	sessions []*session // disjoint, sorted by start
}

type session struct {
	start, end int64 // [first event, last event + gap)
	owner      *sessionKey
	accs       []agg.Accumulator
	rev        int32 // revision of the next emission: the rows this session (or those it absorbed) emitted
	pending    bool  // has updates not emitted yet (fires when the watermark reaches end)
	dead       bool
	timerAt    int64
}

func newSessionWindows(gap, lateness int64) *sessionWindows {
	return &sessionWindows{gap: gap, lateness: lateness, keys: make(map[string]*sessionKey)}
}

func (sw *sessionWindows) onRecord(w *Window, r *Record, seq int64, out *Output) {
	lo, hi, wm := r.Time, r.Time+sw.gap, w.wm
	sk := sw.lookup(w.keyBuf)
	// Sessions overlapping [lo, hi): since they are disjoint and sorted, ends are sorted too.
	i, j := 0, 0
	if sk != nil {
		ss := sk.sessions
		for i < len(ss) && ss[i].end <= lo {
			i++
		}
		j = i
		for j < len(ss) && ss[j].start < hi {
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
		s := &session{start: lo, end: hi, owner: sk, accs: slices.Clone(w.zeroAccs), timerAt: math.MaxInt64}
		sk.sessions = slices.Insert(sk.sessions, i, s)
		sw.live++
		sw.updated(w, s, r, seq, out)
		return
	}
	// Merge sessions i..j-1 into the first, in start order. Every live session has
	// end + lateness > wm, so the merged one is never late.
	s := sk.sessions[i]
	s.start = min(s.start, lo)
	for _, o := range sk.sessions[i+1 : j] {
		for k, f := range w.funcs {
			f.Merge(&s.accs[k], &o.accs[k])
		}
		s.rev = max(s.rev, o.rev)
		s.end = o.end
		o.dead = true
		sw.live--
	}
	s.end = max(s.end, hi)
	if j > i+1 {
		sk.sessions = slices.Delete(sk.sessions, i+1, j)
	}
	sw.updated(w, s, r, seq, out)
}

// updated adds r to s and either emits s at once (its end has passed the watermark) or marks
// it pending, then arms its timer.
func (sw *sessionWindows) updated(w *Window, s *session, r *Record, seq int64, out *Output) {
	w.add(s.accs, r, seq)
	at := s.end
	if s.end <= w.wm {
		w.emit(out, w.rowSlab(1), s.start, s.end, s.owner.key, s.accs, s.rev)
		s.rev++
		s.pending = false
		at = s.end + sw.lateness
	} else {
		s.pending = true
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
		if s.pending && s.end <= wm {
			s.pending = false
			sw.fired = append(sw.fired, s)
		}
		if s.end+sw.lateness <= wm {
			sw.purge(s)
			continue
		}
		s.timerAt = s.end + sw.lateness
		if s.pending {
			s.timerAt = s.end
		}
		sw.timers.push(timer{at: s.timerAt, s: s})
	}
	if len(sw.fired) == 0 {
		return
	}
	slices.SortFunc(sw.fired, func(a, b *session) int {
		switch {
		case a.end != b.end:
			return cmpInt64(a.end, b.end)
		case a.start != b.start:
			return cmpInt64(a.start, b.start)
		}
		return strings.Compare(a.owner.key, b.owner.key)
	})
	slab := w.rowSlab(len(sw.fired))
	for _, s := range sw.fired {
		slab = w.emit(out, slab, s.start, s.end, s.owner.key, s.accs, s.rev)
		s.rev++
	}
	clear(sw.fired)
}

// purge drops s for good; later events that would have joined it start a new session, or are
// late if that one would be too.
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
