package expr

import (
	"errors"
	"fmt"

	exprlang "github.com/expr-lang/expr"

	"github.com/glintstream/glint/row"
)

// Filter is a compiled boolean expression over rows of one schema. It is not safe for
// concurrent use: it reuses its environment and VM between calls. Clone it for another task.
type Filter struct {
	p *program
	b binder
}

// CompileFilter compiles src, which must be boolean, over the fields of in (see the package
// documentation for their types). The error is a *CompileError.
func CompileFilter(src string, in row.Schema) (*Filter, error) {
	p, err := compile(src, in, exprlang.AsBool())
	var ce *CompileError
	if errors.As(err, &ce) && ce.Kind == ErrType && ce.Line == 0 {
		// AsBool's check ("expected bool, but got int") has no position: say what it means.
		ce.Reason = "a filter must be a boolean expression: " + ce.Reason
	}
	if err != nil {
		return nil, err
	}
	return &Filter{p: p, b: newBinder(p)}, nil
}

// Keep evaluates the filter on r, a row of the schema it was compiled for. The error is an
// *EvalError; the row then goes to the dead-letter topic.
func (f *Filter) Keep(r row.Row) (bool, error) {
	out, err := f.b.run(f.p, r)
	if err != nil {
		return false, err
	}
	keep, ok := out.(bool)
	if !ok {
		// Only a dynamically typed expression (such as fromJSON(s).ok) gets here.
		return false, &EvalError{Expr: f.p.src, Reason: fmt.Sprintf("filter result is %s, not bool", describe(out))}
	}
	return keep, nil
}

// Clone returns a Filter for another goroutine: it shares the compiled program and has its own
// environment and VM.
func (f *Filter) Clone() *Filter { return &Filter{p: f.p, b: newBinder(f.p)} }

// String returns the expression text.
func (f *Filter) String() string { return f.p.src }

// Fields returns the names of the fields the expression reads, in schema order (all of them if
// it uses $env). The caller owns the slice.
func (f *Filter) Fields() []string { return f.p.fields() }

func (p *program) fields() []string {
	n := make([]string, len(p.slots))
	for i, s := range p.slots {
		n[i] = s.name
	}
	return n
}

func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T (%v)", v, v)
}
