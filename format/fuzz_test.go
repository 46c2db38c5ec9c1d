package format

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/glintstream/glint/row"
)

// fuzzFields covers every field kind, nested paths and both required and optional fields.
var fuzzFields = []Field{
	{Name: "s", Type: row.TypeString},
	{Name: "i", Type: row.TypeInt, Optional: true},
	{Name: "f", Type: row.TypeFloat, Optional: true},
	{Name: "b", Type: row.TypeBool, Optional: true},
	{Name: "ms", Type: row.TypeTimestamp, Time: EpochMillis, Optional: true},
	{Name: "us", Type: row.TypeTimestamp, Time: EpochMicros, Optional: true},
	{Name: "sec", Type: row.TypeTimestamp, Time: EpochSeconds, Optional: true},
	{Name: "rfc", Type: row.TypeTimestamp, Time: RFC3339, Optional: true},
	{Name: "uid", Type: row.TypeString, Path: "u.id"},
	{Name: "deep", Type: row.TypeInt, Path: "u.n.x", Optional: true},
}

var fuzzSeeds = []string{
	`{"s":"a","u":{"id":"x"}}`,
	`{"s":"a\u00e9\ud83d\udd25\n","i":-9223372036854775808,"f":1.5e-7,"b":true,"ms":1763823842123,"us":-1,"sec":1.0005,"rfc":"2026-11-22T15:04:02.123456+01:00","u":{"id":"x","n":{"x":7}},"other":[1,{"a":[]},"z"]}`,
	`{"s":"", "u" : {"id":null}, "i": 9223372036854775808}`,
	`{"s":"a","u":{"id":"x"},"s":"b","u":null}`,
	`{"s":"\ud800x","u":{"id":"\udc00\ud800\udc00"},"f":-0}`,
	`{"s":"a","u":{"id":"x"},"sec":-1e-3,"us":1e3}`,
	`{"s":"a","u":5,"u":{"id":"y"}}`,
	`{"s":"a","u":{"id":"x"},"rfc":"2024-02-29T23:59:59.9999Z","f":1e400}`,
	`{"\u0073":"esc","u":{"i\u0064":"k"}}`,
	"{\"s\":\"\xff\xfe\",\"u\":{\"id\":\"\xed\xa0\x80\"}}",
	`{"s":"a","u":{"id":"x"}} x`,
	`[{"s":"a"}]`,
	`{"s":"a","u":{"id":"x"},"i":1.0}`,
	`{"s":"a","u":{"id":"x"},"sec":123456789012345678901234567890e-20}`,
}

// FuzzJSONDecode: no input panics the decoder, errors are *DecodeError, and every accepted input
// is valid JSON that encoding/json's tokenizer (refDecode) reads to the same row; conversely
// what the reference accepts is accepted. Decoding again gives the same row, so no state leaks
// from one record to the next.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, err := NewJSONDecoder(fuzzFields)
		if err != nil {
			t.Fatal(err)
		}
		prev := make(row.Row, len(fuzzFields))
		_ = dec.Decode([]byte(fuzzSeeds[1]), prev) // leave state and scratch behind
		checkAgainstRef(t, dec, fuzzFields, data)

		a, b := make(row.Row, len(fuzzFields)), make(row.Row, len(fuzzFields))
		errA := dec.Decode(data, a)
		a = a.Clone()
		errB := dec.Decode(data, b)
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("decoding twice: %v then %v", errA, errB)
		}
		if errA == nil && !rowsEqual(fuzzFields, a, b) {
			t.Fatalf("decoding twice: %v then %v", a, b)
		}
	})
}

// FuzzAppendJSON: any string encodes to valid JSON that encoding/json decodes back to the string
// with invalid UTF-8 bytes replaced, and the JSON decoder agrees.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s/\n\r\t\b\f\x00\x1f\x7f", "é🔥\u2028", "\xff\xed\xa0\x80ok", "\xf0\x9f\x94"} {
		f.Add(s, int64(0), 1.5)
	}
	fields := []Field{
		{Name: "s", Type: row.TypeString},
		{Name: "t", Type: row.TypeTimestamp, Time: RFC3339},
		{Name: "f", Type: row.TypeFloat, Optional: true},
	}
	schema := SchemaOf(fields)
	f.Fuzz(func(t *testing.T, s string, ms int64, x float64) {
		ms %= maxRFC3339Millis // keep to years 0000-9999
		if ms < minRFC3339Millis {
			ms = -ms
		}
		out := AppendJSON(nil, schema, row.Row{row.String(s), row.Timestamp(ms), row.Float(x)})
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("AppendJSON(%q) = %q: not valid JSON", s, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if want := replaceInvalid(s); m["s"] != want {
			t.Fatalf("AppendJSON(%q) = %q decodes to %q, want %q", s, out, m["s"], want)
		}
		dec, err := NewJSONDecoder(fields)
		if err != nil {
			t.Fatal(err)
		}
		got := make(row.Row, 3)
		if err := dec.Decode(out, got); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		want := row.Row{row.String(replaceInvalid(s)), row.Timestamp(ms), row.Float(x)}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			want[2] = row.Null()
		}
		if !rowsEqual(fields, got, want) {
			t.Fatalf("round trip of %q: %v, want %v", out, got, want)
		}
	})
}

// replaceInvalid replaces each invalid UTF-8 byte of s with U+FFFD, as encoding/json does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
