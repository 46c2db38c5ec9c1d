package format

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/glintstream/glint/row"
)

// JSONDecoder decodes one JSON object per record into a row; see the package documentation for
// its semantics. Build it with NewJSONDecoder. It is not safe for concurrent use.
type JSONDecoder struct {
	fields []jsonField
	root   pathNode

	// mark[f] is gen<<1 when field f was decoded in the current record, gen<<1|1 when its last
	// occurrence was bad (errs[f] says why). Bumping gen forgets all marks in O(1).
	mark []uint32
	errs []*DecodeError
	gen  uint32

	scratch []byte // unescaped strings of the current record; reused by the next record
	keyBuf  []byte // the current unescaped key
}

var _ Decoder = (*JSONDecoder)(nil)

type fieldKind uint8

const (
	kString fieldKind = iota
	kInt
	kFloat
	kBool
	kTsMillis
	kTsMicros
	kTsSeconds
	kTsRFC3339
)

// wants names what a field of each kind takes, for error messages.
var wants = [...]string{
	kString:    "string",
	kInt:       "integer",
	kFloat:     "number",
	kBool:      "bool",
	kTsMillis:  "number (epoch_ms)",
	kTsMicros:  "number (epoch_us)",
	kTsSeconds: "number (epoch_s)",
	kTsRFC3339: "string (rfc3339)",
}

type jsonField struct {
	kind     fieldKind
	optional bool
	path     string
}

// pathNode is a node of the tree of field paths: a leaf (field >= 0) or an object whose keys
// lead further.
type pathNode struct {
	field    int
	path     string
	children []pathChild
	index    map[string]int // key → position in children, when there are many
	next     int            // the child after the last one matched: keys tend to come in order
}

type pathChild struct {
	name  string
	node  *pathNode
	plain bool // name needs no escaping in JSON, so a raw key equal to it names it
}

// matchRaw looks for a child whose plain name is the JSON string starting at data[i] (after the
// opening quote) and returns it with the index after the closing quote, without scanning the
// key first. It tries the child after the last match first.
func (n *pathNode) matchRaw(data []byte, i int) (*pathNode, int) {
	k := n.next
	for range n.children {
		if k >= len(n.children) {
			k = 0
		}
		c := &n.children[k]
		k++
		e := i + len(c.name)
		if c.plain && e < len(data) && data[e] == '"' && string(data[i:e]) == c.name {
			n.next = k
			return c.node, e + 1
		}
	}
	return nil, 0
}

// linearMax is how many keys an object node compares one by one before it uses a map.
const linearMax = 8

func (n *pathNode) lookup(key []byte) *pathNode {
	if n.index != nil {
		if i, ok := n.index[string(key)]; ok {
			return n.children[i].node
		}
		return nil
	}
	for i := range n.children {
		if n.children[i].name == string(key) {
			return n.children[i].node
		}
	}
	return nil
}

func (n *pathNode) child(name, path string) *pathNode {
	for _, c := range n.children {
		if c.name == name {
			return c.node
		}
	}
	c := &pathNode{field: -1, path: path}
	plain := true
	for _, r := range name {
		if r < 0x20 || r == '"' || r == '\\' || r == utf8.RuneError {
			plain = false
		}
	}
	n.children = append(n.children, pathChild{name: name, node: c, plain: plain})
	return c
}

// NewJSONDecoder returns a decoder of JSON objects into rows of fields (see ValidateFields for
// what is refused).
func NewJSONDecoder(fields []Field) (*JSONDecoder, error) {
	if err := ValidateFields(fields); err != nil {
		return nil, err
	}
	d := &JSONDecoder{
		fields: make([]jsonField, len(fields)),
		root:   pathNode{field: -1},
		mark:   make([]uint32, len(fields)),
		errs:   make([]*DecodeError, len(fields)),
	}
	for i, f := range fields {
		jf := jsonField{optional: f.Optional, path: f.PathOrName()}
		switch f.Type {
		case row.TypeString:
			jf.kind = kString
		case row.TypeInt:
			jf.kind = kInt
		case row.TypeFloat:
			jf.kind = kFloat
		case row.TypeBool:
			jf.kind = kBool
		case row.TypeTimestamp:
			jf.kind = [...]fieldKind{EpochMillis: kTsMillis, EpochMicros: kTsMicros, EpochSeconds: kTsSeconds, RFC3339: kTsRFC3339}[f.Time]
		}
		d.fields[i] = jf
		n := &d.root
		segs := strings.Split(jf.path, ".")
		for k, s := range segs {
			n = n.child(s, strings.Join(segs[:k+1], "."))
		}
		n.field = i
	}
	d.root.buildIndex()
	return d, nil
}

func (n *pathNode) buildIndex() {
	if len(n.children) > linearMax {
		n.index = make(map[string]int, len(n.children))
		for i, c := range n.children {
			n.index[c.name] = i
		}
	}
	for _, c := range n.children {
		c.node.buildIndex()
	}
}

