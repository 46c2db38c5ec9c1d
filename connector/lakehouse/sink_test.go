package lakehouse

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/glintstream/glint/row"
)

func TestSinkRoundTrip(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "emoji_counts", Warehouse: wh, PartitionBy: []string{"day(window_start)", "match_id"}}
	k := openSink(t, cfg, emojiSchema, Identity{Job: "emoji", Task: 0}, WithAllocator(mem), WithBatchRows(1000), WithMaxOpenFiles(500))
	rows := emojiRows(1, 0, 20000)
	for i := 0; i < len(rows); i += 3000 {
		if err := k.Write(rows[i:min(i+3000, len(rows))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}

	cat, err := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	got := rowKeys(emojiSchema, scanRows(t, cat, "emoji_counts", emojiSchema))
	if d := diffKeys(rowKeys(emojiSchema, rows), got); d != "" {
		t.Fatal(d)
	}
	tbl, _ := cat.LoadTable(ctx, "emoji_counts")
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.Summary.Properties[PropJob] != "emoji" || snap.Summary.Properties[PropSeq] != "1" {
		t.Fatalf("snapshot summary %+v", snap)
	}
	// Files are Hive-partitioned Parquet; nothing staged is left.
	var parquet, staged int
	filepath.WalkDir(filepath.Join(wh, "default", "emoji_counts"), func(p string, d os.DirEntry, err error) error {
		switch {
		case strings.HasSuffix(p, ".parquet"):
			parquet++
			if !strings.Contains(p, "/data/window_start_day=2024-05-0") || !strings.Contains(p, "/match_id=m0") {
				t.Errorf("unexpected data path %s", p)
			}
		case strings.HasSuffix(p, stagingSuffix):
			staged++
		}
		return nil
	})
	if parquet == 0 || staged != 0 {
		t.Fatalf("%d parquet files, %d staged", parquet, staged)
	}
}

func TestSchemaEvolution(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "analytics.evolving", Warehouse: wh, PartitionBy: []string{"match_id"}}
	k1 := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
	old := emojiRows(5, 0, 300)
	if err := k1.Write(old); err != nil {
		t.Fatal(err)
	}
	if err := k1.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	k1.Close()

	// The job gains two output columns, in a new order: the table gains two columns.
	wider := row.Schema{Fields: append([]row.Field{{Name: "live", Type: row.TypeBool}}, append(emojiSchema.Fields[:len(emojiSchema.Fields):len(emojiSchema.Fields)], row.Field{Name: "score", Type: row.TypeFloat})...)}
	k2 := openSink(t, cfg, wider, Identity{Job: "j", Task: 0}, WithAllocator(mem))
	defer k2.Close()
	var newer []row.Row
	for i, r := range emojiRows(6, 0, 200) {
		score := row.Float(float64(i) / 4)
		if i%7 == 0 {
			score = row.Null()
		}
		newer = append(newer, append(append(row.Row{row.Bool(i%2 == 0)}, r...), score))
	}
	if err := k2.Write(newer); err != nil {
		t.Fatal(err)
	}
	if err := k2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tbl := k2.Table()
	if n := len(tbl.Schema().Fields()); n != 8 {
		t.Fatalf("table has %d columns, want 8: %s", n, tbl.Schema())
	}
	// A writer still on the narrower schema (an older job version) keeps working: its files
	// lack the new columns, which read as null.
	k3 := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 1}, WithAllocator(mem))
	narrow := emojiRows(7, 0, 100)
	if err := k3.Write(narrow); err != nil {
		t.Fatal(err)
	}
	if err := k3.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	k3.Close()
	var want []row.Row
	for _, r := range append(old, narrow...) {
		want = append(want, append(append(row.Row{row.Null()}, r...), row.Null()))
	}
	want = append(want, newer...)
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	got := rowKeys(wider, scanRows(t, cat, "analytics.evolving", wider))
	if d := diffKeys(rowKeys(wider, want), got); d != "" {
		t.Fatal(d)
	}

	// A changed type is a clear error, and so is a changed partitioning.
	changed := row.Schema{Fields: slices.Clone(emojiSchema.Fields)}
	changed.Fields[4].Type = row.TypeString
	_, err := Open(ctx, cfg, changed, Identity{Job: "j", Task: 0})
	var tce *TypeChangedError
	if !errors.Is(err, ErrTypeChanged) || !errors.As(err, &tce) || tce.Column != "n" || tce.TableType != "long" {
		t.Fatalf("want TypeChangedError for n, got %v", err)
	}
	cfg2 := cfg
	cfg2.PartitionBy = []string{"day(window_start)"}
	if _, err := Open(ctx, cfg2, emojiSchema, Identity{Job: "j", Task: 0}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "partitioned by [match_id]") {
		t.Fatalf("want partitioning mismatch error, got %v", err)
	}
}

// Nulls, every type, and an identity partition on a long string (whose value AddFiles must
// infer from untruncated Parquet statistics) survive the round trip.
func TestAllTypesAndNulls(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	s := row.Schema{Fields: []row.Field{
		{Name: "key", Type: row.TypeString}, {Name: "i", Type: row.TypeInt}, {Name: "f", Type: row.TypeFloat},
		{Name: "b", Type: row.TypeBool}, {Name: "ts", Type: row.TypeTimestamp}, {Name: "s", Type: row.TypeString},
	}}
	long := strings.Repeat("a-very-long-partition-key/", 4) + "é ü"
	var rows []row.Row
	for i := range 1000 {
		r := row.Row{row.String(long), row.Int(int64(i - 500)), row.Float(float64(i) * 1.5), row.Bool(i%3 == 0),
			row.Timestamp(base - 86_400_000 + int64(i)*997), row.String(strings.Repeat("x", i%5))}
		if i%4 == 0 {
			r[0] = row.String("k2")
		}
		if i%10 == 0 {
			r[1+i%5] = row.Null()
		}
		if i == 3 {
			r[0] = row.Null()
		}
		rows = append(rows, r)
	}
	cfg := Config{Table: "types", Warehouse: wh, PartitionBy: []string{"key", "hour(ts)"}, Compression: "snappy"}
	k := openSink(t, cfg, s, Identity{Job: "j", Task: 0}, WithAllocator(mem), WithBatchRows(64))
	defer k.Close()
	if err := k.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	if d := diffKeys(rowKeys(s, rows), rowKeys(s, scanRows(t, cat, "types", s))); d != "" {
		t.Fatal(d)
	}
	// Partition values in the manifests are exact, so filters prune correctly.
	tbl := k.Table()
	tasks, err := tbl.Scan(table.WithRowFilter(iceberg.EqualTo(iceberg.Reference("key"), long))).PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, task := range tasks {
		if task.File.Partition()[1000] != long {
			t.Fatalf("file %s has partition %v", task.File.FilePath(), task.File.Partition())
		}
		n += task.File.Count()
	}
	if want := int64(1000 - 250 - 1); n != want {
		t.Fatalf("pruned scan covers %d rows, want %d", n, want)
	}
}
