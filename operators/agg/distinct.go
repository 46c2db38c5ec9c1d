package agg

import (
	"encoding/binary"
	"math"
	"strings"
	"unsafe"

	"github.com/axiomhq/hyperloglog"

	"github.com/glintstream/glint/row"
)

// distinct is count_distinct, exact. Strings go in Set (cloned when first stored; a lookup of
// a value already there does not allocate), every other type in Set64 as the bits of key64.
type distinct struct{ in row.Type }

func (distinct) Name() string         { return "count_distinct" }
func (distinct) ResultType() row.Type { return row.TypeInt }

func (d distinct) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if v.Null {
		return
	}
	acc.N++
	if d.in == row.TypeString {
		if _, ok := acc.Set[v.S]; ok {
			return
		}
		if acc.Set == nil {
			acc.Set = make(map[string]struct{})
		}
		acc.Set[strings.Clone(v.S)] = struct{}{}
		return
	}
	k := key64(d.in, v)
	if _, ok := acc.Set64[k]; ok {
		return
	}
	if acc.Set64 == nil {
		acc.Set64 = make(map[uint64]struct{})
	}
	acc.Set64[k] = struct{}{}
}

func (distinct) Merge(dst, src *Accumulator) {
	dst.N += src.N
	// Fold the smaller set into the larger; src is not used afterwards, so its maps can move.
	if len(src.Set) > len(dst.Set) {
		dst.Set, src.Set = src.Set, dst.Set
	}
	for s := range src.Set {
		dst.Set[s] = struct{}{}
	}
	if len(src.Set64) > len(dst.Set64) {
		dst.Set64, src.Set64 = src.Set64, dst.Set64
	}
	for k := range src.Set64 {
		dst.Set64[k] = struct{}{}
	}
	src.Set, src.Set64 = nil, nil
}

func (distinct) Result(acc *Accumulator) row.Value {
	return row.Int(int64(len(acc.Set) + len(acc.Set64)))
}

// key64 encodes a non-string value as 64 bits such that equal values (row.Value.Equal) get equal
// keys: bools are 0 or 1, floats are canonical (one NaN, one zero).
func key64(t row.Type, v row.Value) uint64 {
	switch t {
	case row.TypeFloat:
		switch {
		case v.F == 0:
			return 0
		case math.IsNaN(v.F):
			return canonicalNaN
		}
		return math.Float64bits(v.F)
	case row.TypeBool:
		if v.I != 0 {
			return 1
		}
		return 0
	}
	return uint64(v.I)
}

const canonicalNaN = 0x7ff8000000000001 // math.NaN()'s bits

// hllPrecision is the sketch precision approx_count_distinct uses: 2^14 registers, 0.81%
// standard error. Snapshots of other precisions are refused, so Merge never meets two.
const hllPrecision = 14

// approxDistinct is approx_count_distinct: a HyperLogLog sketch in HLL, created on the first
// non-null value. Values are hashed as the sketch's Insert does (fixed-seed MetroHash64) over
// their bytes: strings as they are, other types as the 8 little-endian bytes of key64.
type approxDistinct struct{ in row.Type }

func (approxDistinct) Name() string         { return "approx_count_distinct" }
func (approxDistinct) ResultType() row.Type { return row.TypeInt }

func (a approxDistinct) Add(acc *Accumulator, v row.Value, _, _ int64) {
	if v.Null {
		return
	}
	acc.N++
	if acc.HLL == nil {
		acc.HLL = hyperloglog.New14()
	}
	if a.in == row.TypeString {
		// The sketch only hashes the bytes; it neither keeps nor modifies them.
		acc.HLL.Insert(unsafe.Slice(unsafe.StringData(v.S), len(v.S)))
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], key64(a.in, v))
	acc.HLL.Insert(b[:])
}

func (approxDistinct) Merge(dst, src *Accumulator) {
	dst.N += src.N
	switch {
	case src.HLL == nil:
	case dst.HLL == nil:
		dst.HLL = src.HLL // src is not used afterwards
	default:
		if err := dst.HLL.Merge(src.HLL); err != nil {
			// Only sketches of hllPrecision exist: New14 makes them, ReadAccumulator refuses
			// others. A mismatch is a bug.
			panic("agg: approx_count_distinct: " + err.Error())
		}
	}
	src.HLL = nil
}

func (approxDistinct) Result(acc *Accumulator) row.Value {
	if acc.HLL == nil {
		return row.Int(0)
	}
	return row.Int(int64(acc.HLL.Estimate()))
}
