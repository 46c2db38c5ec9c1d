package agg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/axiomhq/hyperloglog"

	"github.com/glintstream/glint/row"
)

// Snapshot format, version 1. All integers are varints (zig-zag, encoding/binary) unless said
// otherwise; floats are their 8 IEEE-754 bytes, little-endian; strings are a uvarint length and
// the bytes.
//
//	header:  version (1 byte) | function code (1 byte) | input type (1 byte, 0 for count())
//	count, count(field):  N
//	sum, avg of int:      N | I
//	sum, avg of float:    N | F
//	min, max:             N | value if N > 0
//	first, last:          N | T | Seq | value if N > 0
//	count_distinct:       N | uvarint k | k members in increasing order: strings, or 8-byte
//	                      little-endian keys for other types
//	approx_count_distinct: N | 0, or 1 | 4-byte big-endian length | the sketch's AppendBinary
//
// value is a varint for int, timestamp and bool (0 or 1), a float or a string.
const snapshotVersion = 1

const (
	codeCount byte = iota + 1
	codeCountField
	codeSum
	codeMin
	codeMax
	codeAvg
	codeDistinct
	codeApprox
	codeFirst
	codeLast
)

// snapshotter is implemented by every Func of this package.
type snapshotter interface {
	code() byte
	inType() row.Type
	appendState(dst []byte, acc *Accumulator) []byte
	readState(r *reader, acc *Accumulator)
}

// AppendAccumulator appends a snapshot of acc, the state of f, to dst and returns the extended
// buffer. The encoding is deterministic for a given state. For approx_count_distinct it first
// compacts the sketch's sparse buffer (as Result does), which changes no result. f must come
// from New; any other Func panics.
func AppendAccumulator(dst []byte, f Func, acc *Accumulator) []byte {
	s := mustSnapshotter(f)
	dst = append(dst, snapshotVersion, s.code(), byte(s.inType()))
	return s.appendState(dst, acc)
}

// ReadAccumulator decodes one snapshot of f's state from the front of b into acc, replacing
// what acc held, and returns the bytes after it. On error acc is unchanged; the error wraps
// ErrCorrupt (truncated or impossible data) or ErrIncompatible (a snapshot of another
// function, input type or version). f must come from New; any other Func panics.
func ReadAccumulator(b []byte, f Func, acc *Accumulator) (rest []byte, err error) {
	s := mustSnapshotter(f)
	if len(b) < 3 {
		return b, fmt.Errorf("%w: header needs 3 bytes, have %d", ErrCorrupt, len(b))
	}
	if b[0] != snapshotVersion || b[1] != s.code() || b[2] != byte(s.inType()) {
		return b, fmt.Errorf("%w: snapshot of %s, version %d; reading %s, version %d",
			ErrIncompatible, describe(b[1], b[2]), b[0], describe(s.code(), byte(s.inType())), snapshotVersion)
	}
	r := reader{b: b[3:], end: len(b)}
	var got Accumulator
	s.readState(&r, &got)
	if r.err != nil {
		return b, fmt.Errorf("%w: %s: %v", ErrCorrupt, describe(s.code(), byte(s.inType())), r.err)
	}
	*acc = got
	return r.b, nil
}

func mustSnapshotter(f Func) snapshotter {
	s, ok := f.(snapshotter)
	if !ok {
		panic(fmt.Sprintf("agg: %T is not an aggregate made by agg.New", f))
	}
	return s
}

var codeNames = [...]string{codeSum: "sum", codeMin: "min",
	codeMax: "max", codeAvg: "avg", codeDistinct: "count_distinct", codeApprox: "approx_count_distinct",
	codeFirst: "first", codeLast: "last"}

func describe(code, in byte) string {
	switch code {
	case codeCount:
		return "count()"
	case codeCountField:
		return "count(field)"
	}
	name := fmt.Sprintf("function#%d", code)
	if int(code) < len(codeNames) && codeNames[code] != "" {
		name = codeNames[code]
	}
	return fmt.Sprintf("%s(%s)", name, row.Type(in))
}

