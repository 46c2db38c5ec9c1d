package lakehouse

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/glintstream/glint/row"
)

func snapshotsOf(t *testing.T, k *Sink) int { return len(k.Table().Metadata().Snapshots()) }

func TestProtocolRules(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "proto", Warehouse: wh, PartitionBy: []string{"emoji"}}
	k, err := Open(ctx, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.Write(emojiRows(1, 0, 10)); !errors.Is(err, ErrNotRecovered) {
		t.Fatalf("Write before Recover: %v", err)
	}
	if err := k.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Write([]row.Row{{row.Int(1)}}); !errors.Is(err, ErrRowShape) {
		t.Fatalf("short row: %v", err)
	}

	a, b, c := emojiRows(1, 0, 100), emojiRows(2, 0, 100), emojiRows(3, 0, 100)
	k.Write(a)
	st1, err := k.Prepare(10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Prepare(10); !errors.Is(err, ErrSeqOrder) {
		t.Fatalf("repeated seq: %v", err)
	}
	k.Write(b)
	st2, _ := k.Prepare(11)
	k.Write(c)
	st3, _ := k.Prepare(12)
	if st1.Rows() != 100 || st2.Rows() != 100 || len(st1.Files) == 0 {
		t.Fatalf("staged %+v %+v", st1, st2)
	}
	// Abort 12; Commit 11 commits 10 first (checkpoint 11 completing implies 10 did).
	if err := k.Abort(12); err != nil {
		t.Fatal(err)
	}
	for _, f := range st3.Files {
		if _, err := os.Stat(filepath.Join(k.Dir(), f.Staging)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("aborted file still there: %v", err)
		}
	}
	if err := k.Commit(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if n := snapshotsOf(t, k); n != 2 {
		t.Fatalf("%d snapshots, want 2 (seq 10 and 11)", n)
	}
	if err := k.Commit(ctx, 10); err != nil { // repeated: no-op
		t.Fatal(err)
	}
	if err := k.Commit(ctx, 12); !errors.Is(err, ErrUnknownSeq) {
		t.Fatalf("commit of aborted seq: %v", err)
	}
	if err := k.Commit(ctx, 99); !errors.Is(err, ErrUnknownSeq) {
		t.Fatalf("commit of unknown seq: %v", err)
	}
	if n := snapshotsOf(t, k); n != 2 {
		t.Fatalf("%d snapshots after no-ops, want 2", n)
	}
	// An empty prepare commits nothing but counts as committed.
	st, err := k.Prepare(13)
	if err != nil || len(st.Files) != 0 {
		t.Fatalf("empty prepare %+v %v", st, err)
	}
	if err := k.Commit(ctx, 13); err != nil || snapshotsOf(t, k) != 2 {
		t.Fatalf("empty commit: %v", err)
	}
	// A Staged of another writer is refused.
	other := st2
	other.Task = 5
	if err := k.Recover(ctx, other); !errors.Is(err, ErrWrongTable) {
		t.Fatalf("foreign staged: %v", err)
	}
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	if d := diffKeys(rowKeys(emojiSchema, append(a[:len(a):len(a)], b...)), rowKeys(emojiSchema, scanRows(t, cat, "proto", emojiSchema))); d != "" {
		t.Fatal(d)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(a); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// Without checkpoints the sink commits when a file reaches target_file_size or the oldest
// uncommitted row waited roll_interval (on the injected clock).
func TestFlushPolicy(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mem := checkedAlloc(t)
	cfg := Config{Table: "policy", Warehouse: t.TempDir(), RollInterval: "30s", TargetFileSize: "32KiB"}
	k := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithClock(clock), WithAllocator(mem), WithBatchRows(256))
	defer k.Close()
	if due, err := k.FlushIfDue(ctx); due || err != nil {
		t.Fatal("due with nothing written", err)
	}
	k.Write(emojiRows(1, 0, 10))
	now = now.Add(29 * time.Second)
	if k.Due() {
		t.Fatal("due before roll_interval")
	}
	now = now.Add(time.Second)
	if due, err := k.FlushIfDue(ctx); !due || err != nil {
		t.Fatalf("not flushed after roll_interval: %v", err)
	}
	if k.Due() || k.LastSeq() != 1 {
		t.Fatalf("still due after flush, seq %d", k.LastSeq())
	}
	// Enough rows to roll a 32 KiB file: due at once, whatever the clock says.
	k.Write(emojiRows(2, 0, 20000))
	if !k.Due() {
		t.Fatal("a rolled file should make a commit due")
	}
	if _, err := k.FlushIfDue(ctx); err != nil {
		t.Fatal(err)
	}
	if s := k.Stats(); s.Commits != 2 || s.RowsCommitted != 20010 || s.FilesCommitted < 3 {
		t.Fatalf("stats %+v", s)
	}
}

// With more partitions than open files, the least recently used file is closed and waits for
// the next Prepare; nothing is lost.
func TestMaxOpenFiles(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "many", Warehouse: wh, PartitionBy: []string{"emoji"}}
	k := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem), WithMaxOpenFiles(3), WithBatchRows(8))
	defer k.Close()
	var rows []row.Row
	for pass := range 2 { // rows grouped by emoji, twice: each partition is evicted and reopened
		batch := emojiRows(uint64(4+pass), 0, 1000)
		slices.SortStableFunc(batch, func(a, b row.Row) int { return strings.Compare(a[3].S, b[3].S) })
		if err := k.Write(batch); err != nil {
			t.Fatal(err)
		}
		if len(k.open) > 3 {
			t.Fatalf("%d open files", len(k.open))
		}
		rows = append(rows, batch...)
	}
	if len(k.done) < 8 {
		t.Fatalf("only %d files closed by eviction", len(k.done))
	}
	if err := k.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	if d := diffKeys(rowKeys(emojiSchema, rows), rowKeys(emojiSchema, scanRows(t, cat, "many", emojiSchema))); d != "" {
		t.Fatal(d)
	}
}

