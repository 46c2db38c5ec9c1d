package format

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanning primitives of the JSON decoder. They work on (data, index) pairs and return the
// index after what they read, so the hot loop keeps its state in registers.

// maxDepth bounds the nesting of objects and arrays, the top-level object counting as 1, so that
// a hostile record cannot exhaust the stack.
const maxDepth = 1000

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Results of scanString.
const (
	strEscaped uint8 = 1 << iota // the string has a backslash escape
	strHigh                      // the string has bytes >= 0x80 (maybe invalid UTF-8)

	strErrEOF     // no closing quote
	strErrControl // an unescaped control character
	strErrEscape  // a malformed escape
)

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// scanString validates the JSON string whose opening quote is data[i]. On success it returns the
// index after the closing quote and strEscaped/strHigh flags. On failure it returns the offset of
// the problem and one strErr* flag.
func scanString(data []byte, i int) (int, uint8) {
	j := i + 1
	var flags uint8
	var high uint64 // bytes seen, ORed: bit 7 set if any was >= 0x80
	for {
		// Find the next quote, backslash or control character, eight bytes at a time. Each
		// test flags exactly the matching bytes up to the first match (a borrow can only
		// wrongly flag bytes above it), so the lowest flagged byte is the first special one.
		for j+8 <= len(data) {
			w := binary.LittleEndian.Uint64(data[j:])
			q := w ^ (lsb * '"')
			b := w ^ (lsb * '\\')
			t := ((q-lsb)&^q | (b-lsb)&^b | (w-lsb*0x20)&^w) & msb
			if t != 0 {
				k := bits.TrailingZeros64(t) >> 3
				high |= w & (1<<(k<<3) - 1)
				j += k
				goto found
			}
			high |= w
			j += 8
		}
		for ; j < len(data); j++ {
			if c := data[j]; c == '"' || c == '\\' || c < 0x20 {
				goto found
			}
			high |= uint64(data[j])
		}
		return len(data), strErrEOF
	found:
		switch data[j] {
		case '"':
			if high&msb != 0 {
				flags |= strHigh
			}
			return j + 1, flags
		case '\\':
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
		default:
			return j, strErrControl
		}
	}
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		h := unhex(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | rune(h)
	}
	return r
}

// appendUnescaped appends the content of a validated JSON string (without its quotes) to dst,
// resolving escapes and replacing lone surrogates and invalid UTF-8 bytes with U+FFFD, exactly as
// encoding/json does.
func appendUnescaped(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != utf8.RuneError {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			if rr == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[r:r+size]...)
			}
			r += size
		}
	}
	return dst
}

// number is a scanned JSON number.
type number struct {
	mant     uint64 // the integer digits, when isInt and not overflow
	neg      bool
	isInt    bool // no fraction, no exponent
	overflow bool // the integer digits do not fit uint64
}

