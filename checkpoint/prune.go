package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Prune keeps the newest keep complete checkpoints of the task and removes everything older
// than the newest complete one that is not kept: older checkpoints (manifest, then state),
// corrupt or incomplete manifests, orphan state blobs and stranded temporary files of failed
// saves. It never removes a kept manifest or the state blob a kept manifest names, and
// never touches ids at or above the newest complete checkpoint, which may belong to a save
// in progress. With no complete checkpoint it removes nothing.
//
// Completeness is judged as Latest judges it (WithVerify). keep < 1 is ErrInvalid: the
// newest complete checkpoint is the task's commit point. Removal continues past errors, which
// are returned joined; what was not removed is removed by the next Prune.
func (s *Store) Prune(ctx context.Context, job string, task int32, keep int) error {
	if keep < 1 {
		return fmt.Errorf("%w: prune keep %d: at least the newest checkpoint must be kept", ErrInvalid, keep)
	}
	objs, err := s.listTask(ctx, job, task)
	if err != nil {
		return err
	}
	kept, err := s.completeNewestFirst(ctx, job, task, objs, keep)
	if err != nil || len(kept) == 0 {
		return err
	}
	newest := kept[0].ID
	keepKeys := make(map[string]bool, 2*len(kept))
	for _, m := range kept {
		keepKeys[manifestKey(job, task, m.ID)] = true
		keepKeys[m.StateKey] = true
	}
	var doomed []object
	for _, o := range objs {
		if o.id < newest && !keepKeys[o.key] {
			doomed = append(doomed, o)
		}
	}
	// Manifests first: a crash half way leaves orphan state, never a manifest without it.
	slices.SortStableFunc(doomed, func(a, b object) int {
		return manifestFirst(a) - manifestFirst(b)
	})
	var errs []error
	for _, o := range doomed {
		if err := s.bucket.Delete(ctx, o.key); err != nil && !notFound(err) {
			errs = append(errs, fmt.Errorf("checkpoint: prune %s: %w", o.key, err))
			continue
		}
		s.forget(o.key)
		s.log.Debug("checkpoint: pruned", "key", o.key)
	}
	return errors.Join(errs...)
}

func manifestFirst(o object) int {
	if o.kind == kindManifest {
		return 0
	}
	return 1
}
