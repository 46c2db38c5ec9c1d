package lakehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/glintstream/glint/row"
)

// The tests in this file check the sink's output with readers that share no code with it:
// ../shared/tools/lakecheck (DuckDB reading Parquet through the Iceberg metadata, and Arrow JS).
// Install it as its README says and point GLINT_LAKECHECK_DIR at the directory; CI also sets
// GLINT_REQUIRE_LAKECHECK=1 so a missing install fails instead of skipping.

func lakecheck(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GLINT_LAKECHECK_DIR")
	required := os.Getenv("GLINT_REQUIRE_LAKECHECK") == "1"
	fail := func(msg string) {
		if required {
			t.Fatalf("GLINT_REQUIRE_LAKECHECK=1: %s", msg)
		}
		t.Skipf("skipping independent-reader check: %s (install ../shared/tools/lakecheck as its README says and set GLINT_LAKECHECK_DIR)", msg)
	}
	if dir == "" {
		fail("GLINT_LAKECHECK_DIR is not set")
	}
	for _, f := range []string{"iceberg-verify.mjs", "duckq.mjs", "arrow-verify.mjs", "node_modules/@duckdb/node-api", "node_modules/apache-arrow"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			fail(fmt.Sprintf("%s is not an installed lakecheck directory: %v", dir, err))
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		fail("node is not on PATH")
	}
	return dir
}

