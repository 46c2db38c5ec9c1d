package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/glintstream/glint/checkpoint"
	"github.com/glintstream/glint/operators"
)

// Barrier checkpoints (DESIGN.md, "Exactly-once: barrier checkpoints").
//
// A task owns every input of its partition and processes them on one goroutine, so a barrier
// needs no alignment: between two batches the task's state, watermark and input offsets are
// consistent, and that is where checkpoint n is cut. The ordering rules, in order:
//
//  1. state and offsets are captured at the barrier, on the task goroutine; the lakehouse
//     sinks stage and sync their files; with exactly-once output the open Kafka transaction
//     is handed to the checkpoint and a new one (on the task's other producer) takes the rows
//     after the barrier;
//  2. the sinks are flushed: every row emitted BEFORE the barrier is durable BEFORE manifest n;
//  3. the state blob, then manifest n (naming the transactions and staged files), are written
//     and synced: manifest n is the commit point;
//  4. only AFTER it, the transactions and staged files commit, old checkpoints are pruned, and
//     the offsets of n are committed to the group (for lag tooling).
//
// Steps 2-4 run off the task goroutine, so the task keeps processing while they do IO; the
// next barrier is skipped until they are done. A checkpoint that fails before its manifest
// fails cleanly: the job goes on, and the next checkpoint covers its rows too (its
// transactions stay open, its staged files stay pending and are listed again). Recovery
// restores the newest complete manifest, rolls its commits forward, and reads on from its
// offsets: rows after it are produced again, identically, because the operators are
// deterministic given their state and input order. Transactions after it were never committed
// and are aborted when the next owner's producers initialise (fencing).

// checkpointer is a worker's checkpoint configuration, shared by its tasks.
type checkpointer struct {
	store    *checkpoint.Store
	job      string
	interval time.Duration
	keep     int
	topics   []string                        // by input index
	flush    func(ctx context.Context) error // the worker's shared sinks
	m        *Metrics
	// exactlyOnce gives each task a transactional producer for its Kafka output.
	exactlyOnce bool
	brokers     []string
	// fault, if set, is called at each protocol step of checkpoint id of a task; an error
	// stops the task there, as a crash would (tests).
	fault func(step string, task int32, id uint64) error
	// from: storage to restore each task from once, instead of store (--from-checkpoint).
	from struct {
		store *checkpoint.Store
		mu    sync.Mutex
		used  map[int32]bool
	}
}

// restoreStore is the storage task restores from: the --from-checkpoint storage the first
// time, the job's own afterwards.
func (c *checkpointer) restoreStore(task int32) *checkpoint.Store {
	if c.from.store == nil {
		return c.store
	}
	c.from.mu.Lock()
	defer c.from.mu.Unlock()
	if c.from.used[task] {
		return c.store
	}
	if c.from.used == nil {
		c.from.used = map[int32]bool{}
	}
	c.from.used[task] = true
	return c.from.store
}

type ckResult struct {
	id    uint64
	point *commitPoint
	txns  []int // the transactions it covers
	err   error // the checkpoint failed cleanly: the job goes on
	fatal error // it failed after its manifest: the task stops
	took  time.Duration
	align time.Duration
	pause time.Duration
	size  int
}

const taskStateMagic = "GLT1"

// stateCapture is the task's state frozen at a barrier, encoded later off the task goroutine:
// the window's state copy-on-write (operators.WindowCapture: capturing costs microseconds
// for a million keys), the watermarks' snapshot (O(inputs)) and the task's watermark.
type stateCapture struct {
	win *operators.WindowCapture // nil: no window
	wms []byte
	wm  int64
}

// captureState freezes the task's state; on the task goroutine.
func (t *task) captureState() *stateCapture {
	c := &stateCapture{wms: t.wms.AppendSnapshot(nil), wm: t.wm}
	if t.win != nil {
		c.win = t.win.Capture()
	}
	return c
}

// encode is the task's state at the barrier: window and watermarks snapshots (each versioned
// and checksummed by its operator) and the task's watermark. It may run on any goroutine,
// once, and releases the window capture.
func (c *stateCapture) encode() []byte {
	b := append([]byte(nil), taskStateMagic...)
	var win []byte
	if c.win != nil {
		win = c.win.AppendSnapshot(nil)
		c.win.Release()
	}
	b = binary.AppendUvarint(b, uint64(len(win)))
	b = append(b, win...)
	b = binary.AppendUvarint(b, uint64(len(c.wms)))
	b = append(b, c.wms...)
	return binary.AppendVarint(b, c.wm)
}

