package agg

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/glintstream/glint/row"
)

// ev is one input of an aggregate: a value with its event time and arrival sequence.
type ev struct {
	v      row.Value
	t, seq int64
}

// vals makes inputs with event time and seq equal to their position.
func vals(vs ...row.Value) []ev {
	e := make([]ev, len(vs))
	for i, v := range vs {
		e[i] = ev{v: v, t: int64(i), seq: int64(i)}
	}
	return e
}

var null = row.Null()

func mustNew(t testing.TB, fn string, in row.Type, hasArg bool) Func {
	t.Helper()
	f, err := New(fn, in, hasArg)
	if err != nil {
		t.Fatalf("New(%q, %v, %v): %v", fn, in, hasArg, err)
	}
	return f
}

func run(f Func, in []ev) *Accumulator {
	acc := new(Accumulator)
	for _, e := range in {
		f.Add(acc, e.v, e.t, e.seq)
	}
	return acc
}

// same reports whether two results of type t are the same value, telling -0 from +0.
func same(a, b row.Value, t row.Type) bool {
	if !a.Equal(b, t) {
		return false
	}
	if t == row.TypeFloat && !a.Null && math.Signbit(a.F) != math.Signbit(b.F) {
		return false
	}
	return true
}

func TestFunctions(t *testing.T) {
	I, F, S, B, T := row.Int, row.Float, row.String, row.Bool, row.Timestamp
	nan := math.NaN()
	negZero := math.Copysign(0, -1)
	cases := []struct {
		name   string
		fn     string
		in     row.Type
		hasArg bool
		input  []ev
		want   row.Value
		typ    row.Type
	}{
		{"count rows", "count", row.TypeInvalid, false, vals(I(1), null, I(3)), I(3), row.TypeInt},
		{"count rows none", "count", row.TypeInvalid, false, nil, I(0), row.TypeInt},
		{"count field skips nulls", "count", row.TypeString, true, vals(S("a"), null, S("")), I(2), row.TypeInt},
		{"count field none", "count", row.TypeFloat, true, vals(null), I(0), row.TypeInt},

		{"sum int", "sum", row.TypeInt, true, vals(I(1), I(-5), null, I(40)), I(36), row.TypeInt},
		{"sum int none", "sum", row.TypeInt, true, vals(null, null), null, row.TypeInt},
		{"sum int wraps", "sum", row.TypeInt, true, vals(I(math.MaxInt64), I(1)), I(math.MinInt64), row.TypeInt},
		{"sum float", "sum", row.TypeFloat, true, vals(F(1.5), null, F(2.25)), F(3.75), row.TypeFloat},
		{"sum float none", "sum", row.TypeFloat, true, nil, null, row.TypeFloat},
		{"sum float nan", "sum", row.TypeFloat, true, vals(F(1), F(nan)), F(nan), row.TypeFloat},

		{"avg int", "avg", row.TypeInt, true, vals(I(1), I(2), null, I(4)), F(7.0 / 3), row.TypeFloat},
		{"avg float", "avg", row.TypeFloat, true, vals(F(1), F(2)), F(1.5), row.TypeFloat},
		{"avg none", "avg", row.TypeInt, true, vals(null), null, row.TypeFloat},

		{"min int", "min", row.TypeInt, true, vals(I(3), null, I(-7), I(5)), I(-7), row.TypeInt},
		{"max int", "max", row.TypeInt, true, vals(I(3), null, I(-7), I(5)), I(5), row.TypeInt},
		{"min none", "min", row.TypeInt, true, vals(null), null, row.TypeInt},
		{"min float skips nan", "min", row.TypeFloat, true, vals(F(nan), F(2), F(-1.5), F(nan)), F(-1.5), row.TypeFloat},
		{"max float only nan", "max", row.TypeFloat, true, vals(F(nan)), null, row.TypeFloat},
		{"min float -0 before +0", "min", row.TypeFloat, true, vals(F(0), F(negZero), F(0)), F(negZero), row.TypeFloat},
		{"max float +0 after -0", "max", row.TypeFloat, true, vals(F(negZero), F(0), F(negZero)), F(0), row.TypeFloat},
		{"min string", "min", row.TypeString, true, vals(S("pear"), S("apple"), null, S("zoo")), S("apple"), row.TypeString},
		{"max string", "max", row.TypeString, true, vals(S("pear"), S("apple"), null, S("zoo")), S("zoo"), row.TypeString},
		{"min timestamp", "min", row.TypeTimestamp, true, vals(T(2000), T(1000), T(3000)), T(1000), row.TypeTimestamp},
		{"max timestamp", "max", row.TypeTimestamp, true, vals(T(2000), T(1000), T(3000)), T(3000), row.TypeTimestamp},

		{"count_distinct int", "count_distinct", row.TypeInt, true, vals(I(1), I(2), I(1), null, I(3), I(2)), I(3), row.TypeInt},
		{"count_distinct string", "count_distinct", row.TypeString, true, vals(S("a"), S("b"), S("a"), S(""), null), I(3), row.TypeInt},
		{"count_distinct float zeros and nans", "count_distinct", row.TypeFloat, true, vals(F(0), F(negZero), F(nan), F(math.Float64frombits(0x7ff8000000000123)), F(1)), I(3), row.TypeInt},
		{"count_distinct bool", "count_distinct", row.TypeBool, true, vals(B(true), B(false), row.Value{I: 7}, B(true)), I(2), row.TypeInt},
		{"count_distinct timestamp", "count_distinct", row.TypeTimestamp, true, vals(T(5), T(5), T(6)), I(2), row.TypeInt},
		{"count_distinct none", "count_distinct", row.TypeString, true, vals(null), I(0), row.TypeInt},

		{"approx small exact", "approx_count_distinct", row.TypeString, true, vals(S("a"), S("b"), S("a"), null, S("c")), I(3), row.TypeInt},
		{"approx ints", "approx_count_distinct", row.TypeInt, true, vals(I(1), I(1), I(2)), I(2), row.TypeInt},
		{"approx none", "approx_count_distinct", row.TypeInt, true, nil, I(0), row.TypeInt},

		{"first int", "first", row.TypeInt, true, vals(I(10), I(20), I(30)), I(10), row.TypeInt},
		{"last int", "last", row.TypeInt, true, vals(I(10), I(20), I(30)), I(30), row.TypeInt},
		{"first skips nulls", "first", row.TypeString, true, vals(null, S("x"), S("y")), S("x"), row.TypeString},
		{"last skips nulls", "last", row.TypeString, true, vals(S("x"), S("y"), null), S("y"), row.TypeString},
		{"first none", "first", row.TypeFloat, true, vals(null), null, row.TypeFloat},
		{"first by event time not arrival", "first", row.TypeString, true,
			[]ev{{S("late"), 500, 1}, {S("early"), 100, 2}, {S("mid"), 300, 3}}, S("early"), row.TypeString},
		{"last by event time not arrival", "last", row.TypeString, true,
			[]ev{{S("mid"), 300, 1}, {S("latest"), 900, 2}, {S("early"), 100, 3}}, S("latest"), row.TypeString},
		{"first tie broken by smallest seq", "first", row.TypeInt, true,
			[]ev{{I(2), 100, 7}, {I(1), 100, 3}, {I(3), 100, 9}}, I(1), row.TypeInt},
		{"last tie broken by largest seq", "last", row.TypeInt, true,
			[]ev{{I(2), 100, 7}, {I(3), 100, 9}, {I(1), 100, 3}}, I(3), row.TypeInt},
		{"first bool", "first", row.TypeBool, true, vals(B(true), B(false)), B(true), row.TypeBool},
		{"last timestamp", "last", row.TypeTimestamp, true, vals(T(7), T(3)), T(3), row.TypeTimestamp},
		{"last float", "last", row.TypeFloat, true, vals(F(1.5), F(-2.5)), F(-2.5), row.TypeFloat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mustNew(t, c.fn, c.in, c.hasArg)
			if f.Name() != c.fn {
				t.Errorf("Name() = %q, want %q", f.Name(), c.fn)
			}
			if f.ResultType() != c.typ {
				t.Errorf("ResultType() = %v, want %v", f.ResultType(), c.typ)
			}
			got := f.Result(run(f, c.input))
			if !same(got, c.want, c.typ) {
				t.Errorf("Result = %+v, want %+v", got, c.want)
			}
		})
	}
}

