package agg

import (
	"math"
	"math/rand/v2"

	"github.com/glintstream/glint/row"
)

// config is one aggregate the randomized tests exercise.
type config struct {
	fn     string
	in     row.Type
	hasArg bool
}

// allConfigs lists every (function, input type) New accepts.
func allConfigs() []config {
	cs := []config{{"count", row.TypeInvalid, false}}
	for i := range defs {
		for _, in := range defs[i].types {
			cs = append(cs, config{defs[i].name, in, true})
		}
	}
	return cs
}

// genValue draws a value of type t from a small domain of about width values, so that
// duplicates, ties and nulls are common. Floats are integers (exact sums in any order), with -0
// and NaN now and then; with width 1 the numbers are all zeros of either sign.
func genValue(r *rand.Rand, t row.Type, width int) row.Value {
	if r.IntN(10) == 0 {
		return row.Null()
	}
	switch t {
	case row.TypeString:
		letters := "abcdef"[:min(width, 6)]
		n := r.IntN(4)
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		return row.String(string(b))
	case row.TypeFloat:
		switch r.IntN(20) {
		case 0:
			return row.Float(math.Copysign(0, -1))
		case 1:
			return row.Float(math.NaN())
		}
		return row.Float(float64(r.IntN(width) - width/2))
	case row.TypeBool:
		return row.Bool(r.IntN(2) == 0)
	case row.TypeTimestamp:
		return row.Timestamp(1_700_000_000_000 + int64(r.IntN(width))*1000)
	}
	return row.Int(int64(r.IntN(width) - width/2))
}

// genInput draws n inputs from domains of a random width, with event times from a small range
// (ties are common) and distinct arrival sequences in their order of arrival.
func genInput(r *rand.Rand, t row.Type, n int) []ev {
	width := []int{1, 2, 5, 41}[r.IntN(4)]
	in := make([]ev, n)
	for i := range in {
		in[i] = ev{v: genValue(r, t, width), t: int64(r.IntN(8)), seq: int64(i)}
	}
	return in
}
