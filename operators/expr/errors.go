package expr

import (
	"errors"
	"fmt"
	"strings"
)

// Error classes, matched with errors.Is on a *CompileError or *EvalError.
var (
	// ErrSyntax: the expression does not parse.
	ErrSyntax = errors.New("expr: syntax error")
	// ErrUnknownName: the expression names a field or function that does not exist.
	ErrUnknownName = errors.New("expr: unknown name")
	// ErrType: the expression is ill-typed, or its type does not fit (a filter that is not
	// boolean, a column of another type).
	ErrType = errors.New("expr: type error")
	// ErrNondeterministic: the expression uses something that depends on the wall clock, the
	// machine's time zone or map order.
	ErrNondeterministic = errors.New("expr: not deterministic")
	// ErrEval: evaluating the expression on a row failed. Every *EvalError matches it.
	ErrEval = errors.New("expr: evaluation failed")
	// ErrDivisionByZero: a division or modulo by zero, at compile time (a literal 0) or on a
	// row.
	ErrDivisionByZero = errors.New("division by zero")
)

// CompileError reports an expression that does not compile.
type CompileError struct {
	Expr    string // the expression text
	Reason  string // what is wrong, with suggestions
	Line    int    // 1-based position of the problem in Expr; 0 when expr gives none
	Column  int
	Snippet string // the line of Expr with a caret under the position, as expr prints it
	Kind    error  // ErrSyntax, ErrUnknownName, ErrType, ErrNondeterministic or ErrDivisionByZero
	Err     error  // the underlying error from the expr library, if any
}

func (e *CompileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "expr: %q: %s", e.Expr, e.Reason)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (at %d:%d)", e.Line, e.Column)
	}
	return b.String()
}

// Unwrap returns the class and the underlying error, for errors.Is and errors.As.
func (e *CompileError) Unwrap() []error { return nonNil(e.Kind, e.Err) }

// EvalError reports that evaluating an expression on one row failed. The driver sends the row
// to the dead-letter topic with Error() as the reason.
type EvalError struct {
	Expr       string   // the expression text
	Reason     string   // what failed
	Line       int      // 1-based position in Expr of the operation that failed; 0 if unknown
	Column     int      //
	NullFields []string // fields the expression reads that were null in this row
	Err        error    // the underlying error (from the expr VM), if any
}

func (e *EvalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "expr: %q: %s", e.Expr, e.Reason)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (at %d:%d)", e.Line, e.Column)
	}
	if len(e.NullFields) > 0 {
		fmt.Fprintf(&b, "; null fields: %s", strings.Join(e.NullFields, ", "))
	}
	return b.String()
}

// Is makes every EvalError match ErrEval.
func (e *EvalError) Is(target error) bool { return target == ErrEval }

// Unwrap returns the underlying error: errors.Is(err, ErrDivisionByZero) looks through it.
func (e *EvalError) Unwrap() error { return e.Err }

func nonNil(errs ...error) []error {
	out := errs[:0]
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
