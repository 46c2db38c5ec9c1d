package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glintstream/glint/row"
)

func countFiles(t *testing.T, dir, suffix string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			n++
		}
		return nil
	})
	return n
}

func liveFiles(t *testing.T, cat *Catalog, name string) int {
	t.Helper()
	tbl, err := cat.LoadTable(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}

func TestCompactAndExpire(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "small_files", Warehouse: wh, PartitionBy: []string{"day(window_start)"}}
	k := openSink(t, cfg, emojiSchema, Identity{Job: "emoji", Task: 0}, WithAllocator(mem))
	defer k.Close()
	var all []row.Row
	for c := 0; c < 12; c++ {
		rows := emojiRows(21, c*500, 500)
		all = append(all, rows...)
		if err := k.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := k.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	before := liveFiles(t, cat, "small_files")
	if before != 36 {
		t.Fatalf("want 36 small files (12 commits x 3 days), got %d", before)
	}
	wantKeys := rowKeys(emojiSchema, all)

	// Readers scan continuously while compaction runs: every scan sees every row exactly once.
	var stop atomic.Bool
	var scans atomic.Int64
	var wg sync.WaitGroup
	readErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			rows, err := scanRowsErr(cat, "small_files", emojiSchema)
			if err != nil {
				readErr <- err
				return
			}
			if d := diffKeys(wantKeys, rowKeys(emojiSchema, rows)); d != "" {
				readErr <- fmt.Errorf("reader saw a torn table: %s", d)
				return
			}
			scans.Add(1)
		}
	}()
	res, err := Compact(ctx, cat, "small_files", CompactOptions{})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}
	if res.Partitions != 3 || res.FilesRemoved != 36 || res.FilesAdded != 3 || res.Rows != int64(len(all)) {
		t.Fatalf("compaction result %+v", res)
	}
	if n := liveFiles(t, cat, "small_files"); n != 3 {
		t.Fatalf("after compaction %d live files, want 3", n)
	}
	tbl, _ := cat.LoadTable(ctx, "small_files")
	if op := tbl.CurrentSnapshot().Summary.Operation; op != "replace" {
		t.Fatalf("compaction snapshot operation %q, want replace", op)
	}
	if d := diffKeys(wantKeys, rowKeys(emojiSchema, scanRows(t, cat, "small_files", emojiSchema))); d != "" {
		t.Fatal(d)
	}
	t.Logf("%d scans during compaction; %d→%d bytes", scans.Load(), res.BytesBefore, res.BytesAfter)

	// Nothing left to compact.
	if res, err := Compact(ctx, cat, "small_files", CompactOptions{}); err != nil || res.FilesRemoved != 0 {
		t.Fatalf("second compaction %+v %v", res, err)
	}

	// Expire everything but the last snapshot, then orphans: the 36 replaced files go, a stray
	// file goes, the sink's staged files stay, and the commit markers survive.
	tableDir := k.Dir()
	stray := filepath.Join(tableDir, "data", "stray.parquet")
	os.WriteFile(stray, []byte("x"), 0o644)
	staged := filepath.Join(k.sdir, "keep.parquet.staging")
	os.WriteFile(staged, []byte("x"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stray, old, old)
	os.Chtimes(staged, old, old)
	xr, err := Expire(ctx, cat, "small_files", ExpireOptions{OlderThan: time.Nanosecond, OrphansOlderThan: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if xr.ExpiredSnapshots != 12 {
		t.Fatalf("expired %d snapshots, want 12", xr.ExpiredSnapshots)
	}
	if n := countFiles(t, filepath.Join(tableDir, "data"), ".parquet"); n != 3 {
		t.Fatalf("%d parquet files on disk after expire, want 3 (result %+v)", n, xr)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stray orphan not deleted: %+v", xr)
	}
	if _, err := os.Stat(staged); err != nil {
		t.Fatalf("staged file deleted by expire: %v", err)
	}
	os.Remove(staged)
	if d := diffKeys(wantKeys, rowKeys(emojiSchema, scanRows(t, cat, "small_files", emojiSchema))); d != "" {
		t.Fatal(d)
	}
	tbl, _ = cat.LoadTable(ctx, "small_files")
	for seq := uint64(1); seq <= 12; seq++ {
		if !committed(tbl, Identity{Job: "emoji", Task: 0}, seq) {
			t.Fatalf("seq %d no longer known as committed after expiry", seq)
		}
	}

	// Independent readers agree, through the metadata and through a plain glob.
	if os.Getenv("GLINT_LAKECHECK_DIR") != "" || os.Getenv("GLINT_REQUIRE_LAKECHECK") == "1" {
		dir := lakecheck(t)
		want := expectedAggregate(all)
		if got, log := icebergVerify(t, dir, tableDir, fmt.Sprintf(aggregateSQL, "t", "t")); got != want {
			t.Fatalf("iceberg-verify after compaction and expiry: got %s want %s\n%s", got, want, log)
		}
		glob := fmt.Sprintf("read_parquet('%s/**/*.parquet')", tableDir)
		res := duckJSON(t, dir, fmt.Sprintf(aggregateSQL, glob, glob))
		if m := resultRE.FindStringSubmatch(fmt.Sprint(res[0]["r"])); m == nil || m[1] != want {
			t.Fatalf("plain glob after expiry: %v want %s", res, want)
		}
	}
}

// A writer keeps appending while compaction runs: the rewrite and the appends both land.
func TestCompactWhileWriting(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "busy", Warehouse: wh}
	k := openSink(t, cfg, emojiSchema, Identity{Job: "emoji", Task: 0}, WithAllocator(mem))
	defer k.Close()
	var all []row.Row
	write := func(c int) {
		rows := emojiRows(31, c*300, 300)
		all = append(all, rows...)
		if err := k.Write(rows); err != nil {
			t.Error(err)
		}
		if err := k.Flush(ctx); err != nil {
			t.Error(err)
		}
	}
	for c := 0; c < 10; c++ {
		write(c)
	}
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := 10; c < 20; c++ {
			write(c)
		}
	}()
	res, err := Compact(ctx, cat, "busy", CompactOptions{})
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesRemoved < 10 {
		t.Fatalf("compaction %+v", res)
	}
	if d := diffKeys(rowKeys(emojiSchema, all), rowKeys(emojiSchema, scanRows(t, cat, "busy", emojiSchema))); d != "" {
		t.Fatal(d)
	}
}

