package format

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/glintstream/glint/row"
)

// tFields has one optional field of every kind; the decode table names the fields it expects
// set and expects all others null.
var tFields = []Field{
	{Name: "s", Type: row.TypeString, Optional: true},
	{Name: "i", Type: row.TypeInt, Optional: true},
	{Name: "f", Type: row.TypeFloat, Optional: true},
	{Name: "b", Type: row.TypeBool, Optional: true},
	{Name: "ms", Type: row.TypeTimestamp, Time: EpochMillis, Optional: true},
	{Name: "us", Type: row.TypeTimestamp, Time: EpochMicros, Optional: true},
	{Name: "sec", Type: row.TypeTimestamp, Time: EpochSeconds, Optional: true},
	{Name: "rfc", Type: row.TypeTimestamp, Time: RFC3339, Optional: true},
	{Name: "uid", Type: row.TypeString, Path: "user.id", Optional: true},
	{Name: "deep", Type: row.TypeInt, Path: "a.b.c", Optional: true},
}

type want map[string]row.Value

func TestJSONDecodeValues(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want want
	}{
		{"empty object", `{}`, want{}},
		{"whitespace", " \t\r\n{ \"s\" : \"x\" , \"i\" :\n1 } \n", want{"s": row.String("x"), "i": row.Int(1)}},
		{"all kinds", `{"s":"a","i":-42,"f":2.5,"b":true,"ms":1763823842123,"us":1763823842123456,"sec":1763823842,"rfc":"2025-11-22T15:04:02.123Z"}`,
			want{"s": row.String("a"), "i": row.Int(-42), "f": row.Float(2.5), "b": row.Bool(true),
				"ms": row.Timestamp(1763823842123), "us": row.Timestamp(1763823842123), "sec": row.Timestamp(1763823842000),
				"rfc": row.Timestamp(1763823842123)}},
		{"false", `{"b":false}`, want{"b": row.Bool(false)}},
		{"nulls", `{"s":null,"i":null,"f":null,"b":null,"ms":null,"rfc":null,"user":{"id":null}}`, want{}},
		// Strings.
		{"empty string", `{"s":""}`, want{"s": row.String("")}},
		{"utf8", `{"s":"héllo 🔥 世界"}`, want{"s": row.String("héllo 🔥 世界")}},
		{"escapes", `{"s":"q\"b\\s\/n\nr\rt\tb\bf\f"}`, want{"s": row.String("q\"b\\s/n\nr\rt\tb\bf\f")}},
		{"unicode escape", `{"s":"\u00e9\u4E16\u0000"}`, want{"s": row.String("é世\x00")}},
		{"surrogate pair", `{"s":"\ud83d\udd25!"}`, want{"s": row.String("🔥!")}},
		{"lone high surrogate", `{"s":"\ud83dx"}`, want{"s": row.String("\uFFFDx")}},
		{"lone low surrogate", `{"s":"\udd25\ud83d\udd25"}`, want{"s": row.String("\uFFFD🔥")}},
		{"high then non-low", `{"s":"\ud83d\u0041"}`, want{"s": row.String("\uFFFDA")}},
		{"invalid utf8", "{\"s\":\"a\xffb\xc3\"}", want{"s": row.String("a\uFFFDb\uFFFD")}},
		{"encoded surrogate", "{\"s\":\"\xed\xa0\x80\"}", want{"s": row.String("\uFFFD\uFFFD\uFFFD")}},
		{"long string", `{"s":"` + strings.Repeat("abcdefgh", 40) + `"}`, want{"s": row.String(strings.Repeat("abcdefgh", 40))}},
		{"quote at chunk edge", `{"s":"1234567\"89"}`, want{"s": row.String("1234567\"89")}},
		{"del passes", "{\"s\":\"\x7f\"}", want{"s": row.String("\x7f")}},
		// Keys.
		{"escaped key", `{"\u0073":"k"}`, want{"s": row.String("k")}},
		{"escaped nested key", `{"us\u0065r":{"i\u0064":"k"}}`, want{"uid": row.String("k")}},
		{"unknown keys skipped", `{"x":{"s":"no","a":[1,{"b":[]}],"t":true},"s":"yes","y":[null,false,"\"]"],"z":-1.5e+3}`, want{"s": row.String("yes")}},
		{"key prefix not a match", `{"ss":"no","s2":"no","":"no","S":"no"}`, want{}},
		// Numbers.
		{"int limits", `{"i":9223372036854775807}`, want{"i": row.Int(math.MaxInt64)}},
		{"int min", `{"i":-9223372036854775808}`, want{"i": row.Int(math.MinInt64)}},
		{"minus zero int", `{"i":-0}`, want{"i": row.Int(0)}},
		{"float int literal", `{"f":3}`, want{"f": row.Float(3)}},
		{"float minus zero", `{"f":-0}`, want{"f": row.Float(math.Copysign(0, -1))}},
		{"float exp", `{"f":1.5e-7}`, want{"f": row.Float(1.5e-7)}},
		{"float big int", `{"f":123456789012345678901234567890}`, want{"f": row.Float(1.2345678901234568e29)}},
		{"float 2^53+1", `{"f":9007199254740993}`, want{"f": row.Float(9007199254740992)}},
		{"float max", `{"f":1.7976931348623157e308}`, want{"f": row.Float(math.MaxFloat64)}},
		{"float underflow", `{"f":1e-400}`, want{"f": row.Float(0)}},
		// Timestamps.
		{"epoch_us floor", `{"us":-1}`, want{"us": row.Timestamp(-1)}},
		{"epoch_s fraction", `{"sec":1763823842.1239}`, want{"sec": row.Timestamp(1763823842123)}},
		{"epoch_s negative fraction", `{"sec":-0.0005}`, want{"sec": row.Timestamp(-1)}},
		{"epoch_s exponent", `{"sec":1.763823842123e9}`, want{"sec": row.Timestamp(1763823842123)}},
		{"rfc offset", `{"rfc":"2025-11-22T16:04:02.5+01:00"}`, want{"rfc": row.Timestamp(1763823842500)}},
		{"rfc escaped", `{"rfc":"2025-11-22T15:04:02\u002e123Z"}`, want{"rfc": row.Timestamp(1763823842123)}},
		// Nested paths.
		{"nested", `{"user":{"name":"n","id":"u1"},"a":{"b":{"c":7,"d":8},"x":1}}`, want{"uid": row.String("u1"), "deep": row.Int(7)}},
		{"nesting at the limit", `{"x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `,"i":1}`, want{"i": row.Int(1)}},
		{"nested null parent", `{"user":null,"a":{"b":null}}`, want{}},
		{"nested empty parent", `{"user":{},"a":{"b":{}}}`, want{}},
		// Duplicate keys: last wins.
		{"duplicate", `{"s":"a","s":"b"}`, want{"s": row.String("b")}},
		{"duplicate after bad", `{"i":"x","i":1}`, want{"i": row.Int(1)}},
		{"duplicate after null", `{"i":null,"i":2}`, want{"i": row.Int(2)}},
		{"duplicate to null", `{"i":2,"i":null}`, want{}},
		{"duplicate parent merges", `{"a":{"b":{"c":1}},"a":{"x":2}}`, want{"deep": row.Int(1)}},
		{"duplicate parent null clears", `{"a":{"b":{"c":1}},"a":null}`, want{}},
		{"duplicate parent bad then good", `{"a":5,"a":{"b":{"c":3}}}`, want{"deep": row.Int(3)}},
		{"duplicate escaped string", `{"s":"\n1","s":"\t2"}`, want{"s": row.String("\t2")}},
	}
	dec, err := NewJSONDecoder(tFields)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := make(row.Row, len(tFields))
			for k := range dst {
				dst[k] = row.Value{I: 99, F: 99, S: "stale"} // must all be overwritten
			}
			if err := dec.Decode([]byte(c.in), dst); err != nil {
				t.Fatalf("Decode(%s): %v", c.in, err)
			}
			for k, f := range tFields {
				w, ok := c.want[f.Name]
				if !ok {
					w = row.Null()
				}
				if !dst[k].Equal(w, f.Type) || dst[k] != w && !(f.Type == row.TypeFloat) || math.Signbit(dst[k].F) != math.Signbit(w.F) {
					t.Errorf("field %s = %+v, want %+v", f.Name, dst[k], w)
				}
			}
			for name := range c.want {
				if SchemaOf(tFields).Index(name) < 0 {
					t.Fatalf("bad test: no field %q", name)
				}
			}
			checkAgainstRef(t, dec, tFields, []byte(c.in))
		})
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	cases := []struct {
		in    string
		field string
		off   int
		text  string // the whole Error() text
	}{
		// The example of the spec.
		{`{"s":"x","ms":"abc"}`, "ms", 14, `format/json: field "ms": want number (epoch_ms), got string "abc" at byte 14`},
		// Types.
		{`{"s":1}`, "s", 5, `format/json: field "s": want string, got number 1 at byte 5`},
		{`{"i":"1"}`, "i", 5, `format/json: field "i": want integer, got string "1" at byte 5`},
		{`{"i":1.0}`, "i", 5, `format/json: field "i": want integer, got non-integer number 1.0 at byte 5`},
		{`{"i":1e3}`, "i", 5, `format/json: field "i": want integer, got non-integer number 1e3 at byte 5`},
		{`{"i":true}`, "i", 5, `format/json: field "i": want integer, got bool true at byte 5`},
		{`{"i":[1]}`, "i", 5, `format/json: field "i": want integer, got array at byte 5`},
		{`{"f":{}}`, "f", 5, `format/json: field "f": want number, got object at byte 5`},
		{`{"b":0}`, "b", 5, `format/json: field "b": want bool, got number 0 at byte 5`},
		{`{"b":"true"}`, "b", 5, `format/json: field "b": want bool, got string "true" at byte 5`},
		{`{"us":1.5}`, "us", 6, `format/json: field "us": want number (epoch_us), got non-integer number 1.5 at byte 6`},
		{`{"ms":1.5}`, "ms", 6, `format/json: field "ms": want number (epoch_ms), got non-integer number 1.5 at byte 6`},
		{`{"sec":"1"}`, "sec", 7, `format/json: field "sec": want number (epoch_s), got string "1" at byte 7`},
		{`{"rfc":1763823842123}`, "rfc", 7, `format/json: field "rfc": want string (rfc3339), got number 1763823842123 at byte 7`},
		{`{"user":"u1"}`, "user", 8, `format/json: field "user": want object, got string "u1" at byte 8`},
		{`{"a":{"b":[]}}`, "a.b", 10, `format/json: field "a.b": want object, got array at byte 10`},
		{`{"user":{"id":5}}`, "user.id", 14, `format/json: field "user.id": want string, got number 5 at byte 14`},
		{`{"i":"` + strings.Repeat("x", 50) + `"}`, "i", 5, `format/json: field "i": want integer, got string "` + strings.Repeat("x", 39) + "… at byte 5"},
		// Ranges.
		{`{"i":9223372036854775808}`, "i", 5, `format/json: field "i": integer 9223372036854775808 out of range for int64 at byte 5`},
		{`{"i":-9223372036854775809}`, "i", 5, `format/json: field "i": integer -9223372036854775809 out of range for int64 at byte 5`},
		{`{"i":123456789012345678901234567890}`, "i", 5, `format/json: field "i": integer 123456789012345678901234567890 out of range for int64 at byte 5`},
		{`{"ms":99999999999999999999}`, "ms", 6, `format/json: field "ms": integer 99999999999999999999 out of range for int64 at byte 6`},
		{`{"f":1e400}`, "f", 5, `format/json: field "f": number 1e400 out of range for float64 at byte 5`},
		{`{"sec":9223372036854776}`, "sec", 7, `format/json: field "sec": epoch_s timestamp 9223372036854776 out of range at byte 7`},
		{`{"rfc":"2026-02-30T00:00:00Z"}`, "rfc", 7, `format/json: field "rfc": bad rfc3339 timestamp "2026-02-30T00:00:00Z": day out of range at byte 7`},
		{`{"rfc":"yesterday"}`, "rfc", 7, `format/json: field "rfc": bad rfc3339 timestamp "yesterday": too short at byte 7`},
		// Invalid JSON.
		{``, "", 0, `format/json: invalid JSON: unexpected end of input at byte 0`},
		{`   `, "", 3, `format/json: invalid JSON: unexpected end of input at byte 3`},
		{`{`, "", 1, `format/json: invalid JSON: unexpected end of input at byte 1`},
		{`{"s":"x"`, "", 8, `format/json: invalid JSON: unexpected end of input at byte 8`},
		{`{"s":"x}`, "", 8, `format/json: invalid JSON: unexpected end of input at byte 8`},
		{`{"s":"x"}}`, "", 9, `format/json: invalid JSON: invalid character '}' after top-level value at byte 9`},
		{`{"s":"x"} {}`, "", 10, `format/json: invalid JSON: invalid character '{' after top-level value at byte 10`},
		{`{"s":"x",}`, "", 9, `format/json: invalid JSON: invalid character '}' looking for beginning of object key string at byte 9`},
		{`{"s" "x"}`, "", 5, `format/json: invalid JSON: invalid character '"' after object key at byte 5`},
		{`{s:"x"}`, "", 1, `format/json: invalid JSON: invalid character 's' looking for beginning of object key string at byte 1`},
		{`{"s":'x'}`, "", 5, `format/json: invalid JSON: invalid character '\'' looking for beginning of value at byte 5`},
		{`{"x":'x'}`, "", 5, `format/json: invalid JSON: invalid character '\'' looking for beginning of value at byte 5`},
		{`{"s":"x" "i":1}`, "", 9, `format/json: invalid JSON: invalid character '"' after object key:value pair at byte 9`},
		{"{\"s\":\"a\nb\"}", "", 7, `format/json: invalid JSON: invalid character '\x0a' in string literal at byte 7`},
		{`{"s":"\x"}`, "", 7, `format/json: invalid JSON: invalid character 'x' in string escape code at byte 7`},
		{`{"s":"\u12g4"}`, "", 10, `format/json: invalid JSON: invalid character 'g' in string escape code at byte 10`},
		{`{"x":"\q"}`, "", 7, `format/json: invalid JSON: invalid character 'q' in string escape code at byte 7`},
		{`{"i":01}`, "", 6, `format/json: invalid JSON: invalid character '1' after object key:value pair at byte 6`},
		{`{"i":-}`, "", 6, `format/json: invalid JSON: invalid character '}' in numeric literal at byte 6`},
		{`{"f":1.}`, "", 7, `format/json: invalid JSON: invalid character '}' in numeric literal at byte 7`},
		{`{"f":1e}`, "", 7, `format/json: invalid JSON: invalid character '}' in numeric literal at byte 7`},
		{`{"f":+1}`, "", 5, `format/json: invalid JSON: invalid character '+' looking for beginning of value at byte 5`},
		{`{"x":+1}`, "", 5, `format/json: invalid JSON: invalid character '+' looking for beginning of value at byte 5`},
		{`{"x":.5}`, "", 5, `format/json: invalid JSON: invalid character '.' looking for beginning of value at byte 5`},
		{`{"b":tru}`, "", 8, `format/json: invalid JSON: invalid character '}' in literal true (expecting 'e') at byte 8`},
		{`{"x":nul}`, "", 8, `format/json: invalid JSON: invalid character '}' in literal null (expecting 'l') at byte 8`},
		{`{"x":[1,]}`, "", 8, `format/json: invalid JSON: invalid character ']' looking for beginning of value at byte 8`},
		{`{"x":[1 2]}`, "", 8, `format/json: invalid JSON: invalid character '2' after array element at byte 8`},
		{`{"x":{"a" 1}}`, "", 10, `format/json: invalid JSON: invalid character '1' after object key at byte 10`},
		{`{"i":"x"` + "\x00", "", 8, `format/json: invalid JSON: invalid character '\x00' after object key:value pair at byte 8`},
		{"\xef\xbb\xbf{}", "", 0, `format/json: invalid JSON: invalid character '\xef' looking for beginning of value at byte 0`},
		{`{"x":[` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `]}`, "", 1004,
			`format/json: invalid JSON: nesting deeper than 1000 at byte 1004`},
		// Not an object.
		{`[]`, "", 0, `format/json: want object, got array at byte 0`},
		{`"s"`, "", 0, `format/json: want object, got string "s" at byte 0`},
		{`null`, "", 0, `format/json: want object, got null at byte 0`},
		{` 12`, "", 1, `format/json: want object, got number 12 at byte 1`},
	}
	dec, err := NewJSONDecoder(tFields)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		dst := make(row.Row, len(tFields))
		err := dec.Decode([]byte(c.in), dst)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("Decode(%q) = %v, want a *DecodeError", c.in, err)
			continue
		}
		if err.Error() != c.text {
			t.Errorf("Decode(%q):\n got %s\nwant %s", c.in, err, c.text)
		}
		if de.Field != c.field || c.off >= 0 && de.Offset != c.off {
			t.Errorf("Decode(%q): field %q offset %d, want %q %d", c.in, de.Field, de.Offset, c.field, c.off)
		}
		checkAgainstRef(t, dec, tFields, []byte(c.in))
	}
}

