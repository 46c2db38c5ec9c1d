package pipeline

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/format"
	"github.com/glintstream/glint/operators"
	"github.com/glintstream/glint/operators/expr"
	"github.com/glintstream/glint/row"
)

// A task owns partition id of every source topic and all state derived from them. One
// goroutine (run) owns everything in it except the fields documented otherwise.
type task struct {
	id    int32
	plan  *Plan
	env   *Env
	decs  []format.Decoder
	pre   []stageOp
	post  []stageOp
	win   *operators.Window
	wms   *operators.Watermarks
	wm    int64 // the task's watermark, never decreasing
	floor int64 // watermark restored from the last commit (replay after restart)
	out   operators.Output
	sinks []RowSink
	dlq   *kafka.DeadLetter
	m     *taskMetrics
	row   row.Row // decode buffer
	nsrc  int     // fields decoded from the source; computed columns follow

	inbox inbox
	// ends[i] is the offset at which input i ends (bounded mode), or -1.
	ends []int64
	// next[i] is the offset after the last record of input i this task has processed.
	next  []int64
	ended []bool
	// replayUntil[i]: records of input i below this offset were processed before a restart;
	// if they are late now, they were counted then (skipped, counted as replayed).
	replayUntil []int64
	commits     []commitQueue

	// Checkpoints (nil ck: none).
	ck     *checkpointer
	ckID   uint64 // the last complete checkpoint
	ckSeq  uint64 // the last checkpoint id used, complete or not
	ckBusy bool   // a checkpoint is being written
	ckDone chan ckResult
	ckErr  error // a barrier failure that stops the task
	// Exactly-once Kafka output: two transactional producers (nil: the worker's shared
	// producer), and the ones with an open transaction not yet committed, oldest first; the
	// last receives the task's rows.
	txns    [2]*txnProducer
	txnOpen []int
	lakes   []*lakeRows // this task's lakehouse sinks
	// lakeRecovered: the lakehouse sinks were recovered from a checkpoint already.
	lakeRecovered bool

	// point is the latest commit point, published for the committer goroutine.
	point atomic.Pointer[commitPoint]
	cur   commitPoint // the task's own copy, updated in place, published as a clone
}

// commitPoint is where a restarted task can resume without state: per input the offset up to
// which every window of every record is closed, and the watermark the task had at that
// position; and the watermark at the time (the horizon: windows closed by it are final).
type commitPoint struct {
	ckpt    uint64  // the checkpoint these offsets belong to (0: no checkpoints)
	offset  []int64 // -1: nothing committable yet
	wmAt    []int64
	hi      []int64 // next offset processed, per input
	horizon int64
}

// stageOp is one stateless operator of a task (its own clone of the compiled program).
type stageOp struct {
	path    string
	filter  *expr.Filter
	compute *expr.Compute
	col     int
}

func newTask(id int32, p *Plan, env *Env, sinks []RowSink, dlq *kafka.DeadLetter, m *taskMetrics) (*task, error) {
	t := &task{id: id, plan: p, env: env, sinks: sinks, dlq: dlq, m: m, wm: math.MinInt64, floor: math.MinInt64}
	n := len(p.Sources)
	wcfg := make([]operators.WatermarkConfig, n)
	for i, s := range p.Sources {
		d, err := env.Formats.New(s.Spec.Format, s.Fields)
		if err != nil {
			return nil, fmt.Errorf("task %d: source %s: %w", id, s.Spec.Name, err)
		}
		t.decs = append(t.decs, d)
		wcfg[i] = s.Watermark
	}
	t.nsrc = len(p.Sources[0].Fields)
	t.row = make(row.Row, len(p.Input.Fields))
	t.wms = operators.NewWatermarks(wcfg)
	t.pre, t.post = cloneOps(p.Pre), cloneOps(p.Post)
	if p.Window != nil {
		w, err := operators.NewWindow(p.Window.Config)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", id, err)
		}
		t.win = w
	}
	t.ends, t.next, t.ended = make([]int64, n), make([]int64, n), make([]bool, n)
	t.replayUntil, t.commits = make([]int64, n), make([]commitQueue, n)
	t.cur = commitPoint{offset: make([]int64, n), wmAt: make([]int64, n), hi: make([]int64, n), horizon: math.MinInt64}
	for i := range t.ends {
		t.ends[i], t.next[i], t.cur.offset[i] = -1, -1, -1
	}
	t.inbox.init()
	t.ckDone = make(chan ckResult, 1)
	return t, nil
}

