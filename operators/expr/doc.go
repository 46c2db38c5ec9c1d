// Package expr compiles the filter and computed-column expressions of a job, written in the
// expr language (github.com/expr-lang/expr), once per job, and evaluates them per row.
//
//	f, err := expr.CompileFilter(`amount > 100 && country in ["DE", "FR"]`, schema)
//	keep, err := f.Keep(r)
//
//	c, err := expr.CompileCompute(`amount * 1.19`, schema, row.TypeInvalid) // type inferred: float
//	v, err := c.Eval(r)                                                     // of type c.Type()
//
// # Fields
//
// Each field of the input schema is a variable named after it (fields whose names are not
// identifiers are reached as $env["user-id"]), with the Go type of its row type:
//
//	string → string, int → int64, float → float64, bool → bool,
//	timestamp → time.Time (UTC; the row holds int64 milliseconds since the epoch)
//
// Timestamps are time.Time so that the type checker keeps them apart from numbers (ts > 5 does
// not compile) and so that expr's time support works: ts > date("2024-01-01T00:00:00Z"),
// ts - other_ts > duration("5m"), ts.Hour() == 9, ts.Truncate(duration("1h")). A computed column
// of type timestamp is a time.Time (truncated to milliseconds) or, when declared as timestamp,
// an integer number of milliseconds. A null field is nil: write amount ?? 0 or amount != nil &&
// amount > 0 where a field may be null; an operation on nil fails at run time.
//
// # Determinism
//
// Operators must give the same output on every run and every machine, so nothing may read the
// wall clock or the machine's time zone: now() is not available, date() parses in UTC, and the
// Local time zone (t.Local(), timezone("Local"), a non-constant zone name) does not compile.
// keys(), values() and toPairs() are not available either: Go's map order is random.
//
// # Errors
//
// Compilation fails with a *CompileError holding the expression text, the reason and expr's
// position (line and column); an unknown name lists the fields and suggests the closest. A
// failure on one row (division or modulo by zero, an operation on a null field, a result of the
// wrong type) is an *EvalError naming the expression and the reason: the task driver sends
// the row to the dead-letter topic with it. Division by zero is an error, not ±Inf.
//
// # Concurrency and allocation
//
// A Filter or Compute is not safe for concurrent use: it reuses its variable environment and
// VM between calls. Clone gives another task its own copy sharing the compiled program. Per row,
// only the fields the expression reads are bound, and a field's boxed value is reused while it
// does not change from one row to the next, so a row costs no allocation unless a field value
// changes (boxing an int64 ≥ 256, a float, a non-empty string or a timestamp allocates once)
// or the VM itself allocates (arithmetic on ints ≥ 256 and on floats, string concatenation,
// function calls).
package expr