func TestJSONDecodeRequired(t *testing.T) {
	fields := []Field{
		{Name: "id", Type: row.TypeString},
		{Name: "n", Type: row.TypeInt, Path: "x.n"},
		{Name: "opt", Type: row.TypeBool, Optional: true},
	}
	dec, err := NewJSONDecoder(fields)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		`{"id":"a","x":{"n":1}}`:               "",
		`{"id":"a","x":{"n":1},"opt":null}`:    "",
		`{"x":{"n":1}}`:                        `format/json: field "id": missing required field`,
		`{"id":"a"}`:                           `format/json: field "x.n": missing required field`,
		`{"id":"a","x":null}`:                  `format/json: field "x.n": missing required field`,
		`{"id":"a","x":{"n":1},"x":null}`:      `format/json: field "x.n": missing required field`,
		`{"id":"a","x":{}}`:                    `format/json: field "x.n": missing required field`,
		`{"id":null,"x":{"n":1}}`:              `format/json: field "id": want string, got null (field is not optional) at byte 6`,
		`{"id":"a","x":{"n":null}}`:            `format/json: field "x.n": want integer, got null (field is not optional) at byte 19`,
		`{"id":"a","id":null,"x":{"n":1}}`:     `format/json: field "id": want string, got null (field is not optional) at byte 15`,
		`{"id":null,"id":"b","x":{"n":1}}`:     "",
		`{"id":1,"x":{"n":"s"}}`:               `format/json: field "id": want string, got number 1 at byte 6`,
		`{"x":{"n":"s"},"id":1}`:               `format/json: field "id": want string, got number 1 at byte 20`,
		`{"id":"a","x":[{"n":1}]}`:             `format/json: field "x": want object, got array at byte 14`,
		`{"id":"a","x":{"n":1},"x":4}`:         `format/json: field "x": want object, got number 4 at byte 26`,
		`{"id":"a","x":{"n":1},"x":{"n":"s"}}`: `format/json: field "x.n": want integer, got string "s" at byte 31`,
	}
	for in, wantErr := range cases {
		dst := make(row.Row, len(fields))
		err := dec.Decode([]byte(in), dst)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("Decode(%s): %v", in, err)
		case wantErr != "" && (err == nil || err.Error() != wantErr):
			t.Errorf("Decode(%s) = %v, want %s", in, err, wantErr)
		case wantErr == "":
			if dst[0].S != "a" && dst[0].S != "b" || dst[1].I != 1 || !dst[2].Null {
				t.Errorf("Decode(%s) = %v", in, dst)
			}
		}
		checkAgainstRef(t, dec, fields, []byte(in))
	}
}