// restoreState is stateCapture.encode's inverse.
func (t *task) restoreState(b []byte) error {
	if !bytes.HasPrefix(b, []byte(taskStateMagic)) {
		return fmt.Errorf("%w: task state: bad magic", checkpoint.ErrCorrupt)
	}
	b = b[len(taskStateMagic):]
	part := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, fmt.Errorf("%w: task state truncated", checkpoint.ErrCorrupt)
		}
		p := b[k : k+int(n)]
		b = b[k+int(n):]
		return p, nil
	}
	win, err := part()
	if err != nil {
		return err
	}
	wms, err := part()
	if err != nil {
		return err
	}
	wm, k := binary.Varint(b)
	if k <= 0 || k != len(b) {
		return fmt.Errorf("%w: task state: bad watermark", checkpoint.ErrCorrupt)
	}
	if t.win != nil {
		if err := t.win.Restore(win); err != nil {
			return err
		}
	} else if len(win) > 0 {
		return fmt.Errorf("%w: task state has window state but the job has no window", checkpoint.ErrCorrupt)
	}
	if err := t.wms.Restore(wms); err != nil {
		return err
	}
	t.wm, t.floor = wm, wm
	return nil
}

// cut takes the next checkpoint's id at the barrier, its manifest without sinks (offsets and
// watermark), and the commit point its offsets become once it is durable. The state is
// captured separately (captureState).
func (t *task) cut() (uint64, *checkpoint.Manifest, *commitPoint) {
	t.ckSeq++ // ids are never reused, also after a failed checkpoint (its files may exist)
	id := t.ckSeq
	m := &checkpoint.Manifest{Job: t.ck.job, Task: t.id, ID: id, Watermark: t.wm}
	point := &commitPoint{ckpt: id, horizon: t.wm}
	for i, topic := range t.ck.topics {
		off := t.next[i]
		m.Inputs = append(m.Inputs, checkpoint.InputOffset{Topic: topic, Partition: t.id, Offset: off})
		point.offset = append(point.offset, off)
		point.wmAt = append(point.wmAt, t.wm)
		point.hi = append(point.hi, off)
	}
	return id, m, point
}

// ckJob is one checkpoint being written: what the barrier captured, and the transactions whose
// rows it covers.
type ckJob struct {
	id    uint64
	state *stateCapture // encoded by writeCheckpoint
	m     *checkpoint.Manifest
	point *commitPoint
	txns  []int // indexes into task.txns, in the order they were opened
	start time.Time
	align time.Duration // barrier due to cut
	pause time.Duration // input stopped for it (a sync checkpoint: all of it)
}

// Protocol steps at which tests inject a crash (checkpointer.fault).
const (
	stepBarrier     = "barrier"      // state and offsets captured; nothing written
	stepStaged      = "staged"       // lakehouse files staged and synced
	stepSaveFailed  = "save-failed"  // the state or manifest write failed
	stepManifest    = "manifest"     // manifest durable; no sink committed
	stepKafkaCommit = "kafka-commit" // Kafka transactions committed; lakehouse not
	stepLakeCommit  = "lake-commit"  // every sink committed; offsets not yet
)

// injected reports a crash a test injects at step of checkpoint id.
func (t *task) injected(step string, id uint64) error {
	if t.ck.fault == nil {
		return nil
	}
	return t.ck.fault(step, t.id, id)
}

// barrier cuts the next checkpoint and writes it: off the task goroutine normally, so the task
// goes on processing while the checkpoint's IO runs, and on it when sync is set (a task that
// stops) or no transactional producer is free for the rows after the barrier. It is a no-op
// while the previous checkpoint is still being written.
//
// With exactly-once output each task has two transactional producers. At the barrier the open
// transaction, holding exactly the rows emitted before it, is handed to the checkpoint, and
// the rows after it go to a new transaction on the other producer; the handed-over one commits
// once the manifest naming it is durable. A checkpoint that fails leaves its transactions open
// for the next one, which then covers both.
//
// tick is when the barrier was due; the task cuts it after the batch in progress.
func (t *task) barrier(ctx context.Context, sync bool, tick time.Time) {
	if t.ck == nil || t.ckBusy {
		return
	}
	start := time.Now()
	id, m, point := t.cut()
	j := &ckJob{id: id, m: m, point: point, start: start, align: start.Sub(tick)}
	if err := t.injected(stepBarrier, id); err != nil {
		t.ckErr = err
		return
	}
	if err := t.prepareLakes(id, m); err != nil {
		t.checkpointDone(ckResult{id: id, err: err})
		return
	}
	if err := t.injected(stepStaged, id); err != nil {
		t.ckErr = err
		return
	}
	if t.txns[0] != nil {
		j.txns = slices.Clone(t.txnOpen)
		free := -1
		for i := range t.txns {
			if !slices.Contains(t.txnOpen, i) {
				free = i
			}
		}
		if free < 0 || sync {
			sync = true
			t.txnOpen = nil // until the checkpoint commits them, or fails and hands them back
		} else if err := t.useTxn(free); err != nil {
			t.ckErr = err
			return
		}
	}
	// Nothing above processed a record, so the state is still the barrier's. Captured only
	// now, once the checkpoint is sure to be written (writeCheckpoint encodes and releases it).
	j.state = t.captureState()
	if sync {
		t.checkpointDone(t.writeCheckpoint(ctx, j))
		return
	}
	j.pause = time.Since(start)
	t.ckBusy = true
	go func() { t.ckDone <- t.writeCheckpoint(ctx, j) }()
}

