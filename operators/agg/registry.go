package agg

import (
	"github.com/glintstream/glint/internal/suggest"

	"fmt"
	"slices"
	"strings"

	"github.com/glintstream/glint/row"
)

// argMode says whether a function takes a field.
type argMode uint8

const (
	argRequired argMode = iota
	argOptional         // count() and count(field)
)

var (
	anyType     = []row.Type{row.TypeString, row.TypeInt, row.TypeFloat, row.TypeBool, row.TypeTimestamp}
	numeric     = []row.Type{row.TypeInt, row.TypeFloat}
	orderedType = []row.Type{row.TypeInt, row.TypeFloat, row.TypeString, row.TypeTimestamp}
)

// def describes one function for New. The table below is never modified.
type def struct {
	name  string
	arg   argMode
	types []row.Type // input types accepted
	bind  func(in row.Type, hasArg bool) Func
}

var defs = [...]def{
	{"count", argOptional, anyType, func(_ row.Type, hasArg bool) Func {
		if hasArg {
			return countField{}
		}
		return count{}
	}},
	{"sum", argRequired, numeric, func(in row.Type, _ bool) Func {
		if in == row.TypeFloat {
			return sumFloat{}
		}
		return sumInt{}
	}},
	{"min", argRequired, orderedType, func(in row.Type, _ bool) Func { return extreme{in: in} }},
	{"max", argRequired, orderedType, func(in row.Type, _ bool) Func { return extreme{in: in, max: true} }},
	{"avg", argRequired, numeric, func(in row.Type, _ bool) Func {
		if in == row.TypeFloat {
			return avgFloat{}
		}
		return avgInt{}
	}},
	{"count_distinct", argRequired, anyType, func(in row.Type, _ bool) Func { return distinct{in: in} }},
	{"approx_count_distinct", argRequired, anyType, func(in row.Type, _ bool) Func { return approxDistinct{in: in} }},
	{"first", argRequired, anyType, func(in row.Type, _ bool) Func { return pick{in: in} }},
	{"last", argRequired, anyType, func(in row.Type, _ bool) Func { return pick{in: in, last: true} }},
}

// Names returns the names of the aggregate functions, sorted. The caller owns the slice.
func Names() []string {
	n := make([]string, len(defs))
	for i := range defs {
		n[i] = defs[i].name
	}
	slices.Sort(n)
	return n
}

// New returns the aggregate function fn over an input field of type in; hasArg says whether the
// job named a field (count() has none, count(field) counts its non-null values). in is ignored
// when hasArg is false. The error wraps ErrUnknownFunc (with a suggestion), ErrArity or
// ErrArgType (naming the types fn accepts).
func New(fn string, in row.Type, hasArg bool) (Func, error) {
	d := lookup(fn)
	if d == nil {
		hint := ""
		if s := suggest.Closest(fn, Names()); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		return nil, fmt.Errorf("%w %q%s (known: %s)", ErrUnknownFunc, fn, hint, strings.Join(Names(), ", "))
	}
	if !hasArg {
		if d.arg == argRequired {
			return nil, fmt.Errorf("%w: %s needs a field, as in %s(field)", ErrArity, fn, fn)
		}
		return d.bind(row.TypeInvalid, false), nil
	}
	if !slices.Contains(d.types, in) {
		return nil, fmt.Errorf("%w: %s does not accept %s; it accepts %s",
			ErrArgType, fn, in, typeList(d.types))
	}
	return d.bind(in, true), nil
}

func lookup(fn string) *def {
	for i := range defs {
		if defs[i].name == fn {
			return &defs[i]
		}
	}
	return nil
}

func typeList(ts []row.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}
