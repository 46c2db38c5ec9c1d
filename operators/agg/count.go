package agg

import "github.com/glintstream/glint/row"

// countField is count(field): the number of non-null values of the field.
type countField struct{}

func (countField) Name() string         { return "count" }
func (countField) ResultType() row.Type { return row.TypeInt }
func (countField) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if !v.Null {
		acc.N++
	}
}
func (countField) Merge(dst, src *Accumulator)       { dst.N += src.N }
func (countField) Result(acc *Accumulator) row.Value { return row.Int(acc.N) }