// Stored strings must not alias the input: the driver reuses its decode buffers.
func TestStringsAreCloned(t *testing.T) {
	for _, fn := range []string{"min", "max", "first", "last", "count_distinct"} {
		t.Run(fn, func(t *testing.T) {
			f := mustNew(t, fn, row.TypeString, true)
			buf := []byte("hello")
			acc := new(Accumulator)
			f.Add(acc, row.String(unsafeString(buf)), 1, 1)
			copy(buf, "jelly")
			if fn == "count_distinct" {
				if _, ok := acc.Set["hello"]; !ok {
					t.Fatalf("set %v lost the stored value after the input buffer changed", acc.Set)
				}
				return
			}
			if got := f.Result(acc).S; got != "hello" {
				t.Fatalf("result %q changed with the input buffer", got)
			}
		})
	}
}

func TestResultTypesFollowInput(t *testing.T) {
	for _, fn := range []string{"min", "max"} {
		for _, in := range []row.Type{row.TypeInt, row.TypeFloat, row.TypeString, row.TypeTimestamp} {
			if got := mustNew(t, fn, in, true).ResultType(); got != in {
				t.Errorf("%s(%v) result type %v", fn, in, got)
			}
		}
	}
	for _, fn := range []string{"first", "last"} {
		for _, in := range anyType {
			if got := mustNew(t, fn, in, true).ResultType(); got != in {
				t.Errorf("%s(%v) result type %v", fn, in, got)
			}
		}
	}
	for _, in := range anyType {
		for _, fn := range []string{"count", "count_distinct", "approx_count_distinct"} {
			if got := mustNew(t, fn, in, true).ResultType(); got != row.TypeInt {
				t.Errorf("%s(%v) result type %v", fn, in, got)
			}
		}
	}
	for in, want := range map[row.Type][2]row.Type{row.TypeInt: {row.TypeInt, row.TypeFloat}, row.TypeFloat: {row.TypeFloat, row.TypeFloat}} {
		if got := mustNew(t, "sum", in, true).ResultType(); got != want[0] {
			t.Errorf("sum(%v) result type %v", in, got)
		}
		if got := mustNew(t, "avg", in, true).ResultType(); got != want[1] {
			t.Errorf("avg(%v) result type %v", in, got)
		}
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		fn     string
		in     row.Type
		hasArg bool
		is     error
		says   []string
	}{
		{"summ", row.TypeInt, true, ErrUnknownFunc, []string{`"summ"`, `did you mean "sum"?`, "known: approx_count_distinct, avg, count"}},
		{"COUNT", row.TypeInvalid, false, ErrUnknownFunc, []string{`did you mean "count"?`}},
		{"count_distnct", row.TypeInt, true, ErrUnknownFunc, []string{`did you mean "count_distinct"?`}},
		{"median", row.TypeInt, true, ErrUnknownFunc, []string{`"median"`, "known:"}},
		{"sum", row.TypeString, true, ErrArgType, []string{"sum does not accept string", "it accepts int, float"}},
		{"avg", row.TypeTimestamp, true, ErrArgType, []string{"avg does not accept timestamp", "int, float"}},
		{"min", row.TypeBool, true, ErrArgType, []string{"min does not accept bool", "int, float, string, timestamp"}},
		{"first", row.TypeInvalid, true, ErrArgType, []string{"first does not accept invalid"}},
		{"sum", row.TypeInt, false, ErrArity, []string{"sum needs a field", "sum(field)"}},
		{"approx_count_distinct", row.TypeInvalid, false, ErrArity, []string{"approx_count_distinct(field)"}},
	}
	for _, c := range cases {
		f, err := New(c.fn, c.in, c.hasArg)
		if err == nil {
			t.Errorf("New(%q, %v, %v) = %v, want an error", c.fn, c.in, c.hasArg, f)
			continue
		}
		if !errors.Is(err, c.is) {
			t.Errorf("New(%q): %v is not %v", c.fn, err, c.is)
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("New(%q): %q does not say %q", c.fn, err, s)
			}
		}
	}
	if _, err := New("median", row.TypeInt, true); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("no close name, yet: %v", err)
	}
}

func TestNames(t *testing.T) {
	want := []string{"approx_count_distinct", "avg", "count", "count_distinct", "first", "last", "max", "min", "sum"}
	got := Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	got[0] = "x"
	if Names()[0] != want[0] {
		t.Fatal("Names() shares its slice")
	}
	for _, n := range want {
		in := row.TypeInt
		if _, err := New(n, in, true); err != nil {
			t.Errorf("listed name %q: %v", n, err)
		}
	}
}
