package operators

import (
	"fmt"
	"math"
)

// WatermarkConfig configures one input's watermark.
type WatermarkConfig struct {
	// MaxOutOfOrder bounds how far behind the newest event time an event may arrive and still
	// count as on time: the input's watermark is max event time seen − MaxOutOfOrder (ms).
	MaxOutOfOrder int64
	// IdleTimeout leaves the input out of the task's watermark after this long (processing
	// time, ms) without data, until it sends again. 0 means never idle. Negative values act as 0.
	IdleTimeout int64
}

// Watermarks tracks a task's event-time watermark: each input's is its max event time seen
// minus its MaxOutOfOrder, and the task's is the minimum over inputs that are not idle. A
// bounded input that has ended counts as +inf (math.MaxInt64).
//
// Rules, in the order they apply:
//   - The task watermark never decreases. An idle input that sends again rejoins the minimum,
//     but only holds the watermark where it is until it catches up; its events that are already
//     behind the watermark are late for the windows they miss.
//   - An input is idle once now − (processing time of its last data) >= IdleTimeout. An input
//     that never sent data is measured from the first processing time Watermarks saw (in
//     Observe or Tick), so an empty partition cannot stall the task either.
//   - If no input that can still send data is active (all idle, or idle ones besides ended
//     ones) the watermark holds: it does not jump to +inf because of an idle input.
//   - Once every input has ended, the watermark is +inf.
//
// Processing time ("now") comes from the driver's injected clock. Not safe for concurrent use.
type Watermarks struct {
	in       []inputWatermark
	cur      int64 // task watermark: math.MinInt64 until known
	clockSet bool  // a processing time has been seen: baselines set
	// idleCheck is a lower bound on the earliest processing time at which an active input
	// can turn idle; Observe scans inputs only once now reaches it.
	idleCheck int64
}

type inputWatermark struct {
	cfg        WatermarkConfig
	maxEvent   int64 // math.MinInt64 before any data
	lastActive int64 // processing time of the last data, or the first clock reading
	idle       bool
	ended      bool
}

// NewWatermarks returns watermarks for len(inputs) inputs, numbered as in the slice.
func NewWatermarks(inputs []WatermarkConfig) *Watermarks {
	w := &Watermarks{in: make([]inputWatermark, len(inputs)), cur: math.MinInt64, idleCheck: math.MinInt64}
	for i, c := range inputs {
		c.MaxOutOfOrder = max(c.MaxOutOfOrder, 0)
		c.IdleTimeout = max(c.IdleTimeout, 0)
		w.in[i] = inputWatermark{cfg: c, maxEvent: math.MinInt64}
	}
	return w
}

// Current returns the task watermark: math.MinInt64 before any data, math.MaxInt64 once every
// input has ended. It never decreases.
func (w *Watermarks) Current() int64 { return w.cur }

// Observe records an event of input seen at processing time now and returns the task
// watermark and whether it advanced. It also re-evaluates idleness at now, as Tick does.
// An event of an input that has ended changes nothing but the clock. An event time outside
// [MinEventTime, MaxEventTime] (which windows send to the late output) counts as activity but
// does not move the watermark, so one corrupt timestamp cannot make everything after it late.
func (w *Watermarks) Observe(input int, eventTime, now int64) (wm int64, advanced bool) {
	in := &w.in[input]
	w.setClock(now)
	changed := false
	if !in.ended {
		in.lastActive = now
		if in.idle {
			in.idle, changed = false, true
			if in.cfg.IdleTimeout > 0 {
				w.idleCheck = min(w.idleCheck, satAdd(now, in.cfg.IdleTimeout))
			}
		}
		if eventTime > in.maxEvent && eventTime >= MinEventTime && eventTime <= MaxEventTime {
			in.maxEvent = eventTime
			changed = true
		}
	}
	if now >= w.idleCheck && w.markIdle(now) {
		changed = true
	}
	if !changed {
		return w.cur, false
	}
	return w.recompute()
}

// Tick re-evaluates idleness at processing time now and returns the task watermark and
// whether it advanced.
func (w *Watermarks) Tick(now int64) (wm int64, advanced bool) {
	w.setClock(now)
	if !w.markIdle(now) {
		return w.cur, false
	}
	return w.recompute()
}

// End marks a bounded input as finished: its watermark becomes +inf.
func (w *Watermarks) End(input int) (wm int64, advanced bool) {
	in := &w.in[input]
	if in.ended {
		return w.cur, false
	}
	in.ended, in.idle = true, false
	return w.recompute()
}

