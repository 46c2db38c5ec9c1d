package operators

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/glintstream/glint/row"
)

// The reference: a deliberately naive model of the same semantics, written from the spec and
// not from the operator's code. It keeps every accepted event and recomputes each window from
// its event list; watermarks are recomputed from scratch at every step; nothing is purged
// (closed windows are recognised by the lateness rule alone).

type refEvent struct {
	t   int64
	seq int // arrival order among all records
	row row.Row
}

type refWatermarks struct {
	cfg        []WatermarkConfig
	maxEvent   []int64
	hasEvent   []bool
	lastActive []int64
	ended      []bool
	clockSet   bool
	cur        int64
}

func newRefWatermarks(cfg []WatermarkConfig) *refWatermarks {
	n := len(cfg)
	return &refWatermarks{cfg: cfg, maxEvent: make([]int64, n), hasEvent: make([]bool, n),
		lastActive: make([]int64, n), ended: make([]bool, n), cur: math.MinInt64}
}

func (r *refWatermarks) clock(now int64) {
	if !r.clockSet {
		r.clockSet = true
		for i := range r.lastActive {
			r.lastActive[i] = now
		}
	}
}

func (r *refWatermarks) observe(in int, t, now int64) {
	r.clock(now)
	if r.ended[in] {
		r.eval(now)
		return
	}
	r.lastActive[in] = now
	if t >= MinEventTime && t <= MaxEventTime && (!r.hasEvent[in] || t > r.maxEvent[in]) {
		r.maxEvent[in], r.hasEvent[in] = t, true
	}
	r.eval(now)
}

func (r *refWatermarks) tick(now int64) { r.clock(now); r.eval(now) }

func (r *refWatermarks) end(in int, now int64) {
	r.ended[in] = true
	r.eval(now)
}

// eval: min over inputs that are active (not idle, not ended) and ended ones as +inf; hold if
// no input that can still send is active (unless all ended); never go back.
func (r *refWatermarks) eval(now int64) {
	allEnded, anyActive := true, false
	lo := int64(math.MaxInt64)
	for i, c := range r.cfg {
		if r.ended[i] {
			continue
		}
		allEnded = false
		if r.clockSet && c.IdleTimeout > 0 && now-r.lastActive[i] >= c.IdleTimeout {
			continue // idle
		}
		anyActive = true
		wm := int64(math.MinInt64)
		if r.hasEvent[i] {
			wm = r.maxEvent[i] - c.MaxOutOfOrder
		}
		lo = min(lo, wm)
	}
	switch {
	case allEnded:
		r.cur = math.MaxInt64
	case anyActive:
		r.cur = max(r.cur, lo)
	}
}

type refPaneID struct {
	start int64
	key   string // printed key values, only as a map key
}

type refPane struct {
	start, end int64
	key        row.Row
	events     []refEvent
	emitted    int // rows emitted so far
}

type refSession struct {
	key     row.Row
	events  []refEvent
	emitted int // next revision
	dirty   bool
}

func (s *refSession) bounds(gap int64) (int64, int64) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, e := range s.events {
		lo, hi = min(lo, e.t), max(hi, e.t)
	}
	return lo, hi + gap
}

type refWindow struct {
	cfg      WindowConfig
	schema   row.Schema
	panes    map[refPaneID]*refPane
	sessions map[string][]*refSession // open sessions per key
	seq      int
	wm       int64
	bridges  int // events that merged two or more sessions (to check the generator)
}

func newRefWindow(cfg WindowConfig, schema row.Schema) *refWindow {
	if cfg.Kind == Tumbling {
		cfg.Slide = cfg.Size
	}
	return &refWindow{cfg: cfg, schema: schema, panes: map[refPaneID]*refPane{},
		sessions: map[string][]*refSession{}, wm: math.MinInt64}
}

func (r *refWindow) keyOf(rw row.Row) (row.Row, string) {
	var k row.Row
	var b []byte
	for i, c := range r.cfg.Keys {
		k = append(k, rw[c])
		b = append(b, '|')
		if rw[c].Null {
			b = append(b, 'N')
		} else {
			b = rw[c].AppendText(append(b, 'V'), r.cfg.Input.Fields[c].Type)
		}
		_ = i
	}
	return k, string(b)
}

