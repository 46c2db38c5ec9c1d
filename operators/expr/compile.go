package expr

import (
	"github.com/glintstream/glint/internal/suggest"

	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	exprlang "github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/glintstream/glint/row"
)

// program is a compiled expression with what is needed to bind rows to it. It is immutable
// and shared by the clones of a Filter or Compute.
type program struct {
	src    string
	prog   *vm.Program
	width  int    // number of fields of the input schema
	slots  []slot // the fields the program reads, in schema order
	static reflect.Type
}

// slot is a field the program reads.
type slot struct {
	idx  int // position in the row
	name string
	typ  row.Type
}

// unavailable are expr builtins that would make results depend on the clock or on map order.
var unavailable = map[string]string{
	"now":     "it reads the wall clock, and operators must be deterministic; compare with an event-time field or a constant such as date(\"2024-01-01T00:00:00Z\")",
	"keys":    "it returns map keys in random order",
	"values":  "it returns map values in random order",
	"toPairs": "it returns map entries in random order",
}

// nonzeroFunc is the function the guard wraps divisors in (a name no job can collide with
// by accident).
const nonzeroFunc = "glint_nonzero_divisor"

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

// goType is the Go type a field of type t has in expressions.
func goType(t row.Type) (any, bool) {
	switch t {
	case row.TypeString:
		return "", true
	case row.TypeInt:
		return int64(0), true
	case row.TypeFloat:
		return float64(0), true
	case row.TypeBool:
		return false, true
	case row.TypeTimestamp:
		return time.Time{}, true
	}
	return nil, false
}

// compile parses, checks and compiles src over the fields of in. extra options go last (AsBool
// for filters).
func compile(src string, in row.Schema, extra ...exprlang.Option) (_ *program, err error) {
	defer func() {
		// The expr compiler panics on some inputs it fails to reject; the text comes from a job
		// file, so that is the job's error, not a crash.
		if r := recover(); r != nil {
			err = &CompileError{Expr: src, Kind: ErrSyntax, Reason: fmt.Sprintf("cannot compile: %v", r)}
		}
	}()
	env := make(map[string]any, len(in.Fields))
	for _, f := range in.Fields {
		zero, ok := goType(f.Type)
		if !ok {
			return nil, &CompileError{Expr: src, Kind: ErrType,
				Reason: fmt.Sprintf("field %q has type %v, which expressions cannot read", f.Name, f.Type)}
		}
		if _, dup := env[f.Name]; dup {
			return nil, &CompileError{Expr: src, Kind: ErrType, Reason: fmt.Sprintf("field %q appears twice in the schema", f.Name)}
		}
		env[f.Name] = zero
	}
	// Parse alone first: what fails here is syntax; what fails after is names or types.
	if _, err := parser.Parse(src); err != nil {
		return nil, translate(src, in, err, ErrSyntax)
	}
	g := &guard{}
	opts := []exprlang.Option{
		exprlang.Env(env),
		withNonzero(),
		exprlang.Patch(g), // before Timezone, which adds an argument to date()
		exprlang.Timezone("UTC"),
	}
	for name := range unavailable {
		opts = append(opts, exprlang.DisableBuiltin(name))
	}
	prog, err := exprlang.Compile(src, append(opts, extra...)...)
	if g.err != nil { // a guard finding explains more than what the checker says after it
		return nil, located(src, g.err.loc, g.err.kind, g.err.msg, nil)
	}
	if err != nil {
		return nil, translate(src, in, err, ErrType)
	}
	if err := unknownLoads(src, prog, in); err != nil {
		return nil, err
	}
	p := &program{src: src, prog: prog, width: len(in.Fields), static: prog.Node().Type()}
	p.slots = reads(prog, in)
	return p, nil
}

// unknownLoads finds variables the program loads that are not fields. The checker lets some
// through: names in the arguments of a method call on a field (ts.Sub(nowx())) compile to a
// load that yields nil at run time. Every name a program loads must be a field.
func unknownLoads(src string, prog *vm.Program, in row.Schema) error {
	locs := prog.Locations()
	for i, op := range prog.Bytecode {
		if op != vm.OpLoadFast && op != vm.OpLoadConst {
			continue
		}
		name, ok := prog.Constants[prog.Arguments[i]].(string)
		if !ok || in.Index(name) >= 0 {
			continue
		}
		var loc file.Location
		if i < len(locs) {
			loc = locs[i]
		}
		if why := unavailable[name]; why != "" {
			return located(src, loc, ErrNondeterministic, fmt.Sprintf("%s() is not available: %s", name, why), nil)
		}
		return located(src, loc, ErrUnknownName, unknownName(name, in), nil)
	}
	return nil
}

