package lakehouse

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/glintstream/glint/row"
)

// Column types: row.Type → Iceberg → Arrow → Parquet.
//
//	string    → string      → utf8                 → BYTE_ARRAY (STRING), dictionary encoded
//	int       → long        → int64                → INT64, dictionary encoded
//	float     → double      → float64              → DOUBLE
//	bool      → boolean     → bool                 → BOOLEAN
//	timestamp → timestamptz → timestamp[us, UTC]   → INT64 TIMESTAMP(MICROS, UTC), dictionary
//
// Every column is optional (nullable): row.Value carries Null, and columns added later by
// schema evolution are null in older files.

func icebergType(t row.Type) iceberg.Type {
	switch t {
	case row.TypeString:
		return iceberg.PrimitiveTypes.String
	case row.TypeInt:
		return iceberg.PrimitiveTypes.Int64
	case row.TypeFloat:
		return iceberg.PrimitiveTypes.Float64
	case row.TypeBool:
		return iceberg.PrimitiveTypes.Bool
	case row.TypeTimestamp:
		return iceberg.PrimitiveTypes.TimestampTz
	}
	panic(fmt.Sprintf("lakehouse: unsupported row type %s", t))
}

func arrowType(t row.Type) arrow.DataType {
	switch t {
	case row.TypeString:
		return arrow.BinaryTypes.String
	case row.TypeInt:
		return arrow.PrimitiveTypes.Int64
	case row.TypeFloat:
		return arrow.PrimitiveTypes.Float64
	case row.TypeBool:
		return arrow.FixedWidthTypes.Boolean
	case row.TypeTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	panic(fmt.Sprintf("lakehouse: unsupported row type %s", t))
}

// newIcebergSchema is the table schema for a new table (ids are reassigned on create).
func newIcebergSchema(schema row.Schema) *iceberg.Schema {
	fields := make([]iceberg.NestedField, len(schema.Fields))
	for i, f := range schema.Fields {
		fields[i] = iceberg.NestedField{ID: i + 1, Name: f.Name, Type: icebergType(f.Type)}
	}
	return iceberg.NewSchema(0, fields...)
}

// evolution compares the sink's input schema with the table's: the columns to add, or a
// *TypeChangedError for the first column whose type differs.
func evolution(table string, schema row.Schema, sc *iceberg.Schema) (add []row.Field, err error) {
	for _, f := range schema.Fields {
		tf, ok := sc.FindFieldByName(f.Name)
		if !ok {
			add = append(add, f)
			continue
		}
		if !tf.Type.Equals(icebergType(f.Type)) {
			return nil, &TypeChangedError{Table: table, Column: f.Name, TableType: tf.Type.String(), InputType: f.Type.String()}
		}
	}
	return add, nil
}

// layout is the physical shape of the sink's files: the field ids the table gave the input
// columns, and the Arrow and Parquet schemas built from them. Immutable once built.
type layout struct {
	schema   row.Schema
	fieldIDs []int
	arrow    *arrow.Schema
	parquet  *parquet.Schema
}

func newLayout(schema row.Schema, sc *iceberg.Schema) (*layout, error) {
	l := &layout{schema: schema, fieldIDs: make([]int, len(schema.Fields))}
	afields := make([]arrow.Field, len(schema.Fields))
	pfields := make([]orderedField, len(schema.Fields))
	for i, f := range schema.Fields {
		tf, ok := sc.FindFieldByName(f.Name)
		if !ok {
			return nil, fmt.Errorf("lakehouse: column %q missing from table schema", f.Name)
		}
		l.fieldIDs[i] = tf.ID
		afields[i] = arrow.Field{
			Name: f.Name, Type: arrowType(f.Type), Nullable: true,
			Metadata: arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{strconv.Itoa(tf.ID)}),
		}
		pfields[i] = orderedField{name: f.Name, Node: parquetNode(f.Type, tf.ID)}
	}
	l.arrow = arrow.NewSchema(afields, nil)
	l.parquet = parquet.NewSchema("table", orderedGroup(pfields))
	return l, nil
}

// parquetNode is the optional Parquet leaf of a column with its Iceberg field id. Dictionary
// encoding is chosen where it usually pays (strings, ints, timestamps: keys, counts and window
// bounds repeat); the writer falls back to plain pages when a dictionary outgrows its limit.
func parquetNode(t row.Type, id int) parquet.Node {
	var n parquet.Node
	var enc encoding.Encoding
	switch t {
	case row.TypeString:
		n, enc = parquet.String(), &parquet.RLEDictionary
	case row.TypeInt:
		n, enc = parquet.Int(64), &parquet.RLEDictionary
	case row.TypeFloat:
		n = parquet.Leaf(parquet.DoubleType)
	case row.TypeBool:
		n = parquet.Leaf(parquet.BooleanType)
	case row.TypeTimestamp:
		n, enc = parquet.Timestamp(parquet.Microsecond), &parquet.RLEDictionary
	}
	if enc != nil {
		n = parquet.Encoded(n, enc)
	}
	return parquet.FieldID(parquet.Optional(n), id)
}

// orderedGroup is a Parquet group node whose fields keep the table's column order (parquet.Group
// is a map and sorts fields by name). Leaf i of the schema is column i of the sink's rows.
type orderedGroup []orderedField

type orderedField struct {
	parquet.Node
	name string
}

func (f orderedField) Name() string                           { return f.name }
func (f orderedField) Value(base reflect.Value) reflect.Value { return reflect.Value{} }

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return fmt.Sprintf("group(%d fields)", len(g)) }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) Fields() []parquet.Field     { return g.fields() }
func (g orderedGroup) fields() []parquet.Field {
	out := make([]parquet.Field, len(g))
	for i := range g {
		out[i] = g[i]
	}
	return out
}

// GoType is a struct of the columns in order. The sink never writes Go values through it.
func (g orderedGroup) GoType() reflect.Type {
	sf := make([]reflect.StructField, len(g))
	for i, f := range g {
		sf[i] = reflect.StructField{
			Name: "F" + strconv.Itoa(i),
			Type: f.GoType(),
			Tag:  reflect.StructTag(`parquet:` + strconv.Quote(f.name)),
		}
	}
	return reflect.StructOf(sf)
}
