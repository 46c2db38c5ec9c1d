package operators

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// emojiSchema is the benchmark and allocation tests' input: a match, an emoji and a value.
var emojiSchema = row.Schema{Fields: []row.Field{
	{Name: "match", Type: row.TypeString},
	{Name: "emoji", Type: row.TypeString},
	{Name: "v", Type: row.TypeInt},
}}

var emojis = []string{"😀", "😂", "😍", "😮", "😢", "😡", "👍", "👎", "🔥", "⚽", "🎉", "🏆"}

// emojiRows returns 8 matches × 12 emojis distinct rows.
func emojiRows() []row.Row {
	var rows []row.Row
	for m := range 8 {
		for _, e := range emojis {
			rows = append(rows, row.Row{row.String(fmt.Sprintf("match-%d", m)), row.String(e), row.Int(int64(m))})
		}
	}
	return rows
}

func emojiWindow(t testing.TB, kind WindowKind, aggs ...string) *Window {
	cfg := WindowConfig{Kind: kind, Input: emojiSchema, Keys: []int{0, 1}, AllowedLateness: 5000}
	switch kind {
	case Tumbling:
		cfg.Size = 10_000
	case Sliding:
		cfg.Size, cfg.Slide = 10_000, 1_000
	case Session:
		cfg.Gap = 30_000
	}
	if len(aggs) == 0 {
		aggs = []string{"count"}
	}
	for _, a := range aggs {
		arg := -1
		if a != "count" {
			arg = 2
		}
		f, err := agg.New(a, row.TypeInt, arg >= 0)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Aggs = append(cfg.Aggs, AggColumn{Name: a, Func: f, Arg: arg})
	}
	w, err := NewWindow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestOnRecordNoAllocs: adding to existing (window, key) states allocates nothing, for every
// kind and for the common aggregates; nor does a watermark that fires nothing.
func TestOnRecordNoAllocs(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			w := emojiWindow(t, kind, "count", "sum", "min", "max", "avg", "first", "last")
			rows := emojiRows()
			var out Output
			wm := int64(1_000)
			rec := Record{Time: 5_000}
			for i, r := range rows { // create every state
				rec.Row, rec.Ref = r, i
				w.OnRecord(&rec, wm, &out)
			}
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				rec.Row = rows[i%len(rows)]
				rec.Time = 5_000 + int64(i%3) // same windows, in and out of order
				i++
				w.OnRecord(&rec, wm, &out)
				w.OnWatermark(wm+int64(i%2), &out) // advances, fires nothing
			})
			if allocs != 0 {
				t.Fatalf("%s: %.1f allocations per record", kind, allocs)
			}
			if len(out.Rows) != 0 || len(out.Late) != 0 {
				t.Fatalf("unexpected output: %d rows, %d late", len(out.Rows), len(out.Late))
			}
		})
	}
}

func TestOnWatermarkNothingToFireNoAllocs(t *testing.T) {
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		w := emojiWindow(t, kind)
		var out Output
		rec := Record{Time: 100_000}
		for _, r := range emojiRows() {
			rec.Row = r
			w.OnRecord(&rec, 0, &out)
		}
		wm := int64(0)
		if allocs := testing.AllocsPerRun(1000, func() { wm++; w.OnWatermark(wm, &out) }); allocs != 0 {
			t.Fatalf("%s: OnWatermark that fires nothing: %.1f allocations", kind, allocs)
		}
		if len(out.Rows) != 0 {
			t.Fatalf("%s: fired at watermark %d", kind, wm)
		}
	}
}

func TestWatermarksObserveNoAllocs(t *testing.T) {
	w := NewWatermarks([]WatermarkConfig{{MaxOutOfOrder: 100, IdleTimeout: 50}, {IdleTimeout: 50}})
	i := int64(0)
	if allocs := testing.AllocsPerRun(1000, func() { i++; w.Observe(int(i%2), i, i); w.Tick(i) }); allocs != 0 {
		t.Fatalf("Observe: %.1f allocations", allocs)
	}
}