// scanNumber validates the JSON number starting at data[i] and returns it and the index after
// it. On a grammar error the index is where the problem is and ok is false.
func scanNumber(data []byte, i int) (n number, end int, ok bool) {
	j := i
	if data[j] == '-' {
		n.neg = true
		j++
	}
	if j >= len(data) {
		return n, j, false
	}
	switch c := data[j]; {
	case c == '0':
		j++
	case '1' <= c && c <= '9':
		k := j
		m := uint64(c - '0')
		j++
		for j < len(data) && data[j]-'0' <= 9 {
			m = m*10 + uint64(data[j]-'0')
			j++
		}
		if j-k > 19 { // 19 digits always fit in uint64; re-read longer ones with care
			m = 0
			for _, c := range data[k:j] {
				d := uint64(c - '0')
				if m > (1<<64-1)/10 || m*10 > 1<<64-1-d {
					n.overflow = true
				}
				m = m*10 + d
			}
		}
		n.mant = m
	default:
		return n, j, false
	}
	n.isInt = true
	if j < len(data) && data[j] == '.' {
		n.isInt = false
		j++
		k := j
		for j < len(data) && data[j]-'0' <= 9 {
			j++
		}
		if j == k {
			return n, j, false
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		n.isInt = false
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		k := j
		for j < len(data) && data[j]-'0' <= 9 {
			j++
		}
		if j == k {
			return n, j, false
		}
	}
	return n, j, true
}

// int64 returns n as an int64, or false when it is out of range. n must be an integer.
func (n number) int64() (int64, bool) {
	if n.overflow {
		return 0, false
	}
	if n.neg {
		if n.mant > 1<<63 {
			return 0, false
		}
		return -int64(n.mant), true
	}
	if n.mant > 1<<63-1 {
		return 0, false
	}
	return int64(n.mant), true
}

// floorScaled returns floor(x * 10^p) for the valid JSON number literal lit, computed exactly,
// or false when the result does not fit int64.
func floorScaled(lit []byte, p int) (int64, bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	// Split the literal into mantissa digits (integer and fraction) and the exponent.
	mantEnd, fracLen, dot := len(lit), 0, -1
	for k, c := range lit {
		if c == '.' {
			dot = k
		} else if c == 'e' || c == 'E' {
			mantEnd = k
			break
		}
	}
	if dot >= 0 {
		fracLen = mantEnd - dot - 1
	}
	exp := 0
	if mantEnd < len(lit) {
		e := lit[mantEnd+1:]
		eneg := e[0] == '-'
		if e[0] == '-' || e[0] == '+' {
			e = e[1:]
		}
		for _, c := range e {
			if exp < 1_000_000 { // beyond this the result is 0, -1 or out of range anyway
				exp = exp*10 + int(c-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	// The value is D * 10^k where D is the mantissa digits read as an integer.
	k := exp - fracLen + p
	// Count significant digits (after leading zeros).
	sig, started := 0, false
	for _, c := range lit[:mantEnd] {
		if c == '.' {
			continue
		}
		if c != '0' {
			started = true
		}
		if started {
			sig++
		}
	}
	keep := sig // digits that form the integer part of D * 10^k
	if k < 0 {
		keep = sig + k
	}
	var acc uint64
	var over, rest bool
	t := 0
	started = false
	for _, c := range lit[:mantEnd] {
		if c == '.' || (!started && c == '0') {
			continue
		}
		started = true
		d := uint64(c - '0')
		if t < keep {
			if acc > (1<<64-1)/10 || acc*10 > 1<<64-1-d {
				over = true
			}
			acc = acc*10 + d
		} else if d != 0 {
			rest = true
		}
		t++
	}
	if k > 0 && acc != 0 {
		for ; k > 0 && !over; k-- {
			if acc > (1<<64-1)/10 {
				over = true
			}
			acc *= 10
		}
	}
	if over {
		return 0, false
	}
	if neg {
		if rest {
			acc++
		}
		if acc > 1<<63 || acc == 0 && rest {
			return 0, false
		}
		return -int64(acc), true
	}
	if acc > 1<<63-1 {
		return 0, false
	}
	return int64(acc), true
}

// skipValue validates and skips the JSON value at data[i], which sits at nesting depth depth
// when it is an object or array. It returns the index after the value.
func skipValue(data []byte, i, depth int) (int, *DecodeError) {
	if i >= len(data) {
		return i, syntaxErr(data, i, "")
	}
	switch c := data[i]; c {
	case '"':
		end, fl := scanString(data, i)
		if fl >= strErrEOF {
			return end, stringErr(data, end, fl)
		}
		return end, nil
	case '{':
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
			end, fl := scanString(data, i)
			if fl >= strErrEOF {
				return end, stringErr(data, end, fl)
			}
			i = skipWS(data, end)
			if i >= len(data) || data[i] != ':' {
				return i, syntaxErr(data, i, "after object key")
			}
			var err *DecodeError
			if i, err = skipValue(data, skipWS(data, i+1), depth+1); err != nil {
				return i, err
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
	case '[':
		if depth > maxDepth {
			return i, depthErr(i)
		}
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		for {
			var err *DecodeError
			if i, err = skipValue(data, i, depth+1); err != nil {
				return i, err
			}
			i = skipWS(data, i)
			if i < len(data) && data[i] == ',' {
				i = skipWS(data, i+1)
				continue
			}
			if i < len(data) && data[i] == ']' {
				return i + 1, nil
			}
			return i, syntaxErr(data, i, "after array element")
		}
	case 't':
		return skipLiteral(data, i, "true")
	case 'f':
		return skipLiteral(data, i, "false")
	case 'n':
		return skipLiteral(data, i, "null")
	default:
		if c == '-' || c-'0' <= 9 {
			_, end, ok := scanNumber(data, i)
			if !ok {
				return end, syntaxErr(data, end, "in numeric literal")
			}
			return end, nil
		}
		return i, syntaxErr(data, i, "looking for beginning of value")
	}
}

// skipLiteral checks that lit (true, false or null) starts at data[i].
func skipLiteral(data []byte, i int, lit string) (int, *DecodeError) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(data) || data[i+k] != lit[k] {
			return i + k, syntaxErr(data, i+k, "in literal "+lit+" (expecting "+quoteChar(lit[k])+")")
		}
	}
	return i + len(lit), nil
}

func syntaxErr(data []byte, i int, context string) *DecodeError {
	if i >= len(data) {
		return &DecodeError{Format: "json", Offset: len(data), Reason: "invalid JSON: unexpected end of input"}
	}
	r := "invalid JSON: invalid character " + quoteChar(data[i])
	if context != "" {
		r += " " + context
	}
	return &DecodeError{Format: "json", Offset: i, Reason: r}
}

func stringErr(data []byte, i int, fl uint8) *DecodeError {
	switch fl {
	case strErrControl:
		return &DecodeError{Format: "json", Offset: i, Reason: "invalid JSON: invalid character " + quoteChar(data[i]) + " in string literal"}
	case strErrEscape:
		return &DecodeError{Format: "json", Offset: i, Reason: "invalid JSON: invalid character " + quoteChar(data[i]) + " in string escape code"}
	}
	return syntaxErr(data, len(data), "")
}

func depthErr(i int) *DecodeError {
	return &DecodeError{Format: "json", Offset: i, Reason: "invalid JSON: nesting deeper than 1000"}
}

// quoteChar formats c for an error message, as encoding/json does.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(rune(c)) + "'"
	}
	const hexDigits = "0123456789abcdef"
	return `'\x` + string([]byte{hexDigits[c>>4], hexDigits[c&15]}) + "'"
}

// describe names the JSON value at data[i] for a type error: `string "abc"`, `number 1.5`,
// `bool true`, `null`, `object`, `array`.
func describe(data []byte, i int) string {
	if i >= len(data) {
		return "end of input"
	}
	switch c := data[i]; {
	case c == '"':
		end, fl := scanString(data, i)
		if fl >= strErrEOF {
			return "unterminated string"
		}
		return "string " + snippet(data[i:end])
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		lit := "false"
		if c == 't' {
			lit = "true"
		}
		end, _ := skipLiteral(data, i, lit)
		return "bool " + snippet(data[i:end])
	case c == 'n':
		return "null"
	case c == '-' || c-'0' <= 9:
		_, end, _ := scanNumber(data, i)
		return "number " + snippet(data[i:end])
	}
	return "invalid character " + quoteChar(data[i])
}

// snippet returns raw input for an error message: at most 40 bytes, valid UTF-8.
func snippet(b []byte) string {
	const max = 40
	if len(b) <= max {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(b[:max]), "\uFFFD") + "…"
}
