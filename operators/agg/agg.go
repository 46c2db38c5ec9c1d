package agg

import (
	"github.com/axiomhq/hyperloglog"

	"github.com/glintstream/glint/row"
)

// Accumulator is the running state of one aggregate. Which members a Func uses is its own
// business; the zero value is the empty state. Not safe for concurrent use.
type Accumulator struct {
	N     int64               // count of values added (non-null ones, except for count())
	I     int64               // integer running value (sum, min, max of int/timestamp/bool)
	F     float64             // float running value
	S     string              // string running value (owned: cloned on store)
	T     int64               // event time of the value held (first, last)
	Seq   int64               // arrival sequence of the value held, to break ties in T (first, last)
	Set   map[string]struct{} // count_distinct of strings: exact set of values (owned copies)
	Set64 map[uint64]struct{} // count_distinct of int, float, bool, timestamp: set of value bits
	HLL   *hyperloglog.Sketch // approx_count_distinct
}

// Func is one aggregate function bound to its input type. Implementations are stateless and
// safe for concurrent use; accumulators are not.
type Func interface {
	// Name is the function's name as written in job files, e.g. "sum".
	Name() string
	// ResultType is the type of Result.
	ResultType() row.Type
	// Add adds v (of the bound input type), seen at event time t with arrival sequence seq, to
	// acc. v's string may alias an input buffer: Add clones what it keeps. Add must not
	// allocate when it keeps nothing new (count, sum, min, max, avg).
	Add(acc *Accumulator, v row.Value, t, seq int64)
	// Merge folds src into dst; src is not used afterwards.
	Merge(dst, src *Accumulator)
	// Result returns the aggregate's value. An aggregate of no values is null, except counts,
	// which are 0.
	Result(acc *Accumulator) row.Value
}

// Spec names an aggregate as a job file writes it: fn over the field Arg ("" for count()).
type Spec struct {
	Name string // output column
	Fn   string // function name
	Arg  string // input field name; empty for count()
}

// count is here as the reference shape for the others.
type count struct{}

func (count) Name() string                                  { return "count" }
func (count) ResultType() row.Type                          { return row.TypeInt }
func (count) Add(acc *Accumulator, _ row.Value, _, _ int64) { acc.N++ }
func (count) Merge(dst, src *Accumulator)                   { dst.N += src.N }
func (count) Result(acc *Accumulator) row.Value             { return row.Int(acc.N) }
