package row

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a field.
type Type uint8

// The field types. Timestamps are int64 milliseconds since the Unix epoch, UTC.
const (
	TypeInvalid Type = iota
	TypeString
	TypeInt
	TypeFloat
	TypeBool
	TypeTimestamp
)

var typeNames = [...]string{"invalid", "string", "int", "float", "bool", "timestamp"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType parses a type name as written in job files.
func ParseType(s string) (Type, bool) {
	switch s {
	case "string":
		return TypeString, true
	case "int", "long", "int64":
		return TypeInt, true
	case "float", "double", "float64":
		return TypeFloat, true
	case "bool", "boolean":
		return TypeBool, true
	case "timestamp":
		return TypeTimestamp, true
	}
	return TypeInvalid, false
}

// TypeNames lists the names ParseType accepts first for each type, for error messages.
func TypeNames() []string { return []string{"string", "int", "float", "bool", "timestamp"} }

// Field is a named, typed column.
type Field struct {
	Name string
	Type Type
}

// Schema is an ordered list of fields. Rows of the schema hold one Value per field, in order.
type Schema struct {
	Fields []Field
}

// Index returns the position of the named field, or -1.
func (s Schema) Index(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Names returns the field names in order.
func (s Schema) Names() []string {
	n := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		n[i] = f.Name
	}
	return n
}

func (s Schema) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, f := range s.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
		b.WriteByte(' ')
		b.WriteString(f.Type.String())
	}
	b.WriteByte(')')
	return b.String()
}

// Value is one field of a row. Which member is meaningful depends on the field's Type:
// I for int, bool (0 or 1) and timestamp (ms); F for float; S for string. Null marks a
// missing value (an aggregate of no input, an absent optional field).
type Value struct {
	I    int64
	F    float64
	S    string
	Null bool
}

// Row is a record's values in schema order.
type Row []Value

// Int, Float, String, Bool and Timestamp build Values.
func Int(i int64) Value        { return Value{I: i} }
func Float(f float64) Value    { return Value{F: f} }
func String(s string) Value    { return Value{S: s} }
func Timestamp(ms int64) Value { return Value{I: ms} }
func Null() Value              { return Value{Null: true} }
func Bool(b bool) Value {
	if b {
		return Value{I: 1}
	}
	return Value{}
}

// Any converts a Value of type t to a Go value for expression languages and JSON encoding:
// string, int64, float64, bool, time.Time, or nil when null.
func (v Value) Any(t Type) any {
	if v.Null {
		return nil
	}
	switch t {
	case TypeString:
		return v.S
	case TypeInt:
		return v.I
	case TypeFloat:
		return v.F
	case TypeBool:
		return v.I != 0
	case TypeTimestamp:
		return time.UnixMilli(v.I).UTC()
	}
	return nil
}

// Equal reports whether two values of type t are equal. Two nulls are equal.
func (v Value) Equal(o Value, t Type) bool {
	if v.Null || o.Null {
		return v.Null == o.Null
	}
	switch t {
	case TypeString:
		return v.S == o.S
	case TypeFloat:
		return v.F == o.F || (math.IsNaN(v.F) && math.IsNaN(o.F))
	}
	return v.I == o.I
}

// Compare orders two values of type t: -1, 0 or +1. Nulls sort first.
func (v Value) Compare(o Value, t Type) int {
	switch {
	case v.Null && o.Null:
		return 0
	case v.Null:
		return -1
	case o.Null:
		return 1
	}
	switch t {
	case TypeString:
		return strings.Compare(v.S, o.S)
	case TypeFloat:
		switch {
		case v.F < o.F:
			return -1
		case v.F > o.F:
			return 1
		}
		return 0
	}
	switch {
	case v.I < o.I:
		return -1
	case v.I > o.I:
		return 1
	}
	return 0
}

// AppendText appends a human-readable form of v (type t) to dst: what stdout sinks and test
// goldens print. Timestamps are RFC 3339 with milliseconds, UTC.
func (v Value) AppendText(dst []byte, t Type) []byte {
	if v.Null {
		return append(dst, "null"...)
	}
	switch t {
	case TypeString:
		return append(dst, v.S...)
	case TypeInt:
		return strconv.AppendInt(dst, v.I, 10)
	case TypeFloat:
		return strconv.AppendFloat(dst, v.F, 'g', -1, 64)
	case TypeBool:
		return strconv.AppendBool(dst, v.I != 0)
	case TypeTimestamp:
		return time.UnixMilli(v.I).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	return fmt.Appendf(dst, "%v", v)
}

// Clone returns a copy of r whose strings own their memory (do not alias input buffers).
func (r Row) Clone() Row {
	c := make(Row, len(r))
	for i, v := range r {
		v.S = strings.Clone(v.S)
		c[i] = v
	}
	return c
}
