package format

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/glintstream/glint/row"
)

// randString returns a random valid UTF-8 string mixing ASCII, characters that need escaping,
// multi-byte characters and emoji.
func randString(rng *rand.Rand) string {
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "世", "🔥", "\u2028", "\uFFFD", "\U0010FFFF"}
	n := rng.IntN(12)
	if rng.IntN(10) == 0 {
		n = rng.IntN(200)
	}
	var b strings.Builder
	for range n {
		if rng.IntN(3) == 0 {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		} else {
			b.WriteByte(byte('a' + rng.IntN(26)))
		}
	}
	return b.String()
}

func randFloat(rng *rand.Rand) float64 {
	switch rng.IntN(6) {
	case 0:
		return float64(rng.Int64N(1<<53) - 1<<52)
	case 1:
		return math.Float64frombits(rng.Uint64()) // any bits; NaN/Inf handled by caller
	case 2:
		return []float64{0, math.Copysign(0, -1), math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 1e21, 1e-7, 0.1}[rng.IntN(9)]
	}
	return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
}

// TestRoundTrip: random rows of random schemas, encoded with AppendJSON and decoded (timestamps
// as rfc3339), come back equal.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	types := []row.Type{row.TypeString, row.TypeInt, row.TypeFloat, row.TypeBool, row.TypeTimestamp}
	buf := make([]byte, 0, 1024)
	for iter := range 1000 {
		n := 1 + rng.IntN(12)
		fields := make([]Field, n)
		for k := range fields {
			name := strings.ReplaceAll(randString(rng), ".", "")
			if name == "" || strings.ContainsRune(name, '.') {
				name = "f"
			}
			fields[k] = Field{Name: name + "#" + strconv.Itoa(k), Type: types[rng.IntN(len(types))], Optional: rng.IntN(2) == 0}
			if fields[k].Type == row.TypeTimestamp {
				fields[k].Time = RFC3339
			}
		}
		dec, err := NewJSONDecoder(fields)
		if err != nil {
			t.Fatal(err)
		}
		schema := SchemaOf(fields)
		got := make(row.Row, n)
		for range 20 {
			r := make(row.Row, n)
			for k, f := range fields {
				if f.Optional && rng.IntN(4) == 0 {
					r[k] = row.Null()
					continue
				}
				switch f.Type {
				case row.TypeString:
					r[k] = row.String(randString(rng))
				case row.TypeInt:
					r[k] = row.Int(int64(rng.Uint64()) >> rng.IntN(64))
				case row.TypeFloat:
					x := randFloat(rng)
					for math.IsNaN(x) || math.IsInf(x, 0) {
						x = randFloat(rng)
					}
					r[k] = row.Float(x)
				case row.TypeBool:
					r[k] = row.Bool(rng.IntN(2) == 0)
				case row.TypeTimestamp:
					r[k] = row.Timestamp(minRFC3339Millis + rng.Int64N(maxRFC3339Millis-minRFC3339Millis))
				}
			}
			buf = AppendJSON(buf[:0], schema, r)
			if err := dec.Decode(buf, got); err != nil {
				t.Fatalf("iteration %d: decode %s: %v", iter, buf, err)
			}
			if !rowsEqual(fields, got, r) {
				t.Fatalf("iteration %d: %s decoded to %v, want %v", iter, buf, got, r)
			}
			checkAgainstRef(t, dec, fields, buf)
		}
	}
}

// jsonGen writes random valid JSON objects around a set of field paths: the fields' values of
// right and wrong types (and nulls), unknown keys with nested values, duplicate keys, escaped
// keys and random whitespace.
type jsonGen struct {
	rng    *rand.Rand
	b      []byte
	fields []Field
}

func (g *jsonGen) ws() {
	for g.rng.IntN(4) == 0 {
		g.b = append(g.b, " \t\n\r"[g.rng.IntN(4)])
	}
}