func (w *Watermarks) setClock(now int64) {
	if w.clockSet {
		return
	}
	w.clockSet = true
	for i := range w.in {
		w.in[i].lastActive = now
	}
	w.idleCheck = math.MinInt64
}

// markIdle marks inputs idle whose timeout has passed at now, recomputes idleCheck and
// reports whether any input changed.
func (w *Watermarks) markIdle(now int64) bool {
	changed := false
	next := int64(math.MaxInt64)
	for i := range w.in {
		in := &w.in[i]
		if in.ended || in.idle || in.cfg.IdleTimeout == 0 {
			continue
		}
		if now < in.lastActive { // the clock went back (a restore under a new clock): restart
			in.lastActive = now
		}
		deadline := satAdd(in.lastActive, in.cfg.IdleTimeout)
		if now >= deadline {
			in.idle = true
			changed = true
			continue
		}
		next = min(next, deadline)
	}
	w.idleCheck = next
	return changed
}

// recompute derives the task watermark from the inputs, never moving it back.
func (w *Watermarks) recompute() (int64, bool) {
	lo, live, ended := int64(math.MaxInt64), false, 0
	for i := range w.in {
		in := &w.in[i]
		switch {
		case in.ended:
			ended++
		case !in.idle:
			live = true
			lo = min(lo, in.watermark())
		}
	}
	if !live && ended != len(w.in) {
		return w.cur, false // nothing that can still send data is active: hold
	}
	if lo > w.cur {
		w.cur = lo
		return lo, true
	}
	return w.cur, false
}

func (in *inputWatermark) watermark() int64 {
	if in.maxEvent == math.MinInt64 {
		return math.MinInt64
	}
	return satSub(in.maxEvent, in.cfg.MaxOutOfOrder)
}

// InputState describes one input for status pages and tests.
type InputState struct {
	Watermark int64 // this input's own watermark (+inf once ended)
	Idle      bool
	Ended     bool
}

// Input returns the state of input i.
func (w *Watermarks) Input(i int) InputState {
	in := &w.in[i]
	s := InputState{Watermark: in.watermark(), Idle: in.idle, Ended: in.ended}
	if in.ended {
		s.Watermark = math.MaxInt64
	}
	return s
}

const watermarkMagic = "GM"

// AppendSnapshot appends the watermarks' state to dst: the task watermark and, per input, its
// max event time, last activity (processing time in the driver's clock), idle and ended flags.
// A restore under a clock that reads earlier than a saved activity time restarts that input's
// idle timer. It costs O(inputs) (about 20 bytes an input), so a checkpoint takes it on the
// owner's goroutine at the barrier; unlike Window, Watermarks needs no Capture.
func (w *Watermarks) AppendSnapshot(dst []byte) []byte {
	dst, start := beginSnapshot(dst, watermarkMagic)
	dst = appendVarint(dst, w.cur)
	dst = appendBool(dst, w.clockSet)
	dst = appendUvarint(dst, uint64(len(w.in)))
	for i := range w.in {
		in := &w.in[i]
		dst = appendVarint(dst, in.maxEvent)
		dst = appendVarint(dst, in.lastActive)
		dst = appendBool(dst, in.idle)
		dst = appendBool(dst, in.ended)
	}
	return endSnapshot(dst, start)
}

// Restore replaces the state with a snapshot taken by AppendSnapshot from watermarks with the
// same number of inputs (their configs may differ). On error the state is unchanged.
func (w *Watermarks) Restore(b []byte) error {
	body, err := openSnapshot(b, watermarkMagic)
	if err != nil {
		return err
	}
	d := decoder{b: body}
	cur := d.varint()
	clockSet := d.bool()
	n := d.count("input", 4)
	if d.err == nil && n != len(w.in) {
		return fmt.Errorf("%w: snapshot has %d inputs, watermarks have %d", ErrSnapshotMismatch, n, len(w.in))
	}
	in := make([]inputWatermark, n)
	for i := 0; i < n && d.err == nil; i++ {
		in[i] = inputWatermark{cfg: w.in[i].cfg, maxEvent: d.varint(), lastActive: d.varint(), idle: d.bool(), ended: d.bool()}
		if in[i].idle && in[i].ended {
			d.fail("input %d both idle and ended", i)
		}
	}
	if err := d.done(); err != nil {
		return err
	}
	copy(w.in, in)
	w.cur, w.clockSet, w.idleCheck = cur, clockSet, math.MinInt64
	return nil
}

func satAdd(a, b int64) int64 {
	c := a + b
	if (c > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return c
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAdd(a, -b)
}
