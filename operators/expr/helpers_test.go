package expr

import (
	"time"

	"github.com/glintstream/glint/row"
)

// schema is the input of most tests.
var schema = row.Schema{Fields: []row.Field{
	{Name: "user", Type: row.TypeString},
	{Name: "amount", Type: row.TypeInt},
	{Name: "price", Type: row.TypeFloat},
	{Name: "paid", Type: row.TypeBool},
	{Name: "ts", Type: row.TypeTimestamp},
	{Name: "qty", Type: row.TypeInt},
}}

// ts0 is 2024-03-01T09:30:00.250Z.
var ts0 = time.Date(2024, 3, 1, 9, 30, 0, 250e6, time.UTC).UnixMilli()

// mkRow builds a row of schema; modify it with the with* helpers.
func mkRow() row.Row {
	return row.Row{row.String("alice"), row.Int(500), row.Float(2.5), row.Bool(true), row.Timestamp(ts0), row.Int(4)}
}

func with(r row.Row, field string, v row.Value) row.Row {
	c := append(row.Row(nil), r...)
	c[schema.Index(field)] = v
	return c
}
