package operators

import (
	"fmt"
	"math"

	"math/rand/v2"
	"strings"
	"testing"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// A generated scenario: a window config, watermark configs and a sequence of driver steps
// (records, ticks, ends) with small times so that boundaries, lateness and merges are hit
// often.

type opKind uint8

const (
	opRecord opKind = iota
	opTick
	opEnd
)

type op struct {
	kind  opKind
	t     int64 // event time (record)
	k     row.Value
	g     row.Value
	v     row.Value
	input int
	now   int64
}

type scenario struct {
	cfg  WindowConfig
	wcfg []WatermarkConfig
	ops  []op
}

// genSchema is the input schema of generated records.
var genSchema = row.Schema{Fields: []row.Field{
	{Name: "k", Type: row.TypeString},
	{Name: "g", Type: row.TypeInt},
	{Name: "v", Type: row.TypeInt},
}}

func mustAgg(t testing.TB, name, fn string, arg int) AggColumn {
	var typ row.Type
	if arg >= 0 {
		typ = genSchema.Fields[arg].Type
	}
	f, err := agg.New(fn, typ, arg >= 0)
	if err != nil {
		t.Fatal(err)
	}
	return AggColumn{Name: name, Func: f, Arg: arg}
}

// genAggs are the aggregates of generated windows; refAgg computes the same from scratch.
func genAggs(t testing.TB) []AggColumn {
	return []AggColumn{
		mustAgg(t, "n", "count", -1),
		mustAgg(t, "nv", "count", 2),
		mustAgg(t, "s", "sum", 2),
		mustAgg(t, "lo", "min", 2),
		mustAgg(t, "hi", "max", 2),
		mustAgg(t, "f", "first", 2),
		mustAgg(t, "l", "last", 2),
		mustAgg(t, "d", "count_distinct", 2),
	}
}

func genScenario(t testing.TB, rng *rand.Rand, kind WindowKind, nOps int) scenario {
	cfg := WindowConfig{Kind: kind, Input: genSchema, Aggs: genAggs(t)}
	switch kind {
	case Tumbling:
		cfg.Size = rng.Int64N(8) + 1
	case Sliding:
		cfg.Size = rng.Int64N(10) + 1
		cfg.Slide = rng.Int64N(cfg.Size) + 1
	case Session:
		cfg.Gap = rng.Int64N(8) + 1
	}
	cfg.AllowedLateness = []int64{0, 0, 1, 3, 7, 15}[rng.IntN(6)]
	switch rng.IntN(4) {
	case 0:
		cfg.Keys = nil
	case 1:
		cfg.Keys = []int{0, 1}
	default:
		cfg.Keys = []int{0}
	}
	nIn := rng.IntN(3) + 1
	wcfg := make([]WatermarkConfig, nIn)
	for i := range wcfg {
		wcfg[i].MaxOutOfOrder = []int64{0, 0, 2, 5, 12}[rng.IntN(5)]
		if rng.IntN(3) == 0 {
			wcfg[i].IdleTimeout = rng.Int64N(20) + 3
		}
	}
	keys := []row.Value{row.Null(), row.String(""), row.String("a"), row.String("b"), row.String("c")}
	groups := []row.Value{row.Null(), row.Int(-1), row.Int(7)}
	base := rng.Int64N(100) - 50 // negative event times too
	progress := make([]int64, nIn)
	now := rng.Int64N(1000)
	ops := make([]op, 0, nOps+nIn)
	for len(ops) < nOps {
		now += rng.Int64N(4)
		switch r := rng.IntN(100); {
		case r < 5:
			ops = append(ops, op{kind: opTick, now: now})
			continue
		case r < 6 && rng.IntN(4) == 0: // rarely: a bounded input ends mid-stream
			ops = append(ops, op{kind: opEnd, input: rng.IntN(nIn)})
			continue
		}
		in := rng.IntN(nIn)
		// Inputs advance at different speeds and sometimes stall, to exercise the minimum and
		// idleness; jitter makes records out of order, sometimes far.
		if rng.IntN(4) > 0 {
			progress[in] += rng.Int64N(3)
		}
		jitter := rng.Int64N(6) - 4
		if rng.IntN(10) == 0 {
			jitter -= rng.Int64N(30)
		}
		v := row.Int(rng.Int64N(30) - 5)
		if rng.IntN(8) == 0 {
			v = row.Null()
		}
		ops = append(ops, op{kind: opRecord, t: base + progress[in] + jitter, k: keys[rng.IntN(len(keys))],
			g: groups[rng.IntN(len(groups))], v: v, input: in, now: now})
	}
	for i := range nIn { // flush: every window fires, then all state is purged
		ops = append(ops, op{kind: opEnd, input: i})
	}
	return scenario{cfg: cfg, wcfg: wcfg, ops: ops}
}

func (s scenario) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s size=%d slide=%d gap=%d lateness=%d keys=%v inputs=%+v\n",
		s.cfg.Kind, s.cfg.Size, s.cfg.Slide, s.cfg.Gap, s.cfg.AllowedLateness, s.cfg.Keys, s.wcfg)
	for i, o := range s.ops {
		switch o.kind {
		case opRecord:
			fmt.Fprintf(&b, "%d: record t=%d k=%v g=%v v=%v input=%d now=%d\n", i, o.t, o.k.Any(row.TypeString), o.g.Any(row.TypeInt), o.v.Any(row.TypeInt), o.input, o.now)
		case opTick:
			fmt.Fprintf(&b, "%d: tick now=%d\n", i, o.now)
		case opEnd:
			fmt.Fprintf(&b, "%d: end input=%d\n", i, o.input)
		}
	}
	return b.String()
}

func (o op) row() row.Row { return row.Row{o.k, o.g, o.v} }

// stepOutput renders what one step emitted, for comparisons.
func stepOutput(schema row.Schema, wm int64, out *Output) string {
	var b []byte
	b = append(b, "wm="...)
	b = appendTime(b, wm)
	for _, r := range out.Rows {
		b = append(b, "\n  "...)
		b = appendRow(b, schema, r)
	}
	for _, l := range out.Late {
		b = fmt.Appendf(b, "\n  late %d: %s", l.Ref, l.Reason)
	}
	return string(b)
}

// runReal drives the real operators through s, calling hook (if set) before each step; hook
// may replace the operators (snapshot and restore). It returns one string per step.
func runReal(t testing.TB, s scenario, hook func(i int, w **Window, wms **Watermarks)) []string {
	w, err := NewWindow(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	wms := NewWatermarks(s.wcfg)
	var out Output
	res := make([]string, 0, len(s.ops))
	for i, o := range s.ops {
		if hook != nil {
			hook(i, &w, &wms)
		}
		out.Reset()
		var wm int64
		var adv bool
		switch o.kind {
		case opRecord:
			rec := Record{Time: o.t, Row: o.row(), Input: o.input, Ref: i}
			w.OnRecord(&rec, wms.Current(), &out)
			wm, adv = wms.Observe(o.input, o.t, o.now)
		case opTick:
			wm, adv = wms.Tick(o.now)
		case opEnd:
			wm, adv = wms.End(o.input)
		}
		if adv {
			w.OnWatermark(wm, &out)
		}
		res = append(res, stepOutput(w.OutputSchema(), wms.Current(), &out))
	}
	if st := w.Stats(); wms.Current() == math.MaxInt64 && (st.Panes != 0 || st.Windows != 0) {
		t.Errorf("state left after every input ended: %+v", st)
	}
	return res
}
