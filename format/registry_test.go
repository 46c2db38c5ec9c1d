package format

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/glintstream/glint/row"
)

// upperDecoder is a toy format plugged in from outside the package's built-ins: the value
// upper-cased into the single string field.
type upperDecoder struct{}

func (upperDecoder) Decode(value []byte, dst row.Row) error {
	dst[0] = row.String(strings.ToUpper(string(value)))
	return nil
}

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	if got := reg.Names(); !slices.Equal(got, []string{"json"}) {
		t.Fatalf("Names() = %v", got)
	}
	fields := []Field{{Name: "v", Type: row.TypeString}}
	dec, err := reg.New("json", fields)
	if err != nil {
		t.Fatal(err)
	}
	dst := make(row.Row, 1)
	if err := dec.Decode([]byte(`{"v":"x"}`), dst); err != nil || dst[0].S != "x" {
		t.Fatalf("json decoder from the registry: %v %v", dst, err)
	}

	if err := reg.Register("upper", func(f []Field) (Decoder, error) {
		if len(f) != 1 || f[0].Type != row.TypeString {
			return nil, errors.New("upper: want one string field")
		}
		return upperDecoder{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); !slices.Equal(got, []string{"json", "upper"}) {
		t.Fatalf("Names() = %v", got)
	}
	dec, err = reg.New("upper", fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode([]byte("abc"), dst); err != nil || dst[0].S != "ABC" {
		t.Fatalf("upper: %v %v", dst, err)
	}
	if _, err := reg.New("upper", []Field{{Name: "n", Type: row.TypeInt}}); err == nil || err.Error() != "upper: want one string field" {
		t.Fatalf("factory error not passed through: %v", err)
	}

	// Registries are independent: no global state.
	if got := NewRegistry().Names(); !slices.Equal(got, []string{"json"}) {
		t.Fatalf("a new registry sees %v", got)
	}

	err = reg.Register("json", func([]Field) (Decoder, error) { return nil, nil })
	if !errors.Is(err, ErrDuplicateFormat) || err.Error() != `format: format already registered: "json"` {
		t.Fatalf("duplicate: %v", err)
	}
	if err := reg.Register("", func([]Field) (Decoder, error) { return nil, nil }); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := reg.Register("nil", nil); err == nil {
		t.Fatal("nil factory accepted")
	}
	_, err = reg.New("avro", fields)
	if !errors.Is(err, ErrUnknownFormat) || err.Error() != `format: unknown format "avro" (known: json, upper)` {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := reg.New("json", nil); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("json with no fields: %v", err)
	}
}

func TestParseTimeEncoding(t *testing.T) {
	for _, c := range []struct {
		s    string
		want TimeEncoding
	}{{"epoch_ms", EpochMillis}, {"epoch_us", EpochMicros}, {"epoch_s", EpochSeconds}, {"rfc3339", RFC3339}} {
		got, err := ParseTimeEncoding(c.s)
		if err != nil || got != c.want || got.String() != c.s {
			t.Errorf("ParseTimeEncoding(%q) = %v, %v", c.s, got, err)
		}
	}
	for _, s := range []string{"", "ms", "EPOCH_MS", "rfc3339nano", "epoch_ns"} {
		_, err := ParseTimeEncoding(s)
		if !errors.Is(err, ErrUnknownTimeEncoding) ||
			err.Error() != `format: unknown time encoding "`+s+`" (valid: epoch_ms, epoch_us, epoch_s, rfc3339)` {
			t.Errorf("ParseTimeEncoding(%q): %v", s, err)
		}
	}
	if !slices.Equal(TimeEncodingNames(), []string{"epoch_ms", "epoch_us", "epoch_s", "rfc3339"}) {
		t.Errorf("TimeEncodingNames() = %v", TimeEncodingNames())
	}
	if s := TimeEncoding(9).String(); s != "TimeEncoding(9)" {
		t.Errorf("String() = %s", s)
	}
}

func TestValidateFields(t *testing.T) {
	ts := row.TypeTimestamp
	ok := [][]Field{
		{{Name: "a", Type: row.TypeString}},
		{{Name: "a", Type: row.TypeString, Path: "x.a"}, {Name: "b", Type: ts, Path: "x.b", Time: RFC3339}, {Name: "x", Type: row.TypeInt, Path: "y"}},
		{{Name: "a.b", Type: row.TypeInt}, {Name: "c", Type: row.TypeInt, Path: "a.c"}},
	}
	for _, f := range ok {
		if err := ValidateFields(f); err != nil {
			t.Errorf("ValidateFields(%v): %v", f, err)
		}
	}
	bad := []struct {
		fields []Field
		errs   []string // every problem is reported
	}{
		{nil, []string{"format: invalid field: no fields"}},
		{[]Field{{Name: "", Type: row.TypeString, Path: "p"}}, []string{"fields[0]: empty name"}},
		{[]Field{{Name: "a", Type: row.TypeString}, {Name: "a", Type: row.TypeInt, Path: "b"}},
			[]string{`fields[1]: name "a" already used by fields[0]`}},
		{[]Field{{Name: "a", Type: row.TypeInvalid}, {Name: "b", Type: row.Type(9)}},
			[]string{`fields[0]: field "a": invalid type invalid (valid: string, int, float, bool, timestamp)`,
				`fields[1]: field "b": invalid type Type(9)`}},
		{[]Field{{Name: "a", Type: row.TypeInt, Time: RFC3339}, {Name: "b", Type: ts, Time: 7}},
			[]string{`fields[0]: field "a": time encoding rfc3339 set on a int field`, `fields[1]: field "b": invalid time encoding TimeEncoding(7)`}},
		{[]Field{{Name: "a", Type: row.TypeInt, Path: "x..y"}, {Name: "b", Type: row.TypeInt, Path: ".x"}, {Name: "c", Type: row.TypeInt, Path: "x."}},
			[]string{`fields[0]: field "a": path "x..y" has an empty segment`, `fields[1]: field "b": path ".x" has an empty segment`,
				`fields[2]: field "c": path "x." has an empty segment`}},
		{[]Field{{Name: "a", Type: row.TypeInt, Path: "x"}, {Name: "b", Type: row.TypeInt, Path: "x"}},
			[]string{`fields[1]: field "b": path "x" already used by fields[0]`}},
		{[]Field{{Name: "a", Type: row.TypeInt, Path: "x"}, {Name: "b", Type: row.TypeInt, Path: "x.y.z"}},
			[]string{`fields[1]: field "b": path "x.y.z" lies inside field "a" (path "x"), which would have to be an object`}},
		{[]Field{{Name: "a\xff", Type: row.TypeInt, Path: "p"}, {Name: "b", Type: row.TypeInt, Path: "\xff"}},
			[]string{`fields[0]: name "a\xff" is not valid UTF-8`, `fields[1]: field "b": path "\xff" is not valid UTF-8`}},
	}
	for _, c := range bad {
		err := ValidateFields(c.fields)
		if !errors.Is(err, ErrInvalidField) {
			t.Errorf("ValidateFields(%v) = %v", c.fields, err)
			continue
		}
		if n := strings.Count(err.Error(), "format: invalid field"); n != len(c.errs) {
			t.Errorf("ValidateFields(%v) reports %d problems, want %d: %v", c.fields, n, len(c.errs), err)
		}
		for _, e := range c.errs {
			if !strings.Contains(err.Error(), e) {
				t.Errorf("ValidateFields(%v) = %v\nwant it to contain %s", c.fields, err, e)
			}
		}
		if _, err := NewJSONDecoder(c.fields); !errors.Is(err, ErrInvalidField) {
			t.Errorf("NewJSONDecoder(%v) = %v", c.fields, err)
		}
	}
}

func TestSchemaOf(t *testing.T) {
	s := SchemaOf([]Field{{Name: "a", Type: row.TypeString, Path: "x.y"}, {Name: "t", Type: row.TypeTimestamp, Time: RFC3339}})
	if s.String() != "(a string, t timestamp)" {
		t.Fatalf("SchemaOf = %v", s)
	}
}

func TestDecodeErrorText(t *testing.T) {
	cases := map[string]*DecodeError{
		`format/json: field "ts": want number (epoch_ms), got string "abc" at byte 42`: {Format: "json", Field: "ts", Offset: 42, Reason: `want number (epoch_ms), got string "abc"`},
		`format/json: field "a.b": missing required field`:                             {Format: "json", Field: "a.b", Offset: -1, Reason: "missing required field"},
		`format/json: invalid JSON: unexpected end of input at byte 0`:                 {Format: "json", Offset: 0, Reason: "invalid JSON: unexpected end of input"},
		`format: field "q\"": bad`:                                                     {Field: `q"`, Offset: -1, Reason: "bad"},
	}
	for want, e := range cases {
		if e.Error() != want {
			t.Errorf("Error() = %s, want %s", e.Error(), want)
		}
	}
}
