package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
)

// env is one kind of storage under test. open returns a new Store over the same storage,
// as a restarted process would; raw reaches the objects directly, to damage them.
type env struct {
	name string
	dir  string // "" for memory
	raw  *blob.Bucket
	open func(t *testing.T, opts ...Option) *Store
}

// envs returns a local directory (real files, durable writes) and an in-memory bucket.
func envs(t *testing.T) []env {
	dir := t.TempDir()
	raw, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		t.Fatal(err)
	}
	mem := memblob.OpenBucket(nil)
	t.Cleanup(func() { raw.Close(); mem.Close() })
	return []env{
		{name: "dir", dir: dir, raw: raw, open: func(t *testing.T, opts ...Option) *Store {
			s, err := Open(context.Background(), dir, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{name: "mem", raw: mem, open: func(t *testing.T, opts ...Option) *Store {
			s, err := New(mem, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}

// forEnv runs f as a subtest for every env.
func forEnv(t *testing.T, f func(t *testing.T, e env)) {
	for _, e := range envs(t) {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

// logBuf collects log output; safe for concurrent use.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixedClock is a clock that tests move by hand.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// stateFor returns deterministic state bytes for a checkpoint.
func stateFor(task int32, id uint64, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(task), id))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// manifestFor returns a manifest whose fields all depend on (task, id).
func manifestFor(job string, task int32, id uint64) *Manifest {
	return &Manifest{
		Job: job, Task: task, ID: id,
		Inputs:    []InputOffset{{Topic: "in", Partition: task, Offset: int64(id) * 100}, {Topic: "side", Partition: task, Offset: int64(id)}},
		Watermark: int64(id) * 1000,
		Sinks:     []SinkState{{Name: "lake", Data: []byte(fmt.Sprintf("staged-%d-%d", task, id))}},
		Meta:      map[string]string{"glint.version": "test"},
	}
}

// save saves checkpoint id of task with state (nil: none) and fails the test on error.
func save(t *testing.T, s *Store, job string, task int32, id uint64, state []byte) *Manifest {
	t.Helper()
	m := manifestFor(job, task, id)
	var r io.Reader
	if state != nil {
		r = bytes.NewReader(state)
	}
	if err := s.Save(context.Background(), m, r); err != nil {
		t.Fatalf("Save(%s/%d/%d): %v", job, task, id, err)
	}
	return m
}

// readState reads m's state through OpenState to EOF.
func readState(s *Store, m *Manifest) ([]byte, error) {
	r, err := s.OpenState(context.Background(), m)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// keys lists every key in the bucket, sorted.
func keys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var ks []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return ks
		}
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, o.Key)
	}
}

// damage rewrites an object through the raw bucket.
func damage(t *testing.T, b *blob.Bucket, key string, f func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	data, err := b.ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, key, f(bytes.Clone(data)), nil); err != nil {
		t.Fatal(err)
	}
}

func hasKey(ks []string, suffix string) bool {
	for _, k := range ks {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}
