package expr

import (
	"testing"

	"github.com/glintstream/glint/row"
)

// A row whose values the filter already holds boxed costs no allocation; neither do bool and
// small-int fields.
func TestKeepAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f, err := CompileFilter(`user == "alice" && amount > 100 && paid && price < 10.0 && ts > date("2024-01-01")`, schema)
	if err != nil {
		t.Fatal(err)
	}
	r := mkRow()
	if allocs := testing.AllocsPerRun(200, func() {
		if keep, err := f.Keep(r); !keep || err != nil {
			t.Fatalf("%v, %v", keep, err)
		}
	}); allocs != 0 {
		t.Errorf("Keep on a repeated row: %v allocations, want 0", allocs)
	}
	g, err := CompileFilter(`paid && qty < 200`, schema)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if allocs := testing.AllocsPerRun(200, func() {
		i++
		r := with(r, "qty", row.Int(int64(i%100)))
		r[schema.Index("paid")] = row.Bool(i%2 == 0)
		_, _ = g.Keep(r)
	}); allocs != 1 { // the row copy made by with
		t.Errorf("Keep on changing bools and small ints: %v allocations, want 1 (the test's row copy)", allocs)
	}
}
