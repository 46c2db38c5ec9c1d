package expr

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/glintstream/glint/row"
)

func TestComputeInference(t *testing.T) {
	base := mkRow()
	cases := []struct {
		src  string
		typ  row.Type
		want row.Value
	}{
		{`amount`, row.TypeInt, row.Int(500)},
		{`amount + qty`, row.TypeInt, row.Int(504)},
		{`amount * 2 - 1`, row.TypeInt, row.Int(999)},
		{`amount % 7`, row.TypeInt, row.Int(3)},
		{`len(user)`, row.TypeInt, row.Int(5)},
		{`int(price)`, row.TypeInt, row.Int(2)},
		{`ts.UnixMilli()`, row.TypeInt, row.Int(ts0)},
		{`(ts - date("2024-03-01")).Milliseconds()`, row.TypeInt, row.Int(ts0 - time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli())},
		{`price`, row.TypeFloat, row.Float(2.5)},
		{`price * qty`, row.TypeFloat, row.Float(10)},
		{`amount / qty`, row.TypeFloat, row.Float(125)},
		{`float(amount)`, row.TypeFloat, row.Float(500)},
		{`user`, row.TypeString, row.String("alice")},
		{`upper(user) + "!"`, row.TypeString, row.String("ALICE!")},
		{`string(amount)`, row.TypeString, row.String("500")},
		{`ts.Format("2006-01-02")`, row.TypeString, row.String("2024-03-01")},
		{`paid`, row.TypeBool, row.Bool(true)},
		{`amount > 100 && paid`, row.TypeBool, row.Bool(true)},
		{`ts`, row.TypeTimestamp, row.Timestamp(ts0)},
		{`ts + duration("1h")`, row.TypeTimestamp, row.Timestamp(ts0 + 3600_000)},
		{`ts.Truncate(duration("1h"))`, row.TypeTimestamp, row.Timestamp(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC).UnixMilli())},
		{`date("2024-01-01T00:00:00Z")`, row.TypeTimestamp, row.Timestamp(1704067200000)},
		{`ts.Add(duration("1.5ms"))`, row.TypeTimestamp, row.Timestamp(ts0 + 1)}, // truncated to ms
	}
	for _, c := range cases {
		cp, err := CompileCompute(c.src, schema, row.TypeInvalid)
		if err != nil {
			t.Errorf("CompileCompute(%q): %v", c.src, err)
			continue
		}
		if cp.Type() != c.typ {
			t.Errorf("%q: inferred %v, want %v", c.src, cp.Type(), c.typ)
		}
		got, err := cp.Eval(base)
		if err != nil || got != c.want {
			t.Errorf("%q = %+v, %v; want %+v", c.src, got, err, c.want)
		}
	}
}

func TestComputeDeclaredType(t *testing.T) {
	base := mkRow()
	cases := []struct {
		src  string
		typ  row.Type
		r    row.Row
		want row.Value
	}{
		{`amount`, row.TypeFloat, base, row.Float(500)},
		{`amount * 1000`, row.TypeTimestamp, base, row.Timestamp(500_000)},
		{`paid ? amount : 0`, row.TypeInt, base, row.Int(500)},
		{`paid ? price : 1`, row.TypeFloat, with(base, "paid", row.Bool(false)), row.Float(1)},
		{`amount ?? 0`, row.TypeInt, with(base, "amount", row.Null()), row.Int(0)},
		{`amount`, row.TypeInt, with(base, "amount", row.Null()), row.Null()},
		{`paid ? user : nil`, row.TypeString, with(base, "paid", row.Bool(false)), row.Null()},
		{`fromJSON(user).n`, row.TypeFloat, with(base, "user", row.String(`{"n": 1.5}`)), row.Float(1.5)},
		{`fromJSON(user).s`, row.TypeString, with(base, "user", row.String(`{"s": "x"}`)), row.String("x")},
		{`ts`, row.TypeTimestamp, base, row.Timestamp(ts0)},
	}
	for _, c := range cases {
		cp, err := CompileCompute(c.src, schema, c.typ)
		if err != nil {
			t.Errorf("CompileCompute(%q, %v): %v", c.src, c.typ, err)
			continue
		}
		if cp.Type() != c.typ {
			t.Errorf("%q: type %v, want %v", c.src, cp.Type(), c.typ)
		}
		got, err := cp.Eval(c.r)
		if err != nil || got != c.want {
			t.Errorf("%q as %v = %+v, %v; want %+v", c.src, c.typ, got, err, c.want)
		}
	}
}

