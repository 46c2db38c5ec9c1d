package agg

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMergeEqualsAddAll is the algebraic property session windows rely on: split an input any
// way, aggregate the parts separately, merge the parts in any order (some of them after a
// snapshot round trip), and the result is what adding the whole input gives.
func TestMergeEqualsAddAll(t *testing.T) {
	const seed = 20260918
	r := rand.New(rand.NewPCG(seed, 0))
	for _, c := range allConfigs() {
		f := mustNew(t, c.fn, c.in, c.hasArg)
		name := fmt.Sprintf("%s(%v)", c.fn, c.in)
		for iter := range 300 {
			input := genInput(r, c.in, r.IntN(60))
			whole := run(f, input)
			want := f.Result(whole)

			parts := make([]*Accumulator, 1+r.IntN(6))
			for i := range parts {
				parts[i] = new(Accumulator)
			}
			for _, e := range input {
				f.Add(parts[r.IntN(len(parts))], e.v, e.t, e.seq)
			}
			for len(parts) > 1 {
				i, j := r.IntN(len(parts)), r.IntN(len(parts)-1)
				if j >= i {
					j++
				}
				if r.IntN(3) == 0 {
					parts[j] = roundTrip(t, f, parts[j])
				}
				f.Merge(parts[i], parts[j])
				parts = append(parts[:j], parts[j+1:]...)
			}
			got := f.Result(parts[0])
			if !same(got, want, f.ResultType()) {
				t.Fatalf("%s seed %d iteration %d: merged %+v, added all %+v (input %v)", name, seed, iter, got, want, input)
			}
			if parts[0].N != whole.N {
				t.Fatalf("%s seed %d iteration %d: merged N %d, added all %d", name, seed, iter, parts[0].N, whole.N)
			}
		}
	}
}

// Merging into or from an empty accumulator changes nothing.
func TestMergeEmpty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, c := range allConfigs() {
		f := mustNew(t, c.fn, c.in, c.hasArg)
		input := genInput(r, c.in, 20)
		want := f.Result(run(f, input))

		a := run(f, input)
		f.Merge(a, new(Accumulator))
		if got := f.Result(a); !same(got, want, f.ResultType()) {
			t.Errorf("%s(%v): x+empty = %+v, want %+v", c.fn, c.in, got, want)
		}
		b := new(Accumulator)
		f.Merge(b, run(f, input))
		if got := f.Result(b); !same(got, want, f.ResultType()) {
			t.Errorf("%s(%v): empty+x = %+v, want %+v", c.fn, c.in, got, want)
		}
	}
}

func roundTrip(t testing.TB, f Func, acc *Accumulator) *Accumulator {
	t.Helper()
	b := AppendAccumulator(nil, f, acc)
	got := new(Accumulator)
	rest, err := ReadAccumulator(b, f, got)
	if err != nil {
		t.Fatalf("%s: reading its own snapshot %x: %v", f.Name(), b, err)
	}
	if len(rest) != 0 {
		t.Fatalf("%s: %d bytes left over", f.Name(), len(rest))
	}
	return got
}
