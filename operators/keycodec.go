package operators

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/glintstream/glint/row"
)

// Keys are encoded into bytes that are equal exactly when the key values are equal
// (row.Value.Equal) and that sort, compared bytewise, as the values do (row.Value.Compare, in
// key-column order; NaN sorts after +Inf). The bytes are a map key on the hot path, the order of
// emission and the snapshot form of a key, so a key is never held twice in two shapes.
//
// Per column: 0x00 for null, or 0x01 followed by
//   - int, bool, timestamp: 8 bytes big endian of the value with the sign bit flipped;
//   - float: 8 bytes big endian of the IEEE bits, flipped so that they order as numbers;
//     -0 is written as +0 and every NaN as one NaN, since Equal calls those equal;
//   - string: the bytes with 0x00 escaped as 0x00 0xFF, then the terminator 0x00 0x01.
const (
	keyNull  = 0x00
	keyValue = 0x01
)

var canonicalNaN = math.Float64bits(math.NaN())

// appendKey encodes the key columns cols of r (types in types) to dst.
func appendKey(dst []byte, r row.Row, cols []int, types []row.Type) []byte {
	for i, c := range cols {
		dst = appendKeyValue(dst, r[c], types[i])
	}
	return dst
}

func appendKeyValue(dst []byte, v row.Value, t row.Type) []byte {
	if v.Null {
		return append(dst, keyNull)
	}
	switch t {
	case row.TypeString:
		dst = append(dst, keyValue)
		s := v.S
		for {
			i := strings.IndexByte(s, 0)
			if i < 0 {
				break
			}
			dst = append(dst, s[:i]...)
			dst = append(dst, 0x00, 0xFF)
			s = s[i+1:]
		}
		dst = append(dst, s...)
		return append(dst, 0x00, 0x01)
	case row.TypeFloat:
		return binary.BigEndian.AppendUint64(append(dst, keyValue), floatKeyBits(v.F))
	default:
		return binary.BigEndian.AppendUint64(append(dst, keyValue), uint64(v.I)^(1<<63))
	}
}

func floatKeyBits(f float64) uint64 {
	var b uint64
	switch {
	case f == 0:
		b = 0
	case f != f:
		b = canonicalNaN
	default:
		b = math.Float64bits(f)
	}
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func floatFromKeyBits(u uint64) float64 {
	if u>>63 == 1 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

// decodeKey writes the values of the encoded key k (written by appendKey) to dst, which has
// one slot per type. Strings without an escaped zero byte share k's memory. k must be valid
// (see validKey); decodeKey panics on malformed input.
func decodeKey(dst row.Row, k string, types []row.Type) {
	for i, t := range types {
		var n int
		dst[i], n = decodeKeyValue(k, t)
		k = k[n:]
	}
}

func decodeKeyValue(k string, t row.Type) (row.Value, int) {
	if k[0] == keyNull {
		return row.Value{Null: true}, 1
	}
	switch t {
	case row.TypeString:
		body := k[1:]
		i := strings.IndexByte(body, 0)
		if body[i+1] == 0x01 { // no escapes: share the key's memory
			return row.Value{S: body[:i]}, 1 + i + 2
		}
		var b strings.Builder
		n := 1
		for {
			i := strings.IndexByte(k[n:], 0)
			b.WriteString(k[n : n+i])
			n += i
			if k[n+1] == 0x01 {
				return row.Value{S: b.String()}, n + 2
			}
			b.WriteByte(0)
			n += 2
		}
	case row.TypeFloat:
		return row.Value{F: floatFromKeyBits(binary.BigEndian.Uint64([]byte(k[1:9])))}, 9
	default:
		return row.Value{I: int64(binary.BigEndian.Uint64([]byte(k[1:9])) ^ (1 << 63))}, 9
	}
}

// validKey reports whether k is exactly one well-formed key of the given types, in canonical
// form (so that equal keys have equal bytes): what Restore checks before trusting a key.
func validKey(k string, types []row.Type) error {
	for ci, t := range types {
		if len(k) == 0 {
			return fmt.Errorf("key column %d missing", ci)
		}
		tag := k[0]
		k = k[1:]
		if tag == keyNull {
			continue
		}
		if tag != keyValue {
			return fmt.Errorf("key column %d: bad tag %#x", ci, tag)
		}
		switch t {
		case row.TypeString:
			for {
				i := strings.IndexByte(k, 0)
				if i < 0 || i+1 >= len(k) {
					return fmt.Errorf("key column %d: unterminated string", ci)
				}
				esc := k[i+1]
				k = k[i+2:]
				if esc == 0x01 {
					break
				}
				if esc != 0xFF {
					return fmt.Errorf("key column %d: bad escape %#x", ci, esc)
				}
			}
		case row.TypeFloat:
			if len(k) < 8 {
				return fmt.Errorf("key column %d: short float", ci)
			}
			f := floatFromKeyBits(binary.BigEndian.Uint64([]byte(k[:8])))
			if floatKeyBits(f) != binary.BigEndian.Uint64([]byte(k[:8])) {
				return fmt.Errorf("key column %d: non-canonical float", ci)
			}
			k = k[8:]
		default:
			if len(k) < 8 {
				return fmt.Errorf("key column %d: short value", ci)
			}
			k = k[8:]
		}
	}
	if len(k) != 0 {
		return fmt.Errorf("%d trailing bytes after key", len(k))
	}
	return nil
}
