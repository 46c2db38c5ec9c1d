package expr

import (
	"fmt"
	"reflect"
	"time"

	"github.com/glintstream/glint/row"
)

// Compute is a compiled expression that computes a column from rows of one schema. It is not
// safe for concurrent use: it reuses its environment and VM between calls. Clone it for another
// task.
type Compute struct {
	p *program
	t row.Type
	b binder
}

// CompileCompute compiles src over the fields of in, for a column of type want. With want ==
// row.TypeInvalid the type is inferred from the expression's static type: bool, string, any
// integer type (int), float64 (float), time.Time (timestamp); a dynamically typed expression
// (such as x > 0 ? 1 : 2.5, or fromJSON(s).n) then needs a declared type. A declared float
// column accepts integers, and a declared timestamp column accepts integers as milliseconds
// since the epoch. The error is a *CompileError.
func CompileCompute(src string, in row.Schema, want row.Type) (*Compute, error) {
	p, err := compile(src, in)
	if err != nil {
		return nil, err
	}
	got, known, problem := columnType(p.static)
	typeError := func(format string, args ...any) error {
		return &CompileError{Expr: src, Kind: ErrType, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case problem != "":
		return nil, typeError("%s", problem)
	case want == row.TypeInvalid && !known:
		return nil, typeError("cannot infer the column type: the expression's type is only known when it runs; declare the column type (%s)", typeNames())
	case want == row.TypeInvalid:
		want = got
	case want > row.TypeTimestamp:
		return nil, typeError("unknown column type %v", want)
	case known && !fits(got, want):
		return nil, typeError("the expression is %s (%v), the column is %s", got, p.static, want)
	}
	return &Compute{p: p, t: want, b: newBinder(p)}, nil
}

// Type returns the column's type: the type of Eval's values.
func (c *Compute) Type() row.Type { return c.t }

// Eval evaluates the expression on r, a row of the schema it was compiled for. A nil result is
// a null value. A string result may alias a string of r (for the expression user, it is r's);
// clone it to keep it past r's buffers. The error is an *EvalError; the row then goes to the
// dead-letter topic.
func (c *Compute) Eval(r row.Row) (row.Value, error) {
	out, err := c.b.run(c.p, r)
	if err != nil {
		return row.Value{}, err
	}
	v, ok := toValue(out, c.t)
	if !ok {
		return row.Value{}, &EvalError{Expr: c.p.src, Reason: fmt.Sprintf("result is %s, the column is %s", describe(out), c.t)}
	}
	return v, nil
}

// Clone returns a Compute for another goroutine: it shares the compiled program and has its
// own environment and VM.
func (c *Compute) Clone() *Compute { return &Compute{p: c.p, t: c.t, b: newBinder(c.p)} }

// String returns the expression text.
func (c *Compute) String() string { return c.p.src }

// Fields returns the names of the fields the expression reads, in schema order (all of them if
// it uses $env). The caller owns the slice.
func (c *Compute) Fields() []string { return c.p.fields() }

// columnType maps an expression's static type to a column type. known is false for dynamic
// types (interfaces); problem explains a type no column can have.
func columnType(t reflect.Type) (rt row.Type, known bool, problem string) {
	switch {
	case t == nil || t.Kind() == reflect.Interface:
		return row.TypeInvalid, false, ""
	case t == timeType:
		return row.TypeTimestamp, true, ""
	case t == durationType:
		return row.TypeInvalid, false, "the expression is a time.Duration; a column needs a number, such as (a - b).Milliseconds()"
	}
	switch k := t.Kind(); {
	case k == reflect.Bool:
		return row.TypeBool, true, ""
	case k == reflect.String:
		return row.TypeString, true, ""
	case k >= reflect.Int && k <= reflect.Uint64:
		return row.TypeInt, true, ""
	case k == reflect.Float32 || k == reflect.Float64:
		return row.TypeFloat, true, ""
	}
	return row.TypeInvalid, false, fmt.Sprintf("the expression is %v, which no column can hold (%s)", t, typeNames())
}

func typeNames() string { return "string, int, float, bool or timestamp" }

// fits reports whether a value of static type got can fill a column of type want.
func fits(got, want row.Type) bool {
	return got == want || (got == row.TypeInt && (want == row.TypeFloat || want == row.TypeTimestamp))
}

// toValue converts a result to a value of column type t.
func toValue(out any, t row.Type) (row.Value, bool) {
	switch x := out.(type) {
	case nil:
		return row.Null(), true
	case bool:
		return row.Bool(x), t == row.TypeBool
	case string:
		return row.String(x), t == row.TypeString
	case float64:
		return row.Float(x), t == row.TypeFloat
	case int:
		return intValue(int64(x), t)
	case int64:
		return intValue(x, t)
	case time.Time:
		return row.Timestamp(x.UnixMilli()), t == row.TypeTimestamp
	case time.Duration:
		return row.Value{}, false
	}
	v := reflect.ValueOf(out)
	switch k := v.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		return intValue(v.Int(), t)
	case k >= reflect.Uint && k <= reflect.Uint64:
		return intValue(int64(v.Uint()), t)
	case k == reflect.Float32:
		return row.Float(v.Float()), t == row.TypeFloat
	}
	return row.Value{}, false
}

func intValue(i int64, t row.Type) (row.Value, bool) {
	switch t {
	case row.TypeInt:
		return row.Int(i), true
	case row.TypeFloat:
		return row.Float(float64(i)), true
	case row.TypeTimestamp:
		return row.Timestamp(i), true
	}
	return row.Value{}, false
}
