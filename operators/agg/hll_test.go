package agg

import (
	"math"
	"testing"

	"github.com/glintstream/glint/row"
)

func TestApproxCountDistinctAccuracy(t *testing.T) {
	const n = 100_000
	for _, in := range []row.Type{row.TypeInt, row.TypeString, row.TypeFloat, row.TypeTimestamp} {
		f := mustNew(t, "approx_count_distinct", in, true)
		all, a, b := new(Accumulator), new(Accumulator), new(Accumulator)
		for i := range n {
			v := distinctValue(in, i)
			f.Add(all, v, 0, 0)
			f.Add(all, v, 0, 0) // duplicates do not count
			if i%3 == 0 {
				f.Add(a, v, 0, 0)
			} else {
				f.Add(b, v, 0, 0)
			}
			if i%10 == 0 {
				f.Add(b, v, 0, 0) // overlap between the parts
			}
		}
		check := func(what string, got row.Value) {
			if e := math.Abs(float64(got.I)-n) / n; e > 0.02 {
				t.Errorf("%v %s: estimate %d for %d distinct, error %.2f%% > 2%%", in, what, got.I, n, 100*e)
			} else {
				t.Logf("%v %s: estimate %d for %d distinct, error %.2f%%", in, what, got.I, n, 100*e)
			}
		}
		check("added", f.Result(all))
		f.Merge(a, b)
		check("merged", f.Result(a))
		check("restored", f.Result(roundTrip(t, f, a)))
	}
}
