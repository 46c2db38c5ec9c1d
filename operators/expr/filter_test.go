package expr

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/glintstream/glint/row"
)

func TestFilterKeep(t *testing.T) {
	base := mkRow()
	cases := []struct {
		src  string
		r    row.Row
		want bool
	}{
		{`amount > 100`, base, true},
		{`amount > 500`, base, false},
		{`amount >= 500 && user == "alice"`, base, true},
		{`user != "alice" || qty == 4`, base, true},
		{`price * qty == 10.0`, base, true},
		{`price > 2`, base, true},
		{`amount + 1 == 501`, base, true},
		{`amount / qty == 125.0`, base, true},
		{`amount % 7 == 3`, base, true},
		{`paid`, base, true},
		{`!paid`, with(base, "paid", row.Bool(false)), true},
		{`user in ["bob", "alice"]`, base, true},
		{`user matches "^al"`, base, true},
		{`hasPrefix(user, "al") and len(user) == 5`, base, true},
		{`upper(user) == "ALICE"`, base, true},
		{`ts > date("2024-03-01T09:00:00Z")`, base, true},
		{`ts < date("2024-03-01")`, base, false},
		{`ts.Hour() == 9 && ts.Minute() == 30`, base, true},
		{`ts.UnixMilli() == 1709285400250`, base, true},
		{`ts - date("2024-03-01T09:00:00Z") > duration("29m")`, base, true},
		{`ts.In(timezone("Europe/Berlin")).Hour() == 10`, base, true},
		{`$env["amount"] == 500`, base, true},
		{`let total = price * qty; total > 5`, base, true},
		{`amount == nil`, with(base, "amount", row.Null()), true},
		{`amount == nil`, base, false},
		{`(amount ?? 0) > 100`, with(base, "amount", row.Null()), false},
		{`amount != nil && amount > 100`, with(base, "amount", row.Null()), false},
		{`user == ""`, with(base, "user", row.String("")), true},
		{`amount > 255`, with(base, "amount", row.Int(-1<<62)), false},
	}
	for _, c := range cases {
		f, err := CompileFilter(c.src, schema)
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", c.src, err)
			continue
		}
		got, err := f.Keep(c.r)
		if err != nil || got != c.want {
			t.Errorf("%q on %v = %v, %v; want %v", c.src, c.r, got, err, c.want)
		}
	}
}

