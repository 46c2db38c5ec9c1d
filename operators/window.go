package operators

import (
	"errors"
	"fmt"
	"math"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// WindowKind is the shape of a window.
type WindowKind uint8

const (
	// Tumbling windows are [k*Size, (k+1)*Size): each event is in exactly one.
	Tumbling WindowKind = iota + 1
	// Sliding (hop) windows are [k*Slide, k*Slide+Size): each event is in every window whose
	// range holds it, about Size/Slide of them.
	Sliding
	// Session windows are per key: events less than Gap apart share a session, which spans
	// [first event, last event + Gap). Two events exactly Gap apart are in different sessions.
	Session
)

func (k WindowKind) String() string {
	switch k {
	case Tumbling:
		return "tumbling"
	case Sliding:
		return "sliding"
	case Session:
		return "session"
	}
	return fmt.Sprintf("WindowKind(%d)", uint8(k))
}

// Event times and durations are bounded so that no window arithmetic can overflow. An event
// outside [MinEventTime, MaxEventTime] goes to the late output with a reason; configs with a
// duration above MaxDuration are rejected. 2^61 ms is about 73 million years.
const (
	MaxEventTime int64 = 1 << 61
	MinEventTime int64 = -MaxEventTime
	MaxDuration  int64 = 1 << 59
)

// AggColumn is one aggregate output column.
type AggColumn struct {
	Name string   // output column name
	Func agg.Func // bound to the type of input column Arg
	Arg  int      // index of the argument in the input row, -1 for none (count())
}

// WindowConfig configures a Window. Durations are milliseconds.
type WindowConfig struct {
	Kind WindowKind
	// Size of tumbling and sliding windows. Slide is the hop of sliding windows (0 < Slide <=
	// Size); for tumbling windows it is 0 or Size. Gap is the session gap. Fields that the kind
	// does not use must be 0.
	Size, Slide, Gap int64
	// AllowedLateness keeps a fired window's state this long past its end (in event time) so
	// that late events revise it.
	AllowedLateness int64
	Input           row.Schema
	Keys            []int // key columns, indexes into Input
	Aggs            []AggColumn
}

// Column names added by windows to their output.
const (
	ColWindowStart = "window_start"
	ColWindowEnd   = "window_end"
	ColRevision    = "revision"
)

// Validate reports every problem with c at once, each wrapping ErrInvalidConfig.
func (c *WindowConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	dur := func(name string, v int64) {
		if v <= 0 || v > MaxDuration {
			bad("window %s %dms must be > 0 and <= %dms", name, v, MaxDuration)
		}
	}
	unused := func(name string, v int64) {
		if v != 0 {
			bad("window %s %dms is not used by %s windows; leave it 0", name, v, c.Kind)
		}
	}
	switch c.Kind {
	case Tumbling:
		dur("size", c.Size)
		if c.Slide != 0 && c.Slide != c.Size {
			bad("tumbling window slide %dms must be 0 or equal to size %dms", c.Slide, c.Size)
		}
		unused("gap", c.Gap)
	case Sliding:
		dur("size", c.Size)
		dur("slide", c.Slide)
		if c.Slide > c.Size {
			bad("sliding window slide %dms must not exceed size %dms (events between windows would be lost)", c.Slide, c.Size)
		}
		unused("gap", c.Gap)
	case Session:
		dur("gap", c.Gap)
		unused("size", c.Size)
		unused("slide", c.Slide)
	default:
		bad("window kind %d is not tumbling, sliding or session", c.Kind)
	}
	if c.AllowedLateness < 0 || c.AllowedLateness > MaxDuration {
		bad("allowed_lateness %dms must be >= 0 and <= %dms", c.AllowedLateness, MaxDuration)
	}
	nf := len(c.Input.Fields)
	names := map[string]string{ColWindowStart: "window start", ColWindowEnd: "window end", ColRevision: "revision"}
	name := func(n, what string) {
		if n == "" {
			bad("%s has no name", what)
			return
		}
		if prev, ok := names[n]; ok {
			bad("output column %q of %s clashes with %s", n, what, prev)
			return
		}
		names[n] = what
	}
	for i, k := range c.Keys {
		if k < 0 || k >= nf {
			bad("key %d: column index %d out of range [0,%d)", i, k, nf)
			continue
		}
		f := c.Input.Fields[k]
		if f.Type < row.TypeString || f.Type > row.TypeTimestamp {
			bad("key %q has invalid type %s", f.Name, f.Type)
		}
		name(f.Name, fmt.Sprintf("key %q", f.Name))
	}
	for i, a := range c.Aggs {
		what := fmt.Sprintf("aggregate %d (%q)", i, a.Name)
		if a.Func == nil {
			bad("%s has no function", what)
		}
		if a.Arg < -1 || a.Arg >= nf {
			bad("%s: argument column index %d out of range [-1,%d)", what, a.Arg, nf)
		}
		name(a.Name, what)
	}
	return errors.Join(errs...)
}

// Window is a keyed window operator: tumbling, sliding or session windows over event time,
// with aggregates, allowed lateness, revisions and a late side output. See the package doc
// for the calling protocol. Not safe for concurrent use.
//
// Rules, with the watermark wm in force when a record arrives:
//   - A (window, key) fires (its row, revision 0) when wm reaches the window's end. Rows that
//     fire together are emitted in order of window end, then window start, then key (key
//     values compared in key-column order, nulls first).
//   - A record for a window with end <= wm < end + AllowedLateness updates it and emits the
//     row again at once with the next revision (revision 0 if that key had no row yet).
//   - A record for a window with end + AllowedLateness <= wm goes to the late output instead,
//     its reason naming the window(s). A sliding-window record that misses some of its windows
//     goes to the late output once and still updates the others.
//   - Sessions: a record merges every session of its key that [t, t+Gap) overlaps. Only
//     sessions within lateness are held, so a merge is never late; a record that merges with
//     none is late iff its own [t, t+Gap) is. A merged session continues from the highest
//     revision among those it absorbed; it is emitted at once if its end is at or behind wm,
//     else when wm reaches its (new) end. A session past end + AllowedLateness is closed for
//     good: a later record that would have joined it opens a new session (or is late).
//
// Memory is one pane (aggregates and a revision counter) per (window, key), plus one copy of
// each distinct key; all of it is released once the watermark passes end + AllowedLateness.
type Window struct {
	cfg      WindowConfig
	schema   row.Schema
	keyTypes []row.Type
	funcs    []agg.Func
	args     []int
	zeroAccs []agg.Accumulator // len(funcs) empty accumulators, appended for a new pane
	width    int               // output row width

	seq    int64 // arrival sequence of the next record (agg first/last tie-break)
	wm     int64 // the highest watermark applied
	keyBuf []byte
	// horizon: windows with end + lateness <= horizon are closed (SetClosedHorizon).
	horizon int64

	fixed *fixedWindows   // tumbling and sliding
	sess  *sessionWindows // session
	clk   *cowClock       // pages shared with captures (cow.go)

	counters counters
}

type counters struct {
	records, rows, revisions, late int64
}

// WindowStats describes a window's state and counts its work since it was created (the counts
// are not part of snapshots).
type WindowStats struct {
	Windows int // tumbling/sliding: distinct [start, end) windows held; session: sessions held
	Panes   int // (window, key) states held: the unit of memory
	Keys    int // distinct keys held
	Timers  int // session: entries in the timer queue (including superseded ones)

	Records   int64 // records passed to OnRecord
	Rows      int64 // rows emitted
	Revisions int64 // rows emitted with revision > 0
	Late      int64 // records that went to the late output
	Watermark int64 // the highest watermark applied
	// PageCopies counts state pages copied because a capture (Capture) still held them: the
	// copy-on-write cost of checkpoints.
	PageCopies int64
}

// NewWindow validates cfg and returns an empty window operator.
func NewWindow(cfg WindowConfig) (*Window, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Keys = append([]int(nil), cfg.Keys...)
	cfg.Aggs = append([]AggColumn(nil), cfg.Aggs...)
	cfg.Input.Fields = append([]row.Field(nil), cfg.Input.Fields...)
	if cfg.Kind == Tumbling {
		cfg.Slide = cfg.Size
	}
	w := &Window{cfg: cfg, wm: math.MinInt64, horizon: math.MinInt64, zeroAccs: make([]agg.Accumulator, len(cfg.Aggs)), clk: newCowClock()}
	f := []row.Field{{Name: ColWindowStart, Type: row.TypeTimestamp}, {Name: ColWindowEnd, Type: row.TypeTimestamp}}
	for _, k := range cfg.Keys {
		f = append(f, cfg.Input.Fields[k])
		w.keyTypes = append(w.keyTypes, cfg.Input.Fields[k].Type)
	}
	for _, a := range cfg.Aggs {
		f = append(f, row.Field{Name: a.Name, Type: a.Func.ResultType()})
		w.funcs = append(w.funcs, a.Func)
		w.args = append(w.args, a.Arg)
	}
	f = append(f, row.Field{Name: ColRevision, Type: row.TypeInt})
	w.schema = row.Schema{Fields: f}
	w.width = len(f)
	if cfg.Kind == Session {
		w.sess = newSessionWindows(w.clk, len(cfg.Aggs), cfg.Gap, cfg.AllowedLateness)
	} else {
		w.fixed = newFixedWindows(w.clk, len(cfg.Aggs), cfg.Size, cfg.Slide, cfg.AllowedLateness)
	}
	return w, nil
}

// OutputSchema returns the schema of emitted rows: window_start, window_end (timestamps), the
// key columns (input names and types), the aggregate columns (Func.ResultType) and revision
// (int). The caller must not modify it.
func (w *Window) OutputSchema() row.Schema { return w.schema }

// OnRecord adds one record. wm is the task watermark before this record; it decides whether
// the record is on time, revises fired windows, or is late. If wm is ahead of the last
// OnWatermark, OnRecord first applies it as OnWatermark would (a smaller wm is ignored).
//
// It does not allocate when the record's (window, key) states exist. A new key costs one copy
// of its encoded bytes (sessions: per key, tumbling/sliding: per key while it has any pane); a
// new pane for a known key appends to the window's slabs; rows emitted at once (revisions)
// are allocated per emission. The record's strings are not retained.
func (w *Window) OnRecord(r *Record, wm int64, out *Output) {
	if wm > w.wm {
		w.OnWatermark(wm, out)
	}
	w.counters.records++
	seq := w.seq
	w.seq++
	if r.Time < MinEventTime || r.Time > MaxEventTime {
		w.counters.late++
		out.Late = append(out.Late, Late{Ref: r.Ref, Reason: outOfRangeReason(r.Time)})
		return
	}
	w.keyBuf = appendKey(w.keyBuf[:0], r.Row, w.cfg.Keys, w.keyTypes)
	if w.sess != nil {
		w.sess.onRecord(w, r, seq, out)
	} else {
		w.fixed.onRecord(w, r, seq, out)
	}
}

// SetClosedHorizon declares every window with end + allowed lateness <= h closed: records for
// it are late, as if the watermark were h, while windows fire by the watermark alone. A task
// restarting from committed offsets (no state) uses it so that windows whose results were
// already final are not rebuilt from a part of their records. Tumbling and sliding windows
// only; sessions are unaffected.
func (w *Window) SetClosedHorizon(h int64) { w.horizon = h }

// OnWatermark fires every (window, key) with end <= wm that has not fired (revision 0), and
// purges state whose end + allowed lateness <= wm: later events for it are late. A wm at or
// below the last one is a no-op. It does not allocate when nothing fires.
func (w *Window) OnWatermark(wm int64, out *Output) {
	if wm <= w.wm {
		return
	}
	w.wm = wm
	if w.sess != nil {
		w.sess.onWatermark(w, wm, out)
	} else {
		w.fixed.onWatermark(w, wm, out)
	}
}

// Stats returns the state's size and the work counters. It costs O(windows) and does not
// allocate.
func (w *Window) Stats() WindowStats {
	s := WindowStats{
		Records:   w.counters.records,
		Rows:      w.counters.rows,
		Revisions: w.counters.revisions,
		Late:      w.counters.late,
		Watermark: w.wm,

		PageCopies: w.clk.copies,
	}
	if w.sess != nil {
		s.Windows, s.Panes, s.Keys, s.Timers = w.sess.live, w.sess.live, len(w.sess.keys), len(w.sess.timers)
		return s
	}
	s.Windows, s.Keys = len(w.fixed.wins), len(w.fixed.keys)
	for _, pw := range w.fixed.wins {
		s.Panes += pw.panes.len()
	}
	return s
}

// add adds record r (arrival sequence seq) to a pane's accumulators.
func (w *Window) add(accs []agg.Accumulator, r *Record, seq int64) {
	for i, f := range w.funcs {
		var v row.Value
		if a := w.args[i]; a >= 0 {
			v = r.Row[a]
		}
		f.Add(&accs[i], v, r.Time, seq)
	}
}

// rowSlab returns backing storage for n output rows: one allocation per batch of emissions.
func (w *Window) rowSlab(n int) []row.Value { return make([]row.Value, n*w.width) }

// emit fills the next row of slab, appends it to out and returns the rest of the slab.
func (w *Window) emit(out *Output, slab []row.Value, start, end int64, key string, accs []agg.Accumulator, rev int32) []row.Value {
	r := row.Row(slab[:w.width:w.width])
	r[0] = row.Timestamp(start)
	r[1] = row.Timestamp(end)
	nk := len(w.keyTypes)
	decodeKey(r[2:2+nk], key, w.keyTypes)
	for i, f := range w.funcs {
		r[2+nk+i] = f.Result(&accs[i])
	}
	r[w.width-1] = row.Int(int64(rev))
	out.Rows = append(out.Rows, r)
	w.counters.rows++
	if rev > 0 {
		w.counters.revisions++
	}
	return slab[w.width:]
}

func (w *Window) late(out *Output, ref int, reason string) {
	w.counters.late++
	out.Late = append(out.Late, Late{Ref: ref, Reason: reason})
}

// floorDiv is a/b rounded toward -inf, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