// useTxn begins a transaction on producer i and sends the task's Kafka output to it.
func (t *task) useTxn(i int) error {
	tp := t.txns[i]
	if err := tp.begin(); err != nil {
		return err
	}
	t.txnOpen = append(t.txnOpen, i)
	for _, s := range t.sinks {
		if k, ok := s.(*kafkaRows); ok {
			k.p = tp.p
		}
	}
	t.dlq.P = tp.p
	return nil
}

// writeCheckpoint writes checkpoint j, in the protocol's order:
//
//  1. the sinks are flushed: every row emitted BEFORE the barrier is durable BEFORE manifest n;
//  2. the state blob, then manifest n (with the transactions' ids and epochs and the staged
//     lakehouse files), are written and synced: manifest n is the commit point;
//  3. only AFTER it, the Kafka transactions and the lakehouse files are committed, and old
//     checkpoints pruned (the worker then commits the offsets to the group, for lag tooling).
//
// It touches only the transactional producers handed to j and the store, so it may run off the
// task goroutine. A failure up to the manifest fails the checkpoint cleanly (the transactions
// stay open for the next one); a failure after it is fatal for the task, whose next owner
// rolls the commits forward from the manifest.
func (t *task) writeCheckpoint(ctx context.Context, j *ckJob) ckResult {
	state := j.state.encode()
	r := ckResult{id: j.id, point: j.point, txns: j.txns, size: len(state)}
	var pre [][]byte
	for _, i := range j.txns {
		b, err := t.txns[i].preCommit(ctx)
		if err != nil {
			r.err = err
			return r
		}
		pre = append(pre, b)
	}
	if err := t.ck.flush(ctx); err != nil { // the non-transactional sinks
		r.err = err
		return r
	}
	if len(pre) > 0 {
		j.m.Sinks = append(j.m.Sinks, checkpoint.SinkState{Name: txnSinkName, Data: bytes.Join(pre, []byte("\n"))})
	}
	if err := t.ck.store.Save(ctx, j.m, bytes.NewReader(state)); err != nil {
		r.err = err
		if ferr := t.injected(stepSaveFailed, j.id); ferr != nil {
			r.fatal = ferr
		}
		return r
	}
	fatal := func(err error) ckResult {
		r.fatal = fmt.Errorf("task %d: checkpoint %d: %w", t.id, j.id, err)
		return r
	}
	if err := t.injected(stepManifest, j.id); err != nil {
		return fatal(err)
	}
	for _, i := range j.txns {
		if err := t.txns[i].commit(ctx); err != nil {
			return fatal(err)
		}
		if err := t.txns[i].renew(ctx); err != nil { // a new epoch for its next transaction
			return fatal(err)
		}
	}
	if err := t.injected(stepKafkaCommit, j.id); err != nil {
		return fatal(err)
	}
	if err := t.commitLakes(ctx, j.id); err != nil {
		return fatal(err)
	}
	if err := t.injected(stepLakeCommit, j.id); err != nil {
		return fatal(err)
	}
	t.env.Logger.Debug("checkpoint committed", "task", t.id, "checkpoint", j.id, "offsets", j.m.Inputs, "watermark", j.m.Watermark)
	if err := t.ck.store.Prune(ctx, t.ck.job, t.id, t.ck.keep); err != nil {
		t.env.Logger.Warn("pruning old checkpoints", "task", t.id, "err", err)
	}
	r.took = time.Since(j.start)
	r.align, r.pause = j.align, j.pause
	if r.pause == 0 {
		r.pause = r.took
	}
	return r
}

