package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/glintstream/glint/format"
	"github.com/glintstream/glint/internal/strictyaml"
	"github.com/glintstream/glint/operators"
	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/operators/expr"
	"github.com/glintstream/glint/row"
)

// Plan is a compiled job: everything a task needs to instantiate its operators, decided once.
type Plan struct {
	Job     *Job
	Sources []SourcePlan
	// Input is the schema every source decodes to (sources are a union and must agree), with
	// room for the columns computed before the window.
	Input  row.Schema
	Pre    []OpPlan    // stateless operators before the window
	Window *WindowPlan // nil for a stateless job
	Post   []OpPlan    // stateless operators on the window's output rows
	Output row.Schema  // what sinks receive
	Sinks  []SinkPlan
}

// SourcePlan is a compiled source.
type SourcePlan struct {
	Spec      *Source
	Fields    []format.Field // decoded with Spec.Format from Env.Formats
	TimeIdx   int            // event-time column
	Watermark operators.WatermarkConfig
	Start     StartPosition
}

// StartPosition is where a source starts reading when no offset is committed.
type StartPosition struct {
	Latest bool
	Time   time.Time // non-zero: the first offset at or after this time
}

// OpPlan is a compiled stateless operator. Filter and Compute are templates: each task clones
// them, since compiled programs are not safe for concurrent use.
type OpPlan struct {
	Path    string // where it was written, for errors
	Filter  *expr.Filter
	Compute *expr.Compute
	Column  int // Compute's output column
}

// WindowPlan is a compiled window with its aggregates.
type WindowPlan struct {
	Config operators.WindowConfig
	Span   int64 // the largest window length, ms (0 for sessions: unbounded)
}

