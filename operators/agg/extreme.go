package agg

import (
	"math"
	"strings"

	"github.com/glintstream/glint/row"
)

// extreme is min or max over int, float, string or timestamp. The value held is in I, F or S
// by type; N counts the values seen, so N == 0 means none.
type extreme struct {
	in  row.Type
	max bool
}

func (e extreme) Name() string {
	if e.max {
		return "max"
	}
	return "min"
}

func (e extreme) ResultType() row.Type { return e.in }

func (e extreme) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if v.Null || (e.in == row.TypeFloat && math.IsNaN(v.F)) {
		return
	}
	if acc.N == 0 || e.better(v.I, v.F, v.S, acc) {
		switch e.in {
		case row.TypeFloat:
			acc.F = v.F
		case row.TypeString:
			acc.S = strings.Clone(v.S)
		default:
			acc.I = v.I
		}
	}
	acc.N++
}

func (e extreme) Merge(dst, src *Accumulator) {
	if src.N == 0 {
		return
	}
	if dst.N == 0 || e.better(src.I, src.F, src.S, dst) {
		// src is not used afterwards, so its string (already owned) can move.
		dst.I, dst.F, dst.S = src.I, src.F, src.S
	}
	dst.N += src.N
}

func (e extreme) Result(acc *Accumulator) row.Value {
	if acc.N == 0 {
		return row.Null()
	}
	return row.Value{I: acc.I, F: acc.F, S: acc.S}
}

// better reports whether the candidate (i, f or s by type) should replace the value acc holds.
func (e extreme) better(i int64, f float64, s string, acc *Accumulator) bool {
	var c int
	switch e.in {
	case row.TypeFloat:
		c = compareFloat(f, acc.F)
	case row.TypeString:
		c = strings.Compare(s, acc.S)
	default:
		switch {
		case i < acc.I:
			c = -1
		case i > acc.I:
			c = 1
		}
	}
	if e.max {
		return c > 0
	}
	return c < 0
}

// compareFloat orders non-NaN floats with -0 before +0, a total order that makes min and max
// independent of the order they see values in.
func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == 0 && b == 0: // equal zeros, maybe of different sign
		sa, sb := math.Signbit(a), math.Signbit(b)
		switch {
		case sa && !sb:
			return -1
		case !sa && sb:
			return 1
		}
	}
	return 0
}