// key writes s as a JSON string, sometimes escaping characters that need no escaping.
func (g *jsonGen) str(s string) {
	if g.rng.IntN(4) != 0 {
		b, _ := json.Marshal(s)
		g.b = append(g.b, b...)
		return
	}
	g.b = append(g.b, '"')
	for _, r := range s {
		switch {
		case r > 0xFFFF:
			r1, r2 := surrogates(r)
			g.b = append(g.b, `\u`+hex4(r1)+`\u`+hex4(r2)...)
		case g.rng.IntN(2) == 0 || r < 0x20 || r == '"' || r == '\\':
			g.b = append(g.b, `\u`+hex4(r)...)
		default:
			g.b = utf8.AppendRune(g.b, r)
		}
	}
	g.b = append(g.b, '"')
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}

func hex4(r rune) string {
	const h = "0123456789abcdef"
	return string([]byte{h[r>>12&15], h[r>>8&15], h[r>>4&15], h[r&15]})
}

// scalar writes a random scalar: strings, integers (some out of range), floats, bools, null,
// timestamps in every encoding.
func (g *jsonGen) scalar() {
	switch g.rng.IntN(12) {
	case 0:
		g.str(randString(g.rng))
	case 1:
		g.b = strconv.AppendInt(g.b, int64(g.rng.Uint64())>>g.rng.IntN(64), 10)
	case 2:
		g.b = append(g.b, []string{"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-0", "0", "1e2", "1.0", "-1.5", "1E+400"}[g.rng.IntN(9)]...)
	case 3:
		x := randFloat(g.rng)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 1
		}
		g.b = strconv.AppendFloat(g.b, x, []byte("geEf")[g.rng.IntN(4)], -1, 64)
	case 4:
		g.b = append(g.b, []string{"true", "false"}[g.rng.IntN(2)]...)
	case 5:
		g.b = append(g.b, "null"...)
	case 6, 7:
		ms := minRFC3339Millis + g.rng.Int64N(maxRFC3339Millis-minRFC3339Millis)
		s := string(appendRFC3339Millis(nil, ms))
		if g.rng.IntN(2) == 0 {
			s = strings.Replace(s, "Z", []string{"+01:00", "-23:59", "+00:00"}[g.rng.IntN(3)], 1)
		}
		if g.rng.IntN(3) == 0 {
			s = strings.Replace(s, ".", ".9", 1)
		}
		if g.rng.IntN(10) == 0 {
			s = strings.Replace(s, "-", "/", 1)
		}
		g.str(s)
	case 8:
		g.b = strconv.AppendInt(g.b, 1763823842123+g.rng.Int64N(1<<40)-1<<39, 10)
	case 9:
		g.b = strconv.AppendFloat(g.b, 1763823842.123+g.rng.NormFloat64()*1e6, 'f', g.rng.IntN(8), 64)
	case 10:
		g.b = strconv.AppendInt(g.b, -g.rng.Int64N(1<<50), 10)
	default:
		g.b = strconv.AppendFloat(g.b, g.rng.NormFloat64(), 'e', g.rng.IntN(20), 64)
	}
}

// good writes a value that field f accepts (most of the time: the timestamp and number
// generators stray out of range now and then).
func (g *jsonGen) good(f Field) {
	if f.Optional && g.rng.IntN(8) == 0 {
		g.b = append(g.b, "null"...)
		return
	}
	switch f.Type {
	case row.TypeString:
		g.str(randString(g.rng))
	case row.TypeInt:
		g.b = strconv.AppendInt(g.b, int64(g.rng.Uint64())>>g.rng.IntN(64), 10)
	case row.TypeFloat:
		x := randFloat(g.rng)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 1
		}
		g.b = strconv.AppendFloat(g.b, x, []byte("geE")[g.rng.IntN(3)], -1, 64)
	case row.TypeBool:
		g.b = strconv.AppendBool(g.b, g.rng.IntN(2) == 0)
	case row.TypeTimestamp:
		ms := minRFC3339Millis + g.rng.Int64N(maxRFC3339Millis-minRFC3339Millis)
		switch f.Time {
		case EpochMillis:
			g.b = strconv.AppendInt(g.b, ms, 10)
		case EpochMicros:
			g.b = strconv.AppendInt(g.b, ms*1000+g.rng.Int64N(1000), 10)
		case EpochSeconds:
			if g.rng.IntN(2) == 0 {
				g.b = strconv.AppendInt(g.b, ms/1000, 10)
			} else {
				g.b = strconv.AppendFloat(g.b, float64(ms)/1000, []byte("fge")[g.rng.IntN(3)], -1, 64)
			}
		case RFC3339:
			s := string(appendRFC3339Millis(nil, ms))
			if g.rng.IntN(2) == 0 {
				s = strings.Replace(s, "Z", []string{"+01:00", "-23:59", "+00:00"}[g.rng.IntN(3)], 1)
			}
			if g.rng.IntN(3) == 0 {
				s = strings.Replace(s, ".", ".9", 1)
			}
			g.str(s)
		}
	}
}

