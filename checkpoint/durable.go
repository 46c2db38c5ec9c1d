package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Durability of local writes.
//
// fileblob (gocloud.dev v0.46.0, fileblob.go: createTemp, writer.Close) writes an object to
// a temporary file and renames it over the final path on Close, so a reader never sees half
// an object. It never fsyncs: neither the file before the rename nor the directory after
// it, so after a power loss a renamed manifest may be empty, or missing although the
// process saw Save succeed. "Manifest n on storage" must mean "durable", so for a local
// directory put does, in order:
//
//  1. create the task directory and fsync its parents, once per task and Store;
//  2. write the temporary file (next to the final path: Options.NoTempDir);
//  3. fsync it, through the *os.File that fileblob exposes to WriterOptions.BeforeWrite;
//  4. Close: fileblob renames it to the final path;
//  5. fsync the directory, which makes the rename durable.
//
// Save does this for the state blob and then for the manifest, so the state is durable
// before the manifest exists, and the manifest is durable when Save returns.

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// put writes r to key as one object and returns its size and CRC-32C. With ifNotExist the
// write fails with ErrExists if key is already there. On error nothing is committed under
// key, except for a FaultTear.
func (s *Store) put(ctx context.Context, key string, t Target, r io.Reader, ifNotExist bool) (int64, uint32, error) {
	fault := s.faults.next(t)
	if s.dir != "" {
		if err := s.ensureDir(path.Dir(key)); err != nil {
			return 0, 0, fmt.Errorf("checkpoint: write %s: %w", key, err)
		}
	}
	// Cancelling wctx before Close aborts the write (blob.Bucket.NewWriter).
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var f *os.File
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		// A content type makes the driver writer open now, so BeforeWrite runs before
		// the first byte and f is known.
		ContentType: "application/octet-stream",
		IfNotExist:  ifNotExist,
		BeforeWrite: func(as func(any) bool) error {
			if s.dir != "" && !as(&f) {
				return fmt.Errorf("checkpoint: fileblob does not expose the file of %s: cannot fsync it", key)
			}
			return nil
		},
	})
	if err != nil {
		return 0, 0, writeErr(key, err)
	}
	var dst io.Writer = w
	var fw *faultWriter
	if fault != nil {
		fw = &faultWriter{w: w, fault: *fault}
		dst = fw
	}
	sw := &sumWriter{w: dst}
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(sw, r, *buf)
	copyBufs.Put(buf)
	if err == nil && fw != nil {
		err = fw.finish()
	}
	if err == nil && f != nil {
		err = f.Sync()
	}
	if err != nil {
		cancel()
		_ = w.Close()
		return 0, 0, writeErr(key, err)
	}
	if err := w.Close(); err != nil {
		return 0, 0, writeErr(key, err)
	}
	if s.dir != "" {
		if err := syncDir(filepath.Join(s.dir, filepath.FromSlash(path.Dir(key)))); err != nil {
			return 0, 0, writeErr(key, err)
		}
	}
	if fw != nil { // a FaultTear: the torn object is committed
		return 0, 0, writeErr(key, fw.tornErr())
	}
	return sw.n, sw.crc, nil
}

func writeErr(key string, err error) error {
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	return fmt.Errorf("checkpoint: write %s: %w", key, err)
}

// sumWriter counts and checksums what passes through it.
type sumWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (s *sumWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.crc = crc32.Update(s.crc, castagnoli, p[:n])
	s.n += int64(n)
	return n, err
}

// ensureDir creates the directory of a task (dirKey, relative to s.dir) and makes it and
// its parents durable, once per Store: also when it already exists, since a process that
// crashed after creating it may not have fsynced its parent.
func (s *Store) ensureDir(dirKey string) error {
	s.mu.Lock()
	done := s.mu.syncedDirs[dirKey]
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := mkdirSynced(filepath.Join(s.dir, filepath.FromSlash(dirKey)), s.dir); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.syncedDirs[dirKey] = true
	s.mu.Unlock()
	return nil
}

// mkdirSynced creates dir and any missing parents, then fsyncs every directory from dir's
// parent up to top (an ancestor of dir, or dir's parent), so that dir's entry and theirs
// are durable.
func mkdirSynced(dir, top string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	for d := dir; ; {
		p := filepath.Dir(d)
		if err := syncDir(p); err != nil {
			return err
		}
		if p == top || p == d {
			return nil
		}
		d = p
	}
}

// syncDir fsyncs a directory, making the entries created or renamed in it durable.
// Windows cannot open a directory for fsync and does not need it after a rename.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// notFound says whether err is the store's "no such object".
func notFound(err error) bool {
	return gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, os.ErrNotExist)
}