func runNode(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("node", append([]string{filepath.Join(dir, args[0])}, args[1:]...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var resultRE = regexp.MustCompile(`RESULT<([^>]*)>`)

// icebergVerify runs SQL over the table's live files, found by reading its Iceberg metadata,
// and returns the text between RESULT< and > in the single result cell.
func icebergVerify(t *testing.T, dir, tableDir, sql string) (result, log string) {
	t.Helper()
	out := runNode(t, dir, nil, "iceberg-verify.mjs", tableDir, sql)
	ms := resultRE.FindAllStringSubmatch(out, -1) // the first is the echoed SQL, the last the answer
	if len(ms) < 2 {
		t.Fatalf("no RESULT<…> in iceberg-verify output:\n%s", out)
	}
	return ms[len(ms)-1][1], out
}

// duckJSON runs one DuckDB query and decodes its rows.
func duckJSON(t *testing.T, dir, sql string) []map[string]any {
	t.Helper()
	out := runNode(t, dir, []string{"DUCKQ_JSON=1"}, "duckq.mjs", sql)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rows); err != nil {
		t.Fatalf("duckq output: %v\n%s", err, out)
	}
	return rows
}

// aggregateSQL is the check both readers run: row count, sums of every numeric column and of
// the timestamps in ms, distinct keys, and per-emoji totals.
const aggregateSQL = `SELECT 'RESULT<' || count(*) || ';' || sum(n) || ';' || sum(revision) || ';' ||
	sum(epoch_ms(window_start)) || ';' || sum(epoch_ms(window_end)) || ';' || count(DISTINCT match_id) || ';' ||
	(SELECT string_agg(e || '=' || s, ',' ORDER BY e) FROM (SELECT emoji e, sum(n) s FROM %s GROUP BY 1)) || '>' AS r FROM %s`

// expectedAggregate computes aggregateSQL's answer in Go.
func expectedAggregate(rows []row.Row) string {
	var n, rev, ws, we int64
	matches := map[string]bool{}
	perEmoji := map[string]int64{}
	for _, r := range rows {
		ws += r[0].I
		we += r[1].I
		matches[r[2].S] = true
		perEmoji[r[3].S] += r[4].I
		n += r[4].I
		rev += r[5].I
	}
	keys := make([]string, 0, len(perEmoji))
	for e := range perEmoji {
		keys = append(keys, e)
	}
	slices.Sort(keys) // DuckDB orders VARCHAR by bytes, as Go does
	parts := make([]string, len(keys))
	for i, e := range keys {
		parts[i] = fmt.Sprintf("%s=%d", e, perEmoji[e])
	}
	return fmt.Sprintf("%d;%d;%d;%d;%d;%d;%s", len(rows), n, rev, ws, we, len(matches), strings.Join(parts, ","))
}

func TestLakecheckIcebergAndParquet(t *testing.T) {
	dir := lakecheck(t)
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	cfg := Config{Table: "emoji_counts", Warehouse: wh, PartitionBy: []string{"day(window_start)"}, TargetFileSize: "64KiB"}
	k := openSink(t, cfg, emojiSchema, Identity{Job: "emoji", Task: 2}, WithAllocator(mem), WithBatchRows(2000))
	defer k.Close()

	rows := emojiRows(7, 0, 30000)
	// Two commits, then a prepared but never committed batch that no reader may see.
	for i, cut := range []int{0, 12000, 30000} {
		if i == 0 {
			continue
		}
		if err := k.Write(rows[[]int{0, 12000}[i-1]:cut]); err != nil {
			t.Fatal(err)
		}
		if err := k.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Write(emojiRows(99, 0, 5000)); err != nil {
		t.Fatal(err)
	}
	st, err := k.Prepare(k.LastSeq() + 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Files) == 0 {
		t.Fatal("nothing staged")
	}

	want := expectedAggregate(rows)
	tableDir := filepath.Join(wh, "default", "emoji_counts")
	got, log := icebergVerify(t, dir, tableDir, fmt.Sprintf(aggregateSQL, "t", "t"))
	if got != want {
		t.Fatalf("Iceberg reader (DuckDB over the manifests):\n got %s\nwant %s\n%s", got, want, log)
	}
	if !strings.Contains(log, "snapshots 2") || !strings.Contains(log, "summary total-records: 30000") {
		t.Fatalf("unexpected snapshot history:\n%s", log)
	}

	// A plain Parquet reader globbing the table directory sees the same rows: staged files are
	// not *.parquet, and the Hive partition directories agree with the rows' days.
	glob := fmt.Sprintf("read_parquet('%s/**/*.parquet', hive_partitioning=true, hive_types={'window_start_day': VARCHAR})", tableDir)
	res := duckJSON(t, dir, fmt.Sprintf(aggregateSQL, glob, glob))
	if r := resultRE.FindStringSubmatch(fmt.Sprint(res[0]["r"])); r == nil || r[1] != want {
		t.Fatalf("plain Parquet glob: got %v want %s", res, want)
	}
	bad := duckJSON(t, dir, fmt.Sprintf(`SELECT count(*) AS bad FROM %s WHERE strftime(window_start, '%%Y-%%m-%%d') <> window_start_day`, glob))
	if fmt.Sprint(bad[0]["bad"]) != "0" {
		t.Fatalf("rows in the wrong partition directory: %v", bad)
	}
	// Every data file carries Iceberg field ids and column statistics.
	meta := duckJSON(t, dir, fmt.Sprintf(`SELECT count(*) FILTER (WHERE field_id IS NULL AND name <> 'table') AS noid, count(*) AS cols FROM parquet_schema('%s/data/**/*.parquet')`, tableDir))
	if fmt.Sprint(meta[0]["noid"]) != "0" {
		t.Fatalf("columns without field id: %v", meta)
	}
	stats := duckJSON(t, dir, fmt.Sprintf(`SELECT count(*) FILTER (WHERE stats_min_value IS NULL OR stats_max_value IS NULL) AS nostats FROM parquet_metadata('%s/data/**/*.parquet')`, tableDir))
	if fmt.Sprint(stats[0]["nostats"]) != "0" {
		t.Fatalf("column chunks without statistics: %v", stats)
	}
	enc := duckJSON(t, dir, fmt.Sprintf(`SELECT count(*) FILTER (WHERE path_in_schema IN ('match_id', 'emoji', 'window_start') AND encodings NOT LIKE '%%RLE_DICTIONARY%%') AS plain,
		count(*) FILTER (WHERE compression <> 'ZSTD') AS notzstd FROM parquet_metadata('%s/data/**/*.parquet')`, tableDir))
	if fmt.Sprint(enc[0]["plain"]) != "0" || fmt.Sprint(enc[0]["notzstd"]) != "0" {
		t.Fatalf("keys not dictionary-encoded or not zstd: %v", enc)
	}
	if err := k.Abort(st.Seq); err != nil {
		t.Fatal(err)
	}
}

func TestLakecheckArrowIPC(t *testing.T) {
	dir := lakecheck(t)
	ctx := context.Background()
	wh := t.TempDir()
	mem := checkedAlloc(t)
	for _, comp := range []string{"zstd", "none"} { // lakecheck registers no lz4 codec for Arrow JS
		cfg := Config{Table: "emoji_" + comp, Warehouse: wh, Format: FormatArrow, Compression: comp, PartitionBy: []string{"hour(window_start)"}}
		k := openSink(t, cfg, emojiSchema, Identity{Job: "emoji", Task: 0}, WithAllocator(mem), WithBatchRows(500))
		rows := emojiRows(3, 0, 4000)
		if err := k.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := k.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(wh, "default", "emoji_"+comp, "data", "*", "*.arrow"))
		if len(files) < 2 {
			t.Fatalf("%s: want hour partitions, got %v", comp, files)
		}
		out := runNode(t, dir, nil, append([]string{"arrow-verify.mjs"}, files...)...)
		total := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Rows   int
				Schema []string
				Error  string
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.Error != "" {
				t.Fatalf("%s: arrow-verify: %v %s", comp, err, line)
			}
			wantSchema := []string{"window_start:Timestamp<MICROSECOND, UTC>", "window_end:Timestamp<MICROSECOND, UTC>",
				"match_id:Utf8", "emoji:Utf8", "n:Int64", "revision:Int64"}
			if !slices.Equal(r.Schema, wantSchema) {
				t.Fatalf("%s: schema %v, want %v", comp, r.Schema, wantSchema)
			}
			total += r.Rows
		}
		if total != len(rows) {
			t.Fatalf("%s: Arrow JS read %d rows, want %d", comp, total, len(rows))
		}
	}
}