// TestStateBounded: memory follows open windows × keys, not events. A long in-order stream
// with lateness keeps a bounded number of panes, sessions and timers however long it runs.
func TestStateBounded(t *testing.T) {
	rows := emojiRows()
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		w := emojiWindow(t, kind)
		wms := NewWatermarks([]WatermarkConfig{{MaxOutOfOrder: 2_000}})
		var out Output
		rng := rand.New(rand.NewPCG(1, 2))
		maxPanes, maxTimers, rows0 := 0, 0, 0
		for i := range 200_000 {
			// Event time advances 5ms a record with jitter; for 100s out of every 200s a match goes
			// quiet, so that its sessions close and reopen.
			ts := int64(i)*5 - rng.Int64N(1_500)
			r := rows[rng.IntN(len(rows))]
			if kind == Session && (i/20_000)%2 == 1 && r[0].S == "match-0" {
				continue
			}
			rec := Record{Time: ts, Row: r, Ref: i}
			w.OnRecord(&rec, wms.Current(), &out)
			if wm, ok := wms.Observe(0, ts, 0); ok {
				w.OnWatermark(wm, &out)
			}
			for _, r := range out.Rows {
				if r[2].S == "match-0" {
					rows0++
				}
			}
			out.Reset()
			st := w.Stats()
			maxPanes, maxTimers = max(maxPanes, st.Panes), max(maxTimers, st.Timers)
		}
		// Open windows at any time: those not past end + lateness (5s) + out-of-orderness.
		var bound int
		switch kind {
		case Tumbling:
			bound = (10_000+5_000+2_000+1_500)/10_000 + 2
		case Sliding:
			bound = (10_000+5_000+2_000+1_500)/1_000 + 2
		case Session:
			bound = 3 // sessions per key: one open, one fired within lateness, one spare
		}
		bound *= len(rows)
		if maxPanes > bound {
			t.Errorf("%s: %d panes held at most, want <= %d", kind, maxPanes, bound)
		}
		if maxTimers > 2*bound {
			t.Errorf("%s: %d timers, want <= %d", kind, maxTimers, 2*bound)
		}
		if kind == Session && rows0 < 5*len(emojis) {
			t.Errorf("match-0 sessions closed %d times, want them to close and reopen", rows0)
		}
		t.Logf("%s: at most %d panes, %d timers held over 200000 records", kind, maxPanes, maxTimers)
	}
}