// Decode decodes the JSON object in value into dst (len(dst) must equal the number of fields).
// Strings in dst alias value or the decoder's scratch buffer and are valid until the next Decode
// call. Errors are *DecodeError.
func (d *JSONDecoder) Decode(value []byte, dst row.Row) error {
	if len(dst) != len(d.fields) {
		return &DecodeError{Format: "json", Offset: -1,
			Reason: fmt.Sprintf("row has %d values, decoder has %d fields", len(dst), len(d.fields))}
	}
	d.gen++
	if d.gen >= 1<<31 {
		clear(d.mark)
		d.gen = 1
	}
	d.scratch = d.scratch[:0]
	i := skipWS(value, 0)
	if i >= len(value) || value[i] != '{' {
		if i < len(value) && (value[i] == '"' || value[i] == '[' || value[i] == '-' || value[i]-'0' <= 9 ||
			value[i] == 't' || value[i] == 'f' || value[i] == 'n') {
			return &DecodeError{Format: "json", Offset: i, Reason: "want object, got " + describe(value, i)}
		}
		return syntaxErr(value, i, "looking for beginning of value")
	}
	i, err := d.object(value, i, &d.root, dst, 1)
	if err != nil {
		return err
	}
	if i = skipWS(value, i); i != len(value) {
		return syntaxErr(value, i, "after top-level value")
	}
	gen := d.gen << 1
	for f := range d.fields {
		switch m := d.mark[f]; {
		case m == gen:
		case m == gen|1:
			return d.errs[f]
		case d.fields[f].optional:
			dst[f] = row.Value{Null: true}
		default:
			return &DecodeError{Format: "json", Field: d.fields[f].path, Offset: -1, Reason: "missing required field"}
		}
	}
	return nil
}

// object decodes the object at data[i] (an opening brace) whose keys lead to node's children.
func (d *JSONDecoder) object(data []byte, i int, node *pathNode, dst row.Row, depth int) (int, error) {
	if depth > maxDepth {
		return i, depthErr(i)
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, syntaxErr(data, i, "looking for beginning of object key string")
		}
		c, end := node.matchRaw(data, i+1)
		if c == nil {
			var fl uint8
			end, fl = scanString(data, i)
			if fl >= strErrEOF {
				return end, stringErr(data, end, fl)
			}
			key := data[i+1 : end-1]
			// A plain key (ASCII, no escapes) can only name a plain child, which matchRaw
			// has tried. Others are compared after unescaping, invalid UTF-8 becoming U+FFFD
			// as encoding/json does.
			if fl&strEscaped != 0 || (fl&strHigh != 0 && !utf8.Valid(key)) {
				d.keyBuf = appendUnescaped(d.keyBuf[:0], key)
				key = d.keyBuf
			}
			if fl != 0 {
				c = node.lookup(key)
			}
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return i, syntaxErr(data, i, "after object key")
		}
		i = skipWS(data, i+1)
		var err error
		switch {
		case c == nil:
			var derr *DecodeError
			if i, derr = skipValue(data, i, depth+1); derr != nil {
				return i, derr
			}
		case c.field >= 0:
			if i, err = d.value(data, i, c.field, dst, depth+1); err != nil {
				return i, err
			}
		default:
			if i, err = d.nested(data, i, c, dst, depth+1); err != nil {
				return i, err
			}
		}
		i = skipWS(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipWS(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		return i, syntaxErr(data, i, "after object key:value pair")
	}
}

// nested decodes the value at data[i] that lies on the path to nested fields. An object is
// decoded. A null makes the fields below missing (forgetting what an earlier duplicate key set).
// Anything else is a bad occurrence of every field below.
func (d *JSONDecoder) nested(data []byte, i int, node *pathNode, dst row.Row, depth int) (int, error) {
	if i < len(data) {
		switch data[i] {
		case '{':
			return d.object(data, i, node, dst, depth)
		case 'n':
			end, err := skipLiteral(data, i, "null")
			if err != nil {
				return end, err
			}
			node.walk(func(f int) { d.mark[f] = 0 })
			return end, nil
		}
	}
	end, err := skipValue(data, i, depth)
	if err != nil {
		return end, err
	}
	bad := &DecodeError{Format: "json", Field: node.path, Offset: i, Reason: "want object, got " + describe(data, i)}
	node.walk(func(f int) {
		d.mark[f] = d.gen<<1 | 1
		d.errs[f] = bad
	})
	return end, nil
}

// walk calls fn with each field below n.
func (n *pathNode) walk(fn func(f int)) {
	if n.field >= 0 {
		fn(n.field)
	}
	for _, c := range n.children {
		c.node.walk(fn)
	}
}

// value decodes the value at data[i] into field f. Each case stores into dst[f] directly: building
// a Value and copying it costs a store-forwarding stall per field.
func (d *JSONDecoder) value(data []byte, i, f int, dst row.Row, depth int) (int, error) {
	if i >= len(data) {
		return i, syntaxErr(data, i, "")
	}
	kind := d.fields[f].kind
	c := data[i]
	if c == 'n' {
		end, err := skipLiteral(data, i, "null")
		if err != nil {
			return end, err
		}
		dst[f] = row.Value{Null: true}
		if !d.fields[f].optional {
			d.bad(i, f, "want "+wants[kind]+", got null (field is not optional)")
			return end, nil
		}
		d.mark[f] = d.gen << 1
		return end, nil
	}
	var end int
	switch kind {
	case kString, kTsRFC3339:
		if c != '"' {
			return d.wrongType(data, i, f, depth)
		}
		s, e, err := d.str(data, i)
		if err != nil {
			return e, err
		}
		end = e
		if kind == kString {
			dst[f] = row.Value{S: s}
			break
		}
		ms, why := parseRFC3339Millis(unsafe.Slice(unsafe.StringData(s), len(s)))
		if why != "" {
			d.bad(i, f, "bad rfc3339 timestamp "+snippet(data[i:end])+": "+why)
			return end, nil
		}
		dst[f] = row.Value{I: ms}
	case kBool:
		lit, b := "false", int64(0)
		switch c {
		case 't':
			lit, b = "true", 1
		case 'f':
		default:
			return d.wrongType(data, i, f, depth)
		}
		e, err := skipLiteral(data, i, lit)
		if err != nil {
			return e, err
		}
		end = e
		dst[f] = row.Value{I: b}
	default: // numbers
		if c != '-' && c-'0' > 9 {
			return d.wrongType(data, i, f, depth)
		}
		n, e, ok := scanNumber(data, i)
		if !ok {
			return e, syntaxErr(data, e, "in numeric literal")
		}
		end = e
		if kind == kFloat {
			x, why := floatOf(n, data[i:end])
			if why != "" {
				d.bad(i, f, why)
				return end, nil
			}
			dst[f] = row.Value{F: x}
			break
		}
		x, why := intOf(kind, n, data[i:end])
		if why != "" {
			d.bad(i, f, why)
			return end, nil
		}
		dst[f] = row.Value{I: x}
	}
	d.mark[f] = d.gen << 1
	return end, nil
}

// floatOf converts a scanned number literal for a float field, or says why it cannot.
func floatOf(n number, lit []byte) (float64, string) {
	if n.isInt && !n.overflow && n.mant <= 1<<53 {
		x := float64(n.mant)
		if n.neg {
			x = -x
		}
		return x, ""
	}
	x, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return 0, "number " + snippet(lit) + " out of range for float64"
	}
	return x, ""
}

