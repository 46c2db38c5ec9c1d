package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"count", "sum", "approx_count_distinct", "tumbling"}
	for _, c := range []struct{ got, want string }{
		{"cuont", "count"}, {"SUM", "sum"}, {"smu", ""}, {"tumblng", "tumbling"}, {"xyz", ""},
		{"approx_count_distnct", "approx_count_distinct"},
	} {
		if g := Closest(c.got, names); g != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.got, g, c.want)
		}
	}
	if d := Distance("🔥a", "a"); d != 1 {
		t.Errorf("Distance counts runes: got %d", d)
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"sum", "sum", 0}, {"smu", "sum", 2}, {"flaw", "lawn", 2}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
