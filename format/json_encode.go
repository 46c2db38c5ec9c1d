package format

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/glintstream/glint/row"
)

// AppendJSON appends r, a row of schema s (len(r) must equal len(s.Fields)), to dst as a JSON
// object with one key per field in schema order, and returns the extended buffer. It does not
// allocate when dst has room.
//
// Nulls are null; ints are integers; bools true/false; floats the shortest form that round-trips
// (strconv 'g', -1), with NaN and ±Inf written as null since JSON has no such numbers;
// timestamps RFC 3339 strings in UTC with milliseconds ("2026-11-22T15:04:02.000Z"); strings and
// keys are escaped, valid UTF-8 passes through, control characters are escaped, and each invalid
// UTF-8 byte becomes U+FFFD.
func AppendJSON(dst []byte, s row.Schema, r row.Row) []byte {
	dst = append(dst, '{')
	for i, f := range s.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		dst = appendJSONValue(dst, f.Type, r[i])
	}
	return append(dst, '}')
}

func appendJSONValue(dst []byte, t row.Type, v row.Value) []byte {
	if v.Null {
		return append(dst, "null"...)
	}
	switch t {
	case row.TypeString:
		return appendJSONString(dst, v.S)
	case row.TypeInt:
		return strconv.AppendInt(dst, v.I, 10)
	case row.TypeFloat:
		if math.IsNaN(v.F) || math.IsInf(v.F, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, v.F, 'g', -1, 64)
	case row.TypeBool:
		if v.I != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case row.TypeTimestamp:
		dst = append(dst, '"')
		dst = appendRFC3339Millis(dst, v.I)
		return append(dst, '"')
	}
	return append(dst, "null"...)
}

// jsonSafe[c] is true for ASCII bytes that need no escaping inside a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