func (r *refWindow) compareKeys(a, b row.Row) int {
	for i, c := range r.cfg.Keys {
		if d := a[i].Compare(b[i], r.cfg.Input.Fields[c].Type); d != 0 {
			return d
		}
	}
	return 0
}

// result computes one output row from scratch from its events.
func (r *refWindow) result(start, end int64, key row.Row, events []refEvent, rev int) row.Row {
	out := row.Row{row.Timestamp(start), row.Timestamp(end)}
	out = append(out, key...)
	var n, nv, sum int64
	var lo, hi, first, last *refEvent
	distinct := map[int64]bool{}
	for i := range events {
		e := &events[i]
		n++
		v := e.row[2]
		if v.Null {
			continue
		}
		nv++
		distinct[v.I] = true
		sum += v.I
		if lo == nil || v.I < lo.row[2].I {
			lo = e
		}
		if hi == nil || v.I > hi.row[2].I {
			hi = e
		}
		if first == nil || e.t < first.t || (e.t == first.t && e.seq < first.seq) {
			first = e
		}
		if last == nil || e.t > last.t || (e.t == last.t && e.seq > last.seq) {
			last = e
		}
	}
	val := func(e *refEvent) row.Value {
		if e == nil {
			return row.Null()
		}
		return e.row[2]
	}
	s := row.Null()
	if nv > 0 {
		s = row.Int(sum)
	}
	out = append(out, row.Int(n), row.Int(nv), s, val(lo), val(hi), val(first), val(last),
		row.Int(int64(len(distinct))), row.Int(int64(rev)))
	return out
}

func (r *refWindow) onRecord(rec *Record, wm int64, out *Output) {
	if wm > r.wm {
		r.onWatermark(wm, out)
	}
	wm = r.wm
	e := refEvent{t: rec.Time, seq: r.seq, row: rec.Row.Clone()}
	r.seq++
	key, ks := r.keyOf(rec.Row)
	if r.cfg.Kind == Session {
		r.sessionRecord(e, key, ks, wm, rec.Ref, out)
		return
	}
	// Windows holding t: from the last start at or before t, step back while the window still
	// reaches past t. Collected in ascending order.
	var starts []int64
	last := rec.Time - ((rec.Time%r.cfg.Slide)+r.cfg.Slide)%r.cfg.Slide
	for s := last; s+r.cfg.Size > rec.Time; s -= r.cfg.Slide {
		starts = append([]int64{s}, starts...)
	}
	var missed []int64
	for _, s := range starts {
		end := s + r.cfg.Size
		if end+r.cfg.AllowedLateness <= wm {
			missed = append(missed, s)
			continue
		}
		id := refPaneID{s, ks}
		p := r.panes[id]
		if p == nil {
			p = &refPane{start: s, end: end, key: key}
			r.panes[id] = p
		}
		p.events = append(p.events, e)
		if end <= wm {
			out.Rows = append(out.Rows, r.result(s, end, key, p.events, p.emitted))
			p.emitted++
		}
	}
	if len(missed) > 0 {
		f, l := missed[0], missed[len(missed)-1]
		out.Late = append(out.Late, Late{Ref: rec.Ref, Reason: lateReason("window", len(missed),
			f, f+r.cfg.Size, l, l+r.cfg.Size, wm, r.cfg.AllowedLateness)})
	}
}

func (r *refWindow) sessionRecord(e refEvent, key row.Row, ks string, wm int64, ref int, out *Output) {
	gap, L := r.cfg.Gap, r.cfg.AllowedLateness
	var merged, rest []*refSession
	for _, s := range r.sessions[ks] {
		lo, hi := s.bounds(gap)
		if lo < e.t+gap && e.t < hi {
			merged = append(merged, s)
		} else {
			rest = append(rest, s)
		}
	}
	if len(merged) > 1 {
		r.bridges++
	}
	ns := &refSession{key: key, events: []refEvent{e}}
	for _, s := range merged {
		ns.events = append(ns.events, s.events...)
		ns.emitted = max(ns.emitted, s.emitted)
	}
	lo, hi := ns.bounds(gap)
	if hi+L <= wm {
		out.Late = append(out.Late, Late{Ref: ref, Reason: lateReason("session", 1, e.t, e.t+gap, e.t, e.t+gap, wm, L)})
		return
	}
	r.sessions[ks] = append(rest, ns)
	if hi <= wm {
		out.Rows = append(out.Rows, r.result(lo, hi, key, ns.events, ns.emitted))
		ns.emitted++
	} else {
		ns.dirty = true
	}
}

