package format

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/glintstream/glint/row"
)

// Decoder decodes one record value into a row.
//
// Decode fills dst, which must have one Value per field the decoder was built with, in field
// order; the caller reuses dst from record to record. Decoded strings may alias value or the
// decoder's scratch memory: they are valid until the next Decode call on the same decoder and
// only while value is unchanged. Callers clone what they keep (strings.Clone, row.Row.Clone).
// On error dst holds unspecified values and the error is a *DecodeError for bad input.
//
// A Decoder is not safe for concurrent use; make one per goroutine.
type Decoder interface {
	Decode(value []byte, dst row.Row) error
}

// DecoderFactory builds a Decoder for the given fields. It validates the fields (see
// ValidateFields) and returns an error naming every problem.
type DecoderFactory func(fields []Field) (Decoder, error)

// Field is one column to decode.
type Field struct {
	// Name is the column name in the row's schema.
	Name string
	// Type is the column type.
	Type row.Type
	// Path is where the value lives in the record: a dotted path into nested objects
	// ("user.id"). Empty means Name, so a Name with dots in it also names a nested path; a
	// key that itself contains a dot cannot be addressed.
	Path string
	// Time is how a TypeTimestamp field is encoded in the record. The zero value is
	// EpochMillis. It must be left zero for other types.
	Time TimeEncoding
	// Optional allows the field to be missing or null; it then decodes as row.Null().
	Optional bool
}

// PathOrName returns f.Path, or f.Name when Path is empty.
func (f Field) PathOrName() string {
	if f.Path != "" {
		return f.Path
	}
	return f.Name
}

// SchemaOf returns the row schema of rows decoded with fields.
func SchemaOf(fields []Field) row.Schema {
	s := row.Schema{Fields: make([]row.Field, len(fields))}
	for i, f := range fields {
		s.Fields[i] = row.Field{Name: f.Name, Type: f.Type}
	}
	return s
}

// ValidateFields checks a field list: names non-empty, unique and valid UTF-8; types valid; a
// time encoding only on timestamps; paths made of non-empty dot-separated segments, unique, and
// none a prefix of another (a value cannot be both a scalar and an object). Every problem is
// reported, joined, each wrapping ErrInvalidField.
func ValidateFields(fields []Field) error {
	var errs []error
	bad := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: fields[%d]: %s", ErrInvalidField, i, fmt.Sprintf(format, args...)))
	}
	if len(fields) == 0 {
		errs = append(errs, fmt.Errorf("%w: no fields", ErrInvalidField))
	}
	names := make(map[string]int, len(fields))
	paths := make(map[string]int, len(fields))
	for i, f := range fields {
		switch {
		case f.Name == "":
			bad(i, "empty name")
		case !utf8.ValidString(f.Name):
			bad(i, "name %q is not valid UTF-8", f.Name)
		default:
			if j, dup := names[f.Name]; dup {
				bad(i, "name %q already used by fields[%d]", f.Name, j)
			}
			names[f.Name] = i
		}
		if f.Type == row.TypeInvalid || f.Type > row.TypeTimestamp {
			bad(i, "field %q: invalid type %v (valid: %s)", f.Name, f.Type, strings.Join(row.TypeNames(), ", "))
		}
		if f.Time > RFC3339 {
			bad(i, "field %q: invalid time encoding %v", f.Name, f.Time)
		} else if f.Time != EpochMillis && f.Type != row.TypeTimestamp {
			bad(i, "field %q: time encoding %v set on a %v field", f.Name, f.Time, f.Type)
		}
		p := f.PathOrName()
		if p == "" {
			continue
		}
		if !utf8.ValidString(p) {
			bad(i, "field %q: path %q is not valid UTF-8", f.Name, p)
			continue
		}
		if strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
			bad(i, "field %q: path %q has an empty segment", f.Name, p)
			continue
		}
		if j, dup := paths[p]; dup {
			bad(i, "field %q: path %q already used by fields[%d]", f.Name, p, j)
			continue
		}
		paths[p] = i
	}
	for p, i := range paths {
		for q := p; ; {
			k := strings.LastIndexByte(q, '.')
			if k < 0 {
				break
			}
			q = q[:k]
			if j, ok := paths[q]; ok {
				bad(i, "field %q: path %q lies inside field %q (path %q), which would have to be an object",
					fields[i].Name, p, fields[j].Name, q)
			}
		}
	}
	return errors.Join(errs...)
}
