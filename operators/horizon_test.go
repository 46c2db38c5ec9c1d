package operators

import (
	"testing"

	"github.com/glintstream/glint/operators/agg"
	"github.com/glintstream/glint/row"
)

// SetClosedHorizon closes windows for records (late) without firing anything: a restarted task
// must neither rebuild a window whose result was final nor treat an open window as fired.
func TestClosedHorizon(t *testing.T) {
	count, err := agg.New("count", row.TypeInvalid, false)
	if err != nil {
		t.Fatal(err)
	}
	in := row.Schema{Fields: []row.Field{{Name: "k", Type: row.TypeString}}}
	w, err := NewWindow(WindowConfig{Kind: Sliding, Size: 4000, Slide: 2000, AllowedLateness: 1000, Input: in,
		Keys: []int{0}, Aggs: []AggColumn{{Name: "n", Func: count, Arg: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	w.SetClosedHorizon(5000) // windows ending at or before 4000 are final
	var out Output
	// t=3500 is in [0,4000) (closed by the horizon) and [2000,6000) (open, not fired).
	w.OnRecord(&Record{Time: 3500, Row: row.Row{row.String("a")}, Ref: 7}, 1000, &out)
	if len(out.Late) != 1 || out.Late[0].Ref != 7 || len(out.Rows) != 0 {
		t.Fatalf("want one late record and no row (the open window has not fired): %+v", out)
	}
	out.Reset()
	w.OnWatermark(6000, &out)
	if len(out.Rows) != 1 || out.Rows[0][0].I != 2000 || out.Rows[0][3].I != 1 || out.Rows[0][4].I != 0 {
		t.Fatalf("want [2000,6000) n=1 revision 0 fired by the watermark, got %v", out.Rows)
	}
}
