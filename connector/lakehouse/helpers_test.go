package lakehouse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/glintstream/glint/row"
)

// emojiSchema is the shape of the emoji-count example's output rows.
var emojiSchema = row.Schema{Fields: []row.Field{
	{Name: "window_start", Type: row.TypeTimestamp},
	{Name: "window_end", Type: row.TypeTimestamp},
	{Name: "match_id", Type: row.TypeString},
	{Name: "emoji", Type: row.TypeString},
	{Name: "n", Type: row.TypeInt},
	{Name: "revision", Type: row.TypeInt},
}}

var emojis = []string{"🔥", "😂", "⚽", "👏", "😡", "🎉", "😱", "❤️"}

// base is 2024-05-01T00:00:00Z in ms.
var base = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// emojiRows makes n deterministic rows; row i of seed s is the same in every call. Windows are
// 10 s tumbling over about 50 hours, so day(window_start) spans three days.
func emojiRows(seed uint64, start, n int) []row.Row {
	rows := make([]row.Row, n)
	for i := range rows {
		k := uint64(start + i)
		r := rand.New(rand.NewPCG(seed, k))
		ws := base + int64(r.IntN(18000))*10_000
		rows[i] = row.Row{
			row.Timestamp(ws),
			row.Timestamp(ws + 10_000),
			row.String(fmt.Sprintf("m%03d", r.IntN(40))),
			row.String(emojis[r.IntN(len(emojis))]),
			row.Int(int64(1 + r.IntN(500))),
			row.Int(int64(r.IntN(3))),
		}
	}
	return rows
}

// rowKey renders a row canonically for set comparisons.
func rowKey(s row.Schema, r row.Row) string {
	var b []byte
	for i, v := range r {
		if i > 0 {
			b = append(b, '|')
		}
		b = v.AppendText(b, s.Fields[i].Type)
	}
	return string(b)
}

func rowKeys(s row.Schema, rows []row.Row) []string {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = rowKey(s, r)
	}
	slices.Sort(keys)
	return keys
}

// scanRows reads the whole table through iceberg-go (manifests, field ids) into rows of s.
func scanRows(t *testing.T, cat *Catalog, name string, s row.Schema) []row.Row {
	t.Helper()
	rows, err := scanRowsErr(cat, name, s)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func scanRowsErr(cat *Catalog, name string, s row.Schema) ([]row.Row, error) {
	ctx := context.Background()
	tbl, err := cat.LoadTable(ctx, name)
	if err != nil {
		return nil, err
	}
	_, recs, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return nil, err
	}
	var out []row.Row
	for rec, err := range recs {
		if err != nil {
			return nil, err
		}
		rows, err := recordRows(rec, s)
		rec.Release()
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// checkedAlloc returns an allocator that fails the test if anything is left allocated.
func checkedAlloc(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// openSink opens and recovers a sink for tests.
func openSink(t *testing.T, cfg Config, s row.Schema, id Identity, opts ...Option) *Sink {
	t.Helper()
	k, err := Open(context.Background(), cfg, s, id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

func diffKeys(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "want %d rows, got %d", len(want), len(got))
	w, g := map[string]int{}, map[string]int{}
	for _, k := range want {
		w[k]++
	}
	for _, k := range got {
		g[k]++
	}
	n := 0
	for k, c := range w {
		if g[k] != c && n < 5 {
			fmt.Fprintf(&b, "\n  %s: want %d got %d", k, c, g[k])
			n++
		}
	}
	for k, c := range g {
		if w[k] == 0 && n < 10 {
			fmt.Fprintf(&b, "\n  %s: unexpected x%d", k, c)
			n++
		}
	}
	return b.String()
}
