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
// It runs on the owner's goroutine for as long as the encoding takes (sorting every window's
// keys); a checkpoint of a large window uses Capture instead, which gives the same bytes.
// It modifies nothing, so it may be taken while captures are outstanding.
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

func (f *fixedWindows) appendState(w *Window, dst []byte) []byte {
	dst = appendUvarint(dst, uint64(len(f.wins)))
	for _, pw := range f.wins {
		dst = appendPaneWindow(dst, w.funcs, pw.start, pw.fired, &pw.panes.pages, f.sorted(pw))
	}
	return dst
}

// appendPaneWindow appends one window and its panes, in the key order of sorted.
func appendPaneWindow(dst []byte, funcs []agg.Func, start int64, fired bool, ps *pages[pane], sorted []keyedPane) []byte {
	dst = appendVarint(dst, start)
	dst = appendBool(dst, fired)
	dst = appendUvarint(dst, uint64(len(sorted)))
	from := len(dst)
	for i, kp := range sorted {
		pn, accs := ps.at(kp.p)
		dst = appendString(dst, kp.key)
		dst = appendUvarint(dst, uint64(pn.rev))
		dst = appendAccs(dst, funcs, accs)
		dst = growForRest(dst, from, i, len(sorted))
	}
	return dst
}

// growForRest grows dst, after item i of n written from offset from, to hold the rest at the
// average size of the first 64, so that a large snapshot grows its buffer once instead of by
// a quarter at a time (five times its size in copies and garbage).
func growForRest(dst []byte, from, i, n int) []byte {
	if i != 63 {
		return dst
	}
	return slices.Grow(dst, (len(dst)-from)/64*(n-64)*9/8)
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
			sr, accs := sw.rows.at(s.slot)
			dst = appendSession(dst, w.funcs, sr, accs)
		}
	}
	return dst
}

func appendSession(dst []byte, funcs []agg.Func, sr *sessRow, accs []agg.Accumulator) []byte {
	dst = appendVarint(dst, sr.start)
	dst = appendVarint(dst, sr.end)
	dst = appendUvarint(dst, uint64(sr.rev))
	dst = appendBool(dst, sr.pending)
	return appendAccs(dst, funcs, accs)
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

// readAccs reads len(accs) accumulators into accs.
func (w *Window) readAccs(d *decoder, accs []agg.Accumulator) {
	for i, f := range w.funcs {
		d.accumulator(f, &accs[i])
	}
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
	f := newFixedWindows(w.clk, len(w.funcs), w.cfg.Size, w.cfg.Slide, w.cfg.AllowedLateness)
	accs := make([]agg.Accumulator, len(w.funcs))
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
		pw := f.newWindow(start)
		pw.fired, pw.hint = fired, np
		if i == 0 { // np is bounded by the bytes left: a corrupt count cannot blow it up
			f.keys = make(map[string]*fixedKey, np)
		}
		prev := ""
		for p := 0; p < np && d.err == nil; p++ {
			k := w.readKey(d, prev, p == 0)
			prev = k
			rev := d.uvarint()
			if d.err == nil && (rev > math.MaxInt32 || fired != (rev > 0)) {
				d.fail("pane revision %d in window fired=%v", rev, fired)
			}
			w.readAccs(d, accs)
			if d.err != nil {
				break
			}
			var fk *fixedKey
			if i > 0 { // the first window's keys are all new (and distinct: they are sorted)
				fk = f.keys[k]
			}
			if fk == nil {
				fk = newFixedKey(k)
				f.keys[k] = fk
			}
			p := pw.panes.push(pane{key: fk, rev: int32(rev)}, accs, pw.hint)
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
	sw := newSessionWindows(w.clk, len(w.funcs), w.cfg.Gap, w.cfg.AllowedLateness)
	accs := make([]agg.Accumulator, len(w.funcs))
	nk := d.count("key", minPaneBytes)
	prev := ""
	for i := 0; i < nk && d.err == nil; i++ {
		sk := &sessionKey{key: w.readKey(d, prev, i == 0)}
		prev = sk.key
		ns := d.count("session", minPaneBytes)
		if d.err == nil && ns == 0 {
			d.fail("key without sessions")
		}
		var prevEnd int64
		for j := 0; j < ns && d.err == nil; j++ {
			r := sessRow{key: sk, start: d.varint(), end: d.varint()}
			rev := d.uvarint()
			r.pending = d.bool()
			if d.err != nil {
				break
			}
			switch {
			case r.start < MinEventTime || r.start > MaxEventTime || r.end < r.start || r.end > MaxEventTime+sw.gap:
				d.fail("session [%d,%d) out of range", r.start, r.end)
			case r.end-r.start < sw.gap:
				d.fail("session [%d,%d) shorter than the gap", r.start, r.end)
			case j > 0 && r.start < prevEnd:
				d.fail("sessions overlap or are out of order")
			case r.end+sw.lateness <= wm:
				d.fail("session [%d,%d) should have been purged at watermark %d", r.start, r.end, wm)
			case r.pending != (r.end > wm):
				d.fail("session [%d,%d) pending=%v at watermark %d", r.start, r.end, r.pending, wm)
			case rev > math.MaxInt32 || (!r.pending && rev == 0):
				d.fail("session revision %d pending=%v", rev, r.pending)
			}
			r.rev = int32(rev)
			prevEnd = r.end
			w.readAccs(d, accs)
			if d.err != nil {
				break
			}
			s := sw.open(r, accs)
			s.timerAt = r.end + sw.lateness
			if r.pending {
				s.timerAt = r.end
			}
			sk.sessions = append(sk.sessions, s)
		}
		if d.err != nil {
			break
		}
		sw.keys[sk.key] = sk
		for _, s := range sk.sessions {
			sw.timers.push(timer{at: s.timerAt, s: s})
		}
	}
	return sw
}
