package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/glintstream/glint/connector/lakehouse"
	"github.com/glintstream/glint/row"
)

// lakeRows is a task's lakehouse sink. Each task writes its own files and commits under its
// own identity (job, task), which is what makes commits idempotent and recoverable.
//
// Without checkpoints it commits on the sink's size/time policy and on Flush (which the worker
// calls BEFORE committing offsets). With checkpoints, Flush does nothing: the barrier stages
// and syncs the files (prepare), the manifest carries the staged list, and the files are
// committed in one Iceberg snapshot only AFTER the manifest is durable (commit); recovery rolls
// a staged-but-uncommitted checkpoint forward and deletes anything staged after it.
//
// Safe for concurrent use: the task writes while the checkpoint goroutine commits.
type lakeRows struct {
	name string
	ckpt bool
	mu   struct {
		sync.Mutex
		k   *lakehouse.Sink
		one [1]row.Row
		n   int
		// pending: prepared, not yet committed (their checkpoint failed or is being written),
		// oldest first. Each manifest lists them all, so recovery rolls forward every one.
		pending []lakehouse.Staged
	}
}

func openLakeRows(ctx context.Context, sp SinkPlan, schema row.Schema, job string, task int32, ckpt bool) (*lakeRows, error) {
	k, err := lakehouse.Open(ctx, *sp.Spec.Lakehouse, schema, lakehouse.Identity{Job: job, Task: int(task)})
	if err != nil {
		return nil, fmt.Errorf("lakehouse sink %s: %w", sp.Spec.Name, err)
	}
	l := &lakeRows{name: sp.Spec.Name, ckpt: ckpt}
	l.mu.k = k
	return l, nil
}

func (l *lakeRows) stateName() string { return "lakehouse:" + l.name }

// recover must run before the first Write: it rolls forward what a restored checkpoint staged
// and cleans up the rest.
func (l *lakeRows) recover(ctx context.Context, staged []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if staged == nil {
		return l.mu.k.Recover(ctx)
	}
	sts, err := unmarshalStagedList(staged)
	if err != nil {
		return fmt.Errorf("lakehouse sink %s: staged files in the checkpoint: %w", l.name, err)
	}
	return l.mu.k.Recover(ctx, sts...)
}

// stagedListMagic starts a list of staged checkpoints in a manifest (a bare Staged is one).
const stagedListMagic = "GLS1"

func marshalStagedList(sts []lakehouse.Staged) ([]byte, error) {
	b := append([]byte(nil), stagedListMagic...)
	b = binary.AppendUvarint(b, uint64(len(sts)))
	for _, st := range sts {
		d, err := st.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(d)))
		b = append(b, d...)
	}
	return b, nil
}

func unmarshalStagedList(b []byte) ([]lakehouse.Staged, error) {
	if !bytes.HasPrefix(b, []byte(stagedListMagic)) {
		var st lakehouse.Staged
		if err := st.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return []lakehouse.Staged{st}, nil
	}
	b = b[len(stagedListMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("bad staged list count")
	}
	b = b[k:]
	sts := make([]lakehouse.Staged, n)
	for i := range sts {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errors.New("staged list truncated")
		}
		if err := sts[i].UnmarshalBinary(b[k : k+int(l)]); err != nil {
			return nil, err
		}
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes after the staged list")
	}
	return sts, nil
}

func (l *lakeRows) Write(ctx context.Context, r row.Row) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.one[0] = r
	err := l.mu.k.Write(l.mu.one[:])
	l.mu.one[0] = nil
	if err != nil || l.ckpt {
		return err
	}
	if l.mu.n++; l.mu.n%256 == 0 {
		_, err = l.mu.k.FlushIfDue(ctx)
	}
	return err
}

func (l *lakeRows) Flush(ctx context.Context) error {
	if l.ckpt {
		return nil // checkpoints commit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.k.Flush(ctx)
}

// prepare stages and syncs the files of checkpoint seq and returns their description.
func (l *lakeRows) prepare(seq uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.mu.k.Prepare(seq)
	if err != nil {
		return nil, fmt.Errorf("lakehouse sink %s: prepare %d: %w", l.name, seq, err)
	}
	l.mu.pending = append(l.mu.pending, st)
	return marshalStagedList(l.mu.pending)
}

func (l *lakeRows) commit(ctx context.Context, seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.mu.k.Commit(ctx, seq); err != nil { // every prepared seq up to seq
		return fmt.Errorf("lakehouse sink %s: commit %d: %w", l.name, seq, err)
	}
	l.mu.pending = slices.DeleteFunc(l.mu.pending, func(st lakehouse.Staged) bool { return st.Seq <= seq })
	return nil
}

func (l *lakeRows) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.k.Close()
}

// lakeConfigErrors turns the sink's validation errors into positioned ones under path.
func (c *compiler) lakeConfigErrors(path string, errs []error) {
	for _, err := range errs {
		var ce *lakehouse.ConfigError
		if errors.As(err, &ce) {
			c.errorf(path+"."+ce.Field, "%s", ce.Msg)
			continue
		}
		c.errorf(path, "%v", err)
	}
}
