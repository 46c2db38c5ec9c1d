package format

import (
	"math/rand/v2"
	"testing"
)

// naiveScanString is scanString written byte by byte, the reference for the eight-byte scan.
func naiveScanString(data []byte, i int) (int, uint8) {
	var flags uint8
	for j := i + 1; j < len(data); {
		c := data[j]
		switch {
		case c == '"':
			return j + 1, flags
		case c == '\\':
			flags |= strEscaped
			if j+1 >= len(data) {
				return len(data), strErrEOF
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= len(data) {
						return len(data), strErrEOF
					}
					if unhex(data[k]) < 0 {
						return k, strErrEscape
					}
				}
				j += 6
			default:
				return j + 1, strErrEscape
			}
		case c < 0x20:
			return j, strErrControl
		default:
			if c >= 0x80 {
				flags |= strHigh
			}
			j++
		}
	}
	return len(data), strErrEOF
}

func TestScanString(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte{'a', 'z', '"', '\\', 'u', 'n', '0', 'F', 'g', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xa9, 0xff}
	for range 500_000 {
		n := rng.IntN(40)
		data := make([]byte, 1+n)
		data[0] = '"'
		for k := 1; k <= n; k++ {
			if rng.IntN(4) == 0 {
				data[k] = alphabet[rng.IntN(len(alphabet))]
			} else {
				data[k] = byte('a' + rng.IntN(26))
			}
		}
		gotEnd, gotFl := scanString(data, 0)
		wantEnd, wantFl := naiveScanString(data, 0)
		if gotEnd != wantEnd || gotFl != wantFl {
			t.Fatalf("scanString(%q) = %d %b, want %d %b", data, gotEnd, gotFl, wantEnd, wantFl)
		}
	}
}
