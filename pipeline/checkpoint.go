package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/glintstream/glint/checkpoint"
)

// Barrier checkpoints (DESIGN.md, "Exactly-once: barrier checkpoints").
//
// A task owns every input of its partition and processes them on one goroutine, so a barrier
// needs no alignment: between two batches the task's state, watermark and input offsets are
// consistent, and that is where checkpoint n is cut. The ordering rules, in order:
//
//  1. state and offsets are captured at the barrier, on the task goroutine;
//  2. the sinks are flushed: every row emitted BEFORE the barrier is durable BEFORE manifest n;
//  3. the state blob, then manifest n, are written and synced: manifest n is the commit point;
//  4. only AFTER it, the offsets of n are committed to the group (for lag tooling) and old
//     checkpoints are pruned.
//
// Steps 2-4 run off the task goroutine, so the task keeps processing while they do IO; the
// next barrier waits until they are done. Recovery restores the newest complete manifest and
// reads on from its offsets: rows emitted after it are produced again, identically, because
// the operators are deterministic given their state and input order.

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
	// afterManifest, if set, is called after manifest id of a task is durable and before its
	// transaction commits; returning true stops the task there (crash injection in tests).
	afterManifest func(task int32, id uint64) bool
}

type ckResult struct {
	id    uint64
	point *commitPoint
	err   error
	took  time.Duration
	size  int
}

const taskStateMagic = "GLT1"

// encodeState is the task's state at a barrier: window and watermarks snapshots (each
// versioned and checksummed by its operator) and the task's watermark.
func (t *task) encodeState() []byte {
	b := append([]byte(nil), taskStateMagic...)
	var win []byte
	if t.win != nil {
		win = t.win.AppendSnapshot(nil)
	}
	b = binary.AppendUvarint(b, uint64(len(win)))
	b = append(b, win...)
	wms := t.wms.AppendSnapshot(nil)
	b = binary.AppendUvarint(b, uint64(len(wms)))
	b = append(b, wms...)
	return binary.AppendVarint(b, t.wm)
}

// restoreState is encodeState's inverse.
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

// cut captures checkpoint t.ckID+1 at the barrier: the state, the manifest without sinks, and
// the commit point its offsets become once it is durable.
func (t *task) cut() (uint64, []byte, *checkpoint.Manifest, *commitPoint) {
	id := t.ckID + 1
	m := &checkpoint.Manifest{Job: t.ck.job, Task: t.id, ID: id, Watermark: t.wm}
	point := &commitPoint{ckpt: id, horizon: t.wm}
	for i, topic := range t.ck.topics {
		off := t.next[i]
		m.Inputs = append(m.Inputs, checkpoint.InputOffset{Topic: topic, Partition: t.id, Offset: off})
		point.offset = append(point.offset, off)
		point.wmAt = append(point.wmAt, t.wm)
		point.hi = append(point.hi, off)
	}
	return id, t.encodeState(), m, point
}

// barrier cuts checkpoint t.ckID+1 and starts writing it. It is a no-op while the previous one
// is still being written. With a transactional producer the checkpoint is written
// synchronously (barrierTxn).
func (t *task) barrier(ctx context.Context) {
	if t.ck == nil || t.ckBusy {
		return
	}
	if t.txn != nil {
		if err := t.barrierTxn(ctx); err != nil {
			t.ckErr = err
		}
		return
	}
	start := time.Now()
	id, state, m, point := t.cut()
	if err := t.prepareLakes(id, m); err != nil {
		t.checkpointDone(ckResult{id: id, err: err})
		return
	}
	t.ckBusy = true
	go func() {
		err := t.ck.flush(ctx) // rows before the barrier BEFORE the manifest
		if err == nil {
			err = t.ck.store.Save(ctx, m, bytes.NewReader(state))
		}
		if err == nil {
			err = t.commitLakes(ctx, id) // AFTER the manifest is durable
		}
		if err == nil {
			if perr := t.ck.store.Prune(ctx, t.ck.job, t.id, t.ck.keep); perr != nil {
				t.env.Logger.Warn("pruning old checkpoints", "task", t.id, "err", perr)
			}
		}
		t.ckDone <- ckResult{id: id, point: point, err: err, took: time.Since(start), size: len(state)}
	}()
}