// TestJSONDecodeStringLifetime pins the documented lifetime: unescaped strings live in scratch
// memory that the next Decode reuses; escape-free strings alias the input.
func TestJSONDecodeStringLifetime(t *testing.T) {
	dec, err := NewJSONDecoder([]Field{{Name: "a", Type: row.TypeString}, {Name: "b", Type: row.TypeString}})
	if err != nil {
		t.Fatal(err)
	}
	in := []byte(`{"a":"plain","b":"esc\naped"}`)
	dst := make(row.Row, 2)
	if err := dec.Decode(in, dst); err != nil {
		t.Fatal(err)
	}
	kept := dst.Clone()
	if dst[0].S != "plain" || dst[1].S != "esc\naped" {
		t.Fatalf("decoded %v", dst)
	}
	// Within one record several scratch strings must not overwrite one another.
	in2 := []byte(`{"a":"\u0041\u0042","b":"\u0043` + strings.Repeat("\\n", 100) + `"}`)
	dst2 := make(row.Row, 2)
	if err := dec.Decode(in2, dst2); err != nil {
		t.Fatal(err)
	}
	if dst2[0].S != "AB" || dst2[1].S != "C"+strings.Repeat("\n", 100) {
		t.Fatalf("decoded %v", dst2)
	}
	// The next Decode reuses the scratch buffer: a scratch-backed string of the previous record
	// is overwritten, which is why callers clone what they keep.
	if err := dec.Decode([]byte(`{"a":"x","b":"\u0041\u0042"}`), dst2); err != nil {
		t.Fatal(err)
	}
	old := dst2[1].S
	if err := dec.Decode([]byte(`{"a":"x","b":"\u0043\u0044"}`), dst2); err != nil {
		t.Fatal(err)
	}
	if old != "CD" || dst2[1].S != "CD" {
		t.Fatalf("scratch not reused: old string %q, new %q", old, dst2[1].S)
	}
	// An escape-free string aliases the input: changing the input changes it.
	in[6] = 'P'
	if dst[0].S != "Plain" {
		t.Fatalf("escape-free string %q does not alias the input", dst[0].S)
	}
	if kept[0].S != "plain" || kept[1].S != "esc\naped" {
		t.Fatalf("Clone did not protect the row: %v", kept)
	}
}

