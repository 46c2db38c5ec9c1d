package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gocloud.dev/blob"
)

// Status classifies a checkpoint found on storage.
type Status uint8

const (
	// StatusComplete: the manifest decodes and its state blob has the recorded size.
	StatusComplete Status = iota
	// StatusCorrupt: the manifest is torn, damaged or disagrees with its key.
	StatusCorrupt
	// StatusStateMissing: the manifest is fine but its state blob is gone.
	StatusStateMissing
	// StatusStateCorrupt: the state blob does not have the size the manifest records.
	StatusStateCorrupt
	// StatusOrphan: a state blob or temporary file without a manifest, left by a save that
	// failed, or one still in progress. Prune removes them once a newer checkpoint completes.
	StatusOrphan
)

func (st Status) String() string {
	switch st {
	case StatusComplete:
		return "complete"
	case StatusCorrupt:
		return "corrupt"
	case StatusStateMissing:
		return "state-missing"
	case StatusStateCorrupt:
		return "state-corrupt"
	case StatusOrphan:
		return "orphan"
	}
	return fmt.Sprintf("Status(%d)", uint8(st))
}

// MarshalText makes a Status print as its name in JSON.
func (st Status) MarshalText() ([]byte, error) { return []byte(st.String()), nil }

// UnmarshalText parses the name MarshalText writes.
func (st *Status) UnmarshalText(b []byte) error {
	for c := StatusComplete; c <= StatusOrphan; c++ {
		if c.String() == string(b) {
			*st = c
			return nil
		}
	}
	return fmt.Errorf("checkpoint: unknown status %q", b)
}

// Info describes one checkpoint id of one task as found on storage.
type Info struct {
	Job    string `json:"job"`
	Task   int32  `json:"task"`
	ID     uint64 `json:"id"`
	Status Status `json:"status"`
	// Problem says why the checkpoint is not complete ("" when it is).
	Problem string `json:"problem,omitempty"`
	// Latest marks the newest complete checkpoint of its task: the one Latest returns,
	// provided its state passes the CRC check that List does not make.
	Latest bool `json:"latest"`
	// Manifest is the decoded manifest; nil when corrupt or orphan.
	Manifest     *Manifest `json:"manifest,omitempty"`
	ManifestKey  string    `json:"manifest_key,omitempty"` // "" for an orphan
	ManifestSize int64     `json:"manifest_size,omitempty"`
	// StateKey and StateSize are the state blob on storage: the manifest's, or the orphan
	// blob of this id. StateSize is -1 when the blob is missing.
	StateKey  string `json:"state_key,omitempty"`
	StateSize int64  `json:"state_size"`
	// Temps are temporary objects of this id: writes in flight or stranded by a crash.
	Temps []string `json:"temps,omitempty"`
}

// List describes every checkpoint of a job, by task and then id, oldest first. It reads
// every manifest but no state blob: a complete status means the state blob has the right
// size; Verify checks its CRC. ErrInvalid for a bad job name; an empty list if the job has
// no checkpoints.
func (s *Store) List(ctx context.Context, job string) ([]Info, error) {
	objs, err := s.listJob(ctx, job, -1)
	if err != nil {
		return nil, err
	}
	sizes := sizesOf(objs)
	type tid struct {
		task int32
		id   uint64
	}
	infos := map[tid]*Info{}
	referenced := map[string]bool{}
	get := func(o object) *Info {
		k := tid{o.task, o.id}
		if infos[k] == nil {
			infos[k] = &Info{Job: job, Task: o.task, ID: o.id, StateSize: -1}
		}
		return infos[k]
	}
	for _, o := range objs {
		if o.kind != kindManifest {
			continue
		}
		in := get(o)
		in.ManifestKey, in.ManifestSize = o.key, o.size
		if err := s.describe(ctx, in, sizes); err != nil {
			return nil, err
		}
		if in.StateKey != "" {
			referenced[in.StateKey] = true
		}
	}
	for _, o := range objs {
		switch {
		case o.kind == kindTemp:
			in := get(o)
			in.Temps = append(in.Temps, o.key)
		case o.kind == kindState && !referenced[o.key]:
			if in := get(o); in.StateKey == "" { // no manifest, or a corrupt one
				in.StateKey, in.StateSize = o.key, o.size
			}
		}
	}
	out := make([]Info, 0, len(infos))
	for _, in := range infos {
		if in.ManifestKey == "" {
			in.Status, in.Problem = StatusOrphan, "no manifest: a failed or unfinished save"
		}
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Task != b.Task {
			return int(a.Task) - int(b.Task)
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	newest := map[int32]int{} // task → index of its newest complete checkpoint
	for i, in := range out {
		if in.Status == StatusComplete {
			newest[in.Task] = i
		}
	}
	for _, i := range newest {
		out[i].Latest = true
	}
	return out, nil
}

// describe fills the status of a listed manifest. Only errors reading storage are returned.
func (s *Store) describe(ctx context.Context, in *Info, sizes map[string]int64) error {
	m, err := s.Get(ctx, in.Job, in.Task, in.ID)
	var ce *CorruptError
	switch {
	case errors.As(err, &ce):
		in.Status, in.Problem = StatusCorrupt, ce.Reason
		return nil
	case errors.Is(err, ErrNotFound): // removed since the listing: a concurrent Prune
		in.Status, in.Problem = StatusCorrupt, "removed while listing"
		return nil
	case err != nil:
		return err
	}
	in.Manifest, in.StateKey = m, m.StateKey
	if m.StateKey == "" {
		in.StateSize = 0
		return nil
	}
	size, ok := sizes[m.StateKey]
	switch {
	case !ok:
		in.Status, in.Problem = StatusStateMissing, fmt.Sprintf("state blob %s is missing", m.StateKey)
	case size != m.StateSize:
		in.StateSize = size
		in.Status, in.Problem = StatusStateCorrupt, fmt.Sprintf("state blob is %d bytes, manifest says %d", size, m.StateSize)
	default:
		in.StateSize = size
	}
	return nil
}

// Jobs returns the names of the jobs that have a directory in the store, sorted.
func (s *Store) Jobs(ctx context.Context) ([]string, error) {
	var jobs []string
	it := s.bucket.List(&blob.ListOptions{Delimiter: "/"})
	for {
		lo, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: list jobs: %w", err)
		}
		name, ok := strings.CutSuffix(lo.Key, "/")
		if lo.IsDir && ok && validJob(name) == nil {
			jobs = append(jobs, name)
		}
	}
	slices.Sort(jobs)
	return jobs, nil
}