type refFire struct {
	start, end int64
	key        row.Row
	emit       func() row.Row
}

func (r *refWindow) onWatermark(wm int64, out *Output) {
	if wm <= r.wm {
		return
	}
	r.wm = wm
	var fire []refFire
	if r.cfg.Kind == Session {
		for ks, ss := range r.sessions {
			var keep []*refSession
			for _, s := range ss {
				lo, hi := s.bounds(r.cfg.Gap)
				if s.dirty && hi <= wm {
					s.dirty = false
					fire = append(fire, refFire{lo, hi, s.key, func() row.Row {
						row := r.result(lo, hi, s.key, s.events, s.emitted)
						s.emitted++
						return row
					}})
				}
				if hi+r.cfg.AllowedLateness > wm {
					keep = append(keep, s) // closed for good otherwise
				}
			}
			r.sessions[ks] = keep
		}
	} else {
		for _, p := range r.panes {
			if p.emitted == 0 && p.end <= wm {
				fire = append(fire, refFire{p.start, p.end, p.key, func() row.Row {
					p.emitted++
					return r.result(p.start, p.end, p.key, p.events, 0)
				}})
			}
		}
	}
	slices.SortFunc(fire, func(a, b refFire) int {
		return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.start, b.start), r.compareKeys(a.key, b.key))
	})
	for _, f := range fire {
		out.Rows = append(out.Rows, f.emit())
	}
}

func runReference(s scenario, schema row.Schema) ([]string, *refWindow) {
	w := newRefWindow(s.cfg, schema)
	wms := newRefWatermarks(s.wcfg)
	var out Output
	res := make([]string, 0, len(s.ops))
	lastNow := int64(0)
	for i, o := range s.ops {
		out.Reset()
		before := wms.cur
		switch o.kind {
		case opRecord:
			rec := Record{Time: o.t, Row: o.row(), Input: o.input, Ref: i}
			w.onRecord(&rec, wms.cur, &out)
			wms.observe(o.input, o.t, o.now)
			lastNow = o.now
		case opTick:
			wms.tick(o.now)
			lastNow = o.now
		case opEnd:
			wms.end(o.input, lastNow)
		}
		if wms.cur > before {
			w.onWatermark(wms.cur, &out)
		}
		res = append(res, stepOutput(schema, wms.cur, &out))
	}
	return res, w
}

// TestEquivalenceWithReference runs random out-of-order streams through the operators and the
// reference and requires identical output at every step: watermark, rows (values, revisions,
// order) and late records (refs and reasons).
func TestEquivalenceWithReference(t *testing.T) {
	seeds := 600
	if testing.Short() {
		seeds = 100
	}
	for _, kind := range []WindowKind{Tumbling, Sliding, Session} {
		t.Run(kind.String(), func(t *testing.T) {
			var rows, revs, late, bridges int
			for seed := range seeds {
				rng := rand.New(rand.NewPCG(uint64(seed), uint64(kind)))
				s := genScenario(t, rng, kind, 150+rng.IntN(250))
				w, err := NewWindow(s.cfg)
				if err != nil {
					t.Fatal(err)
				}
				got := runReal(t, s, nil)
				want, ref := runReference(s, w.OutputSchema())
				bridges += ref.bridges
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("seed %d: step %d differs\ngot:  %s\nwant: %s\nscenario:\n%s", seed, i, got[i], want[i], s)
					}
				}
				for _, g := range got {
					rows += countSub(g, "\n  [")
					revs += countSub(g, "\n  [") - countSub(g, " rev=0")
					late += countSub(g, "\n  late ")
				}
			}
			// The generator must exercise what it claims to.
			t.Logf("%s: %d rows, %d revisions, %d late records, %d session bridges over %d seeds", kind, rows, revs, late, bridges, seeds)
			if rows == 0 || revs == 0 || late == 0 || (kind == Session && bridges == 0) {
				t.Fatalf("generator too tame: rows=%d revisions=%d late=%d", rows, revs, late)
			}
		})
	}
}

func countSub(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}