func TestFilterFields(t *testing.T) {
	for src, want := range map[string][]string{
		`amount > 1`:                        {"amount"},
		`qty > 1 && user == "x"`:            {"user", "qty"},
		`let u = 1; u > 0`:                  nil,
		`true`:                              nil,
		`$env["qty"] > 1`:                   schema.Names(),
		`any([1, 2], {# > amount}) || paid`: {"amount", "paid"},
	} {
		f, err := CompileFilter(src, schema)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := f.Fields(); !slices.Equal(got, want) {
			t.Errorf("%q reads %v, want %v", src, got, want)
		}
		if f.String() != src {
			t.Errorf("String() = %q", f.String())
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src  string
		kind error
		line int
		col  int
		says []string
	}{
		{`amout > 100`, ErrUnknownName, 1, 1, []string{`unknown name "amout"`, "fields: user, amount, price, paid, ts, qty", `did you mean "amount"?`}},
		{`price > 1 && Paid`, ErrUnknownName, 1, 14, []string{`unknown name "Paid"`, `did you mean "paid"?`}},
		{`zzz == 1`, ErrUnknownName, 1, 1, []string{`unknown name "zzz"`, "fields: user"}},
		{`upperr(user) == "A"`, ErrUnknownName, 1, 1, []string{`did you mean "upper"?`}},
		// The expr checker does not look at the arguments of methods; the bytecode check does.
		{`ts.Sub(tss) > duration("1s")`, ErrUnknownName, 1, 8, []string{`unknown name "tss"`, `did you mean "ts"?`}},
		{`ts.Add(duration("1s")).After(tss)`, ErrUnknownName, 1, 30, []string{`unknown name "tss"`}},
		{`amount + 1`, ErrType, 0, 0, []string{"a filter must be a boolean expression", "expected bool, but got int"}},
		{`user`, ErrType, 0, 0, []string{"boolean", "got string"}},
		{`user > 1`, ErrType, 1, 6, []string{"invalid operation: > (mismatched types string and int)"}},
		{`ts > 5`, ErrType, 1, 4, []string{"mismatched types time.Time and int"}},
		{`amount >`, ErrSyntax, 1, 8, []string{"unexpected token EOF"}},
		{`(amount > 1`, ErrSyntax, 1, 11, []string{"unexpected token EOF"}},
		{`amount > 1 )`, ErrSyntax, 1, 12, []string{"unexpected token"}},
		{`ts > now()`, ErrNondeterministic, 1, 6, []string{"now() is not available", "wall clock"}},
		{`now().Year() > 2000`, ErrNondeterministic, 1, 1, []string{"now() is not available"}},
		{`ts.Local().Hour() == 9`, ErrNondeterministic, 1, 4, []string{"Local() depends on the machine's time zone"}},
		{`ts.In(timezone("Local")).Hour() == 9`, ErrNondeterministic, 1, 16, []string{"Local time zone"}},
		{`ts.In(timezone(user)).Hour() == 9`, ErrNondeterministic, 1, 16, []string{"constant string"}},
		{`ts > date("2024-01-01 10:00", "2006-01-02 15:04", "Local")`, ErrNondeterministic, 1, 51, []string{"Local time zone"}},
		{`len(keys({a: 1})) == 1`, ErrNondeterministic, 1, 5, []string{"keys() is not available", "random order"}},
		{`len(values({a: 1})) == 1`, ErrNondeterministic, 1, 5, []string{"values() is not available"}},
		{`len(toPairs({a: 1})) == 1`, ErrNondeterministic, 1, 5, []string{"toPairs() is not available"}},
		{`amount / 0 > 1`, ErrDivisionByZero, 1, 10, []string{"division by zero"}},
		{`amount % 0 == 1`, ErrDivisionByZero, 1, 10, []string{"division by zero"}},
		{`price / 0.0 > 1`, ErrDivisionByZero, 1, 9, []string{"division by zero"}},
		{`ts > date("yesterday")`, ErrType, 1, 6, []string{"date: invalid date yesterday"}},
		{`ts - ts > duration("5 minutes")`, ErrType, 1, 11, []string{"duration:"}},
	}
	for _, c := range cases {
		f, err := CompileFilter(c.src, schema)
		if err == nil {
			t.Errorf("CompileFilter(%q) = %v, want an error", c.src, f)
			continue
		}
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%q: %T is not a *CompileError", c.src, err)
			continue
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("%q: %v is not %v", c.src, err, c.kind)
		}
		if ce.Expr != c.src || !strings.Contains(err.Error(), strconv.Quote(c.src)) {
			t.Errorf("%q: error %q does not hold the expression", c.src, err)
		}
		if ce.Line != c.line || ce.Column != c.col {
			t.Errorf("%q: position %d:%d, want %d:%d (%v)", c.src, ce.Line, ce.Column, c.line, c.col, err)
		}
		if c.line > 0 && (!strings.Contains(err.Error(), "(at ") || !strings.Contains(ce.Snippet, "^")) {
			t.Errorf("%q: no position in %q / snippet %q", c.src, err, ce.Snippet)
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q: %q does not say %q", c.src, err, s)
			}
		}
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	bad := row.Schema{Fields: []row.Field{{Name: "a", Type: row.TypeInvalid}}}
	if _, err := CompileFilter(`true`, bad); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), `field "a" has type invalid`) {
		t.Errorf("invalid field type: %v", err)
	}
	dup := row.Schema{Fields: []row.Field{{Name: "a", Type: row.TypeInt}, {Name: "a", Type: row.TypeString}}}
	if _, err := CompileFilter(`true`, dup); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate field: %v", err)
	}
	if _, err := CompileFilter(`x > 1`, row.Schema{}); !strings.Contains(err.Error(), "the input has no fields") {
		t.Errorf("empty schema: %v", err)
	}
}

