package operators

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// harness drives a Window and Watermarks exactly as the task driver does, for datadriven
// scripts. Record refs number records from 1 in the order they were ingested.
type harness struct {
	cfg   WindowConfig
	w     *Window
	wcfg  []WatermarkConfig
	wms   *Watermarks
	now   int64
	refs  int
	out   Output
	wSnap []byte
	mSnap []byte
	base  int64 // added to event times written as durations
}

// TestDataDriven runs the scripts testdata/*.txt (not testdata/fuzz, the fuzz corpus).
// Rewrite their expected output with: go test -run TestDataDriven -rewrite ./operators
func TestDataDriven(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := &harness{}
			datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
				return h.run(t, td)
			})
		})
	}
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "window":
		return h.window(t, td)
	case "watermarks":
		return h.watermarks(t, td)
	case "ingest":
		return h.ingest(t, td)
	case "tick":
		now := parseTime(t, arg(t, td, "now"))
		h.now = now
		h.out.Reset()
		wm, adv := h.wms.Tick(now)
		if adv {
			h.w.OnWatermark(wm, &h.out)
		}
		return h.report(adv, wm, "tick")
	case "end":
		i, err := strconv.Atoi(arg(t, td, "input"))
		if err != nil {
			t.Fatalf("%s: %v", td.Pos, err)
		}
		h.out.Reset()
		wm, adv := h.wms.End(i)
		if adv {
			h.w.OnWatermark(wm, &h.out)
		}
		return h.report(adv, wm, "end")
	case "state":
		return h.state()
	case "snapshot":
		h.wSnap = h.w.AppendSnapshot(nil)
		h.mSnap = h.wms.AppendSnapshot(nil)
		return "ok"
	case "restore":
		w, err := NewWindow(h.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Restore(h.wSnap); err != nil {
			return "error: " + err.Error()
		}
		wms := NewWatermarks(h.wcfg)
		if err := wms.Restore(h.mSnap); err != nil {
			return "error: " + err.Error()
		}
		h.w, h.wms = w, wms
		return "ok"
	}
	t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	return ""
}

func arg(t *testing.T, td *datadriven.TestData, key string) string {
	a, ok := td.Arg(key)
	if !ok {
		t.Fatalf("%s: missing %s=", td.Pos, key)
	}
	return a.SingleVal(t)
}

func optArg(td *datadriven.TestData, key, def string) []string {
	a, ok := td.Arg(key)
	if !ok {
		if def == "" {
			return nil
		}
		return []string{def}
	}
	return a.Vals
}

// parseTime reads a time in ms: a Go duration from the epoch (2s, -1.5s, 250ms), an RFC 3339
// time, or ms as an integer.
func parseTime(t testing.TB, s string) int64 {
	if d, err := time.ParseDuration(s); err == nil {
		return d.Milliseconds()
	}
	if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return tm.UnixMilli()
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	t.Fatalf("bad time %q", s)
	return 0
}

// window kind=tumbling|sliding|session size= slide= gap= lateness= keys=(k,...)
// aggs=(name:fn(arg), ...) schema=(k:string, v:int) base=<time that event times written as
// durations count from, default the epoch> — and a fresh single-input watermark
// (no out-of-orderness, never idle) unless a watermarks command follows.
func (h *harness) window(t *testing.T, td *datadriven.TestData) string {
	var fields []row.Field
	for _, f := range optArg(td, "schema", "") {
		name, typ, _ := strings.Cut(f, ":")
		ty, ok := row.ParseType(typ)
		if !ok {
			t.Fatalf("%s: bad type %q", td.Pos, typ)
		}
		fields = append(fields, row.Field{Name: name, Type: ty})
	}
	if fields == nil {
		fields = []row.Field{{Name: "k", Type: row.TypeString}, {Name: "v", Type: row.TypeInt}}
	}
	cfg := WindowConfig{Input: row.Schema{Fields: fields}}
	switch k := arg(t, td, "kind"); k {
	case "tumbling":
		cfg.Kind = Tumbling
	case "sliding":
		cfg.Kind = Sliding
	case "session":
		cfg.Kind = Session
	default:
		t.Fatalf("%s: bad kind %q", td.Pos, k)
	}
	dur := func(key string) int64 {
		if v := optArg(td, key, ""); v != nil {
			return parseTime(t, v[0])
		}
		return 0
	}
	cfg.Size, cfg.Slide, cfg.Gap, cfg.AllowedLateness = dur("size"), dur("slide"), dur("gap"), dur("lateness")
	for _, k := range optArg(td, "keys", "") {
		cfg.Keys = append(cfg.Keys, cfg.Input.Index(k))
	}
	for _, a := range optArg(td, "aggs", "") {
		cfg.Aggs = append(cfg.Aggs, parseAgg(t, cfg.Input, a))
	}
	w, err := NewWindow(cfg)
	if err != nil {
		return "error: " + err.Error()
	}
	*h = harness{cfg: cfg, w: w, wcfg: []WatermarkConfig{{}}}
	if v := optArg(td, "base", ""); v != nil {
		h.base = parseTime(t, v[0])
	}
	h.wms = NewWatermarks(h.wcfg)
	return w.OutputSchema().String()
}

// parseAgg reads name:fn(arg) or name:fn().
func parseAgg(t testing.TB, in row.Schema, s string) AggColumn {
	name, call, ok := strings.Cut(s, ":")
	fn, rest, ok2 := strings.Cut(call, "(")
	if !ok || !ok2 || !strings.HasSuffix(rest, ")") {
		t.Fatalf("bad aggregate %q", s)
	}
	argName := strings.TrimSuffix(rest, ")")
	col := AggColumn{Name: name, Arg: -1}
	var typ row.Type
	if argName != "" {
		col.Arg = in.Index(argName)
		if col.Arg < 0 {
			t.Fatalf("aggregate %q: no field %q", s, argName)
		}
		typ = in.Fields[col.Arg].Type
	}
	f, err := agg.New(fn, typ, argName != "")
	if err != nil {
		t.Fatalf("aggregate %q: %v", s, err)
	}
	col.Func = f
	return col
}

