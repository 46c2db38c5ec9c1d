package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glintstream/glint/row"
)

// refDecode is the reference the JSON decoder is checked against: encoding/json's validator and
// tokenizer, plus the documented field semantics written out naively, sharing no code with the
// decoder. ok says whether the record must be accepted (then r is the row). checkable is false
// when the reference cannot judge: nesting deeper than maxDepth (encoding/json allows 10000) or
// a number too large to evaluate with math/big in reasonable time.
func refDecode(fields []Field, input []byte) (r row.Row, ok, checkable bool) {
	if !json.Valid(input) {
		return nil, false, true
	}
	if nestingDepth(input) > maxDepth {
		return nil, false, false
	}
	leaf := map[string]int{}    // quoted path → field
	under := map[string][]int{} // quoted path of an object on the way → fields below it
	for i, f := range fields {
		segs := strings.Split(f.PathOrName(), ".")
		leaf[pathKey(segs)] = i
		for k := 1; k < len(segs); k++ {
			p := pathKey(segs[:k])
			under[p] = append(under[p], i)
		}
	}
	type occ struct {
		tok any // string, json.Number, bool, nil; or "<compound>" sentinel
		bad bool
	}
	compound := new(int)
	seen := map[int]occ{}
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		panic(err)
	}
	if tok != json.Delim('{') {
		return nil, false, true
	}
	skip := func() { // skip the rest of a container whose opening token was read
		for depth := 1; depth > 0; {
			t, err := dec.Token()
			if err != nil {
				panic(err)
			}
			switch t {
			case json.Delim('{'), json.Delim('['):
				depth++
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
	}
	var walk func(prefix []string)
	walk = func(prefix []string) {
		for dec.More() {
			k, _ := dec.Token()
			v, err := dec.Token()
			if err != nil {
				panic(err)
			}
			full := append(append([]string(nil), prefix...), k.(string))
			p := pathKey(full)
			isOpen := v == json.Delim('{') || v == json.Delim('[')
			if f, isLeaf := leaf[p]; isLeaf {
				if isOpen {
					skip()
					seen[f] = occ{tok: compound}
				} else {
					seen[f] = occ{tok: v}
				}
				continue
			}
			if fs, isUnder := under[p]; isUnder {
				switch {
				case v == json.Delim('{'):
					walk(full)
				case v == nil:
					for _, f := range fs {
						delete(seen, f)
					}
				default:
					if isOpen {
						skip()
					}
					for _, f := range fs {
						seen[f] = occ{bad: true}
					}
				}
				continue
			}
			if isOpen {
				skip()
			}
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('}') {
			panic("reference: object not closed")
		}
	}
	walk(nil)
	r = make(row.Row, len(fields))
	checkable = true
	for i, f := range fields {
		o, present := seen[i]
		switch {
		case !present || o.tok == nil && !o.bad:
			if !f.Optional {
				return nil, false, true
			}
			r[i] = row.Null()
			continue
		case o.bad || o.tok == compound:
			return nil, false, true
		}
		v, good, judge := refConvert(f, o.tok)
		if !judge {
			checkable = false
			continue
		}
		if !good {
			return nil, false, true
		}
		r[i] = v
	}
	return r, checkable, checkable
}

func pathKey(segs []string) string {
	q := make([]string, len(segs))
	for i, s := range segs {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ".")
}

// nestingDepth returns the maximum nesting of objects and arrays in valid JSON.
func nestingDepth(b []byte) int {
	depth, max, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
			if depth > max {
				max = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return max
}

var rfc3339Shape = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// refConvert converts a token for field f. judge is false when the reference declines.
func refConvert(f Field, tok any) (v row.Value, good, judge bool) {
	num, isNum := tok.(json.Number)
	switch f.Type {
	case row.TypeString:
		s, ok := tok.(string)
		return row.String(s), ok, true
	case row.TypeBool:
		b, ok := tok.(bool)
		return row.Bool(b), ok, true
	case row.TypeInt:
		if !isNum {
			return v, false, true
		}
		x, err := strconv.ParseInt(string(num), 10, 64)
		return row.Int(x), err == nil, true
	case row.TypeFloat:
		if !isNum {
			return v, false, true
		}
		x, err := strconv.ParseFloat(string(num), 64)
		return row.Float(x), err == nil, true
	}
	switch f.Time {
	case RFC3339:
		s, ok := tok.(string)
		if !ok || !rfc3339Shape.MatchString(s) {
			return v, false, true
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return row.Timestamp(t.UnixMilli()), err == nil, true
	case EpochMillis, EpochMicros:
		if !isNum {
			return v, false, true
		}
		x, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return v, false, true
		}
		if f.Time == EpochMicros {
			q := new(big.Int).Div(big.NewInt(x), big.NewInt(1000)) // Euclidean: floor for a positive divisor
			x = q.Int64()
		}
		return row.Timestamp(x), true, true
	}
	// EpochSeconds: floor(x * 1000), exactly.
	if !isNum {
		return v, false, true
	}
	s := string(num)
	if len(s) > 400 {
		return v, false, false
	}
	if e := strings.IndexAny(s, "eE"); e >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(s[e+1:], "+"))
		if err != nil || exp > 5000 || exp < -5000 {
			return v, false, false
		}
	}
	rat, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("reference: big.Rat refused " + s)
	}
	rat.Mul(rat, big.NewRat(1000, 1))
	q := new(big.Int).Div(rat.Num(), rat.Denom())
	if !q.IsInt64() {
		return v, false, true
	}
	return row.Timestamp(q.Int64()), true, true
}

// rowsEqual compares rows of fields exactly: float signs and NaN included.
func rowsEqual(fields []Field, a, b row.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i, f := range fields {
		if !a[i].Equal(b[i], f.Type) {
			return false
		}
		if f.Type == row.TypeFloat && !a[i].Null && math.Signbit(a[i].F) != math.Signbit(b[i].F) {
			return false
		}
	}
	return true
}

// checkAgainstRef decodes input with dec and checks the outcome against refDecode.
func checkAgainstRef(t *testing.T, dec *JSONDecoder, fields []Field, input []byte) {
	t.Helper()
	got := make(row.Row, len(fields))
	err := dec.Decode(input, got)
	want, ok, checkable := refDecode(fields, input)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error is %T, not *DecodeError: %v", err, err)
		}
		if de.Offset > len(input) {
			t.Fatalf("error offset %d beyond input length %d: %v", de.Offset, len(input), err)
		}
		if checkable && ok {
			t.Fatalf("decoder refused what encoding/json accepts as %v:\ninput %q\nerror %v", want, input, err)
		}
		return
	}
	if !json.Valid(input) {
		t.Fatalf("decoder accepted invalid JSON %q as %v", input, got)
	}
	if !checkable {
		return
	}
	if !ok {
		t.Fatalf("decoder accepted %q as %v; the reference refuses it", input, got)
	}
	if !rowsEqual(fields, got, want) {
		t.Fatalf("input %q:\ndecoded   %v\nreference %v", input, got, want)
	}
}