func TestRuntimeErrors(t *testing.T) {
	base := mkRow()
	cases := []struct {
		src   string
		r     row.Row
		is    error
		says  string
		col   int
		nulls []string
	}{
		{`amount / qty > 1`, with(base, "qty", row.Int(0)), ErrDivisionByZero, "division by zero", 8, nil},
		{`amount % qty == 1`, with(base, "qty", row.Int(0)), ErrDivisionByZero, "division by zero", 8, nil},
		{`price / (price - 2.5) > 1`, base, ErrDivisionByZero, "division by zero", 7, nil},
		{`1 + amount / (qty - 4) > 1`, base, ErrDivisionByZero, "division by zero", 12, nil},
		{`amount / qty > 1`, with(base, "qty", row.Null()), ErrEval, "division by null", 8, []string{"qty"}},
		{`amount > 100`, with(base, "amount", row.Null()), ErrEval, "invalid operation", 8, []string{"amount"}},
		{`user + "x" == "y"`, with(with(base, "user", row.Null()), "qty", row.Null()), ErrEval, "invalid operation", 6, []string{"user"}},
		{`fromJSON(user).ok`, with(base, "user", row.String(`{"ok": 1}`)), ErrEval, "invalid operation: bool(float64)", 0, nil},
		{`int(user) > 1`, base, ErrEval, "invalid operation: int(alice)", 0, nil},
	}
	for _, c := range cases {
		f, err := CompileFilter(c.src, schema)
		if err != nil {
			t.Errorf("CompileFilter(%q): %v", c.src, err)
			continue
		}
		keep, err := f.Keep(c.r)
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Errorf("%q: Keep = %v, %v; want an *EvalError", c.src, keep, err)
			continue
		}
		if !errors.Is(err, ErrEval) || !errors.Is(err, c.is) {
			t.Errorf("%q: %v is not ErrEval and %v", c.src, err, c.is)
		}
		if ee.Expr != c.src || !strings.Contains(err.Error(), strconv.Quote(c.src)) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: %q lacks the expression or %q", c.src, err, c.says)
		}
		if c.col > 0 && (ee.Line != 1 || ee.Column != c.col) {
			t.Errorf("%q: position %d:%d, want 1:%d", c.src, ee.Line, ee.Column, c.col)
		}
		if !slices.Equal(ee.NullFields, c.nulls) {
			t.Errorf("%q: null fields %v, want %v", c.src, ee.NullFields, c.nulls)
		}
	}
	// A filter keeps working after a failure.
	f, _ := CompileFilter(`amount / qty > 100`, schema)
	if _, err := f.Keep(with(base, "qty", row.Int(0))); !errors.Is(err, ErrDivisionByZero) {
		t.Errorf("qty 0: %v", err)
	}
	if keep, err := f.Keep(base); !keep || err != nil {
		t.Errorf("after a failure: %v, %v", keep, err)
	}
	if _, err := f.Keep(base[:3]); !errors.Is(err, ErrEval) || !strings.Contains(err.Error(), "row has 3 values, the schema 6 fields") {
		t.Errorf("short row: %v", err)
	}
}

