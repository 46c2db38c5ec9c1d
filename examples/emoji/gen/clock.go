package gen

import (
	"context"
	"sync/atomic"
	"time"
)

// Clock supplies the Producer's time: the arrival time of each generated record (its Kafka
// timestamp, and the instant its network delay is subtracted from) and the pace of production.
// A Clock may also implement Sleeper; the Producer then waits through it.
type Clock interface {
	Now() time.Time
}

// Sleeper is an optional Clock method: wait d of the clock's time, or until ctx is done.
type Sleeper interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is real time, for live runs.
type WallClock struct{}

// Now returns time.Now().
func (WallClock) Now() time.Time { return time.Now() }

// Sleep waits d of real time or until ctx is done.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StepClock is a simulated clock for tests and replays: every Now call returns the current time
// and then advances it by a fixed step, so a Producer driven by it runs as fast as it can and
// generates the same records on every run. Safe for concurrent use.
type StepClock struct {
	now  atomic.Int64 // Unix nanoseconds
	step time.Duration
}

// NewStepClock returns a clock that starts at start and advances by step on every Now.
func NewStepClock(start time.Time, step time.Duration) *StepClock {
	c := &StepClock{step: step}
	c.now.Store(start.UnixNano())
	return c
}

// Now returns the current simulated time and advances it by the step.
func (c *StepClock) Now() time.Time {
	return time.Unix(0, c.now.Add(int64(c.step))-int64(c.step)).UTC()
}

// Sleep advances the simulated time by d without waiting.
func (c *StepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now.Add(int64(d))
	return ctx.Err()
}
