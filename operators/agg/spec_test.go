package agg

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	ok := []struct{ in, fn, arg string }{
		{"count()", "count", ""},
		{"count(*)", "count", ""},
		{" count ( ) ", "count", ""},
		{"sum(amount)", "sum", "amount"},
		{"sum( amount )", "sum", "amount"},
		{"approx_count_distinct(user_id)", "approx_count_distinct", "user_id"},
		{"max(order.total)", "max", "order.total"},
		{"last(x-forwarded-for)", "last", "x-forwarded-for"},
		{"Summ(a1)", "Summ", "a1"}, // syntax only: New reports unknown names
	}
	for _, c := range ok {
		fn, arg, err := ParseSpec(c.in)
		if err != nil || fn != c.fn || arg != c.arg {
			t.Errorf("ParseSpec(%q) = %q, %q, %v; want %q, %q", c.in, fn, arg, err, c.fn, c.arg)
		}
	}
	bad := []struct{ in, says string }{
		{"", "empty aggregate"},
		{"   ", "empty aggregate"},
		{"sum", `missing "(" after "sum"`},
		{"sum amount", `missing "("`},
		{"(amount)", "missing function name"},
		{"sum(amount", `missing ")"`},
		{"sum(amount) as total", `unexpected "as total" after ")"`},
		{"sum(a, b)", `sum takes one field, got "a, b"`},
		{"sum(abs(a))", "nested calls"},
		{"sum(a b)", `field name "a b"`},
		{"sum('a')", `field name "'a'"`},
		{"sum(1a)", `field name "1a"`},
		{"su-m(a)", `function name "su-m"`},
		{"9sum(a)", `function name "9sum"`},
	}
	for _, c := range bad {
		_, _, err := ParseSpec(c.in)
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseSpec(%q): err %v, want ErrSyntax", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "e.g. sum(amount)") {
			t.Errorf("ParseSpec(%q): %q does not say %q with an example", c.in, err, c.says)
		}
		if c.in != "" && !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseSpec(%q): %q does not quote the text", c.in, err)
		}
	}
}