// Arrow IPC output (all codecs, read back with arrow-go's IPC reader), and its commit by
// rename: idempotent and rolled forward by Recover like the Iceberg one.
func TestArrowFormat(t *testing.T) {
	ctx := context.Background()
	for _, comp := range []string{"zstd", "lz4", "none"} {
		t.Run(comp, func(t *testing.T) {
			wh := t.TempDir()
			mem := checkedAlloc(t)
			cfg := Config{Table: "feather", Warehouse: wh, Format: FormatArrow, Compression: comp}
			k := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
			rows := emojiRows(8, 0, 3000)
			rows[5][2] = row.Null()
			k.Write(rows)
			st, err := k.Prepare(1)
			if err != nil {
				t.Fatal(err)
			}
			if files, _ := filepath.Glob(filepath.Join(wh, "default", "feather", "data", "*.arrow")); len(files) != 0 {
				t.Fatalf("visible before commit: %v", files)
			}
			k.Close()
			// Restart: the checkpoint completed, roll forward; then repeat.
			k2, err := Open(ctx, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
			if err != nil {
				t.Fatal(err)
			}
			defer k2.Close()
			if err := k2.Recover(ctx, st); err != nil {
				t.Fatal(err)
			}
			if err := k2.Recover(ctx, st); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(wh, "default", "feather", "data", "*.arrow"))
			if len(files) != 1 {
				t.Fatalf("files %v", files)
			}
			f, _ := os.Open(files[0])
			defer f.Close()
			r, err := ipc.NewFileReader(f, ipc.WithAllocator(memory.NewGoAllocator()))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var got []row.Row
			for i := 0; i < r.NumRecords(); i++ {
				rec, err := r.RecordBatch(i)
				if err != nil {
					t.Fatal(err)
				}
				rs, err := recordRows(rec, emojiSchema)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rs...)
			}
			if d := diffKeys(rowKeys(emojiSchema, rows), rowKeys(emojiSchema, got)); d != "" {
				t.Fatal(d)
			}
			if !strings.Contains(r.Schema().Field(0).Metadata.String(), "PARQUET:field_id") {
				t.Fatalf("no field ids in %s", r.Schema())
			}
		})
	}
}

func TestRowSinkConcurrent(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	s, err := OpenRowSink(ctx, Config{Table: "rows", Warehouse: wh, TargetFileSize: "16KiB"}, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	var all []row.Row
	var wg sync.WaitGroup
	for g := range 4 {
		rows := emojiRows(uint64(50+g), 0, 2500)
		all = append(all, rows...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range rows {
				if err := s.Write(ctx, r.Clone()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Commits < 2 || st.RowsCommitted != 10000 {
		t.Fatalf("stats %+v: want size-policy commits during the writes", st)
	}
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	if d := diffKeys(rowKeys(emojiSchema, all), rowKeys(emojiSchema, scanRows(t, cat, "rows", emojiSchema))); d != "" {
		t.Fatal(d)
	}
}