// The environment caches boxed values between rows; a stream of rows where fields change,
// repeat, turn null and back must give what a fresh filter gives on each row.
func TestFilterRebindsChangedFields(t *testing.T) {
	base := mkRow()
	stream := []row.Row{
		base,
		base,
		with(base, "amount", row.Int(100)),
		with(base, "amount", row.Null()),
		with(base, "amount", row.Int(100)),
		with(base, "amount", row.Int(1000)),
		with(base, "amount", row.Int(0)),
		with(base, "amount", row.Null()), // zero-valued, yet null
		with(base, "amount", row.Int(0)),
		with(base, "user", row.String("bob")),
		with(base, "user", row.Null()),
		with(base, "user", row.String("bob")),
		with(base, "paid", row.Bool(false)),
		with(base, "paid", row.Null()),
		with(base, "paid", row.Value{I: 2}), // true, however written
		with(base, "ts", row.Timestamp(ts0-1000)),
		with(base, "ts", row.Null()),
		with(base, "price", row.Float(0)),
		with(base, "price", row.Float(math.Copysign(0, -1))),
		with(base, "price", row.Float(0)),
		base,
	}
	for _, src := range []string{
		`(amount ?? -1) * qty > 1000`,
		`amount == nil`,
		`(user ?? "") == "bob"`,
		`paid ?? false`,
		`(ts ?? date("2000-01-01")) > date("2024-03-01T09:30:00.100Z")`,
		`string(price) == "-0"`,
	} {
		f, err := CompileFilter(src, schema)
		if err != nil {
			t.Fatal(err)
		}
		changes := 0
		var prev bool
		for i, r := range stream {
			got, err := f.Keep(r)
			fresh, _ := CompileFilter(src, schema)
			want, werr := fresh.Keep(r)
			if got != want || err != nil || werr != nil {
				t.Errorf("%q row %d %v: %v, %v; fresh filter: %v, %v", src, i, r, got, err, want, werr)
			}
			if i > 0 && want != prev {
				changes++
			}
			prev = want
		}
		if changes < 2 {
			t.Errorf("%q: the stream changes the result only %d times; the test needs rows that flip it", src, changes)
		}
	}
}

// Strings may alias a buffer the driver overwrites with the next record.
func TestFilterAliasedStrings(t *testing.T) {
	f, err := CompileFilter(`user == "alice"`, schema)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("alice")
	r := with(mkRow(), "user", row.String(unsafeString(buf)))
	for i, next := range []string{"alice", "bobby", "bobby", "alice", "alicf", "alice"} {
		copy(buf, next)
		got, err := f.Keep(r)
		if err != nil || got != (next == "alice") {
			t.Errorf("step %d buffer %q: %v, %v", i, next, got, err)
		}
	}
}

func TestFilterClone(t *testing.T) {
	f, err := CompileFilter(`amount > 1000`, schema)
	if err != nil {
		t.Fatal(err)
	}
	base := mkRow()
	g := f.Clone()
	if g.String() != f.String() || !slices.Equal(g.Fields(), f.Fields()) {
		t.Fatal("clone differs")
	}
	var wg sync.WaitGroup
	for w, flt := range []*Filter{f, g, f.Clone(), g.Clone()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				amount := int64(w*1000 + i)
				got, err := flt.Keep(with(base, "amount", row.Int(amount)))
				if err != nil || got != (amount > 1000) {
					t.Errorf("worker %d amount %d: %v, %v", w, amount, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestFieldNamesThatAreNotIdentifiers(t *testing.T) {
	s := row.Schema{Fields: []row.Field{{Name: "user-id", Type: row.TypeString}, {Name: "n", Type: row.TypeInt}}}
	f, err := CompileFilter(`$env["user-id"] == "u1" && n > 1`, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    row.Row
		want bool
	}{
		{row.Row{row.String("u1"), row.Int(2)}, true},
		{row.Row{row.String("u2"), row.Int(2)}, false},
		{row.Row{row.String("u1"), row.Int(1)}, false},
	} {
		if got, err := f.Keep(c.r); err != nil || got != c.want {
			t.Errorf("%v: %v, %v; want %v", c.r, got, err, c.want)
		}
	}
	if got := f.Fields(); !slices.Equal(got, []string{"user-id", "n"}) {
		t.Errorf("Fields() = %v", got)
	}
}