// checkpointDone records a finished checkpoint: on success its offsets become the commit point.
func (t *task) checkpointDone(r ckResult) {
	t.ckBusy = false
	if r.err != nil {
		t.ck.m.CheckpointFailures.WithLabelValues(itoa(t.id)).Inc()
		t.env.Logger.Warn("checkpoint failed; the job goes on and the next one retries", "task", t.id, "checkpoint", r.id, "err", r.err)
		return
	}
	t.ckID = r.id
	t.point.Store(r.point)
	t.ck.m.Checkpoints.WithLabelValues(itoa(t.id)).Inc()
	t.ck.m.CheckpointSeconds.WithLabelValues(itoa(t.id)).Set(r.took.Seconds())
	t.ck.m.CheckpointBytes.WithLabelValues(itoa(t.id)).Set(float64(r.size))
}

// restoreLatest restores the task from its newest complete checkpoint, if any, and returns the
// offsets to resume from (nil when there is none).
func (t *task) restoreLatest(ctx context.Context) (*checkpoint.Manifest, error) {
	m, err := t.ck.store.Latest(ctx, t.ck.job, t.id)
	if errors.Is(err, checkpoint.ErrNotFound) {
		return nil, t.nextCheckpointID(ctx)
	}
	if err != nil {
		return nil, err
	}
	rc, err := t.ck.store.OpenState(ctx, m)
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
	t.ckID = next - 1
	return nil
}

// barrierTxn writes checkpoint t.ckID+1 of a task with exactly-once Kafka output, on the task
// goroutine: pre-commit (flush) the open transaction, make the manifest durable with the
// transaction's id and epoch, commit the transaction, begin the next. A failed save keeps the
// transaction open for the next barrier; a failed commit stops the task (recovery rolls the
// transaction forward from the durable manifest).
func (t *task) barrierTxn(ctx context.Context) error {
	start := time.Now()
	id, state, m, point := t.cut()
	pre, err := t.txn.preCommit(ctx)
	if err == nil {
		err = t.ck.flush(ctx) // the non-transactional sinks (stdout)
	}
	if err == nil {
		m.Sinks = []checkpoint.SinkState{{Name: txnSinkName, Data: pre}}
		err = t.prepareLakes(id, m)
	}
	if err == nil {
		err = t.ck.store.Save(ctx, m, bytes.NewReader(state))
	}
	if err != nil {
		t.checkpointDone(ckResult{id: id, err: err})
		return nil
	}
	if t.ck.afterManifest != nil && t.ck.afterManifest(t.id, id) {
		return errInjectedCrash
	}
	if err := t.txn.commit(ctx); err != nil {
		return fmt.Errorf("task %d: checkpoint %d: %w", t.id, id, err)
	}
	if err := t.commitLakes(ctx, id); err != nil {
		return fmt.Errorf("task %d: checkpoint %d: %w", t.id, id, err)
	}
	t.env.Logger.Debug("checkpoint committed", "task", t.id, "checkpoint", id, "offsets", m.Inputs, "watermark", t.wm)
	if err := t.txn.begin(); err != nil {
		return err
	}
	if perr := t.ck.store.Prune(ctx, t.ck.job, t.id, t.ck.keep); perr != nil {
		t.env.Logger.Warn("pruning old checkpoints", "task", t.id, "err", perr)
	}
	t.checkpointDone(ckResult{id: id, point: point, took: time.Since(start), size: len(state)})
	return nil
}

// errInjectedCrash stops a task as a crash between manifest and commit would (tests only).
var errInjectedCrash = errors.New("pipeline: injected crash after the manifest")

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
