package agg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/axiomhq/hyperloglog"

	"github.com/glintstream/glint/row"
)

// equalState compares two accumulators member by member; sketches by their encoding after
// compaction (AppendBinary is canonical once the sparse buffer is drained).
func equalState(t testing.TB, a, b *Accumulator) bool {
	t.Helper()
	x, y := *a, *b
	x.HLL, y.HLL = nil, nil
	if len(x.Set) == 0 {
		x.Set = nil
	}
	if len(y.Set) == 0 {
		y.Set = nil
	}
	if len(x.Set64) == 0 {
		x.Set64 = nil
	}
	if len(y.Set64) == 0 {
		y.Set64 = nil
	}
	// Floats compare by bits: -0 and NaN payloads must survive.
	if math.Float64bits(x.F) != math.Float64bits(y.F) {
		return false
	}
	x.F, y.F = 0, 0
	if !reflect.DeepEqual(x, y) {
		return false
	}
	return bytes.Equal(sketchBytes(t, a.HLL), sketchBytes(t, b.HLL))
}

func sketchBytes(t testing.TB, sk *hyperloglog.Sketch) []byte {
	if sk == nil {
		return nil
	}
	sk.Estimate()
	b, err := sk.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapshotRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 3))
	for _, c := range allConfigs() {
		f := mustNew(t, c.fn, c.in, c.hasArg)
		for _, n := range []int{0, 1, 2, 5, 40, 3000} {
			acc := run(f, genInput(r, c.in, n))
			if c.fn == "approx_count_distinct" && n == 3000 {
				// Enough distinct values to turn the sketch dense.
				for i := range 20000 {
					f.Add(acc, distinctValue(c.in, i), 0, 0)
				}
			}
			b := AppendAccumulator([]byte("prefix"), f, acc)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("AppendAccumulator overwrote dst")
			}
			b = append(b, "tail"...)
			got := new(Accumulator)
			rest, err := ReadAccumulator(b[len("prefix"):], f, got)
			if err != nil {
				t.Fatalf("%s(%v) n=%d: %v", c.fn, c.in, n, err)
			}
			if string(rest) != "tail" {
				t.Fatalf("%s(%v) n=%d: rest %q, want \"tail\"", c.fn, c.in, n, rest)
			}
			if !equalState(t, acc, got) {
				t.Fatalf("%s(%v) n=%d: restored %+v, want %+v", c.fn, c.in, n, got, acc)
			}
			if a, b := f.Result(acc), f.Result(got); !same(a, b, f.ResultType()) {
				t.Fatalf("%s(%v) n=%d: restored result %+v, want %+v", c.fn, c.in, n, b, a)
			}
			// Deterministic: the same state encodes to the same bytes.
			again := AppendAccumulator(nil, f, got)
			if !bytes.Equal(again, b[len("prefix"):len(b)-len("tail")]) {
				t.Fatalf("%s(%v) n=%d: re-encoding differs:\n%x\n%x", c.fn, c.in, n, again, b)
			}
		}
	}
}

// distinctValue is the i-th of many distinct values of type t (bools have two).
func distinctValue(t row.Type, i int) row.Value {
	switch t {
	case row.TypeString:
		return row.String("user-" + strconv.Itoa(i))
	case row.TypeFloat:
		return row.Float(float64(i) + 0.5)
	case row.TypeBool:
		return row.Bool(i%2 == 0)
	}
	return row.Int(int64(i))
}

