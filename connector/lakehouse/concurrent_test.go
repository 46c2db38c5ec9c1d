package lakehouse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glintstream/glint/row"
)

// Two writers (two tasks of a job, each with its own sink) commit to one table at the same
// time. The filesystem catalog lets one metadata version win; the loser reloads, checks its
// marker and retries. Every row must land exactly once, every commit in its own snapshot.
func TestTwoWritersOneTable(t *testing.T) {
	testTwoWriters(t, func(wh string) Config {
		return Config{Table: "shared", Warehouse: wh, PartitionBy: []string{"day(window_start)"}}
	})
}

// The same over the SQL catalog (sqlite, pure Go), which several machines can share.
func TestTwoWritersSQLCatalog(t *testing.T) {
	testTwoWriters(t, func(wh string) Config {
		return Config{Table: "shared", Warehouse: wh, PartitionBy: []string{"day(window_start)"},
			Catalog: CatalogSQL, CatalogDSN: "sqlite://" + wh + "/catalog.db"}
	})
}

func testTwoWriters(t *testing.T, config func(wh string) Config) {
	ctx := context.Background()
	wh := t.TempDir()
	cfg := config(wh)
	const writers, commits, perCommit = 2, 8, 700
	mem := checkedAlloc(t)

	// Open the sinks first (the first creates the table), then commit concurrently.
	sinks := make([]*Sink, writers)
	for w := range sinks {
		sinks[w] = openSink(t, cfg, emojiSchema, Identity{Job: "emoji", Task: w}, WithAllocator(mem))
	}
	var want []row.Row
	for w := 0; w < writers; w++ {
		want = append(want, emojiRows(uint64(100+w), 0, commits*perCommit)...)
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w, k := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := emojiRows(uint64(100+w), 0, commits*perCommit)
			for c := 0; c < commits; c++ {
				if err := k.Write(rows[c*perCommit : (c+1)*perCommit]); err != nil {
					errs[w] = err
					return
				}
				if err := k.Flush(ctx); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	for _, k := range sinks {
		k.Close()
	}

	cat, err := OpenCatalog(ctx, CatalogOptions{Warehouse: wh, Kind: cfg.Catalog, DSN: cfg.CatalogDSN})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	got := rowKeys(emojiSchema, scanRows(t, cat, "shared", emojiSchema))
	if d := diffKeys(rowKeys(emojiSchema, want), got); d != "" {
		t.Fatal(d)
	}
	tbl, err := cat.LoadTable(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	// One snapshot per (task, seq), each seq once.
	seen := map[string]int{}
	for _, s := range tbl.Metadata().Snapshots() {
		seen[s.Summary.Properties[PropTask]+"/"+s.Summary.Properties[PropSeq]]++
	}
	for w := 0; w < writers; w++ {
		for c := 1; c <= commits; c++ {
			if n := seen[strconv.Itoa(w)+"/"+strconv.Itoa(c)]; n != 1 {
				t.Errorf("task %d seq %d committed %d times", w, c, n)
			}
		}
		if got := committedSeq(tbl, Identity{Job: "emoji", Task: w}); got != commits {
			t.Errorf("task %d high-water mark %d, want %d", w, got, commits)
		}
	}
}

// A writer whose view of the table is stale (another writer committed since) must reload,
// find its marker absent, and retry: both commits land.
func TestCommitConflictRetries(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	cfg := Config{Table: "conflict", Warehouse: wh}
	mem := checkedAlloc(t)
	a := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 0}, WithAllocator(mem))
	defer a.Close()
	b := openSink(t, cfg, emojiSchema, Identity{Job: "j", Task: 1}, WithAllocator(mem))
	defer b.Close()
	ra, rb := emojiRows(1, 0, 500), emojiRows(2, 0, 700)
	if err := a.Write(ra); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(rb); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil { // a still holds the table as of before b's commit
		t.Fatal(err)
	}
	if a.Stats().CommitRetries == 0 {
		t.Fatal("expected the stale writer to retry")
	}
	if s := a.Stats(); s.Commits != 1 || s.RowsCommitted != 500 {
		t.Fatalf("stats %+v", s)
	}
	cat, _ := OpenCatalog(ctx, CatalogOptions{Warehouse: wh})
	defer cat.Close()
	got := rowKeys(emojiSchema, scanRows(t, cat, "conflict", emojiSchema))
	if d := diffKeys(rowKeys(emojiSchema, append(ra, rb...)), got); d != "" {
		t.Fatal(d)
	}
}

// A writer killed inside the filesystem catalog's commit leaves a claim on the next metadata
// version, which the catalog honours for a minute. The next commit keeps retrying until the
// claim is stale, then lands.
func TestCommitOutlivesCrashedClaim(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	k := openSink(t, Config{Table: "claimed", Warehouse: wh}, emojiSchema, Identity{Job: "j", Task: 0})
	defer k.Close()
	rows := emojiRows(1, 0, 100)
	k.Write(rows)
	if err := k.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Claim the metadata version after the current one, as a writer killed mid-commit would.
	md := filepath.Join(k.Dir(), "metadata")
	hint, _ := os.ReadFile(filepath.Join(md, "version-hint.text"))
	next, _ := strconv.Atoi(strings.TrimSpace(string(hint)))
	claim := filepath.Join(md, fmt.Sprintf("v%d.metadata.json.claim", next+1))
	if err := os.WriteFile(claim, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute + 1500*time.Millisecond) // stale in 1.5 s
	os.Chtimes(claim, old, old)
	k.Write(rows)
	if err := k.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if k.Stats().CommitRetries == 0 {
		t.Fatal("expected retries while the claim was fresh")
	}
	if got := len(k.Table().Metadata().Snapshots()); got != 2 {
		t.Fatalf("%d snapshots", got)
	}
}
