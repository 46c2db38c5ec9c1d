package agg

import "github.com/glintstream/glint/row"

// sumInt is sum over ints: I holds the sum, which wraps around on overflow.
type sumInt struct{}

func (sumInt) Name() string         { return "sum" }
func (sumInt) ResultType() row.Type { return row.TypeInt }
func (sumInt) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if !v.Null {
		acc.N++
		acc.I += v.I
	}
}
func (sumInt) Merge(dst, src *Accumulator) { dst.N += src.N; dst.I += src.I }
func (sumInt) Result(acc *Accumulator) row.Value {
	if acc.N == 0 {
		return row.Null()
	}
	return row.Int(acc.I)
}

// sumFloat is sum over floats: F holds the sum.
type sumFloat struct{}

func (sumFloat) Name() string         { return "sum" }
func (sumFloat) ResultType() row.Type { return row.TypeFloat }
func (sumFloat) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if !v.Null {
		acc.N++
		acc.F += v.F
	}
}
func (sumFloat) Merge(dst, src *Accumulator) { dst.N += src.N; dst.F += src.F }
func (sumFloat) Result(acc *Accumulator) row.Value {
	if acc.N == 0 {
		return row.Null()
	}
	return row.Float(acc.F)
}

// avgInt is avg over ints: the exact integer sum in I (wrapping on overflow) over N.
type avgInt struct{}

func (avgInt) Name() string         { return "avg" }
func (avgInt) ResultType() row.Type { return row.TypeFloat }
func (avgInt) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if !v.Null {
		acc.N++
		acc.I += v.I
	}
}
func (avgInt) Merge(dst, src *Accumulator) { dst.N += src.N; dst.I += src.I }
func (avgInt) Result(acc *Accumulator) row.Value {
	if acc.N == 0 {
		return row.Null()
	}
	return row.Float(float64(acc.I) / float64(acc.N))
}

// avgFloat is avg over floats: the sum in F over N.
type avgFloat struct{}

func (avgFloat) Name() string         { return "avg" }
func (avgFloat) ResultType() row.Type { return row.TypeFloat }
func (avgFloat) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if !v.Null {
		acc.N++
		acc.F += v.F
	}
}
func (avgFloat) Merge(dst, src *Accumulator) { dst.N += src.N; dst.F += src.F }
func (avgFloat) Result(acc *Accumulator) row.Value {
	if acc.N == 0 {
		return row.Null()
	}
	return row.Float(acc.F / float64(acc.N))
}