// SinkPlan is a compiled sink.
type SinkPlan struct {
	Spec   *Sink
	KeyIdx []int
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Compile validates the job against env and returns its plan. Every problem is reported at
// once, as strictyaml.Errors with file:line:column and the field's path.
func Compile(j *Job, env *Env) (*Plan, error) {
	c := &compiler{job: j, env: env, plan: &Plan{Job: j}}
	c.compile()
	if len(c.errs) > 0 {
		c.errs.Sort()
		return nil, c.errs
	}
	return c.plan, nil
}

type compiler struct {
	job  *Job
	env  *Env
	plan *Plan
	errs strictyaml.Errors
	// outputUnknown is set when the window failed to compile: sink keys cannot be checked.
	outputUnknown bool
}

func (c *compiler) errorf(path, format string, args ...any) {
	c.errs = append(c.errs, &strictyaml.Error{Pos: c.job.Pos(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) compile() {
	j := c.job
	switch {
	case j.Name == "":
		c.errorf("name", "the job needs a name (it names the consumer group and the dead-letter topic)")
	case !nameRE.MatchString(j.Name):
		c.errorf("name", "%q: a job name may hold letters, digits, '.', '_' and '-' only", j.Name)
	}
	if len(j.Sources) == 0 {
		c.errorf("sources", "the job needs at least one source")
	}
	for i := range j.Sources {
		c.source(i)
	}
	c.unionSchema()
	c.steps()
	if len(j.Sinks) == 0 {
		c.errorf("sinks", "the job needs at least one sink (kafka, stdout)")
	}
	for i := range j.Sinks {
		c.sink(i)
	}
	if iv := j.Checkpoint.Interval; iv != 0 && iv.D() < 100*time.Millisecond {
		c.errorf("checkpoint.interval", "%s is too short: checkpoints need at least 100ms", iv)
	}
	if m := j.Checkpoint.Mode; m != "exactly_once" && m != "at_least_once" {
		c.errorf("checkpoint.mode", "unknown mode %q%s", m, strictyaml.DidYouMean(m, []string{"exactly_once", "at_least_once"}))
	}
	if j.Checkpoint.Keep < 1 {
		c.errorf("checkpoint.keep", "keep at least 1 checkpoint, not %d", j.Checkpoint.Keep)
	}
	if st := j.Group.SessionTimeout.D(); st < time.Second {
		c.errorf("group.session_timeout", "%s is too short: the group needs at least 1s to hear from a worker", j.Group.SessionTimeout)
	} else if hb := j.Group.HeartbeatInterval.D(); hb <= 0 || hb >= st {
		c.errorf("group.heartbeat_interval", "%s must be positive and below session_timeout (%s)", j.Group.HeartbeatInterval, j.Group.SessionTimeout)
	}
	if rt := j.Group.RebalanceTimeout.D(); rt < time.Second {
		c.errorf("group.rebalance_timeout", "%s is too short: a rebalance needs at least 1s for the workers to rejoin", j.Group.RebalanceTimeout)
	}
	if j.DeadLetter.Topic != "" && nameRE.MatchString(j.Name) && !nameRE.MatchString(j.DeadLetter.Topic) {
		c.errorf("dead_letter.topic", "%q is not a valid topic name", j.DeadLetter.Topic)
	}
}

func (c *compiler) source(i int) {
	s := &c.job.Sources[i]
	p := fmt.Sprintf("sources[%d]", i)
	sp := SourcePlan{Spec: s, TimeIdx: -1}
	if s.Topic == "" {
		c.errorf(p+".topic", "a source needs a topic")
	}
	if len(s.Fields) == 0 {
		c.errorf(p+".fields", "a source needs its fields and their types, e.g. `ts: timestamp`")
	}
	for _, f := range s.Fields {
		fp := p + ".fields." + f.Key
		t, ok := row.ParseType(f.Value.Type)
		if !ok {
			c.errorf(fp, "unknown type %q%s", f.Value.Type, strictyaml.DidYouMean(f.Value.Type, row.TypeNames()))
			continue
		}
		ff := format.Field{Name: f.Key, Type: t, Path: f.Value.Path, Optional: f.Value.Optional}
		enc := f.Value.Encoding
		if f.Key == s.EventTime.Field && enc == "" {
			enc = s.EventTime.Encoding
		}
		if t == row.TypeTimestamp {
			if enc == "" {
				enc = DefaultTimeEncoding
			}
			te, err := format.ParseTimeEncoding(enc)
			if err != nil {
				c.errorf(fp, "%v", err)
			}
			ff.Time = te
		} else if f.Value.Encoding != "" {
			c.errorf(fp+".encoding", "encoding applies to timestamp fields only; %q is %s", f.Key, t)
		}
		sp.Fields = append(sp.Fields, ff)
	}
	names := s.Fields.Keys()
	switch et := s.EventTime.Field; {
	case et == "":
		c.errorf(p+".event_time.field", "a source needs an event-time field (event_time.field)")
	default:
		sp.TimeIdx = slices.Index(names, et)
		if sp.TimeIdx < 0 {
			c.errorf(p+".event_time.field", "no field %q%s", et, strictyaml.DidYouMean(et, names))
		} else if sp.Fields[sp.TimeIdx].Type != row.TypeTimestamp {
			c.errorf(p+".event_time.field", "field %q must have type timestamp, not %s", et, sp.Fields[sp.TimeIdx].Type)
		} else if sp.Fields[sp.TimeIdx].Optional {
			c.errorf(p+".event_time.field", "the event-time field %q cannot be optional", et)
		}
	}
	if _, err := format.ParseTimeEncoding(s.EventTime.Encoding); err != nil {
		c.errorf(p+".event_time.encoding", "%v", err)
	}
	sp.Watermark = operators.WatermarkConfig{
		MaxOutOfOrder: s.Watermark.MaxOutOfOrderness.Millis(),
		IdleTimeout:   s.Watermark.IdleTimeout.Millis(),
	}
	sp.Start = c.start(p+".start", s.Start)
	for _, f := range s.PartitionedBy {
		if !slices.Contains(names, f) {
			c.errorf(p+".partitioned_by", "no field %q%s", f, strictyaml.DidYouMean(f, names))
		}
	}
	if !slices.Contains(c.env.Formats.Names(), s.Format) {
		c.errorf(p+".format", "unknown format %q%s", s.Format, strictyaml.DidYouMean(s.Format, c.env.Formats.Names()))
	} else if len(sp.Fields) == len(s.Fields) {
		if _, err := c.env.Formats.New(s.Format, sp.Fields); err != nil {
			c.errorf(p+".fields", "%v", err)
		}
	}
	c.plan.Sources = append(c.plan.Sources, sp)
}

func (c *compiler) start(path, s string) StartPosition {
	switch s {
	case "earliest":
		return StartPosition{}
	case "latest":
		return StartPosition{Latest: true}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.errorf(path, "want earliest, latest or an RFC 3339 time such as 2026-11-22T10:00:00Z, got %q", s)
	}
	return StartPosition{Time: t}
}

// unionSchema checks that every source decodes to the same schema: they feed one pipeline.
func (c *compiler) unionSchema() {
	ps := c.plan.Sources
	if len(ps) == 0 {
		return
	}
	for _, f := range ps[0].Fields {
		c.plan.Input.Fields = append(c.plan.Input.Fields, row.Field{Name: f.Name, Type: f.Type})
	}
	for i := 1; i < len(ps); i++ {
		same := len(ps[i].Fields) == len(ps[0].Fields) && ps[i].TimeIdx == ps[0].TimeIdx
		for k := 0; same && k < len(ps[i].Fields); k++ {
			same = ps[i].Fields[k].Name == ps[0].Fields[k].Name && ps[i].Fields[k].Type == ps[0].Fields[k].Type
		}
		if !same {
			c.errorf(fmt.Sprintf("sources[%d].fields", i),
				"sources feed one pipeline and must declare the same fields in the same order as sources[0] %s", c.plan.Input)
		}
	}
}

// steps compiles the pipeline: stateless operators, then at most one key_by + window +
// aggregate, then stateless operators on the window's output.
func (c *compiler) steps() {
	schema := c.plan.Input
	var keys []string
	keyPath := ""
	stage := &c.plan.Pre
	for i, st := range c.job.Pipeline {
		p := fmt.Sprintf("pipeline[%d]", i)
		set := st.setOps()
		if len(set) != 1 {
			if len(set) == 0 {
				c.errorf(p, "a step needs one of filter, compute, key_by, window, aggregate")
			} else {
				c.errorf(p, "a step holds one operator, this one has %s: write them as separate steps", strings.Join(set, " and "))
			}
			continue
		}
		switch set[0] {
		case "filter":
			f, err := expr.CompileFilter(*st.Filter, schema)
			if err != nil {
				c.errorf(p+".filter", "%v", err)
				continue
			}
			*stage = append(*stage, OpPlan{Path: p + ".filter", Filter: f})
		case "compute":
			for _, e := range st.Compute {
				ep := p + ".compute." + e.Key
				if schema.Index(e.Key) >= 0 {
					c.errorf(ep, "column %q exists already; computed columns need new names", e.Key)
					continue
				}
				cp, err := expr.CompileCompute(e.Value, schema, row.TypeInvalid)
				if err != nil {
					c.errorf(ep, "%v", err)
					continue
				}
				schema.Fields = append(slices.Clip(schema.Fields), row.Field{Name: e.Key, Type: cp.Type()})
				*stage = append(*stage, OpPlan{Path: ep, Compute: cp, Column: len(schema.Fields) - 1})
			}
		case "key_by":
			if c.plan.Window != nil {
				c.errorf(p+".key_by", "key_by after the window: only one keyed window per job is supported")
				continue
			}
			keys, keyPath = st.KeyBy, p+".key_by"
			c.checkPartitioning(keyPath, keys, schema)
		case "window":
			if c.plan.Window != nil {
				c.errorf(p+".window", "only one window per job is supported")
				continue
			}
			if keys == nil {
				c.errorf(p+".window", "a window needs key_by before it")
			}
			var aggs strictyaml.Ordered[string]
			if i+1 < len(c.job.Pipeline) && len(c.job.Pipeline[i+1].Aggregate) > 0 {
				aggs = c.job.Pipeline[i+1].Aggregate
			} else {
				c.errorf(p+".window", "a window must be followed by an aggregate step")
			}
			w := c.window(p+".window", fmt.Sprintf("pipeline[%d].aggregate", i+1), st.Window, schema, keys, aggs)
			if w == nil {
				c.outputUnknown = true
				return // later steps and sinks depend on the window's output schema
			}
			c.plan.Window = w
			wo, err := operators.NewWindow(w.Config)
			if err != nil {
				c.errorf(p+".window", "%v", err)
				return
			}
			schema = wo.OutputSchema()
			stage = &c.plan.Post
		case "aggregate":
			if i == 0 || c.job.Pipeline[i-1].Window == nil {
				c.errorf(p+".aggregate", "aggregate must directly follow a window step")
			}
		}
	}
	if keys != nil && c.plan.Window == nil {
		c.errorf(keyPath, "key_by without a window: add a window and an aggregate after it")
	}
	if c.plan.Window == nil {
		c.plan.Input = schema
	} else {
		c.plan.Input = c.plan.Window.Config.Input
	}
	c.plan.Output = schema
}

func (s *Step) setOps() []string {
	var set []string
	if s.Filter != nil {
		set = append(set, "filter")
	}
	if len(s.Compute) > 0 {
		set = append(set, "compute")
	}
	if len(s.KeyBy) > 0 {
		set = append(set, "key_by")
	}
	if s.Window != nil {
		set = append(set, "window")
	}
	if len(s.Aggregate) > 0 {
		set = append(set, "aggregate")
	}
	return set
}

// checkPartitioning rejects a key_by that the input is not partitioned by: records of one key
// would be spread over several tasks. A repartition stage would fix that; until it exists, the
// user must key by a superset of every source's partitioned_by.
func (c *compiler) checkPartitioning(path string, keys []string, schema row.Schema) {
	for _, k := range keys {
		if schema.Index(k) < 0 {
			c.errorf(path, "no field %q%s", k, strictyaml.DidYouMean(k, schema.Names()))
			return
		}
	}
	for i, s := range c.job.Sources {
		pb := []string(s.PartitionedBy)
		if len(pb) == 0 {
			c.errorf(path, "key_by %v needs to know how source %q is partitioned: set sources[%d].partitioned_by to the fields the topic's record key is made of", keys, s.Name, i)
			continue
		}
		for _, f := range pb {
			if !slices.Contains(keys, f) {
				c.errorf(path, "key_by %v: source %q is partitioned_by %v, so records of one key can be in several partitions; "+
					"repartitioning is not supported yet: key by fields that include %v, or write the topic keyed by a subset of %v",
					keys, s.Name, pb, pb, keys)
				break
			}
		}
	}
}

func (c *compiler) window(wp, aggPath string, ws *WindowSpec, in row.Schema, keys []string, aggs strictyaml.Ordered[string]) *WindowPlan {
	cfg := operators.WindowConfig{
		Size: ws.Size.Millis(), Slide: ws.Slide.Millis(), Gap: ws.Gap.Millis(),
		AllowedLateness: ws.AllowedLateness.Millis(), Input: in,
	}
	ok := true
	need := func(field string, d strictyaml.Duration) {
		if d <= 0 {
			c.errorf(wp+"."+field, "a %s window needs a positive %s", ws.Type, field)
			ok = false
		} else if d.D()%time.Millisecond != 0 {
			c.errorf(wp+"."+field, "%s must be a whole number of milliseconds", field)
			ok = false
		}
	}
	forbid := func(field string, d strictyaml.Duration) {
		if d != 0 {
			c.errorf(wp+"."+field, "%s does not apply to a %s window", field, ws.Type)
			ok = false
		}
	}
	span := int64(0)
	switch ws.Type {
	case "tumbling":
		cfg.Kind = operators.Tumbling
		need("size", ws.Size)
		forbid("slide", ws.Slide)
		forbid("gap", ws.Gap)
		span = cfg.Size
	case "sliding", "hopping":
		cfg.Kind = operators.Sliding
		need("size", ws.Size)
		need("slide", ws.Slide)
		forbid("gap", ws.Gap)
		if ok && ws.Slide > ws.Size {
			c.errorf(wp+".slide", "slide %s is longer than size %s: events between windows would be lost", ws.Slide, ws.Size)
			ok = false
		}
		span = cfg.Size
	case "session":
		cfg.Kind = operators.Session
		need("gap", ws.Gap)
		forbid("size", ws.Size)
		forbid("slide", ws.Slide)
	default:
		c.errorf(wp+".type", "unknown window type %q%s", ws.Type, strictyaml.DidYouMean(ws.Type, []string{"tumbling", "sliding", "session"}))
		ok = false
	}
	for _, k := range keys {
		i := in.Index(k)
		if i < 0 {
			ok = false
			continue
		}
		cfg.Keys = append(cfg.Keys, i)
	}
	for _, a := range aggs {
		ap := aggPath + "." + a.Key
		fn, arg, err := agg.ParseSpec(a.Value)
		if err != nil {
			c.errorf(ap, "%v", err)
			ok = false
			continue
		}
		col := operators.AggColumn{Name: a.Key, Arg: -1}
		t := row.TypeInvalid
		if arg != "" {
			col.Arg = in.Index(arg)
			if col.Arg < 0 {
				c.errorf(ap, "%s(%s): no field %q%s", fn, arg, arg, strictyaml.DidYouMean(arg, in.Names()))
				ok = false
				continue
			}
			t = in.Fields[col.Arg].Type
		}
		f, err := agg.New(fn, t, arg != "")
		if err != nil {
			c.errorf(ap, "%v", err)
			ok = false
			continue
		}
		if slices.Contains(keys, a.Key) || slices.Contains([]string{"window_start", "window_end", "revision"}, a.Key) {
			c.errorf(ap, "output column %q is taken (by a key or the window's own columns)", a.Key)
			ok = false
			continue
		}
		col.Func = f
		cfg.Aggs = append(cfg.Aggs, col)
	}
	if !ok {
		return nil
	}
	return &WindowPlan{Config: cfg, Span: span}
}

func (c *compiler) sink(i int) {
	s := &c.job.Sinks[i]
	p := fmt.Sprintf("sinks[%d]", i)
	sp := SinkPlan{Spec: s}
	if !slices.Contains(c.env.SinkTypes(), s.Type) {
		c.errorf(p+".type", "unknown sink type %q%s", s.Type, strictyaml.DidYouMean(s.Type, c.env.SinkTypes()))
		return
	}
	switch s.Type {
	case "kafka":
		if s.Topic == "" {
			c.errorf(p+".topic", "a kafka sink needs a topic")
		} else if !nameRE.MatchString(s.Topic) {
			c.errorf(p+".topic", "%q is not a valid topic name", s.Topic)
		}
	case "lakehouse":
		if s.Lakehouse == nil {
			c.errorf(p+".lakehouse", "a lakehouse sink needs its table: `lakehouse: {table: name}`")
		} else if !c.outputUnknown {
			c.lakeConfigErrors(p+".lakehouse", s.Lakehouse.Validate(c.plan.Output))
		}
		fallthrough
	default:
		if s.Topic != "" {
			c.errorf(p+".topic", "topic applies to kafka sinks only")
		}
	}
	if s.Type != "lakehouse" && s.Lakehouse != nil {
		c.errorf(p+".lakehouse", "lakehouse settings apply to lakehouse sinks only")
	}
	for _, k := range s.Key {
		idx := c.plan.Output.Index(k)
		if idx < 0 {
			if c.outputUnknown {
				continue
			}
			c.errorf(p+".key", "no output column %q%s", k, strictyaml.DidYouMean(k, c.plan.Output.Names()))
			continue
		}
		sp.KeyIdx = append(sp.KeyIdx, idx)
	}
	c.plan.Sinks = append(c.plan.Sinks, sp)
}