// value writes any value: scalars, arrays and objects of unknown keys.
func (g *jsonGen) value(depth int) {
	if depth > 3 || g.rng.IntN(3) != 0 {
		g.scalar()
		return
	}
	if g.rng.IntN(2) == 0 {
		g.b = append(g.b, '[')
		for k := range g.rng.IntN(4) {
			if k > 0 {
				g.b = append(g.b, ',')
			}
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.b = append(g.b, ']')
		return
	}
	g.b = append(g.b, '{')
	for k := range g.rng.IntN(4) {
		if k > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.str(randString(g.rng))
		g.b = append(g.b, ':')
		g.ws()
		g.value(depth + 1)
	}
	g.b = append(g.b, '}')
}

// object writes an object at path prefix: the keys of fields below prefix (sometimes missing,
// sometimes repeated), nested objects leading to deeper fields, and unknown keys.
func (g *jsonGen) object(prefix []string) {
	type key struct {
		name   string
		field  int  // the field the key names, or -1
		nested bool // the key leads to deeper fields
	}
	var keys []key
	seen := map[string]bool{}
	for i, f := range g.fields {
		segs := strings.Split(f.PathOrName(), ".")
		if len(segs) <= len(prefix) || strings.Join(segs[:len(prefix)], ".") != strings.Join(prefix, ".") {
			continue
		}
		k := key{name: segs[len(prefix)], field: i, nested: len(segs) > len(prefix)+1}
		if k.nested {
			if seen[k.name] {
				continue
			}
			seen[k.name] = true
			k.field = -1
		}
		n := 1
		if g.rng.IntN(10) == 0 {
			n = g.rng.IntN(3)
		}
		for range n {
			keys = append(keys, k)
		}
	}
	for range g.rng.IntN(4) {
		keys = append(keys, key{name: randString(g.rng), field: -1})
	}
	g.rng.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })
	g.b = append(g.b, '{')
	for k, key := range keys {
		if k > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.str(key.name)
		g.ws()
		g.b = append(g.b, ':')
		g.ws()
		switch {
		case g.rng.IntN(12) == 0:
			g.value(0)
		case key.nested:
			g.object(append(prefix[:len(prefix):len(prefix)], key.name))
		case key.field >= 0:
			g.good(g.fields[key.field])
		default:
			g.value(0)
		}
		g.ws()
	}
	g.b = append(g.b, '}')
}

// TestAgreesWithEncodingJSON decodes random valid objects and checks every outcome, acceptance
// and values, against encoding/json's tokenizer (refDecode).
func TestAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	schemas := [][]Field{fuzzFields, tFields, {
		{Name: "m", Type: row.TypeString, Path: "match.id"},
		{Name: "e", Type: row.TypeString, Path: "match.emoji", Optional: true},
		{Name: "t", Type: row.TypeTimestamp, Time: RFC3339, Path: "meta.time.at"},
		{Name: "n", Type: row.TypeFloat, Path: "meta.n", Optional: true},
	}}
	accepted, refused := 0, 0
	for _, fields := range schemas {
		dec, err := NewJSONDecoder(fields)
		if err != nil {
			t.Fatal(err)
		}
		g := &jsonGen{rng: rng, fields: fields}
		for range 5000 {
			g.b = g.b[:0]
			g.ws()
			g.object(nil)
			g.ws()
			if !json.Valid(g.b) {
				t.Fatalf("generator wrote invalid JSON %s", g.b)
			}
			checkAgainstRef(t, dec, fields, g.b)
			if dec.Decode(g.b, make(row.Row, len(fields))) == nil {
				accepted++
			} else {
				refused++
			}
		}
	}
	t.Logf("%d accepted, %d refused", accepted, refused)
	if accepted < 1000 || refused < 1000 {
		t.Fatalf("generator is lopsided: %d accepted, %d refused", accepted, refused)
	}
}
