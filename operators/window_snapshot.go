package operators

import (
	"fmt"
	"math"
	"slices"

	"github.com/glintstream/glint/operators/agg"
)

const windowMagic = "GW"

// AppendSnapshot appends the window's state to dst and returns the extended buffer: the
// config it applies to, the arrival sequence, the watermark applied and every (window, key)
// state with its revision and aggregates, in sorted order so that equal states give equal
// bytes. Work counters (Stats) are not included. Aggregate functions must come from agg.New.
func (w *Window) AppendSnapshot(dst []byte) []byte {
	dst, start := beginSnapshot(dst, windowMagic)
	dst = w.appendHeader(dst)
	dst = appendVarint(dst, w.seq)
	dst = appendVarint(dst, w.wm)
	if w.sess != nil {
		dst = w.sess.appendState(w, dst)
	} else {
		dst = w.fixed.appendState(w, dst)
	}
	return endSnapshot(dst, start)
}

// appendHeader writes what a snapshot's state depends on, so that a restore into an operator
// configured differently fails instead of misreading.
func (w *Window) appendHeader(dst []byte) []byte {
	c := &w.cfg
	dst = append(dst, byte(c.Kind))
	dst = appendVarint(dst, c.Size)
	dst = appendVarint(dst, c.Slide)
	dst = appendVarint(dst, c.Gap)
	dst = appendVarint(dst, c.AllowedLateness)
	dst = appendUvarint(dst, uint64(len(w.keyTypes)))
	for _, t := range w.keyTypes {
		dst = append(dst, byte(t))
	}
	dst = appendUvarint(dst, uint64(len(w.funcs)))
	for _, f := range w.funcs {
		dst = appendString(dst, f.Name())
		dst = append(dst, byte(f.ResultType()))
	}
	return dst
}

func (w *Window) appendAccs(dst []byte, accs []agg.Accumulator) []byte {
	for i, f := range w.funcs {
		dst = agg.AppendAccumulator(dst, f, &accs[i])
	}
	return dst
}

func (f *fixedWindows) appendState(w *Window, dst []byte) []byte {
	dst = appendUvarint(dst, uint64(len(f.wins)))
	n := len(w.funcs)
	for _, pw := range f.wins {
		dst = appendVarint(dst, pw.start)
		dst = appendBool(dst, pw.fired)
		dst = appendUvarint(dst, uint64(len(pw.keys)))
		for _, p := range f.sorted(pw) {
			dst = appendString(dst, pw.keys[p].key)
			dst = appendUvarint(dst, uint64(pw.revs[p]))
			dst = w.appendAccs(dst, pw.accs[int(p)*n:int(p)*n+n])
		}
	}
	return dst
}

func (sw *sessionWindows) appendState(w *Window, dst []byte) []byte {
	keys := make([]string, 0, len(sw.keys))
	for k := range sw.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = appendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		sk := sw.keys[k]
		dst = appendString(dst, k)
		dst = appendUvarint(dst, uint64(len(sk.sessions)))
		for _, s := range sk.sessions {
			dst = appendVarint(dst, s.start)
			dst = appendVarint(dst, s.end)
			dst = appendUvarint(dst, uint64(s.rev))
			dst = appendBool(dst, s.pending)
			dst = w.appendAccs(dst, s.accs)
		}
	}
	return dst
}

// Restore replaces the window's state with a snapshot from AppendSnapshot. The snapshot must
// come from a window with the same kind, sizes, lateness, key types and aggregates, else the
// error wraps ErrSnapshotMismatch; damaged input gives ErrCorrupt. Everything is checked before
// anything changes: on error the window is as it was. Work counters are kept.
func (w *Window) Restore(b []byte) error {
	body, err := openSnapshot(b, windowMagic)
	if err != nil {
		return err
	}
	want := w.appendHeader(nil)
	if len(body) < len(want) || string(body[:len(want)]) != string(want) {
		return fmt.Errorf("%w: window snapshot header differs from this %s window's config", ErrSnapshotMismatch, w.cfg.Kind)
	}
	d := decoder{b: body[len(want):]}
	seq, wm := d.varint(), d.varint()
	if d.err == nil && seq < 0 {
		d.fail("negative sequence %d", seq)
	}
	var (
		fixed *fixedWindows
		sess  *sessionWindows
	)
	if w.cfg.Kind == Session {
		sess = w.readSessions(&d, wm)
	} else {
		fixed = w.readFixed(&d, wm)
	}
	if err := d.done(); err != nil {
		return err
	}
	w.seq, w.wm, w.fixed, w.sess = seq, wm, fixed, sess
	return nil
}

// Bytes a pane or session takes at least in a snapshot, to bound counts before allocating.
const minPaneBytes = 4

