package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// Save writes checkpoint m.ID of task m.Task of job m.Job: first the state blob, streamed from
// state with its size and CRC-32C computed on the way (state may be nil for a task without
// state), then the manifest. When Save returns nil, the manifest is on storage and the
// checkpoint is committed; for a local directory both objects have been fsynced, the state
// before the manifest was written.
//
// Save sets m.StateKey, m.StateSize and m.StateCRC, and m.Created from the store's clock if
// it is zero. It does not keep m, state or any sink data after returning.
//
// Errors: ErrInvalid (nothing written) if m is not valid; ErrExists if the state blob or
// the manifest of m.ID is already on storage: ids are never reused, not even those of
// failed saves (see NextID); ErrInjected from a Faults set; otherwise the store's error.
// After any other error than ErrInvalid and ErrExists the outcome is unknown to the
// caller: a remote store may have committed a manifest whose acknowledgement was lost. The
// safe reaction is to commit no sink, stop the task and recover through Latest, which sees
// what storage really holds.
func (s *Store) Save(ctx context.Context, m *Manifest, state io.Reader) error {
	if err := m.validate(); err != nil {
		return err
	}
	mkey := manifestKey(m.Job, m.Task, m.ID)
	if m.Created.IsZero() {
		m.Created = s.clock()
	}
	m.StateKey, m.StateSize, m.StateCRC = "", 0, 0
	if state != nil {
		key := stateKey(m.Job, m.Task, m.ID)
		// Conditional, as the manifest: a second writer of the same id (a zombie worker)
		// must not replace the state a committed or committing manifest describes.
		n, crc, err := s.put(ctx, key, TargetState, state, true)
		if err != nil {
			return fmt.Errorf("checkpoint: save %s: state: %w", mkey, err)
		}
		m.StateKey, m.StateSize, m.StateCRC = key, n, crc
	}
	if _, _, err := s.put(ctx, mkey, TargetManifest, bytes.NewReader(m.Encode()), true); err != nil {
		return fmt.Errorf("checkpoint: save %s: manifest: %w", mkey, err)
	}
	// The bytes just written are the ones checksummed: Latest and Prune need not read them back.
	s.markVerified(m.StateKey, m.StateSize, m.StateCRC)
	return nil
}

// NextID returns an id greater than that of every manifest, state blob or temporary object
// of the task on storage, complete or not (1 if there is none). A task that recovered
// through Latest takes its next checkpoint with it: reusing the id of a checkpoint that was
// torn or left incomplete could hand a sink a (job, task, id) commit key it has already
// seen with other data.
func (s *Store) NextID(ctx context.Context, job string, task int32) (uint64, error) {
	objs, err := s.listTask(ctx, job, task)
	if err != nil {
		return 0, err
	}
	var next uint64 = 1
	for _, o := range objs {
		if o.id >= next {
			next = o.id + 1
		}
	}
	return next, nil
}