func TestSnapshotSequence(t *testing.T) {
	fs := []Func{mustNew(t, "sum", row.TypeInt, true), mustNew(t, "min", row.TypeString, true), mustNew(t, "count", 0, false)}
	accs := []*Accumulator{{N: 2, I: 9}, {N: 1, S: "kiwi"}, {N: 5}}
	var b []byte
	for i, f := range fs {
		b = AppendAccumulator(b, f, accs[i])
	}
	for i, f := range fs {
		var got Accumulator
		var err error
		if b, err = ReadAccumulator(b, f, &got); err != nil {
			t.Fatal(err)
		}
		if !equalState(t, &got, accs[i]) {
			t.Fatalf("accumulator %d: %+v, want %+v", i, got, *accs[i])
		}
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
}

// Every proper prefix of a snapshot is an error, never a different state.
func TestSnapshotTruncated(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, c := range allConfigs() {
		f := mustNew(t, c.fn, c.in, c.hasArg)
		for _, n := range []int{0, 30} {
			b := AppendAccumulator(nil, f, run(f, genInput(r, c.in, n)))
			for i := range len(b) {
				before := Accumulator{N: 42}
				acc := before
				rest, err := ReadAccumulator(b[:i], f, &acc)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s(%v): prefix %d of %d: err %v, rest %x", c.fn, c.in, i, len(b), err, rest)
				}
				if !reflect.DeepEqual(acc, before) {
					t.Fatalf("%s(%v): failed read changed the accumulator to %+v", c.fn, c.in, acc)
				}
			}
		}
	}
}

func TestSnapshotIncompatible(t *testing.T) {
	sumInt := mustNew(t, "sum", row.TypeInt, true)
	b := AppendAccumulator(nil, sumInt, &Accumulator{N: 1, I: 3})
	for _, other := range []Func{
		mustNew(t, "sum", row.TypeFloat, true),
		mustNew(t, "avg", row.TypeInt, true),
		mustNew(t, "count", 0, false),
	} {
		_, err := ReadAccumulator(b, other, new(Accumulator))
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "sum(int)") {
			t.Errorf("reading sum(int) as %s: %v", other.Name(), err)
		}
	}
	v2 := append([]byte{2}, b[1:]...)
	if _, err := ReadAccumulator(v2, sumInt, new(Accumulator)); !errors.Is(err, ErrIncompatible) {
		t.Errorf("version 2: %v", err)
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	hdr := func(f Func) []byte { return AppendAccumulator(nil, f, new(Accumulator))[:3] }
	v := binary.AppendVarint
	u := binary.AppendUvarint
	le := binary.LittleEndian.AppendUint64
	sumI := mustNew(t, "sum", row.TypeInt, true)
	minF := mustNew(t, "min", row.TypeFloat, true)
	firstB := mustNew(t, "first", row.TypeBool, true)
	cdI := mustNew(t, "count_distinct", row.TypeInt, true)
	cdS := mustNew(t, "count_distinct", row.TypeString, true)
	cdF := mustNew(t, "count_distinct", row.TypeFloat, true)
	cdB := mustNew(t, "count_distinct", row.TypeBool, true)
	apx := mustNew(t, "approx_count_distinct", row.TypeInt, true)

	sk16 := hyperloglog.New16()
	sk16.Insert([]byte("x"))
	b16, _ := sk16.MarshalBinary()
	sk14 := hyperloglog.New14()
	sk14.Insert([]byte("x"))
	b14, _ := sk14.MarshalBinary()
	withLen := func(p []byte) []byte { return append(binary.BigEndian.AppendUint32([]byte{1}, uint32(len(p))), p...) }

	cases := []struct {
		name string
		f    Func
		b    []byte
		says string
	}{
		{"negative N", sumI, v(v(hdr(sumI), -1), 0), "negative count"},
		{"overlong varint", sumI, append(hdr(sumI), bytes.Repeat([]byte{0xff}, 11)...), "bad or truncated varint"},
		{"NaN min", minF, le(v(hdr(minF), 1), math.Float64bits(math.NaN())), "holds NaN"},
		{"bool 2", firstB, v(v(v(v(hdr(firstB), 1), 0), 0), 2), "bool value 2"},
		{"set out of order", cdI, le(le(u(v(hdr(cdI), 2), 2), 5), 4), "out of order"},
		{"set duplicate", cdI, le(le(u(v(hdr(cdI), 2), 2), 5), 5), "out of order"},
		{"set larger than N", cdI, le(u(v(hdr(cdI), 0), 1), 5), "from 0 values"},
		{"set size beyond input", cdI, u(v(hdr(cdI), 1<<40), 1<<40), "cannot fit"},
		{"string set out of order", cdS, append(u(append(u(u(v(hdr(cdS), 2), 2), 1), 'b'), 1), 'a'), "out of order"},
		{"string longer than input", cdS, u(u(v(hdr(cdS), 1), 1), 100), "declared"},
		{"float -0 key", cdF, le(u(v(hdr(cdF), 1), 1), math.Float64bits(math.Copysign(0, -1))), "not a float key"},
		{"float other NaN key", cdF, le(u(v(hdr(cdF), 1), 1), 0x7ff8000000000123), "not a float key"},
		{"bool key 2", cdB, le(u(v(hdr(cdB), 1), 1), 2), "not a bool key"},
		{"sketch flag 2", apx, append(v(hdr(apx), 1), 2), "sketch flag 2"},
		{"sketch missing", apx, append(v(hdr(apx), 1), 0), "sketch present=false"},
		{"sketch without values", apx, append(v(hdr(apx), 0), withLen(b14)...), "sketch present=true"},
		{"sketch precision 16", apx, append(v(hdr(apx), 1), withLen(b16)...), "precision 14"},
		{"sketch garbage", apx, append(v(hdr(apx), 1), withLen(append([]byte{2, 14}, 9, 9, 9, 9, 9, 9, 9))...), "hyperloglog"},
		{"sketch length beyond input", apx, binary.BigEndian.AppendUint32(append(v(hdr(apx), 1), 1), 1<<31), "declared"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadAccumulator(c.b, c.f, new(Accumulator))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v, want ErrCorrupt saying %q", err, c.says)
			}
		})
	}
}

func TestSnapshotForeignFuncPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a Func not made by New")
		}
	}()
	AppendAccumulator(nil, foreign{}, new(Accumulator))
}

type foreign struct{}

func (foreign) Name() string                              { return "foreign" }
func (foreign) ResultType() row.Type                      { return row.TypeInt }
func (foreign) Add(*Accumulator, row.Value, int64, int64) {}
func (foreign) Merge(_, _ *Accumulator)                   {}
func (foreign) Result(*Accumulator) row.Value             { return row.Int(0) }

func FuzzReadAccumulator(f *testing.F) {
	funcs := fuzzFuncs(f)
	r := rand.New(rand.NewPCG(1, 2))
	for i, fn := range funcs {
		c := allConfigs()[i]
		for _, n := range []int{0, 3, 25} {
			f.Add(byte(i), AppendAccumulator(nil, fn, run(fn, genInput(r, c.in, n))))
		}
	}
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		i := int(which) % len(funcs)
		fn := funcs[i]
		var acc Accumulator
		rest, err := ReadAccumulator(b, fn, &acc)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrIncompatible) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if len(rest) > len(b) {
			t.Fatal("rest longer than input")
		}
		// What was accepted must be a usable state whose encoding is stable.
		b2 := AppendAccumulator(nil, fn, &acc)
		var acc2 Accumulator
		if _, err := ReadAccumulator(b2, fn, &acc2); err != nil {
			t.Fatalf("re-encoded snapshot %x does not read: %v", b2, err)
		}
		if b3 := AppendAccumulator(nil, fn, &acc2); !bytes.Equal(b2, b3) {
			t.Fatalf("encoding not stable:\n%x\n%x", b2, b3)
		}
		other := new(Accumulator)
		fn.Add(other, genValue(rand.New(rand.NewPCG(uint64(len(b)), 0)), allConfigs()[i].in, 5), 1, 1)
		fn.Merge(&acc2, other)
		_ = fn.Result(&acc2)
	})
}

// fuzzFuncs returns a Func for every entry of allConfigs, in order.
func fuzzFuncs(t testing.TB) []Func {
	var fs []Func
	for _, c := range allConfigs() {
		fs = append(fs, mustNew(t, c.fn, c.in, c.hasArg))
	}
	return fs
}