func (w *Window) readAccs(d *decoder) []agg.Accumulator {
	accs := make([]agg.Accumulator, len(w.funcs))
	for i, f := range w.funcs {
		d.accumulator(f, &accs[i])
	}
	return accs
}

func (w *Window) readKey(d *decoder, prev string, first bool) string {
	k := d.string()
	if d.err != nil {
		return ""
	}
	if err := validKey(k, w.keyTypes); err != nil {
		d.fail("%v", err)
	}
	if !first && k <= prev {
		d.fail("keys out of order")
	}
	return k
}

func (w *Window) readFixed(d *decoder, wm int64) *fixedWindows {
	f := newFixedWindows(w.cfg.Size, w.cfg.Slide, w.cfg.AllowedLateness)
	nw := d.count("window", minPaneBytes)
	for i := 0; i < nw && d.err == nil; i++ {
		start, fired := d.varint(), d.bool()
		np := d.count("pane", minPaneBytes)
		if d.err != nil {
			break
		}
		switch {
		case start < MinEventTime-f.size || start > MaxEventTime:
			d.fail("window start %d out of range", start)
		case start-floorDiv(start, f.slide)*f.slide != 0:
			d.fail("window start %d is not a multiple of slide %d", start, f.slide)
		case i > 0 && start <= f.wins[i-1].start:
			d.fail("windows out of order")
		case start+f.size+f.lateness <= wm:
			d.fail("window [%d,%d) should have been purged at watermark %d", start, start+f.size, wm)
		case fired != (start+f.size <= wm):
			d.fail("window [%d,%d) fired=%v at watermark %d", start, start+f.size, fired, wm)
		case np == 0:
			d.fail("window without panes")
		}
		pw := &paneWindow{start: start, end: start + f.size, fired: fired}
		prev := ""
		for p := 0; p < np && d.err == nil; p++ {
			k := w.readKey(d, prev, p == 0)
			prev = k
			rev := d.uvarint()
			if d.err == nil && (rev > math.MaxInt32 || fired != (rev > 0)) {
				d.fail("pane revision %d in window fired=%v", rev, fired)
			}
			accs := w.readAccs(d)
			if d.err != nil {
				break
			}
			fk := f.keys[k]
			if fk == nil {
				fk = &fixedKey{key: k}
				f.keys[k] = fk
			}
			p := pw.add(fk, accs)
			pw.revs[p] = int32(rev)
			fk.panes = append(fk.panes, paneRef{win: pw, p: p})
		}
		f.wins = append(f.wins, pw)
	}
	if d.err != nil {
		return nil
	}
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
	return f
}

func (w *Window) readSessions(d *decoder, wm int64) *sessionWindows {
	sw := newSessionWindows(w.cfg.Gap, w.cfg.AllowedLateness)
	nk := d.count("key", minPaneBytes)
	prev := ""
	for i := 0; i < nk && d.err == nil; i++ {
		sk := &sessionKey{key: w.readKey(d, prev, i == 0)}
		prev = sk.key
		ns := d.count("session", minPaneBytes)
		if d.err == nil && ns == 0 {
			d.fail("key without sessions")
		}
		for j := 0; j < ns && d.err == nil; j++ {
			s := &session{start: d.varint(), end: d.varint(), owner: sk}
			rev := d.uvarint()
			s.pending = d.bool()
			if d.err != nil {
				break
			}
			switch {
			case s.start < MinEventTime || s.start > MaxEventTime || s.end < s.start || s.end > MaxEventTime+sw.gap:
				d.fail("session [%d,%d) out of range", s.start, s.end)
			case s.end-s.start < sw.gap:
				d.fail("session [%d,%d) shorter than the gap", s.start, s.end)
			case j > 0 && s.start < sk.sessions[j-1].end:
				d.fail("sessions overlap or are out of order")
			case s.end+sw.lateness <= wm:
				d.fail("session [%d,%d) should have been purged at watermark %d", s.start, s.end, wm)
			case s.pending != (s.end > wm):
				d.fail("session [%d,%d) pending=%v at watermark %d", s.start, s.end, s.pending, wm)
			case rev > math.MaxInt32 || (!s.pending && rev == 0):
				d.fail("session revision %d pending=%v", rev, s.pending)
			}
			s.rev = int32(rev)
			s.accs = w.readAccs(d)
			s.timerAt = s.end + sw.lateness
			if s.pending {
				s.timerAt = s.end
			}
			sk.sessions = append(sk.sessions, s)
		}
		if d.err != nil {
			break
		}
		sw.keys[sk.key] = sk
		for _, s := range sk.sessions {
			sw.timers.push(timer{at: s.timerAt, s: s})
			sw.live++
		}
	}
	return sw
}