func cloneOps(ops []OpPlan) []stageOp {
	out := make([]stageOp, len(ops))
	for i, o := range ops {
		out[i] = stageOp{path: o.Path, col: o.Column}
		if o.Filter != nil {
			out[i].filter = o.Filter.Clone()
		}
		if o.Compute != nil {
			out[i].compute = o.Compute.Clone()
		}
	}
	return out
}

// batch is a run of consecutive records of one input, or, when ends is set, the order to end
// every input at those offsets (drain).
type batch struct {
	input int
	recs  []*kgo.Record
	ends  []int64
}

// run is the task's loop. It returns nil when every input has ended (bounded mode) or stop is
// closed (after processing what was queued), and the first sink error otherwise.
func (t *task) run(ctx context.Context, stop <-chan struct{}) (err error) {
	defer func() {
		t.env.Logger.Debug("task stopped", "task", t.id, "err", err, "watermark", t.wm, "next", t.next, "ended", t.ended)
	}()
	if t.allEnded() { // bounded mode with nothing to read
		return t.emit(ctx, nil)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var barrier <-chan time.Time
	if t.ck != nil {
		bt := time.NewTicker(t.ck.interval)
		defer bt.Stop()
		barrier = bt.C
		defer t.awaitCheckpoint()
	}
	for {
		select {
		case tick := <-barrier:
			t.barrier(ctx, false, tick)
			if t.ckErr != nil {
				return t.ckErr
			}
		case r := <-t.ckDone:
			t.checkpointDone(r)
			if t.ckErr != nil {
				return t.ckErr
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-t.inbox.ready:
			if err := t.drainInbox(ctx); err != nil {
				return err
			}
			if t.allEnded() {
				return t.finalBarrier(ctx)
			}
		case <-tick.C:
			t.tick(ctx)
		case <-stop:
			// Graceful: what was queued is processed; open windows stay open (their records
			// are not committed, so the next owner reads them again). With transactions, a
			// last checkpoint commits what was produced.
			if err := t.drainInbox(ctx); err != nil {
				return err
			}
			return t.finalBarrier(ctx)
		}
	}
}

func (t *task) drainInbox(ctx context.Context) error {
	for {
		bs := t.inbox.take()
		if len(bs) == 0 {
			return nil
		}
		for i := range bs {
			if err := t.process(ctx, &bs[i]); err != nil {
				return err
			}
		}
	}
}

func (t *task) allEnded() bool {
	for _, e := range t.ended {
		if !e {
			return false
		}
	}
	return true
}

// setEnds makes each input end at ends[i] (bounded mode, or a drain of a streaming run).
func (t *task) setEnds(ends []int64) {
	for i, e := range ends {
		t.ends[i] = e
		if t.next[i] >= e {
			t.endInput(i)
		}
	}
}

// process runs one batch through decoding, the operators and the sinks.
func (t *task) process(ctx context.Context, b *batch) error {
	if b.ends != nil {
		t.setEnds(b.ends)
		err := t.emit(ctx, nil)
		t.publishCommittable()
		return err
	}
	now := t.env.Clock.Now().UnixMilli()
	in, filtered := 0, 0
	maxT := int64(math.MinInt64)
	src := &t.plan.Sources[b.input]
	for i, kr := range b.recs {
		if i > 0 && i%commitChunk == 0 {
			t.commits[b.input].push(t.next[b.input], t.closeTime(maxT), t.wm)
			maxT = math.MinInt64
		}
		t.next[b.input] = kr.Offset + 1
		if kr.Attrs.IsControl() {
			continue
		}
		in++
		r := t.row
		if err := t.decs[b.input].Decode(kr.Value, r[:t.nsrc]); err != nil {
			t.dead(ctx, kr, kafka.ClassDecode, err.Error())
			continue
		}
		ts := r[src.TimeIdx].I
		maxT = max(maxT, ts)
		keep, err := t.apply(t.pre, r)
		switch {
		case err != nil:
			t.dead(ctx, kr, kafka.ClassExpression, err.Error())
		case !keep:
			filtered++
		case t.win == nil:
			if err := t.write(ctx, r); err != nil {
				return err
			}
		default:
			rec := operators.Record{Time: ts, Row: r, Input: b.input, Ref: i}
			t.win.OnRecord(&rec, t.wm, &t.out)
		}
		if wm, adv := t.wms.Observe(b.input, ts, now); adv {
			t.advance(wm)
		}
		if err := t.emit(ctx, b); err != nil {
			return err
		}
	}
	t.m.in.Add(float64(in))
	t.m.filtered.Add(float64(filtered))
	t.commits[b.input].push(t.next[b.input], t.closeTime(maxT), t.wm)
	if t.ends[b.input] >= 0 && t.next[b.input] >= t.ends[b.input] {
		t.endInput(b.input)
	}
	err := t.emit(ctx, b)
	t.publishCommittable()
	return err
}

// advance moves the task's watermark to wm (never backwards, never below the restored floor)
// and fires what it closes.
func (t *task) advance(wm int64) {
	wm = max(wm, t.floor)
	if wm <= t.wm {
		return
	}
	t.wm = wm
	if t.win != nil {
		t.win.OnWatermark(wm, &t.out)
	}
}

func (t *task) endInput(i int) {
	if t.ended[i] {
		return
	}
	t.ended[i] = true
	if wm, adv := t.wms.End(i); adv {
		t.advance(wm)
	}
}

func (t *task) tick(ctx context.Context) {
	now := t.env.Clock.Now().UnixMilli()

	if wm, adv := t.wms.Tick(now); adv {
		t.advance(wm)
		if err := t.emit(ctx, nil); err != nil {
			t.env.Logger.Error("sink write failed", "task", t.id, "err", err)
		}
	}
	if t.wm > math.MinInt64 && t.wm < math.MaxInt64 {
		t.m.wm.Set(float64(t.wm))
		t.m.wmLag.Set(float64(now - t.wm))
	}
	if t.win != nil {
		st := t.win.Stats()
		t.m.windows.Set(float64(st.Windows))
		t.m.keys.Set(float64(st.Panes))
	}
	t.publishCommittable()
}

// apply runs stateless operators over r in place. It reports whether r is kept, or an error
// naming the operator when an expression fails on this record.
func (t *task) apply(ops []stageOp, r row.Row) (bool, error) {
	for i := range ops {
		op := &ops[i]
		if op.filter != nil {
			keep, err := op.filter.Keep(r)
			if err != nil {
				return false, fmt.Errorf("%s: %w", op.path, err)
			}
			if !keep {
				return false, nil
			}
			continue
		}
		v, err := op.compute.Eval(r)
		if err != nil {
			return false, fmt.Errorf("%s: %w", op.path, err)
		}
		r[op.col] = v
	}
	return true, nil
}

// emit sends what the window produced: result rows to the sinks, late records to the
// dead-letter topic. b is the batch the late references point into (nil on a tick, when
// nothing can be late).
func (t *task) emit(ctx context.Context, b *batch) error {
	for _, l := range t.out.Late {
		kr := b.recs[l.Ref]
		if kr.Offset < t.replayUntil[b.input] {
			continue // counted before the restart; its window's result is already out
		}
		t.m.late.Inc()
		t.dead(ctx, kr, kafka.ClassLate, l.Reason)
	}
	for _, r := range t.out.Rows {
		if len(t.post) > 0 {
			ext := make(row.Row, len(t.plan.Output.Fields))
			copy(ext, r)
			keep, err := t.apply(t.post, ext)
			if err != nil {
				t.env.Logger.Warn("expression failed on a result row; row dropped and counted", "task", t.id, "err", err)
				t.m.dlq[kafka.ClassExpression].Inc()
				continue
			}
			if !keep {
				continue
			}
			r = ext
		}
		if err := t.write(ctx, r); err != nil {
			return err
		}
	}
	t.out.Reset()
	return nil
}

func (t *task) write(ctx context.Context, r row.Row) error {
	for i, s := range t.sinks {
		if err := s.Write(ctx, r); err != nil {
			return fmt.Errorf("task %d: sink %s: %w", t.id, t.plan.Sinks[i].Spec.Name, err)
		}
		t.m.out[i].Inc()
	}
	return nil
}

func (t *task) dead(ctx context.Context, kr *kgo.Record, class, reason string) {
	t.m.dlq[class].Inc()
	t.dlq.Write(ctx, kr, class, reason)
}

// closeTime is the watermark at which every window a record of event time ts can belong to is
// closed for good; its offset may be committed then.
func (t *task) closeTime(ts int64) int64 {
	if t.win == nil || ts == math.MinInt64 {
		return math.MinInt64
	}
	w := t.plan.Window
	if w.Span == 0 { // sessions can extend without bound: only the end of input closes them
		return math.MaxInt64
	}
	c := w.Config
	slide := c.Size
	if c.Kind == operators.Sliding {
		slide = c.Slide
	}
	lastStart := ts - ((ts%slide)+slide)%slide
	return lastStart + c.Size + c.AllowedLateness
}

// finalBarrier takes a last checkpoint when a checkpointed task stops cleanly, so that what it
// produced is committed rather than produced again by the next owner.
func (t *task) finalBarrier(ctx context.Context) error {
	if t.ck == nil {
		return nil
	}
	t.awaitCheckpoint()
	if t.ckErr != nil {
		return t.ckErr
	}
	t.barrier(ctx, true, time.Now())
	return t.ckErr
}

// awaitCheckpoint waits for a checkpoint being written when the task stops, so that its result
// (and commit point) is not lost.
func (t *task) awaitCheckpoint() {
	if t.ckBusy {
		t.checkpointDone(<-t.ckDone)
	}
}

// publishCommittable moves each input's commit point forward over the chunks whose windows
// the watermark has closed, and publishes it. With checkpoints, the commit point is the last
// complete checkpoint's instead (checkpointDone).
func (t *task) publishCommittable() {
	if t.ck != nil {
		return
	}
	for i := range t.commits {
		if off, wmAt, ok := t.commits[i].pop(t.wm); ok {
			t.cur.offset[i], t.cur.wmAt[i] = off, wmAt
		}
		t.cur.hi[i] = t.next[i]
	}
	t.cur.horizon = t.wm
	p := commitPoint{offset: slices.Clone(t.cur.offset), wmAt: slices.Clone(t.cur.wmAt), hi: slices.Clone(t.cur.hi), horizon: t.wm}
	t.point.Store(&p)
}

// restore prepares a task that resumes from a commit point without state (see commitPoint):
// the watermark resumes where it was at the committed position, windows closed by the horizon
// stay closed, and records below hi that are late now were counted before.
func (t *task) restore(wmAt, horizon int64, hi []int64) {
	t.floor, t.wm = wmAt, wmAt
	copy(t.replayUntil, hi)
	if t.win != nil {
		t.win.SetClosedHorizon(horizon)
	}
}

// commitQueue holds, per chunk of records, the offset after it, the watermark that closes
// every window its records can be in, and the task's watermark at that position.
type commitQueue struct {
	q []commitEntry
}

type commitEntry struct{ next, close, wmAt int64 }

// commitChunk is how many records share one entry of the commit queue: the granularity at
// which offsets become committable.
const commitChunk = 512

func (c *commitQueue) push(next, close, wmAt int64) {
	if n := len(c.q); n > 0 && c.q[n-1].close >= close {
		c.q[n-1].next, c.q[n-1].wmAt = next, wmAt // closes no later than the previous entry
		return
	}
	c.q = append(c.q, commitEntry{next, close, wmAt})
}

// pop removes the entries closed at wm and returns the last one's offset and watermark.
func (c *commitQueue) pop(wm int64) (next, wmAt int64, ok bool) {
	n := 0
	for n < len(c.q) && c.q[n].close <= wm {
		n++
	}
	if n == 0 {
		return 0, 0, false
	}
	e := c.q[n-1]
	c.q = append(c.q[:0], c.q[n:]...)
	return e.next, e.wmAt, true
}

// inbox is the queue between the worker's poll loop and a task. The poll loop never blocks on
// it: when a task falls behind, fetching its partitions is paused instead, so one slow task
// does not stall the others.
//
// Pause and resume are called under mu, so they happen in the order the queue saw: without
// that, a task could drain its queue and resume BEFORE the poll loop paused it, leaving the
// partition paused forever.
type inbox struct {
	ready  chan struct{}
	pause  func() // stops fetching this task's partitions
	resume func() // starts it again
	mu     struct {
		sync.Mutex
		q      []batch
		paused bool
	}
}

// inboxHighWater is how many batches may queue before fetching is paused. Pausing makes
// franz-go drop what it buffered for the partition and fetch it again later, so pausing too
// eagerly costs broker work; a batch is at most a poll's worth of records of one partition.
const inboxHighWater = 32

func (b *inbox) init() { b.ready = make(chan struct{}, 1) }

// push queues bt and reports whether it paused fetching (the task is behind).
func (b *inbox) push(bt batch) (paused bool) {
	b.mu.Lock()
	b.mu.q = append(b.mu.q, bt)
	if len(b.mu.q) >= inboxHighWater && !b.mu.paused && b.pause != nil {
		b.mu.paused, paused = true, true
		b.pause()
	}
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return paused
}

// take returns everything queued; on finding the queue empty it resumes fetching if paused.
func (b *inbox) take() []batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.mu.q
	b.mu.q = nil
	if len(q) == 0 && b.mu.paused {
		b.mu.paused = false
		b.resume()
	}
	return q
}
