package expr

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/glintstream/glint/row"
)

// binder is the per-instance mutable part of a Filter or Compute: the variable environment
// (only the fields the program reads), the value each variable was last bound to, and the VM,
// whose stack is reused from call to call.
type binder struct {
	env   map[string]any
	last  []row.Value // per slot: the value env holds, valid once bound[i]
	bound []bool
	vm    vm.VM
}

func newBinder(p *program) binder {
	return binder{
		env:   make(map[string]any, len(p.slots)),
		last:  make([]row.Value, len(p.slots)),
		bound: make([]bool, len(p.slots)),
	}
}

// run binds r and runs the program. r may be wider than the schema the program was compiled
// against (the driver's row has room for every computed column of its stage); the program reads
// only the first fields.
func (b *binder) run(p *program, r row.Row) (any, error) {
	if len(r) < p.width {
		return nil, &EvalError{Expr: p.src, Reason: fmt.Sprintf("row has %d values, the schema %d fields", len(r), p.width)}
	}
	for i, s := range p.slots {
		v := r[s.idx]
		// Re-box only when the value changed. A string may alias a buffer the driver reuses;
		// the comparison reads the bytes the boxed string points to as they are now, so a
		// skipped re-box always leaves env holding bytes equal to the current value.
		if b.bound[i] && sameValue(v, b.last[i], s.typ) {
			continue
		}
		b.env[s.name] = box(v, s.typ)
		b.last[i] = v
		b.bound[i] = true
	}
	out, err := b.vm.Run(p.prog, b.env)
	if err != nil {
		return nil, b.evalError(p, r, err)
	}
	return out, nil
}

// box converts a field value to the Go value expressions see. Bools are not allocated; other
// types are, except small ints and the empty string.
func box(v row.Value, t row.Type) any {
	if v.Null {
		return nil
	}
	switch t {
	case row.TypeString:
		return v.S
	case row.TypeInt:
		return v.I
	case row.TypeFloat:
		return v.F
	case row.TypeBool:
		return v.I != 0
	case row.TypeTimestamp:
		return time.UnixMilli(v.I).UTC()
	}
	return nil
}

// sameValue reports whether a and b box to identical Go values (floats by bits: -0 and NaN
// payloads are told apart).
func sameValue(a, b row.Value, t row.Type) bool {
	if a.Null || b.Null {
		return a.Null == b.Null
	}
	switch t {
	case row.TypeString:
		return a.S == b.S
	case row.TypeFloat:
		return math.Float64bits(a.F) == math.Float64bits(b.F)
	case row.TypeBool:
		return (a.I != 0) == (b.I != 0)
	}
	return a.I == b.I
}

// evalError wraps a failure of the VM with the expression, the position and the null fields.
func (b *binder) evalError(p *program, r row.Row, err error) *EvalError {
	e := &EvalError{Expr: p.src, Reason: err.Error(), Err: err}
	var fe *file.Error
	if errors.As(err, &fe) {
		e.Reason = fe.Message
		if fe.Snippet != "" {
			e.Line, e.Column = fe.Line, fe.Column+1
		}
	}
	for _, s := range p.slots {
		if r[s.idx].Null {
			e.NullFields = append(e.NullFields, s.name)
		}
	}
	return e
}