// reader decodes a snapshot; the first error sticks and later reads return zeros.
type reader struct {
	b   []byte
	end int // offset in the whole snapshot of the end of b
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.end-len(r.b), fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("%s: bad or truncated varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: bad or truncated uvarint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) count(what string) int64 {
	n := r.varint(what)
	if n < 0 {
		r.fail("%s: negative count %d", what, n)
		return 0
	}
	return n
}

func (r *reader) bytes(what string, n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("%s: %d bytes declared, %d left", what, n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u64(what string) uint64 {
	p := r.bytes(what, 8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (r *reader) float(what string) float64 { return math.Float64frombits(r.u64(what)) }

func (r *reader) str(what string) string {
	return string(r.bytes(what, r.uvarint(what+" length")))
}

func appendFloat(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendValue and readValue encode the value held by min, max, first and last.
func appendValue(dst []byte, t row.Type, acc *Accumulator) []byte {
	switch t {
	case row.TypeFloat:
		return appendFloat(dst, acc.F)
	case row.TypeString:
		return appendString(dst, acc.S)
	}
	return binary.AppendVarint(dst, acc.I)
}

func readValue(r *reader, t row.Type, acc *Accumulator) {
	switch t {
	case row.TypeFloat:
		acc.F = r.float("value")
	case row.TypeString:
		acc.S = r.str("value")
	case row.TypeBool:
		acc.I = r.varint("value")
		if acc.I != 0 && acc.I != 1 {
			r.fail("bool value %d", acc.I)
		}
	default:
		acc.I = r.varint("value")
	}
}

// count() and count(field).

func (count) code() byte       { return codeCount }
func (count) inType() row.Type { return row.TypeInvalid }
func (count) appendState(dst []byte, acc *Accumulator) []byte {
	return binary.AppendVarint(dst, acc.N)
}
func (count) readState(r *reader, acc *Accumulator) { acc.N = r.count("N") }

func (countField) code() byte       { return codeCountField }
func (countField) inType() row.Type { return row.TypeInvalid }
func (countField) appendState(dst []byte, acc *Accumulator) []byte {
	return binary.AppendVarint(dst, acc.N)
}
func (countField) readState(r *reader, acc *Accumulator) { acc.N = r.count("N") }

// sum and avg.

func (sumInt) code() byte                                        { return codeSum }
func (sumInt) inType() row.Type                                  { return row.TypeInt }
func (sumInt) appendState(dst []byte, acc *Accumulator) []byte   { return appendNI(dst, acc) }
func (sumInt) readState(r *reader, acc *Accumulator)             { readNI(r, acc) }
func (avgInt) code() byte                                        { return codeAvg }
func (avgInt) inType() row.Type                                  { return row.TypeInt }
func (avgInt) appendState(dst []byte, acc *Accumulator) []byte   { return appendNI(dst, acc) }
func (avgInt) readState(r *reader, acc *Accumulator)             { readNI(r, acc) }
func (sumFloat) code() byte                                      { return codeSum }
func (sumFloat) inType() row.Type                                { return row.TypeFloat }
func (sumFloat) appendState(dst []byte, acc *Accumulator) []byte { return appendNF(dst, acc) }
func (sumFloat) readState(r *reader, acc *Accumulator)           { readNF(r, acc) }
func (avgFloat) code() byte                                      { return codeAvg }
func (avgFloat) inType() row.Type                                { return row.TypeFloat }
func (avgFloat) appendState(dst []byte, acc *Accumulator) []byte { return appendNF(dst, acc) }
func (avgFloat) readState(r *reader, acc *Accumulator)           { readNF(r, acc) }

func appendNI(dst []byte, acc *Accumulator) []byte {
	return binary.AppendVarint(binary.AppendVarint(dst, acc.N), acc.I)
}

func readNI(r *reader, acc *Accumulator) {
	acc.N = r.count("N")
	acc.I = r.varint("sum")
}

func appendNF(dst []byte, acc *Accumulator) []byte {
	return appendFloat(binary.AppendVarint(dst, acc.N), acc.F)
}

func readNF(r *reader, acc *Accumulator) {
	acc.N = r.count("N")
	acc.F = r.float("sum")
}

// min and max.

func (e extreme) code() byte {
	if e.max {
		return codeMax
	}
	return codeMin
}
func (e extreme) inType() row.Type { return e.in }
func (e extreme) appendState(dst []byte, acc *Accumulator) []byte {
	dst = binary.AppendVarint(dst, acc.N)
	if acc.N == 0 {
		return dst
	}
	return appendValue(dst, e.in, acc)
}
func (e extreme) readState(r *reader, acc *Accumulator) {
	acc.N = r.count("N")
	if acc.N > 0 {
		readValue(r, e.in, acc)
		if e.in == row.TypeFloat && math.IsNaN(acc.F) {
			r.fail("%s holds NaN", e.Name())
		}
	}
}

// first and last.

func (p pick) code() byte {
	if p.last {
		return codeLast
	}
	return codeFirst
}
func (p pick) inType() row.Type { return p.in }
func (p pick) appendState(dst []byte, acc *Accumulator) []byte {
	dst = binary.AppendVarint(dst, acc.N)
	if acc.N == 0 {
		return dst
	}
	dst = binary.AppendVarint(binary.AppendVarint(dst, acc.T), acc.Seq)
	return appendValue(dst, p.in, acc)
}
func (p pick) readState(r *reader, acc *Accumulator) {
	acc.N = r.count("N")
	if acc.N > 0 {
		acc.T = r.varint("event time")
		acc.Seq = r.varint("seq")
		readValue(r, p.in, acc)
	}
}

// count_distinct.

func (distinct) code() byte         { return codeDistinct }
func (d distinct) inType() row.Type { return d.in }

func (d distinct) appendState(dst []byte, acc *Accumulator) []byte {
	dst = binary.AppendVarint(dst, acc.N)
	if d.in == row.TypeString {
		members := make([]string, 0, len(acc.Set))
		for s := range acc.Set {
			members = append(members, s)
		}
		slices.Sort(members)
		dst = binary.AppendUvarint(dst, uint64(len(members)))
		for _, s := range members {
			dst = appendString(dst, s)
		}
		return dst
	}
	keys := make([]uint64, 0, len(acc.Set64))
	for k := range acc.Set64 {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = binary.LittleEndian.AppendUint64(dst, k)
	}
	return dst
}

func (d distinct) readState(r *reader, acc *Accumulator) {
	acc.N = r.count("N")
	k := r.uvarint("set size")
	if r.err != nil {
		return
	}
	minSize := uint64(1) // a string member is at least its 1-byte length
	if d.in != row.TypeString {
		minSize = 8
	}
	if k > uint64(len(r.b))/minSize {
		r.fail("set of %d members cannot fit in %d bytes", k, len(r.b))
		return
	}
	if k > uint64(acc.N) {
		r.fail("set of %d members from %d values", k, acc.N)
		return
	}
	if k == 0 {
		return
	}
	if d.in == row.TypeString {
		acc.Set = make(map[string]struct{}, k)
		var prev []byte
		for i := uint64(0); i < k && r.err == nil; i++ {
			s := r.bytes("member", r.uvarint("member length"))
			if i > 0 && bytes.Compare(prev, s) >= 0 {
				r.fail("member %d out of order", i)
			}
			acc.Set[string(s)] = struct{}{}
			prev = s
		}
		return
	}
	acc.Set64 = make(map[uint64]struct{}, k)
	var prev uint64
	for i := uint64(0); i < k && r.err == nil; i++ {
		key := r.u64("member")
		if i > 0 && key <= prev {
			r.fail("member %d out of order", i)
		}
		if !validKey(d.in, key) {
			r.fail("member %d: %#x is not a %s key", i, key, d.in)
		}
		acc.Set64[key] = struct{}{}
		prev = key
	}
}

// validKey reports whether key64 can produce k for type t.
func validKey(t row.Type, k uint64) bool {
	switch t {
	case row.TypeBool:
		return k <= 1
	case row.TypeFloat:
		f := math.Float64frombits(k)
		return (f != 0 || k == 0) && (!math.IsNaN(f) || k == canonicalNaN)
	}
	return true
}

// approx_count_distinct.

func (approxDistinct) code() byte         { return codeApprox }
func (a approxDistinct) inType() row.Type { return a.in }

func (approxDistinct) appendState(dst []byte, acc *Accumulator) []byte {
	dst = binary.AppendVarint(dst, acc.N)
	if acc.HLL == nil {
		return append(dst, 0)
	}
	acc.HLL.Estimate() // drains the sketch's unordered buffer: the encoding becomes canonical
	dst = append(dst, 1, 0, 0, 0, 0)
	at := len(dst)
	dst, err := acc.HLL.AppendBinary(dst)
	if err != nil {
		// Only an uninitialised sketch fails to encode; Add and ReadAccumulator never make one.
		panic("agg: approx_count_distinct: " + err.Error())
	}
	binary.BigEndian.PutUint32(dst[at-4:at], uint32(len(dst)-at))
	return dst
}

func (approxDistinct) readState(r *reader, acc *Accumulator) {
	acc.N = r.count("N")
	flag := r.bytes("sketch flag", 1)
	if r.err != nil {
		return
	}
	switch {
	case flag[0] > 1:
		r.fail("sketch flag %d", flag[0])
	case (flag[0] == 1) != (acc.N > 0):
		r.fail("sketch present=%v with N=%d", flag[0] == 1, acc.N)
	}
	if r.err != nil || flag[0] == 0 {
		return
	}
	size := r.bytes("sketch length", 4)
	if r.err != nil {
		return
	}
	data := r.bytes("sketch", uint64(binary.BigEndian.Uint32(size)))
	if r.err != nil {
		return
	}
	if len(data) < 2 || data[1] != hllPrecision {
		r.fail("sketch is not of precision %d", hllPrecision)
		return
	}
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(data); err != nil {
		r.fail("%v", err)
		return
	}
	acc.HLL = sk
}
