package format

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/glintstream/glint/row"
)

func TestAppendJSON(t *testing.T) {
	s := row.Schema{Fields: []row.Field{
		{Name: "s", Type: row.TypeString},
		{Name: "i", Type: row.TypeInt},
		{Name: "f", Type: row.TypeFloat},
		{Name: "b", Type: row.TypeBool},
		{Name: "t", Type: row.TypeTimestamp},
	}}
	cases := []struct {
		r    row.Row
		want string
	}{
		{row.Row{row.String("m07"), row.Int(-42), row.Float(2.5), row.Bool(true), row.Timestamp(1795359842000)},
			`{"s":"m07","i":-42,"f":2.5,"b":true,"t":"2026-11-22T15:04:02.000Z"}`},
		{row.Row{row.Null(), row.Null(), row.Null(), row.Null(), row.Null()},
			`{"s":null,"i":null,"f":null,"b":null,"t":null}`},
		{row.Row{row.String(""), row.Int(math.MinInt64), row.Float(math.NaN()), row.Bool(false), row.Timestamp(-1)},
			`{"s":"","i":-9223372036854775808,"f":null,"b":false,"t":"1969-12-31T23:59:59.999Z"}`},
		{row.Row{row.String("q\"b\\s/\n\r\t\b\f\x00\x1f\x7f"), row.Int(math.MaxInt64), row.Float(math.Inf(1)), row.Bool(false), row.Timestamp(0)},
			`{"s":"q\"b\\s/\n\r\t\b\f\u0000\u001f` + "\x7f" + `","i":9223372036854775807,"f":null,"b":false,"t":"1970-01-01T00:00:00.000Z"}`},
		{row.Row{row.String("é🔥世\u2028"), row.Int(0), row.Float(math.Inf(-1)), row.Bool(true), row.Timestamp(253402300799999)},
			`{"s":"é🔥世` + "\u2028" + `","i":0,"f":null,"b":true,"t":"9999-12-31T23:59:59.999Z"}`},
		{row.Row{row.String("a\xffb\xc3(\xed\xa0\x80"), row.Int(1), row.Float(1e21), row.Bool(true), row.Timestamp(-62167219200000)},
			`{"s":"a` + "\uFFFD" + `b` + "\uFFFD" + `(` + "\uFFFD\uFFFD\uFFFD" + `","i":1,"f":1e+21,"b":true,"t":"0000-01-01T00:00:00.000Z"}`},
		{row.Row{row.String("x"), row.Int(1), row.Float(1.5e-7), row.Bool(true), row.Timestamp(1)},
			`{"s":"x","i":1,"f":1.5e-07,"b":true,"t":"1970-01-01T00:00:00.001Z"}`},
		{row.Row{row.String("x"), row.Int(1), row.Float(math.Copysign(0, -1)), row.Bool(true), row.Timestamp(951825600123)},
			`{"s":"x","i":1,"f":-0,"b":true,"t":"2000-02-29T12:00:00.123Z"}`},
		{row.Row{row.String("x"), row.Int(1), row.Float(0.1), row.Bool(true), row.Timestamp(-62167219200001)},
			`{"s":"x","i":1,"f":0.1,"b":true,"t":"-0001-12-31T23:59:59.999Z"}`},
	}
	for _, c := range cases {
		got := string(AppendJSON([]byte("prefix"), s, c.r))
		if got != "prefix"+c.want {
			t.Errorf("AppendJSON(%v)\n got %s\nwant prefix%s", c.r, got, c.want)
		}
	}
	// Keys are escaped too; an empty schema is an empty object.
	ks := row.Schema{Fields: []row.Field{{Name: "a\"b\n", Type: row.TypeInt}}}
	if got := string(AppendJSON(nil, ks, row.Row{row.Int(1)})); got != `{"a\"b\n":1}` {
		t.Errorf("escaped key: %s", got)
	}
	if got := string(AppendJSON(nil, row.Schema{}, nil)); got != `{}` {
		t.Errorf("empty schema: %s", got)
	}
}

// TestAppendJSONStrings checks string escaping against encoding/json on every byte value and on
// every two-byte combination of interesting bytes.
func TestAppendJSONStrings(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
	}
	interesting := []byte{0, 0x1f, ' ', '"', '\\', '/', 'a', 0x7f, 0x80, 0xbf, 0xc2, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xff}
	for _, a := range interesting {
		for _, b := range interesting {
			for _, c := range interesting {
				inputs = append(inputs, string([]byte{a, b, c}))
			}
		}
	}
	s := row.Schema{Fields: []row.Field{{Name: "s", Type: row.TypeString}}}
	for _, in := range inputs {
		out := AppendJSON(nil, s, row.Row{row.String(in)})
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("AppendJSON(%q) = %q: %v", in, out, err)
		}
		if m["s"] != replaceInvalid(in) {
			t.Fatalf("AppendJSON(%q) = %q decodes to %q, want %q", in, out, m["s"], replaceInvalid(in))
		}
	}
}

// TestAppendJSONAllocs: encoding into a buffer with room allocates nothing.
func TestAppendJSONAllocs(t *testing.T) {
	s := row.Schema{Fields: []row.Field{
		{Name: "s", Type: row.TypeString}, {Name: "i", Type: row.TypeInt}, {Name: "f", Type: row.TypeFloat},
		{Name: "b", Type: row.TypeBool}, {Name: "t", Type: row.TypeTimestamp}, {Name: "n", Type: row.TypeInt},
		{Name: "old", Type: row.TypeTimestamp},
	}}
	r := row.Row{row.String("a\"\xff🔥"), row.Int(-42), row.Float(3.14159), row.Bool(true), row.Timestamp(1763823842123),
		row.Null(), row.Timestamp(-1 << 60)}
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = AppendJSON(buf[:0], s, r)
	})
	if allocs != 0 {
		t.Fatalf("AppendJSON allocates %v times per row", allocs)
	}
	if !json.Valid(buf) {
		t.Fatalf("invalid JSON %s", buf)
	}
}
