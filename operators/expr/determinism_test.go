package expr

import (
	"errors"
	"testing"
	"time"

	"github.com/glintstream/glint/row"
)

// No expression can read the clock, and time functions do not depend on the machine's zone.
func TestNoClock(t *testing.T) {
	for _, src := range []string{
		`now()`, `now().Unix()`, `ts > now()`, `now(timezone("UTC"))`, `ts.Sub(now())`,
		`ts.Local()`, `ts.Local().Hour()`, `timezone("Local")`, `ts.In(timezone(user))`,
		`date(user, "2006", "Local")`, `date(user, "2006", user)`,
	} {
		_, ferr := CompileFilter(src+` != nil`, schema)
		_, cerr := CompileCompute(src, schema, row.TypeInvalid)
		for _, err := range []error{ferr, cerr} {
			if !errors.Is(err, ErrNondeterministic) {
				t.Errorf("%q: %v, want ErrNondeterministic", src, err)
			}
		}
	}
}

// The machine's zone (time.Local) must not change any result: the same job on workers in
// different zones gives the same output.
func TestResultsIndependentOfLocalZone(t *testing.T) {
	exprs := []struct {
		src string
		typ row.Type
	}{
		{`date("2024-03-01 10:00:00")`, row.TypeTimestamp},
		{`date(user)`, row.TypeTimestamp},               // parsed per row
		{`date(user, "2006-01-02")`, row.TypeTimestamp}, // with a layout
		{`ts.Hour()`, row.TypeInt},
		{`ts.Format("2006-01-02T15:04 MST")`, row.TypeString},
		{`ts.Truncate(duration("24h"))`, row.TypeTimestamp},
		{`ts.In(timezone("Asia/Tokyo")).Hour()`, row.TypeInt},
		{`date("2024-03-01 10:00", "2006-01-02 15:04", "America/New_York")`, row.TypeTimestamp},
	}
	r := with(mkRow(), "user", row.String("2024-03-01"))
	eval := func() []row.Value {
		var out []row.Value
		for _, e := range exprs {
			c, err := CompileCompute(e.src, schema, row.TypeInvalid)
			if err != nil {
				t.Fatalf("%q: %v", e.src, err)
			}
			if c.Type() != e.typ {
				t.Fatalf("%q: type %v, want %v", e.src, c.Type(), e.typ)
			}
			v, err := c.Eval(r)
			if err != nil {
				t.Fatalf("%q: %v", e.src, err)
			}
			out = append(out, v)
		}
		return out
	}
	saved := time.Local
	defer func() { time.Local = saved }()
	time.Local = time.UTC
	want := eval()
	for _, zone := range []*time.Location{time.FixedZone("EAST", 11*3600), time.FixedZone("WEST", -7*3600)} {
		time.Local = zone
		got := eval()
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%q with Local=%v: %+v, with UTC %+v", exprs[i].src, zone, got[i], want[i])
			}
		}
	}
	if want[0].I != time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("date() is not UTC: %v", time.UnixMilli(want[0].I).UTC())
	}
}

// The same expression on the same rows gives the same results, however often it runs and on
// however many clones.
func TestRepeatable(t *testing.T) {
	c, err := CompileCompute(`string(amount * qty) + "-" + upper(user) + "-" + ts.Format("15:04:05.000")`, schema, row.TypeInvalid)
	if err != nil {
		t.Fatal(err)
	}
	r := mkRow()
	first, err := c.Eval(r)
	if err != nil {
		t.Fatal(err)
	}
	if first.S != "2000-ALICE-09:30:00.250" {
		t.Fatalf("got %q", first.S)
	}
	for i := range 100 {
		cc := c
		if i%2 == 1 {
			cc = c.Clone()
		}
		if v, err := cc.Eval(r); err != nil || v != first {
			t.Fatalf("run %d: %+v, %v; want %+v", i, v, err, first)
		}
	}
}