func TestJSONDecodeRowLength(t *testing.T) {
	dec, err := NewJSONDecoder(tFields)
	if err != nil {
		t.Fatal(err)
	}
	err = dec.Decode([]byte(`{}`), make(row.Row, 2))
	if err == nil || !strings.Contains(err.Error(), "row has 2 values, decoder has 10 fields") {
		t.Fatalf("got %v", err)
	}
}

// TestJSONDecodeManyKeys covers objects with more children than the linear lookup handles, so
// the map lookup and the escaped-key path are exercised too.
func TestJSONDecodeManyKeys(t *testing.T) {
	var fields []Field
	for k := range 20 {
		name := string(rune('a'+k)) + "x"
		fields = append(fields, Field{Name: name, Type: row.TypeInt, Path: "o." + name})
	}
	fields = append(fields, Field{Name: "q\"uote", Type: row.TypeString, Optional: true})
	dec, err := NewJSONDecoder(fields)
	if err != nil {
		t.Fatal(err)
	}
	// {"o":{"ax":0,"bx":1,...,"zz":1},"q\"uote":"v"}, plainly and with every key escaped.
	var plain, escaped strings.Builder
	plain.WriteString(`{"o":{`)
	escaped.WriteString(`{"\u006f":{`)
	for k, f := range fields[:20] {
		if k > 0 {
			plain.WriteString(",")
			escaped.WriteString(",")
		}
		v := string(rune('0' + k%10))
		plain.WriteString(`"` + f.Name + `":` + v)
		escaped.WriteString(`"\u00` + hex2(f.Name[0]) + `x":` + v)
	}
	plain.WriteString(`,"zz":1},"q\"uote":"v"}`)
	escaped.WriteString(`},"q\u0022uote":"v"}`)
	for _, in := range []string{plain.String(), escaped.String()} {
		dst := make(row.Row, len(fields))
		if err := dec.Decode([]byte(in), dst); err != nil {
			t.Fatalf("Decode(%s): %v", in, err)
		}
		for k := range 20 {
			if dst[k].I != int64(k%10) {
				t.Fatalf("Decode(%s): field %s = %v", in, fields[k].Name, dst[k])
			}
		}
		if dst[20].S != "v" {
			t.Fatalf("Decode(%s): quoted key field = %v", in, dst[20])
		}
		checkAgainstRef(t, dec, fields, []byte(in))
	}
}

