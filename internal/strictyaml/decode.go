package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/glintstream/glint/internal/suggest"
)

// Pos is a place in a file.
type Pos struct {
	File         string
	Line, Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one problem at one place.
type Error struct {
	Pos  Pos
	Path string // the field's path, e.g. sources[0].watermark.idle_timeout
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
}

// Errors is every problem found, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Sort orders errors by position.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Positions maps a field path to where it was written (the value's position).
type Positions map[string]Pos

// Lookup returns the position of path, or of its nearest written ancestor.
func (p Positions) Lookup(path string) Pos {
	for {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// Unmarshaler is implemented by types that decode themselves from a node. They report problems
// through d.Errorf and decode children with d.Decode.
type Unmarshaler interface {
	UnmarshalStrictYAML(d *Decoder, n *yaml.Node, path string)
}

// Decoder carries the state of one decode: the file name, the problems found and positions.
type Decoder struct {
	file string
	errs Errors
	pos  Positions
}

// Decode decodes data (the contents of file) into dst, a pointer to a struct. It returns the
// positions of every field written and every problem found (nil if none).
func Decode(file string, data []byte, dst any) (Positions, error) {
	d := &Decoder{file: file, pos: Positions{"": {File: file}}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return d.pos, Errors{{Pos: Pos{File: file, Line: yamlErrLine(err)}, Msg: "invalid YAML: " + cleanYAMLErr(err)}}
	}
	if len(doc.Content) == 0 {
		return d.pos, Errors{{Pos: Pos{File: file, Line: 1, Column: 1}, Msg: "the file is empty"}}
	}
	d.Decode(doc.Content[0], "", reflect.ValueOf(dst).Elem())
	if len(d.errs) == 0 {
		return d.pos, nil
	}
	d.errs.Sort()
	return d.pos, d.errs
}

// Pos returns the position of a node.
func (d *Decoder) Pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Column: n.Column} }

// Errorf records a problem at node n for the field at path.
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.Pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[Unmarshaler]()

// Decode decodes node n into v (addressable), recording problems under path.
func (d *Decoder) Decode(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = d.Pos(n)
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		v.Addr().Interface().(Unmarshaler).UnmarshalStrictYAML(d, n, path)
		return
	}
	if n.Tag == "!!null" && v.Kind() != reflect.Pointer {
		return // an explicit null leaves the default
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.Decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.Errorf(n, path, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.scalar(n, path, "an integer") {
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.scalar(n, path, "a non-negative integer") {
			return
		}
		u, err := strconv.ParseUint(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want a non-negative integer, got %q", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if !d.scalar(n, path, "a number") {
			return
		}
		f, err := strconv.ParseFloat(n.Value, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("strictyaml: unsupported target type %s at %s", v.Type(), path))
	}
}

// Scalar reports whether n is a scalar, recording a problem naming what was wanted if not.
func (d *Decoder) Scalar(n *yaml.Node, path, want string) bool { return d.scalar(n, path, want) }

func (d *Decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, path, "want %s, got %s", want, kindName(n))
		return false
	}
	return true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// Mapping reports whether n is a mapping, recording a problem if not.
func (d *Decoder) Mapping(n *yaml.Node, path string) bool {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping (key: value lines), got %s", kindName(n))
		return false
	}
	return true
}

func (d *Decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if !d.Mapping(n, path) {
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.Errorf(k, sub, "unknown field %q%s", k.Value, DidYouMean(k.Value, keys(fields)))
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, sub, "field %q is set twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.Decode(val, sub, v.Field(idx))
	}
}

func (d *Decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.Decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

func (d *Decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if !d.Mapping(n, path) {
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("strictyaml: map keys must be strings")
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		e := reflect.New(v.Type().Elem()).Elem()
		d.Decode(val, join(path, k.Value), e)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func keys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// DidYouMean returns ` (did you mean "x"?)` for the closest candidate within a small edit
// distance, or a list of valid names when none is close.
func DidYouMean(got string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := suggest.Distance(strings.ToLower(got), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && bestD <= max(2, len(got)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(candidates) > 0 && len(candidates) <= 16 {
		return " (valid: " + strings.Join(candidates, ", ") + ")"
	}
	return ""
}

func yamlErrLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return 0
	}
	// yaml.v3 syntax errors read "yaml: line N: ..."
	s := err.Error()
	if _, rest, ok := strings.Cut(s, "line "); ok {
		num, _, _ := strings.Cut(rest, ":")
		if n, err := strconv.Atoi(num); err == nil {
			return n
		}
	}
	return 0
}

func cleanYAMLErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(s, ": "); ok && strings.HasPrefix(s, "line ") {
		return rest
	}
	return s
}
