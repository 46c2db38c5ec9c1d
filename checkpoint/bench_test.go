package checkpoint

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const benchStateSize = 64 << 20

// BenchmarkSaveVsRawFsync saves a 64 MiB state to a local directory and, in the same
// iteration, writes the same bytes with a plain os.File Write + Sync into the same
// directory: the ceiling for a durable write. Interleaving the two (in alternating order)
// keeps the shared machine's noise out of their ratio. ns/op covers both; the metrics
// save-MB/s, raw-MB/s and save/raw (throughput ratio) separate them.
func BenchmarkSaveVsRawFsync(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	state := stateFor(0, 1, benchStateSize)
	rawPath := filepath.Join(dir, "raw")
	var saveTime, rawTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		save := func() {
			t0 := time.Now()
			if err := s.Save(ctx, manifestFor("bench", 0, uint64(i+1)), bytes.NewReader(state)); err != nil {
				b.Fatal(err)
			}
			saveTime += time.Since(t0)
		}
		raw := func() {
			t0 := time.Now()
			if err := rawWriteSync(rawPath, state); err != nil {
				b.Fatal(err)
			}
			rawTime += time.Since(t0)
		}
		if i%2 == 0 {
			save()
			raw()
		} else {
			raw()
			save()
		}
		b.StopTimer()
		// Keep the disk footprint at one state: remove this checkpoint and the raw file.
		if err := s.Prune(ctx, "bench", 0, 1); err != nil {
			b.Fatal(err)
		}
		os.Remove(rawPath)
		b.StartTimer()
	}
	mb := float64(benchStateSize) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/saveTime.Seconds(), "save-MB/s")
	b.ReportMetric(mb/rawTime.Seconds(), "raw-MB/s")
	b.ReportMetric(rawTime.Seconds()/saveTime.Seconds(), "save/raw")
}

func rawWriteSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchmarkRestoreVsRawRead reads a 64 MiB state back through OpenState (size and CRC
// checked) and, in the same iteration, with a plain os.File read of the same file: the
// ceiling. Both come from the page cache. ns/op covers both; metrics: restore-MB/s,
// raw-MB/s, restore/raw.
func BenchmarkRestoreVsRawRead(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := manifestFor("bench", 0, 1)
	if err := s.Save(ctx, m, bytes.NewReader(stateFor(0, 1, benchStateSize))); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, filepath.FromSlash(m.StateKey))
	buf := make([]byte, 1<<20)
	var restoreTime, rawTime time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		r, err := s.OpenState(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, r, buf); err != nil || n != benchStateSize {
			b.Fatal(n, err)
		}
		r.Close()
		t1 := time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, onlyReader{f}, buf); err != nil || n != benchStateSize {
			b.Fatal(n, err)
		}
		f.Close()
		t2 := time.Now()
		restoreTime += t1.Sub(t0)
		rawTime += t2.Sub(t1)
	}
	mb := float64(benchStateSize) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/restoreTime.Seconds(), "restore-MB/s")
	b.ReportMetric(mb/rawTime.Seconds(), "raw-MB/s")
	b.ReportMetric(rawTime.Seconds()/restoreTime.Seconds(), "restore/raw")
}

// onlyReader hides *os.File's WriterTo, so the raw read copies through buf as OpenState's
// reader does.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
