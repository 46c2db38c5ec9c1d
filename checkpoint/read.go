package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"gocloud.dev/blob"
)

// object is a listed key of ours.
type object struct {
	key  string
	size int64
	parsedKey
}

// listJob lists the checkpoint objects of a job (all tasks, or one when task >= 0), sorted by
// key: by task directory, then kind, then id. Keys that are not ours are left out.
func (s *Store) listJob(ctx context.Context, job string, task int32) ([]object, error) {
	if err := validJob(job); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	prefix := job + "/"
	if task >= 0 {
		prefix = taskPrefix(job, task)
	}
	var objs []object
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		lo, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: list %s: %w", prefix, err)
		}
		if lo.IsDir {
			continue
		}
		p, ok := parseTaskKey(strings.TrimPrefix(lo.Key, job+"/"))
		if !ok || (task >= 0 && p.task != task) {
			continue
		}
		objs = append(objs, object{key: lo.Key, size: lo.Size, parsedKey: p})
	}
	slices.SortFunc(objs, func(a, b object) int { return strings.Compare(a.key, b.key) })
	return objs, nil
}

func (s *Store) listTask(ctx context.Context, job string, task int32) ([]object, error) {
	if task < 0 {
		return nil, fmt.Errorf("%w: task %d is negative", ErrInvalid, task)
	}
	return s.listJob(ctx, job, task)
}

// manifestsNewestFirst returns the manifest objects of objs, highest id first.
func manifestsNewestFirst(objs []object) []object {
	var ms []object
	for _, o := range objs {
		if o.kind == kindManifest {
			ms = append(ms, o)
		}
	}
	slices.SortFunc(ms, func(a, b object) int {
		if a.task != b.task {
			return int(a.task) - int(b.task)
		}
		switch {
		case a.id > b.id:
			return -1
		case a.id < b.id:
			return 1
		}
		return 0
	})
	return ms
}

func sizesOf(objs []object) map[string]int64 {
	sizes := make(map[string]int64, len(objs))
	for _, o := range objs {
		sizes[o.key] = o.size
	}
	return sizes
}

// Latest returns the newest complete checkpoint of the task: the manifest with the highest
// id that decodes, agrees with its key, and whose state blob exists with the manifest's size
// and (with VerifyCRC) CRC. Newer checkpoints that fail these checks are logged as warnings
// and skipped. ErrNotFound if there is no complete checkpoint.
//
// Only corruption is skipped: an error reading storage (a timeout, a permission) is
// returned, because falling back past a good checkpoint would roll the task back.
func (s *Store) Latest(ctx context.Context, job string, task int32) (*Manifest, error) {
	objs, err := s.listTask(ctx, job, task)
	if err != nil {
		return nil, err
	}
	ms, err := s.completeNewestFirst(ctx, job, task, objs, 1)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: no complete checkpoint of job %q task %d in %s", ErrNotFound, job, task, s.location)
	}
	return ms[0], nil
}

// completeNewestFirst walks the task's manifests newest first and returns up to limit
// complete ones, logging every one it passes over.
func (s *Store) completeNewestFirst(ctx context.Context, job string, task int32, objs []object, limit int) ([]*Manifest, error) {
	sizes := sizesOf(objs)
	var ms []*Manifest
	for _, o := range manifestsNewestFirst(objs) {
		if len(ms) == limit {
			break
		}
		m, err := s.check(ctx, job, task, o.id, sizes, s.verify)
		if err == nil {
			ms = append(ms, m)
			continue
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		s.log.Warn("checkpoint: skipping incomplete or corrupt checkpoint; trying the previous one",
			"job", job, "task", task, "id", o.id, "key", o.key, "err", err)
	}
	return ms, nil
}

// Get reads manifest id of the task and checks that it decodes and agrees with its key. It
// does not look at the state blob (see Verify). ErrNotFound if there is no such manifest.
func (s *Store) Get(ctx context.Context, job string, task int32, id uint64) (*Manifest, error) {
	if err := validJob(job); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if task < 0 {
		return nil, fmt.Errorf("%w: task %d is negative", ErrInvalid, task)
	}
	key := manifestKey(job, task, id)
	b, err := s.readManifest(ctx, key)
	if err != nil {
		return nil, err
	}
	m, err := Decode(b)
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			return nil, &CorruptError{Key: key, Reason: ce.Reason}
		}
		return nil, err
	}
	if m.Job != job || m.Task != task || m.ID != id {
		return nil, corrupt(key, "holds the manifest of job %q task %d id %d", m.Job, m.Task, m.ID)
	}
	if m.StateKey != "" && !strings.HasPrefix(m.StateKey, taskPrefix(job, task)) {
		return nil, corrupt(key, "names state blob %q outside its task", m.StateKey)
	}
	return m, nil
}