// The SQL catalog (sqlite): listing, compaction and expiry (its table locations are file://
// URLs, unlike the filesystem catalog's plain paths).
func TestSQLCatalogMaintenance(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	dsn := "sqlite://" + wh + "/catalog.db"
	cfg := Config{Table: "ns.tbl", Warehouse: wh, Catalog: CatalogSQL, CatalogDSN: dsn}
	mem := checkedAlloc(t)
	k := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
	var all []row.Row
	for i := 0; i < 3; i++ {
		rows := emojiRows(1, i*100, 100)
		all = append(all, rows...)
		k.Write(rows)
		if err := k.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	k.Close()
	cfg2 := Config{Table: "other", Warehouse: wh, Catalog: CatalogSQL, CatalogDSN: dsn}
	openSink(t, cfg2, emojiSchema, Identity{Job: "j", Task: 0}).Close()

	cat, err := OpenCatalog(ctx, CatalogOptions{Warehouse: wh, Kind: CatalogSQL, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if names, err := ListTables(ctx, cat); err != nil || strings.Join(names, ",") != "default.other,ns.tbl" {
		t.Fatalf("tables %v %v", names, err)
	}
	if res, err := Compact(ctx, cat, "ns.tbl", CompactOptions{}); err != nil || res.FilesRemoved != 3 || res.FilesAdded != 1 {
		t.Fatalf("compact %+v %v", res, err)
	}
	stray := filepath.Join(k.Dir(), "data", "stray.parquet")
	os.WriteFile(stray, []byte("x"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stray, old, old)
	xr, err := Expire(ctx, cat, "ns.tbl", ExpireOptions{OlderThan: time.Nanosecond, OrphansOlderThan: time.Minute})
	if err != nil || xr.ExpiredSnapshots != 3 || strings.Join(xr.DeletedOrphans, ",") != "data/stray.parquet" {
		t.Fatalf("expire %+v %v", xr, err)
	}
	if d := diffKeys(rowKeys(emojiSchema, all), rowKeys(emojiSchema, scanRows(t, cat, "ns.tbl", emojiSchema))); d != "" {
		t.Fatal(d)
	}
	if n := countFiles(t, k.Dir(), ".parquet"); n != 1 {
		t.Fatalf("%d parquet files on disk, want 1", n)
	}
}