func hex2(c byte) string { return string([]byte{"0123456789abcdef"[c>>4], "0123456789abcdef"[c&15]}) }

// TestJSONDecodeAllocs: decoding a typical escape-free event allocates nothing.
func TestJSONDecodeAllocs(t *testing.T) {
	dec, err := NewJSONDecoder(emojiFields)
	if err != nil {
		t.Fatal(err)
	}
	dst := make(row.Row, len(emojiFields))
	allocs := testing.AllocsPerRun(1000, func() {
		if err := dec.Decode(emojiEvent, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %v times per event", allocs)
	}
	// Also with every kind and a nested path, and with escapes once the scratch buffer has grown.
	dec2, err := NewJSONDecoder(tFields)
	if err != nil {
		t.Fatal(err)
	}
	in := []byte(`{"s":"a\nb","i":-42,"f":2.5,"b":true,"ms":1,"us":1,"sec":1.5,"rfc":"2026-11-22T15:04:02.123+01:00","user":{"id":"u"},"a":{"b":{"c":1}},"x":[1,{"y":null}]}`)
	dst2 := make(row.Row, len(tFields))
	allocs = testing.AllocsPerRun(1000, func() {
		if err := dec2.Decode(in, dst2); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %v times per record with every kind", allocs)
	}
}