func TestConfigValidation(t *testing.T) {
	count, _ := agg.New("count", 0, false)
	in := row.Schema{Fields: []row.Field{{Name: "k", Type: row.TypeString}, {Name: "v", Type: row.TypeInt}, {Name: "revision", Type: row.TypeInt}}}
	ok := WindowConfig{Kind: Tumbling, Size: 1000, Input: in, Keys: []int{0}, Aggs: []AggColumn{{Name: "n", Func: count, Arg: -1}}}
	if _, err := NewWindow(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod  func(*WindowConfig)
		want []string
	}{
		{func(c *WindowConfig) { c.Size = 0 }, []string{"size 0ms must be > 0"}},
		{func(c *WindowConfig) { c.Kind = 0 }, []string{"kind 0"}},
		{func(c *WindowConfig) { c.Kind, c.Slide = Sliding, 2000 }, []string{"slide 2000ms must not exceed size 1000ms"}},
		{func(c *WindowConfig) { c.Gap = 5 }, []string{"gap 5ms is not used by tumbling"}},
		{func(c *WindowConfig) { c.Kind = Session }, []string{"gap 0ms must be > 0", "size 1000ms is not used by session"}},
		{func(c *WindowConfig) { c.AllowedLateness = -1 }, []string{"allowed_lateness -1ms"}},
		{func(c *WindowConfig) { c.Size = MaxDuration + 1 }, []string{"must be > 0 and <="}},
		{func(c *WindowConfig) { c.Keys = []int{3} }, []string{"key 0: column index 3 out of range"}},
		{func(c *WindowConfig) { c.Keys = []int{2} }, []string{`output column "revision" of key "revision" clashes with revision`}},
		{func(c *WindowConfig) { c.Keys = []int{0, 0} }, []string{`clashes with key "k"`}},
		{func(c *WindowConfig) {
			c.Aggs = []AggColumn{{Name: "k", Func: count, Arg: -1}, {Name: "", Func: nil, Arg: 7}}
		}, []string{`output column "k" of aggregate 0`, `aggregate 1 ("") has no function`, "argument column index 7", `aggregate 1 ("") has no name`}},
	} {
		cfg := ok
		c.mod(&cfg)
		_, err := NewWindow(cfg)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("want ErrInvalidConfig, got %v", err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
}

// TestKeyEncoding: encoded keys are equal exactly when the values are (row.Value.Equal) and
// order as row.Value.Compare does, column by column; they decode back to the values and pass
// validKey.
func TestKeyEncoding(t *testing.T) {
	types := []row.Type{row.TypeString, row.TypeInt, row.TypeFloat, row.TypeBool, row.TypeTimestamp}
	strs := []string{"", "a", "a\x00", "a\x00b", "\x00", "\x00\x00", "\xff", "ab", "a\x01", "b"}
	ints := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	floats := []float64{math.Inf(-1), -1.5, math.Copysign(0, -1), 0, 1e-300, 2.5, math.Inf(1)}
	vals := map[row.Type][]row.Value{row.TypeString: {row.Null()}, row.TypeInt: {row.Null()}, row.TypeFloat: {row.Null()},
		row.TypeBool: {row.Null(), row.Bool(false), row.Bool(true)}, row.TypeTimestamp: {row.Null()}}
	for _, s := range strs {
		vals[row.TypeString] = append(vals[row.TypeString], row.String(s))
	}
	for _, i := range ints {
		vals[row.TypeInt] = append(vals[row.TypeInt], row.Int(i))
		vals[row.TypeTimestamp] = append(vals[row.TypeTimestamp], row.Timestamp(i))
	}
	for _, f := range floats {
		vals[row.TypeFloat] = append(vals[row.TypeFloat], row.Float(f))
	}
	// Pairs of two-column keys over every type combination.
	for _, t1 := range types {
		for _, t2 := range types {
			ts := []row.Type{t1, t2}
			var keys []row.Row
			for _, a := range vals[t1] {
				for _, b := range vals[t2] {
					keys = append(keys, row.Row{a, b})
				}
			}
			for _, x := range keys {
				ex := string(appendKey(nil, x, []int{0, 1}, ts))
				if err := validKey(ex, ts); err != nil {
					t.Fatalf("validKey(%q): %v", ex, err)
				}
				dec := make(row.Row, 2)
				decodeKey(dec, ex, ts)
				for i := range dec {
					if !dec[i].Equal(x[i], ts[i]) || dec[i].Null != x[i].Null {
						t.Fatalf("%v: %v decodes to %v", ts, x, dec)
					}
				}
				for _, y := range keys {
					ey := string(appendKey(nil, y, []int{0, 1}, ts))
					want := x[0].Compare(y[0], t1)
					if want == 0 {
						want = x[1].Compare(y[1], t2)
					}
					if got := strings.Compare(ex, ey); got != want {
						t.Fatalf("%v: compare %v %v: bytes say %d, values %d", ts, x, y, got, want)
					}
				}
			}
		}
	}
	// NaN equals NaN as a key (Equal says so) and sorts after +Inf.
	nan := string(appendKey(nil, row.Row{row.Float(math.NaN())}, []int{0}, []row.Type{row.TypeFloat}))
	nan2 := string(appendKey(nil, row.Row{row.Float(-math.NaN())}, []int{0}, []row.Type{row.TypeFloat}))
	inf := string(appendKey(nil, row.Row{row.Float(math.Inf(1))}, []int{0}, []row.Type{row.TypeFloat}))
	if nan != nan2 || nan <= inf {
		t.Fatal("NaN keys are not one key sorting last")
	}
	for _, bad := range []string{"", "\x02", "\x01abc", "\x01a\x00\x02", "\x00\x00"} {
		if validKey(bad, []row.Type{row.TypeString}) == nil {
			t.Errorf("validKey accepted %q", bad)
		}
	}
	negZero := "\x01" + string([]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if validKey(negZero, []row.Type{row.TypeFloat}) == nil {
		t.Error("validKey accepted a non-canonical -0")
	}
}

// TestEmittedRowsOwned: emitted rows do not alias the input (which the driver reuses) nor each
// other, and Reset drops them from the Output without touching rows already handed on.
func TestEmittedRowsOwned(t *testing.T) {
	w := emojiWindow(t, Tumbling, "count", "first")
	buf := []byte("match-0")
	var out Output
	rec := Record{Time: 1, Row: row.Row{row.String(string(buf)), row.String("x"), row.Int(1)}}
	// A string aliasing a buffer that is overwritten after the call.
	s := unsafeString(buf)
	rec.Row[0] = row.String(s)
	w.OnRecord(&rec, math.MinInt64, &out)
	copy(buf, "XXXXXXX")
	w.OnWatermark(20_000, &out)
	if len(out.Rows) != 1 || out.Rows[0][2].S != "match-0" {
		t.Fatalf("key aliased the input buffer: %v", out.Rows)
	}
	kept := out.Rows[0]
	out.Reset()
	if len(out.Rows) != 0 || kept[2].S != "match-0" || kept[5].I != 1 {
		t.Fatal("Reset disturbed an emitted row")
	}
	if got := w.OutputSchema().Names(); !slices.Equal(got, []string{"window_start", "window_end", "match", "emoji", "count", "first", "revision"}) {
		t.Fatalf("schema %v", got)
	}
}
