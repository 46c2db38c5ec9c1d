package lakehouse

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/iceberg-go"

	"github.com/glintstream/glint/row"
)

// The batcher against the obvious reference: rows in, the same rows out of the Arrow batches,
// across batch growth, reused buffers and nulls at every position (including the first row and
// after a run of valid rows).
func TestBatcherRoundTrip(t *testing.T) {
	s := row.Schema{Fields: []row.Field{
		{Name: "s", Type: row.TypeString}, {Name: "i", Type: row.TypeInt}, {Name: "f", Type: row.TypeFloat},
		{Name: "b", Type: row.TypeBool}, {Name: "ts", Type: row.TypeTimestamp},
	}}
	sc := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "s", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 2, Name: "i", Type: iceberg.PrimitiveTypes.Int64},
		iceberg.NestedField{ID: 3, Name: "f", Type: iceberg.PrimitiveTypes.Float64},
		iceberg.NestedField{ID: 4, Name: "b", Type: iceberg.PrimitiveTypes.Bool},
		iceberg.NestedField{ID: 5, Name: "ts", Type: iceberg.PrimitiveTypes.TimestampTz})
	lay, err := newLayout(s, sc)
	if err != nil {
		t.Fatal(err)
	}
	mem := checkedAlloc(t)
	for _, nullRate := range []float64{0, 0.01, 0.5, 1} {
		t.Run(fmt.Sprint(nullRate), func(t *testing.T) {
			b := newBatcher(mem, lay, 5000)
			defer b.release()
			r := rand.New(rand.NewPCG(1, uint64(nullRate*100)))
			var in, out []row.Row
			flush := func() {
				rec := b.flush()
				if rec == nil {
					return
				}
				rows, err := recordRows(rec, s)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, rows...)
			}
			for range 20000 {
				v := row.Row{
					row.String(fmt.Sprintf("%x", r.Uint64()>>r.IntN(64))), row.Int(r.Int64() - r.Int64()),
					row.Float(r.NormFloat64()), row.Bool(r.IntN(2) == 0), row.Timestamp(r.Int64N(4e12) - 1e12),
				}
				for c := range v {
					if r.Float64() < nullRate {
						v[c] = row.Null()
					}
				}
				in = append(in, v)
				b.append(v)
				if b.full() || r.IntN(3000) == 0 {
					flush()
				}
			}
			flush()
			if b.cap != 5000 {
				t.Errorf("batch capacity %d, want it grown to 5000", b.cap)
			}
			for i := range in {
				if i < len(out) && rowKey(s, in[i]) != rowKey(s, out[i]) {
					t.Fatalf("row %d: in %s out %s", i, rowKey(s, in[i]), rowKey(s, out[i]))
				}
			}
			if d := diffKeys(rowKeys(s, in), rowKeys(s, out)); d != "" {
				t.Fatal(d)
			}
		})
	}
}
