package expr

import (
	"strconv"
	"testing"

	"github.com/glintstream/glint/row"
)

var benchSchema = row.Schema{Fields: []row.Field{
	{Name: "user", Type: row.TypeString},
	{Name: "country", Type: row.TypeString},
	{Name: "amount", Type: row.TypeInt},
	{Name: "qty", Type: row.TypeInt},
	{Name: "price", Type: row.TypeFloat},
	{Name: "ts", Type: row.TypeTimestamp},
	{Name: "paid", Type: row.TypeBool},
}}

// benchRows are rows whose values change from row to row, as a stream's do: user, amount,
// price and ts differ on every row, country takes 4 values, qty 1..9.
func benchRows() []row.Row {
	countries := []string{"DE", "FR", "US", "JP"}
	rows := make([]row.Row, 1024)
	for i := range rows {
		rows[i] = row.Row{
			row.String("user-" + strconv.Itoa(i)),
			row.String(countries[i%4]),
			row.Int(int64(1000 + i*37%5000)),
			row.Int(int64(1 + i%9)),
			row.Float(float64(i) * 0.37),
			row.Timestamp(1_700_000_000_000 + int64(i)*1000),
			row.Bool(i%3 != 0),
		}
	}
	return rows
}

// BenchmarkKeep compares filters against "ceiling": the same predicate written in Go over the
// row, the floor any interpreter sits above.
func BenchmarkKeep(b *testing.B) {
	rows := benchRows()
	b.Run("ceiling_go", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			r := rows[i&1023]
			if r[1].S == "DE" && r[2].I > 3000 {
				n++
			}
		}
		_ = n
	})
	for _, c := range []struct{ name, src string }{
		{"int_compare", `amount > 3000`},
		{"string_and_int", `country == "DE" && amount > 3000`},
		{"bool_field", `paid`},
		{"in_list", `country in ["DE", "FR"]`},
		{"timestamp_compare", `ts > date("2023-11-14T22:20:00Z")`},
		{"arithmetic", `price * float(qty) > 100.0`},
		{"division", `amount / qty > 400`},
		{"string_func", `hasPrefix(user, "user-1")`},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, err := CompileFilter(c.src, benchSchema)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := f.Keep(rows[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The same row over and over: the boxed field values are reused.
	b.Run("string_and_int_same_row", func(b *testing.B) {
		f, err := CompileFilter(`country == "DE" && amount > 3000`, benchSchema)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Keep(rows[5]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEval(b *testing.B) {
	rows := benchRows()
	b.Run("ceiling_go", func(b *testing.B) {
		var v row.Value
		for i := 0; b.Loop(); i++ {
			r := rows[i&1023]
			v = row.Float(r[4].F * float64(r[3].I))
		}
		_ = v
	})
	for _, c := range []struct {
		name, src string
		want      row.Type
	}{
		{"float_mul", `price * float(qty)`, row.TypeInvalid},
		{"int_add", `amount + qty`, row.TypeInvalid},
		{"int_div", `amount / qty`, row.TypeInvalid},
		{"string_concat", `country + ":" + user`, row.TypeInvalid},
		{"upper", `upper(country)`, row.TypeInvalid},
		{"timestamp_shift", `ts + duration("1h")`, row.TypeInvalid},
		{"conditional", `paid ? amount : 0`, row.TypeInt},
	} {
		b.Run(c.name, func(b *testing.B) {
			cp, err := CompileCompute(c.src, benchSchema, c.want)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := cp.Eval(rows[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
