package agg

import (
	"strings"

	"github.com/glintstream/glint/row"
)

// pick is first or last by event time: the value held (in I, F or S by type) is the one with the
// smallest (last: largest) event time T, ties broken by the smallest (last: largest) arrival
// sequence Seq. Nulls are skipped; N counts the values seen.
type pick struct {
	in   row.Type
	last bool
}

func (p pick) Name() string {
	if p.last {
		return "last"
	}
	return "first"
}

func (p pick) ResultType() row.Type { return p.in }

func (p pick) Add(acc *Accumulator, v row.Value, t, seq int64) {
	if v.Null {
		return
	}
	if acc.N == 0 || p.wins(t, seq, acc) {
		switch p.in {
		case row.TypeFloat:
			acc.F = v.F
		case row.TypeString:
			acc.S = strings.Clone(v.S)
		case row.TypeBool:
			acc.I = 0
			if v.I != 0 {
				acc.I = 1
			}
		default:
			acc.I = v.I
		}
		acc.T, acc.Seq = t, seq
	}
	acc.N++
}

func (p pick) Merge(dst, src *Accumulator) {
	if src.N == 0 {
		return
	}
	if dst.N == 0 || p.wins(src.T, src.Seq, dst) {
		dst.I, dst.F, dst.S, dst.T, dst.Seq = src.I, src.F, src.S, src.T, src.Seq
	}
	dst.N += src.N
}

func (p pick) Result(acc *Accumulator) row.Value {
	if acc.N == 0 {
		return row.Null()
	}
	return row.Value{I: acc.I, F: acc.F, S: acc.S}
}

// wins reports whether a value seen at (t, seq) replaces the one acc holds.
func (p pick) wins(t, seq int64, acc *Accumulator) bool {
	if p.last {
		return t > acc.T || (t == acc.T && seq > acc.Seq)
	}
	return t < acc.T || (t == acc.T && seq < acc.Seq)
}
