package agg

import (
	"testing"

	"github.com/glintstream/glint/row"
)

// The per-record path must not allocate (CONVENTIONS: hot paths).
func TestAddDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	cases := []struct {
		fn string
		in row.Type
		v  row.Value
	}{
		{"count", row.TypeInvalid, row.Int(1)},
		{"count", row.TypeInt, row.Int(1)},
		{"sum", row.TypeInt, row.Int(12345)},
		{"sum", row.TypeFloat, row.Float(1.5)},
		{"min", row.TypeInt, row.Int(12345)},
		{"min", row.TypeFloat, row.Float(1.5)},
		{"max", row.TypeInt, row.Int(12345)},
		{"max", row.TypeFloat, row.Float(1.5)},
		{"min", row.TypeTimestamp, row.Timestamp(1_700_000_000_000)},
		{"avg", row.TypeInt, row.Int(12345)},
		{"avg", row.TypeFloat, row.Float(1.5)},
		{"first", row.TypeInt, row.Int(7)},
		{"last", row.TypeFloat, row.Float(7)},
		// Values already in the set or sketch (added once before measuring).
		{"count_distinct", row.TypeInt, row.Int(12345)},
		{"count_distinct", row.TypeFloat, row.Float(1.5)},
		{"count_distinct", row.TypeString, row.String("a-user-id-longer-than-32-bytes-0123456789")},
		{"approx_count_distinct", row.TypeInt, row.Int(12345)},
		{"approx_count_distinct", row.TypeString, row.String("a-user-id-longer-than-32-bytes-0123456789")},
	}
	for _, c := range cases {
		f := mustNew(t, c.fn, c.in, c.in != row.TypeInvalid)
		acc := new(Accumulator)
		f.Add(acc, c.v, 1, 1)
		seq := int64(1)
		// last replaces its value on every Add (seq grows): still no allocation for numbers.
		allocs := testing.AllocsPerRun(1000, func() {
			seq++
			f.Add(acc, c.v, 1, seq)
		})
		if allocs != 0 {
			t.Errorf("%s(%v).Add: %v allocations per call, want 0", c.fn, c.in, allocs)
		}
	}
}
