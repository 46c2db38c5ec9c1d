package format

import (
	"errors"
	"strconv"
)

// Sentinel errors. Configuration errors wrap them; decode errors are *DecodeError.
var (
	ErrUnknownFormat       = errors.New("format: unknown format")
	ErrDuplicateFormat     = errors.New("format: format already registered")
	ErrUnknownTimeEncoding = errors.New("format: unknown time encoding")
	ErrInvalidField        = errors.New("format: invalid field")
)

// DecodeError is why one record could not be decoded. Its Error text is meant for a dead-letter
// record, e.g.
//
//	format/json: field "ts": want number (epoch_ms), got string "abc" at byte 42
type DecodeError struct {
	// Format is the decoder's format name, e.g. "json".
	Format string
	// Field is the dotted path of the field concerned, empty for an error of the record as a
	// whole (invalid JSON, trailing bytes).
	Field string
	// Offset is the byte offset in the record where the problem was found, or -1 when it
	// concerns no position (a missing field).
	Offset int
	// Reason says what is wrong.
	Reason string
}

func (e *DecodeError) Error() string {
	b := make([]byte, 0, 32+len(e.Field)+len(e.Reason))
	b = append(b, "format"...)
	if e.Format != "" {
		b = append(b, '/')
		b = append(b, e.Format...)
	}
	b = append(b, ": "...)
	if e.Field != "" {
		b = append(b, "field "...)
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": "...)
	}
	b = append(b, e.Reason...)
	if e.Offset >= 0 {
		b = append(b, " at byte "...)
		b = strconv.AppendInt(b, int64(e.Offset), 10)
	}
	return string(b)
}