func (s *Store) readManifest(ctx context.Context, key string) ([]byte, error) {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, fmt.Errorf("checkpoint: read %s: %w", key, err)
	}
	defer r.Close()
	if r.Size() > maxManifestSize {
		return nil, corrupt(key, "%d bytes, larger than any manifest", r.Size())
	}
	b, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", key, err)
	}
	return b, nil
}

// check returns manifest id if the checkpoint is complete. sizes are the listed object
// sizes, which spare a request per state blob.
func (s *Store) check(ctx context.Context, job string, task int32, id uint64, sizes map[string]int64, mode VerifyMode) (*Manifest, error) {
	m, err := s.Get(ctx, job, task, id)
	if err != nil {
		return nil, err
	}
	if m.StateKey == "" {
		return m, nil
	}
	size, ok := sizes[m.StateKey]
	switch {
	case !ok:
		return nil, corrupt(m.StateKey, "state blob of manifest %d is missing", id)
	case size != m.StateSize:
		return nil, corrupt(m.StateKey, "state blob is %d bytes, manifest %d says %d", size, id, m.StateSize)
	case mode == VerifyCRC && !s.isVerified(m.StateKey, m.StateSize, m.StateCRC):
		if err := s.Verify(ctx, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Verify reads m's whole state blob and checks its size and CRC. Errors wrap ErrCorrupt
// when the blob is missing or does not match.
func (s *Store) Verify(ctx context.Context, m *Manifest) error {
	r, err := s.OpenState(ctx, m)
	if err != nil {
		return err
	}
	defer r.Close()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	_, err = io.CopyBuffer(io.Discard, r, *buf)
	return err
}

// OpenState opens m's state blob for restoring. The reader checks the blob's size when
// opened and its CRC when it reaches the end: instead of io.EOF, Read returns an error
// wrapping ErrCorrupt if they do not match the manifest, so a caller that reads to EOF
// never restores corrupt state unknowingly. A missing blob is ErrCorrupt too: the manifest
// promises it. For a manifest without state it returns an empty reader. The caller closes
// the reader.
func (s *Store) OpenState(ctx context.Context, m *Manifest) (io.ReadCloser, error) {
	if m.StateKey == "" {
		if m.StateSize != 0 {
			return nil, corrupt(manifestKey(m.Job, m.Task, m.ID), "%d bytes of state but no state key", m.StateSize)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	if !strings.HasPrefix(m.StateKey, taskPrefix(m.Job, m.Task)) {
		return nil, corrupt(manifestKey(m.Job, m.Task, m.ID), "names state blob %q outside its task", m.StateKey)
	}
	r, err := s.bucket.NewReader(ctx, m.StateKey, nil)
	if err != nil {
		if notFound(err) {
			return nil, corrupt(m.StateKey, "state blob of manifest %d is missing", m.ID)
		}
		return nil, fmt.Errorf("checkpoint: read %s: %w", m.StateKey, err)
	}
	if r.Size() != m.StateSize {
		r.Close()
		return nil, corrupt(m.StateKey, "state blob is %d bytes, manifest %d says %d", r.Size(), m.ID, m.StateSize)
	}
	return &stateReader{r: r, s: s, key: m.StateKey, size: m.StateSize, crc: m.StateCRC}, nil
}

// stateReader checks the size and CRC of a state blob as it is read.
type stateReader struct {
	r    *blob.Reader
	s    *Store
	key  string
	size int64
	crc  uint32
	n    int64
	sum  uint32
	err  error // sticky: io.EOF after a good end, or the corruption found
}

func (sr *stateReader) Read(p []byte) (int, error) {
	if sr.err != nil {
		return 0, sr.err
	}
	n, err := sr.r.Read(p)
	sr.sum = crc32.Update(sr.sum, castagnoli, p[:n])
	sr.n += int64(n)
	switch {
	case sr.n > sr.size:
		sr.err = corrupt(sr.key, "state blob is longer than the %d bytes its manifest says", sr.size)
		return n, sr.err
	case err == io.EOF && sr.n != sr.size:
		sr.err = corrupt(sr.key, "state blob ended after %d of %d bytes", sr.n, sr.size)
		return n, sr.err
	case err == io.EOF && sr.sum != sr.crc:
		sr.err = corrupt(sr.key, "state blob has CRC %08x, its manifest says %08x", sr.sum, sr.crc)
		return n, sr.err
	case err == io.EOF:
		sr.err = io.EOF
		sr.s.markVerified(sr.key, sr.size, sr.crc)
	case err != nil:
		return n, fmt.Errorf("checkpoint: read %s: %w", sr.key, err)
	}
	return n, err
}

func (sr *stateReader) Close() error { return sr.r.Close() }