func TestComputeTypeErrors(t *testing.T) {
	cases := []struct {
		src  string
		typ  row.Type
		says string
	}{
		{`price`, row.TypeInt, "the expression is float (float64), the column is int"},
		{`user`, row.TypeInt, "the expression is string"},
		{`amount`, row.TypeString, "the expression is int (int64), the column is string"},
		{`ts`, row.TypeInt, "the expression is timestamp"},
		{`amount > 1`, row.TypeFloat, "the expression is bool"},
		{`ts - ts`, row.TypeInvalid, "time.Duration; a column needs a number, such as (a - b).Milliseconds()"},
		{`ts - ts`, row.TypeInt, "time.Duration"},
		{`[1, 2]`, row.TypeInvalid, "which no column can hold"},
		{`{a: 1}`, row.TypeString, "which no column can hold"},
		{`paid ? 1 : 2.5`, row.TypeInvalid, "cannot infer the column type"},
		{`fromJSON(user)`, row.TypeInvalid, "declare the column type"},
		{`nil`, row.TypeInvalid, "cannot infer"},
		{`amount`, row.Type(42), "unknown column type"},
	}
	for _, c := range cases {
		_, err := CompileCompute(c.src, schema, c.typ)
		var ce *CompileError
		if !errors.As(err, &ce) || !errors.Is(err, ErrType) || !strings.Contains(err.Error(), c.says) || ce.Expr != c.src {
			t.Errorf("CompileCompute(%q, %v): %v; want ErrType saying %q", c.src, c.typ, err, c.says)
		}
	}
	// Names and syntax are checked as for filters.
	if _, err := CompileCompute(`amout * 2`, schema, row.TypeInvalid); !errors.Is(err, ErrUnknownName) || !strings.Contains(err.Error(), `did you mean "amount"?`) {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := CompileCompute(`now()`, schema, row.TypeTimestamp); !errors.Is(err, ErrNondeterministic) {
		t.Errorf("now(): %v", err)
	}
}

func TestComputeRuntimeErrors(t *testing.T) {
	base := mkRow()
	cases := []struct {
		src  string
		typ  row.Type
		r    row.Row
		is   error
		says string
	}{
		{`amount / qty`, row.TypeInvalid, with(base, "qty", row.Int(0)), ErrDivisionByZero, "division by zero"},
		{`price / (qty - 4)`, row.TypeInvalid, base, ErrDivisionByZero, "division by zero"},
		{`amount % (qty - 4)`, row.TypeInvalid, base, ErrDivisionByZero, "division by zero"},
		{`amount + 1`, row.TypeInvalid, with(base, "amount", row.Null()), ErrEval, "null fields: amount"},
		{`fromJSON(user).n`, row.TypeInt, with(base, "user", row.String(`{"n": "x"}`)), ErrEval, "result is string (x), the column is int"},
		{`fromJSON(user).n`, row.TypeInt, with(base, "user", row.String(`{"n": 1.5}`)), ErrEval, "result is float64 (1.5), the column is int"},
		{`paid ? ts - ts : 1`, row.TypeInt, base, ErrEval, "result is time.Duration"},
	}
	for _, c := range cases {
		cp, err := CompileCompute(c.src, schema, c.typ)
		if err != nil {
			t.Errorf("CompileCompute(%q): %v", c.src, err)
			continue
		}
		v, err := cp.Eval(c.r)
		var ee *EvalError
		if !errors.As(err, &ee) || !errors.Is(err, ErrEval) || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) || ee.Expr != c.src {
			t.Errorf("%q on %v = %+v, %v; want %v saying %q", c.src, c.r, v, err, c.is, c.says)
		}
	}
}

func TestComputeFloatSpecials(t *testing.T) {
	cp, err := CompileCompute(`price * 1e308 * 10`, schema, row.TypeInvalid)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cp.Eval(mkRow())
	if err != nil || !math.IsInf(v.F, 1) {
		t.Errorf("overflow = %+v, %v; want +Inf (only division by zero is an error)", v, err)
	}
}

func TestComputeClone(t *testing.T) {
	a, err := CompileCompute(`user + ":" + string(amount)`, schema, row.TypeInvalid)
	if err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	if b.Type() != a.Type() || b.String() != a.String() {
		t.Fatal("clone differs")
	}
	r1 := mkRow()
	r2 := with(with(r1, "user", row.String("bob")), "amount", row.Int(7))
	for range 3 {
		va, _ := a.Eval(r1)
		vb, _ := b.Eval(r2)
		if va.S != "alice:500" || vb.S != "bob:7" {
			t.Fatalf("interleaved clones: %q, %q", va.S, vb.S)
		}
	}
}