// watermarks inputs=N ooo=(d, ...) idle=(d, ...): one value applies to every input.
func (h *harness) watermarks(t *testing.T, td *datadriven.TestData) string {
	n := 1
	if v := optArg(td, "inputs", ""); v != nil {
		n, _ = strconv.Atoi(v[0])
	}
	pick := func(vals []string, i int) int64 {
		switch {
		case len(vals) == 0:
			return 0
		case len(vals) == 1:
			return parseTime(t, vals[0])
		}
		return parseTime(t, vals[i])
	}
	ooo, idle := optArg(td, "ooo", ""), optArg(td, "idle", "")
	h.wcfg = make([]WatermarkConfig, n)
	for i := range h.wcfg {
		h.wcfg[i] = WatermarkConfig{MaxOutOfOrder: pick(ooo, i), IdleTimeout: pick(idle, i)}
	}
	h.wms = NewWatermarks(h.wcfg)
	return "ok"
}

// ingest: one record a line, fields as name=value (null for a null value, "" for the empty
// string), plus t= (event time), input= and now= (processing time; it stays until changed).
func (h *harness) ingest(t *testing.T, td *datadriven.TestData) string {
	var b strings.Builder
	for _, line := range strings.Split(td.Input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		h.refs++
		r := Record{Ref: h.refs, Row: make(row.Row, len(h.cfg.Input.Fields))}
		for i := range r.Row {
			r.Row[i] = row.Null()
		}
		hasT := false
		for _, kv := range strings.Fields(line) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("%s: bad field %q", td.Pos, kv)
			}
			switch k {
			case "t":
				r.Time, hasT = parseTime(t, v), true
				if _, err := time.ParseDuration(v); err == nil {
					r.Time += h.base
				}
			case "input":
				r.Input, _ = strconv.Atoi(v)
			case "now":
				h.now = parseTime(t, v)
			default:
				i := h.cfg.Input.Index(k)
				if i < 0 {
					t.Fatalf("%s: no field %q", td.Pos, k)
				}
				r.Row[i] = parseValue(t, v, h.cfg.Input.Fields[i].Type)
			}
		}
		if !hasT {
			t.Fatalf("%s: record without t=: %q", td.Pos, line)
		}
		h.out.Reset()
		h.w.OnRecord(&r, h.wms.Current(), &h.out)
		wm, adv := h.wms.Observe(r.Input, r.Time, h.now)
		if adv {
			h.w.OnWatermark(wm, &h.out)
		}
		b.WriteString(h.report(adv, wm, fmt.Sprintf("r%d", r.Ref)))
	}
	return b.String()
}

func parseValue(t testing.TB, s string, typ row.Type) row.Value {
	if s == "null" {
		return row.Null()
	}
	switch typ {
	case row.TypeString:
		if s == `""` {
			return row.String("")
		}
		return row.String(s)
	case row.TypeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return row.Float(f)
	case row.TypeBool:
		return row.Bool(s == "true")
	case row.TypeTimestamp:
		return row.Timestamp(parseTime(t, s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return row.Int(n)
}

// report prints, for one step, the new watermark (if it advanced), the rows emitted and the
// late records; a step with none of these prints nothing.
func (h *harness) report(advanced bool, wm int64, step string) string {
	if !advanced && len(h.out.Rows) == 0 && len(h.out.Late) == 0 {
		return ""
	}
	var b []byte
	b = append(b, step...)
	if advanced {
		b = append(b, ": watermark "...)
		b = appendTime(b, wm)
	}
	b = append(b, '\n')
	for _, r := range h.out.Rows {
		b = append(b, "  "...)
		b = appendRow(b, h.w.OutputSchema(), r)
		b = append(b, '\n')
	}
	for _, l := range h.out.Late {
		b = fmt.Appendf(b, "  late r%d: %s\n", l.Ref, l.Reason)
	}
	return string(b)
}

// appendRow prints an output row as [start,end) col=value ... rev=N.
func appendRow(b []byte, s row.Schema, r row.Row) []byte {
	b = appendRange(b, r[0].I, r[1].I)
	for i := 2; i < len(r)-1; i++ {
		b = append(b, ' ')
		b = append(b, s.Fields[i].Name...)
		b = append(b, '=')
		if s.Fields[i].Type == row.TypeString && !r[i].Null && r[i].S == "" {
			b = append(b, `""`...)
			continue
		}
		b = r[i].AppendText(b, s.Fields[i].Type)
	}
	return fmt.Appendf(b, " rev=%d", r[len(r)-1].I)
}

func (h *harness) state() string {
	var b []byte
	b = append(b, "watermark "...)
	b = appendTime(b, h.wms.Current())
	b = append(b, '\n')
	for i := range h.wcfg {
		in := h.wms.Input(i)
		b = fmt.Appendf(b, "input %d: watermark ", i)
		b = appendTime(b, in.Watermark)
		if in.Idle {
			b = append(b, " idle"...)
		}
		if in.Ended {
			b = append(b, " ended"...)
		}
		b = append(b, '\n')
	}
	s := h.w.Stats()
	b = fmt.Appendf(b, "window: windows=%d panes=%d keys=%d records=%d rows=%d revisions=%d late=%d",
		s.Windows, s.Panes, s.Keys, s.Records, s.Rows, s.Revisions, s.Late)
	return string(b)
}