// reads lists the fields prog loads, from its bytecode: OpLoadFast names a variable of the map
// environment; OpLoadEnv ($env) may read any field.
func reads(prog *vm.Program, in row.Schema) []slot {
	used := make([]bool, len(in.Fields))
	for i, op := range prog.Bytecode {
		switch op {
		case vm.OpLoadEnv:
			for j := range used {
				used[j] = true
			}
		case vm.OpLoadFast, vm.OpLoadConst:
			if name, ok := prog.Constants[prog.Arguments[i]].(string); ok {
				if j := in.Index(name); j >= 0 {
					used[j] = true
				}
			}
		}
	}
	var slots []slot
	for j, u := range used {
		if u {
			slots = append(slots, slot{idx: j, name: in.Fields[j].Name, typ: in.Fields[j].Type})
		}
	}
	return slots
}

// translate turns an error of the expr library into a *CompileError of class kind, or of
// ErrUnknownName or ErrNondeterministic for a name that is not a field or an available function.
func translate(src string, in row.Schema, err error, kind error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		// The expected-type check of AsBool reports no position.
		return &CompileError{Expr: src, Kind: kind, Reason: err.Error(), Err: err}
	}
	ce := &CompileError{Expr: src, Reason: fe.Message, Line: fe.Line, Column: fe.Column + 1,
		Snippet: fe.Snippet, Err: err}
	if fe.Snippet == "" {
		ce.Line, ce.Column = 0, 0
	}
	switch name, ok := strings.CutPrefix(fe.Message, "unknown name "); {
	case ok && unavailable[name] != "":
		ce.Kind = ErrNondeterministic
		ce.Reason = fmt.Sprintf("%s() is not available: %s", name, unavailable[name])
	case ok:
		ce.Kind = ErrUnknownName
		ce.Reason = unknownName(name, in)
	default:
		ce.Kind = kind
	}
	return ce
}

func unknownName(name string, in row.Schema) string {
	names := in.Names()
	var b strings.Builder
	fmt.Fprintf(&b, "unknown name %q", name)
	if len(names) == 0 {
		b.WriteString("; the input has no fields")
	} else {
		fmt.Fprintf(&b, "; fields: %s", strings.Join(names, ", "))
	}
	candidates := append(slices.Clip(names), builtinNames()...)
	if s := suggest.Closest(name, candidates); s != "" {
		fmt.Fprintf(&b, "; did you mean %q?", s)
	}
	return b.String()
}

// builtinNames lists the expr builtins expressions may call.
func builtinNames() []string {
	var n []string
	for _, f := range builtin.Builtins {
		if unavailable[f.Name] == "" {
			n = append(n, f.Name)
		}
	}
	return n
}

// located builds a *CompileError for a problem at loc in src, with expr's line, column and
// snippet.
func located(src string, loc file.Location, kind error, msg string, err error) *CompileError {
	fe := (&file.Error{Location: loc, Message: msg}).Bind(file.NewSource(src))
	return &CompileError{Expr: src, Reason: msg, Line: fe.Line, Column: fe.Column + 1,
		Snippet: fe.Snippet, Kind: kind, Err: err}
}

// guard is an AST visitor run before type checking. It rejects what would read the machine's
// time zone, and wraps every divisor of / and % in nonzeroFunc so that division by zero is an
// error instead of ±Inf (or, for %, a Go runtime panic). It keeps the first problem found.
type guard struct {
	err *guardError
}

type guardError struct {
	loc  file.Location
	kind error
	msg  string
}

func (g *guard) fail(n ast.Node, kind error, format string, args ...any) {
	if g.err == nil {
		g.err = &guardError{loc: n.Location(), kind: kind, msg: fmt.Sprintf(format, args...)}
	}
}

