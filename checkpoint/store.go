package checkpoint

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // registers mem:// on blob.DefaultURLMux
)

// DefaultLocation is where checkpoints go when nothing else is configured: a local
// directory next to the embedded broker's data (glint-data/kafka).
const DefaultLocation = "glint-data/checkpoints"

// Store reads and writes the checkpoints of any number of jobs and tasks under one storage
// location. It is safe for concurrent use: Saves of different tasks run in parallel, and
// Prune or Latest may run while the same task's next Save is in flight (they leave ids above
// the newest complete checkpoint alone). A task has one writer, the worker that owns it,
// and its ids increase; a manifest is never overwritten (ErrExists), which stops a zombie
// writer from replacing a commit point.
type Store struct {
	bucket     *blob.Bucket
	ownsBucket bool
	// dir is the local directory behind bucket when it is one (plain path or file:// URL):
	// writes to it are made durable by fsyncs fileblob does not do (see durable.go).
	dir      string
	location string
	log      *slog.Logger
	clock    func() time.Time
	faults   *Faults
	verify   VerifyMode

	mu struct {
		sync.Mutex
		// syncedDirs holds the task directories whose creation has been fsynced.
		syncedDirs map[string]bool
		// verified holds state blobs this process wrote (or fully read) with their size and
		// CRC, so that Latest and Prune need not read them again (see VerifyCRC).
		verified map[string]stateSum
	}
}

type stateSum struct {
	size int64
	crc  uint32
}

// VerifyMode says how much of a state blob Latest and Prune read to call a checkpoint
// complete.
type VerifyMode uint8

const (
	// VerifyCRC reads the whole state blob and checks its CRC, unless this Store wrote or
	// verified that very blob (same key, size and CRC) before. The default.
	VerifyCRC VerifyMode = iota
	// VerifySize only checks that the state blob exists with the manifest's size, which
	// costs a listing instead of a download on remote stores. OpenState still checks the
	// CRC while the state is restored.
	VerifySize
)

// Option configures a Store.
type Option func(*options)

type options struct {
	log    *slog.Logger
	clock  func() time.Time
	faults *Faults
	verify VerifyMode
	mux    *blob.URLMux
}

// WithLogger sets the logger for skipped corrupt checkpoints and pruning. Default: slog.Default()
// at the time Open or New is called.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that stamps Manifest.Created. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithFaults injects the write failures of f (for tests).
func WithFaults(f *Faults) Option { return func(o *options) { o.faults = f } }

// WithVerify sets how Latest and Prune check state blobs. Default VerifyCRC.
func WithVerify(m VerifyMode) Option { return func(o *options) { o.verify = m } }

// WithURLMux makes Open resolve URL schemes other than file with mux instead of
// blob.DefaultURLMux. Ignored by New.
func WithURLMux(mux *blob.URLMux) Option { return func(o *options) { o.mux = mux } }

func buildOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.mux == nil {
		o.mux = blob.DefaultURLMux()
	}
	if o.verify > VerifySize {
		return o, fmt.Errorf("%w: unknown verify mode %d", ErrInvalid, o.verify)
	}
	return o, nil
}

// Open opens the checkpoint storage at location:
//
//   - a plain path ("./glint-data/checkpoints", "/shared/cp") or a file:///abs/path URL: a
//     local directory, created if missing, written durably (fsync of files and directories);
//   - mem://: a new, empty in-memory store, for tests (use New to share one bucket between
//     Stores);
//   - any other scheme whose gocloud.dev driver the binary registers (see the package doc):
//     s3://bucket?region=..., gs://bucket, azblob://container; the URL is passed to
//     gocloud.dev/blob unchanged, so "prefix=glint/" and the driver's parameters work.
//
// Close the Store when done.
func Open(ctx context.Context, location string, opts ...Option) (*Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	dir, local, err := localDir(location)
	if err != nil {
		return nil, err
	}
	if local {
		return openDir(dir, location, o)
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("%w: storage URL %q: %v", ErrInvalid, location, err)
	}
	if !o.mux.ValidBucketScheme(u.Scheme) {
		return nil, fmt.Errorf("%w: storage URL %q: scheme %q is not compiled into this binary (have %s); "+
			"cloud drivers are opt-in, see the checkpoint package doc", ErrInvalid, location, u.Scheme,
			strings.Join(o.mux.BucketSchemes(), ", "))
	}
	b, err := o.mux.OpenBucket(ctx, location)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", location, err)
	}
	s := newStore(b, o)
	s.ownsBucket, s.location = true, location
	return s, nil
}

// New returns a Store over a bucket the caller opened (a shared memblob bucket in tests, a
// bucket from a driver configured in code). The caller keeps ownership: Store.Close does
// not close it. Writes are as durable as the bucket's driver makes them; New never
// fsyncs, so for a local directory use Open.
func New(b *blob.Bucket, opts ...Option) (*Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	s := newStore(b, o)
	s.location = "bucket"
	return s, nil
}

func newStore(b *blob.Bucket, o options) *Store {
	s := &Store{bucket: b, log: o.log, clock: o.clock, faults: o.faults, verify: o.verify}
	s.mu.syncedDirs = make(map[string]bool)
	s.mu.verified = make(map[string]stateSum)
	return s
}

// localDir says whether location names a local directory and returns its path: a string
// without "://" is a path; file:// URLs must be file:///path (or file://localhost/path).
func localDir(location string) (string, bool, error) {
	if location == "" {
		return "", false, fmt.Errorf("%w: empty storage location", ErrInvalid)
	}
	if !strings.Contains(location, "://") {
		return location, true, nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return "", false, fmt.Errorf("%w: storage URL %q: %v", ErrInvalid, location, err)
	}
	if u.Scheme != "file" {
		return "", false, nil
	}
	switch {
	case u.Host != "" && u.Host != "localhost":
		return "", false, fmt.Errorf("%w: storage URL %q: a file URL has no host: write file:///absolute/path or a plain path", ErrInvalid, location)
	case len(u.Query()) > 0:
		return "", false, fmt.Errorf("%w: storage URL %q: file URLs take no parameters", ErrInvalid, location)
	case u.Path == "":
		return "", false, fmt.Errorf("%w: storage URL %q has no path", ErrInvalid, location)
	}
	return filepath.FromSlash(u.Path), true, nil
}

// openDir opens a local directory through fileblob with temporary files next to their
// final path (NoTempDir: a rename from os.TempDir can cross file systems, and a rename
// within one directory is what the directory fsync makes durable) and without ".attrs"
// sidecar files (nothing here uses blob metadata).
func openDir(dir, location string, o options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", location, err)
	}
	if err := mkdirSynced(abs, filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", location, err)
	}
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", location, err)
	}
	s := newStore(b, o)
	s.ownsBucket, s.dir, s.location = true, abs, location
	return s, nil
}

// Location returns the storage location the Store was opened with.
func (s *Store) Location() string { return s.location }

// Close releases the bucket if Open opened it.
func (s *Store) Close() error {
	if !s.ownsBucket {
		return nil
	}
	return s.bucket.Close()
}

func (s *Store) markVerified(key string, size int64, crc uint32) {
	if key == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.verified[key] = stateSum{size: size, crc: crc}
}

func (s *Store) isVerified(key string, size int64, crc uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.mu.verified[key]
	return ok && v.size == size && v.crc == crc
}

func (s *Store) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.verified, key)
}
