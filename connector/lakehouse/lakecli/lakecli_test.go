package lakecli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glintstream/glint/connector/lakehouse"
	"github.com/glintstream/glint/row"
)

var schema = row.Schema{Fields: []row.Field{
	{Name: "window_start", Type: row.TypeTimestamp},
	{Name: "match_id", Type: row.TypeString},
	{Name: "emoji", Type: row.TypeString},
	{Name: "n", Type: row.TypeInt},
}}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixMilli()

// writeTable commits `commits` batches of 100 rows to a table, day-partitioned.
func writeTable(t *testing.T, wh, name string, commits int) int64 {
	t.Helper()
	ctx := context.Background()
	cfg := lakehouse.Config{Table: name, Warehouse: wh, PartitionBy: []string{"day(window_start)"}}
	k, err := lakehouse.Open(ctx, cfg, schema, lakehouse.Identity{Job: "emoji", Task: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for c := 0; c < commits; c++ {
		rows := make([]row.Row, 100)
		for i := range rows {
			n := int64(c*100 + i)
			sum += n
			rows[i] = row.Row{row.Timestamp(t0 + int64(i%2)*86_400_000), row.String(fmt.Sprintf("m%d", i%3)), row.String("🔥"), row.Int(n)}
		}
		if err := k.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := k.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("lake %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestLakeCommands(t *testing.T) {
	wh := t.TempDir()
	sum := writeTable(t, wh, "emoji_counts", 3)
	writeTable(t, wh, "analytics.other", 1)

	out := run(t, "tables", "--warehouse", wh)
	if !regexp.MustCompile(`(?m)^analytics\.other\s+100\s+2\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^default\.emoji_counts\s+300\s+6\s.*\s3\s+\d{4}-`).MatchString(out) {
		t.Fatalf("tables:\n%s", out)
	}

	out = run(t, "describe", "emoji_counts", "--warehouse", wh)
	for _, want := range []string{
		"table           default.emoji_counts",
		"rows            300 in 6 files",
		"partitioned by  day(window_start)",
		"window_start  timestamptz",
		"glint.committed-seq.emoji.t3",
		"  1   window_start  timestamptz",
		"snapshots (3, oldest first)",
		"glint.job=emoji glint.operation=append glint.seq=3 glint.task=3",
		"window_start_day=2024-05-02",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	var info lakehouse.TableInfo
	if err := json.Unmarshal([]byte(run(t, "describe", "emoji_counts", "--json", "--warehouse", wh)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Rows != 300 || len(info.Snapshots) != 3 || info.Snapshots[2].Summary["glint.seq"] != "3" {
		t.Fatalf("describe --json: %+v", info)
	}

	out = run(t, "head", "emoji_counts", "-n", "5", "--warehouse", wh)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "window_start") || !strings.Contains(lines[1], "2024-05-0") || !strings.Contains(lines[1], "🔥") {
		t.Fatalf("head:\n%s", out)
	}

	out = run(t, "compact", "emoji_counts", "--warehouse", wh)
	if !strings.Contains(out, "compacted 6 files") || !strings.Contains(out, "into 2 files") {
		t.Fatalf("compact:\n%s", out)
	}
	out = run(t, "expire", "emoji_counts", "--older-than", "1ns", "--orphans-older-than", "-1s", "--warehouse", wh)
	if !strings.Contains(out, "expired 3 snapshots") {
		t.Fatalf("expire:\n%s", out)
	}
	if err := json.Unmarshal([]byte(run(t, "describe", "emoji_counts", "--json", "--warehouse", wh)), &info); err != nil {
		t.Fatal(err)
	}
	var total int64
	cat, _ := lakehouse.OpenCatalog(context.Background(), lakehouse.CatalogOptions{Warehouse: wh})
	defer cat.Close()
	s, rows, err := lakehouse.Head(context.Background(), cat, "emoji_counts", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		total += r[s.Index("n")].I
	}
	if info.Rows != 300 || len(info.Files) != 2 || len(info.Snapshots) != 1 || total != sum {
		t.Fatalf("after compact+expire: rows %d files %d snapshots %d sum %d want %d", info.Rows, len(info.Files), len(info.Snapshots), total, sum)
	}
}

func TestLakeErrors(t *testing.T) {
	wh := t.TempDir()
	cmd := NewCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"describe", "nope", "--warehouse", wh})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("want no such table, got %v", err)
	}
	help := run(t, "--help")
	for _, sub := range []string{"tables", "describe", "head", "compact", "expire", "--warehouse"} {
		if !strings.Contains(help, sub) {
			t.Errorf("help lacks %s", sub)
		}
	}
}
