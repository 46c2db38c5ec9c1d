package agg

import (
	"strconv"
	"testing"

	"github.com/glintstream/glint/row"
)

// BenchmarkAdd measures Add per record through the Func interface, as the window operator calls
// it. "ceiling" is the same loop adding to a sum directly (no interface call, no null check): the
// floor the others are compared to.
func BenchmarkAdd(b *testing.B) {
	ints := make([]row.Value, 1024)
	floats := make([]row.Value, 1024)
	strs := make([]row.Value, 1024)
	for i := range ints {
		ints[i] = row.Int(int64(i*7919) % 1000)
		floats[i] = row.Float(float64(i) * 1.5)
		strs[i] = row.String("user-" + strconv.Itoa(i%100))
	}
	b.Run("ceiling", func(b *testing.B) {
		var acc Accumulator
		for i := 0; b.Loop(); i++ {
			acc.I += ints[i&1023].I
		}
	})
	cases := []struct {
		name string
		fn   string
		in   row.Type
		vs   []row.Value
	}{
		{"count", "count", row.TypeInvalid, ints},
		{"sum_int", "sum", row.TypeInt, ints},
		{"sum_float", "sum", row.TypeFloat, floats},
		{"avg_float", "avg", row.TypeFloat, floats},
		{"min_int", "min", row.TypeInt, ints},
		{"max_float", "max", row.TypeFloat, floats},
		{"max_string", "max", row.TypeString, strs},
		{"first_int", "first", row.TypeInt, ints},
		{"last_int", "last", row.TypeInt, ints},
		{"last_string", "last", row.TypeString, strs},
		{"count_distinct_int_1000", "count_distinct", row.TypeInt, ints},
		{"count_distinct_string_100", "count_distinct", row.TypeString, strs},
		{"approx_int_1000", "approx_count_distinct", row.TypeInt, ints},
		{"approx_string_100", "approx_count_distinct", row.TypeString, strs},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := mustNew(b, c.fn, c.in, c.in != row.TypeInvalid)
			var acc Accumulator
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.Add(&acc, c.vs[i&1023], int64(i), int64(i))
			}
		})
	}
}

func BenchmarkSnapshot(b *testing.B) {
	f := mustNew(b, "count_distinct", row.TypeString, true)
	var acc Accumulator
	for i := range 1000 {
		f.Add(&acc, row.String("user-"+strconv.Itoa(i)), 0, 0)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAccumulator(buf[:0], f, &acc)
		if _, err := ReadAccumulator(buf, f, new(Accumulator)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes")
}