func (g *guard) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator == "/" || n.Operator == "%" {
			g.divisor(n)
		}
	case *ast.MemberNode:
		if p, ok := n.Property.(*ast.StringNode); ok && p.Value == "Local" {
			g.fail(n, ErrNondeterministic, "Local() depends on the machine's time zone; timestamps are UTC, use In(timezone(\"Europe/Berlin\")) with a named zone")
		}
	case *ast.BuiltinNode:
		switch {
		case n.Name == "timezone" && len(n.Arguments) == 1:
			g.zone(n.Arguments[0])
		case n.Name == "date" && len(n.Arguments) == 3:
			g.zone(n.Arguments[2])
		}
		if g.err == nil {
			g.fold(node, n)
		}
	}
}

// fold replaces date, duration and timezone calls whose arguments are all string constants by
// their value, computed once here instead of on every row (parsing a date costs microseconds);
// a bad constant is then a compile error. date parses in UTC, as the Timezone option makes it
// do at run time.
func (g *guard) fold(node *ast.Node, n *ast.BuiltinNode) {
	if n.Name != "date" && n.Name != "duration" && n.Name != "timezone" {
		return
	}
	var args []any
	if n.Name == "date" {
		args = append(args, time.UTC)
	}
	for _, a := range n.Arguments {
		s, ok := a.(*ast.StringNode)
		if !ok {
			return
		}
		args = append(args, s.Value)
	}
	if len(n.Arguments) == 0 || (n.Name != "date" && len(n.Arguments) != 1) || len(n.Arguments) > 3 {
		return // wrong arity: leave it to the checker's message
	}
	v, err := builtin.Builtins[builtin.Index[n.Name]].Func(args...)
	if err != nil {
		g.fail(n, ErrType, "%s: %v", n.Name, err)
		return
	}
	ast.Patch(node, &ast.ConstantNode{Value: v})
}

// zone accepts a time zone argument only as a constant naming a zone other than Local.
func (g *guard) zone(arg ast.Node) {
	s, ok := arg.(*ast.StringNode)
	switch {
	case !ok:
		g.fail(arg, ErrNondeterministic, "the time zone must be a constant string such as \"Europe/Berlin\"")
	case s.Value == "Local":
		g.fail(arg, ErrNondeterministic, "the Local time zone depends on the machine; name the zone, such as \"Europe/Berlin\"")
	}
}

func (g *guard) divisor(n *ast.BinaryNode) {
	switch r := n.Right.(type) {
	case *ast.IntegerNode:
		if r.Value == 0 {
			g.fail(r, ErrDivisionByZero, "division by zero")
		}
		return
	case *ast.FloatNode:
		if r.Value == 0 {
			g.fail(r, ErrDivisionByZero, "division by zero")
		}
		return
	case *ast.CallNode:
		if id, ok := r.Callee.(*ast.IdentifierNode); ok && id.Value == nonzeroFunc {
			return // already wrapped
		}
	}
	// A failure points at the operator.
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: nonzeroFunc}, Arguments: []ast.Node{n.Right}}
	call.SetLocation(n.Location())
	call.Callee.SetLocation(n.Location())
	n.Right = call
}

// withNonzero registers nonzeroFunc: it returns its argument, or fails on a zero or nil one.
// Its static type is its argument's, so wrapping a divisor changes no typing.
func withNonzero() exprlang.Option {
	return func(c *conf.Config) {
		c.Functions[nonzeroFunc] = &builtin.Function{
			Name: nonzeroFunc,
			Func: func(args ...any) (any, error) {
				switch x := args[0].(type) {
				case nil:
					return nil, errors.New("division by null")
				case int:
					if x == 0 {
						return nil, ErrDivisionByZero
					}
				case int64:
					if x == 0 {
						return nil, ErrDivisionByZero
					}
				case float64:
					if x == 0 {
						return nil, ErrDivisionByZero
					}
				default:
					if v := reflect.ValueOf(x); isNumber(v.Kind()) && v.IsZero() {
						return nil, ErrDivisionByZero
					}
				}
				return args[0], nil
			},
			Validate: func(args []reflect.Type) (reflect.Type, error) {
				if len(args) != 1 {
					return nil, fmt.Errorf("%s takes 1 argument", nonzeroFunc)
				}
				return args[0], nil
			},
		}
	}
}

func isNumber(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Float64
}