// checkpointDone records a finished checkpoint, on the task goroutine: on success its offsets
// become the commit point and its transactions' producers are free again; on failure its
// transactions stay open for the next checkpoint.
func (t *task) checkpointDone(r ckResult) {
	t.ckBusy = false
	if r.fatal != nil {
		t.ck.m.CheckpointFailures.WithLabelValues(itoa(t.id)).Inc()
		t.ckErr = r.fatal
		return
	}
	if r.err != nil {
		t.ck.m.CheckpointFailures.WithLabelValues(itoa(t.id)).Inc()
		t.env.Logger.Warn("checkpoint failed; the job goes on and the next one retries", "task", t.id, "checkpoint", r.id, "err", r.err)
		// Its transactions stay open, before any opened since, for the next checkpoint.
		t.txnOpen = append(slices.Clone(r.txns), t.txnOpen...)
		return
	}
	t.ckID = r.id
	t.point.Store(r.point)
	t.ck.m.Checkpoints.WithLabelValues(itoa(t.id)).Inc()
	t.ck.m.CheckpointSeconds.WithLabelValues(itoa(t.id)).Set(r.took.Seconds())
	t.ck.m.CheckpointBytes.WithLabelValues(itoa(t.id)).Set(float64(r.size))
	t.ck.m.CheckpointAlignment.WithLabelValues(itoa(t.id)).Set(r.align.Seconds())
	t.ck.m.CheckpointPause.WithLabelValues(itoa(t.id)).Set(r.pause.Seconds())
	if t.txns[0] != nil && len(t.txnOpen) == 0 { // a sync checkpoint committed every transaction
		if err := t.useTxn(0); err != nil {
			t.ckErr = err
		}
	}
}

// restoreLatest restores the task from its newest complete checkpoint, if any, and returns the
// offsets to resume from (nil when there is none).
func (t *task) restoreLatest(ctx context.Context) (*checkpoint.Manifest, error) {
	store := t.ck.restoreStore(t.id)
	m, err := store.Latest(ctx, t.ck.job, t.id)
	if errors.Is(err, checkpoint.ErrNotFound) {
		if store != t.ck.store {
			return nil, fmt.Errorf("--from-checkpoint storage has no complete checkpoint of task %d: %w", t.id, err)
		}
		return nil, t.nextCheckpointID(ctx)
	}
	if err != nil {
		return nil, err
	}
	if store != t.ck.store {
		t.env.Logger.Info("restoring from --from-checkpoint", "task", t.id, "checkpoint", m.ID)
	}
	rc, err := store.OpenState(ctx, m)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if err := t.restoreState(b); err != nil {
		return nil, fmt.Errorf("checkpoint %d of task %d: %w", m.ID, t.id, err)
	}
	for _, in := range m.Inputs {
		for i, topic := range t.ck.topics {
			if topic == in.Topic {
				t.next[i] = in.Offset
			}
		}
	}
	return m, t.nextCheckpointID(ctx)
}

// nextCheckpointID makes the next barrier use an id above every id on storage, complete or
// not: ids are never reused (a torn newer manifest may exist).
func (t *task) nextCheckpointID(ctx context.Context) error {
	next, err := t.ck.store.NextID(ctx, t.ck.job, t.id)
	if err != nil {
		return err
	}
	if from := t.ck.from.store; from != nil { // above the restored one too: sinks order by id
		n, err := from.NextID(ctx, t.ck.job, t.id)
		if err != nil {
			return err
		}
		next = max(next, n)
	}
	t.ckID, t.ckSeq = next-1, next-1
	return nil
}

// errInjectedCrash stops a task as a crash at a protocol step would (tests only).
var errInjectedCrash = errors.New("pipeline: injected crash")

// prepareLakes stages and syncs the lakehouse files of checkpoint id and adds their
// description to the manifest.
func (t *task) prepareLakes(id uint64, m *checkpoint.Manifest) error {
	for _, l := range t.lakes {
		data, err := l.prepare(id)
		if err != nil {
			return err
		}
		m.Sinks = append(m.Sinks, checkpoint.SinkState{Name: l.stateName(), Data: data})
	}
	return nil
}

// commitLakes commits checkpoint id's staged files; idempotent, and rolled forward by recovery
// if the process dies first.
func (t *task) commitLakes(ctx context.Context, id uint64) error {
	for _, l := range t.lakes {
		if err := l.commit(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