// intOf converts a scanned number literal for an int or epoch timestamp field, or says why it
// cannot.
func intOf(k fieldKind, n number, lit []byte) (int64, string) {
	if k == kTsSeconds {
		if n.isInt && !n.overflow && n.mant <= (1<<63-1)/1000 {
			x := int64(n.mant) * 1000
			if n.neg {
				x = -x
			}
			return x, ""
		}
		ms, ok := floorScaled(lit, 3)
		if !ok {
			return 0, "epoch_s timestamp " + snippet(lit) + " out of range"
		}
		return ms, ""
	}
	if !n.isInt {
		return 0, "want " + wants[k] + ", got non-integer number " + snippet(lit)
	}
	x, ok := n.int64()
	if !ok {
		return 0, "integer " + snippet(lit) + " out of range for int64"
	}
	if k == kTsMicros {
		x = floorDiv(x, 1000)
	}
	return x, ""
}

// str reads the string at data[i] (an opening quote). The result aliases data when the string
// needs no unescaping and d.scratch otherwise.
func (d *JSONDecoder) str(data []byte, i int) (string, int, error) {
	end, fl := scanString(data, i)
	if fl >= strErrEOF {
		return "", end, stringErr(data, end, fl)
	}
	raw := data[i+1 : end-1]
	if len(raw) == 0 {
		return "", end, nil
	}
	if fl == 0 || (fl == strHigh && utf8.Valid(raw)) {
		return unsafe.String(&raw[0], len(raw)), end, nil
	}
	start := len(d.scratch)
	d.scratch = appendUnescaped(d.scratch, raw)
	if len(d.scratch) == start {
		return "", end, nil
	}
	return unsafe.String(&d.scratch[start], len(d.scratch)-start), end, nil
}

// wrongType records a type error for field f and skips the value.
func (d *JSONDecoder) wrongType(data []byte, i, f, depth int) (int, error) {
	end, err := skipValue(data, i, depth)
	if err != nil {
		return end, err
	}
	d.bad(i, f, "want "+wants[d.fields[f].kind]+", got "+describe(data, i))
	return end, nil
}

// bad records why the occurrence of field f at offset i is wrong. Decode returns the error at the
// end of the record unless a later duplicate key of f decodes (duplicate keys: last wins).
func (d *JSONDecoder) bad(i, f int, reason string) {
	d.mark[f] = d.gen<<1 | 1
	d.errs[f] = &DecodeError{Format: "json", Field: d.fields[f].path, Offset: i, Reason: reason}
}
