package expr

import (
	"errors"
	"testing"

	"github.com/glintstream/glint/row"
)

// Expressions come from job files: compiling any text, and running what compiles on rows with
// and without nulls, must return errors, never panic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`amount > 100`, `user == "alice" && paid`, `price / qty`, `amount % qty`, `ts > date("2024-01-01")`,
		`ts.Sub(now())`, `$env["amount"]`, `let x = amount; x * 2`, `fromJSON(user).a`, `upper(user) + "x"`,
		`ts - ts`, `any([1, 2], {# > qty})`, `paid ? 1 : 2.5`, `amount ?? 0`, `timezone("UTC")`, `1 +`, `"`,
	} {
		f.Add(s)
	}
	rows := []row.Row{
		mkRow(),
		{row.Null(), row.Null(), row.Null(), row.Null(), row.Null(), row.Null()},
		with(with(mkRow(), "qty", row.Int(0)), "price", row.Float(0)),
	}
	f.Fuzz(func(t *testing.T, src string) {
		if fl, err := CompileFilter(src, schema); err == nil {
			for _, r := range rows {
				if _, err := fl.Keep(r); err != nil && !errors.Is(err, ErrEval) {
					t.Fatalf("Keep(%q): unclassified %v", src, err)
				}
			}
		} else if ce := (*CompileError)(nil); !errors.As(err, &ce) {
			t.Fatalf("CompileFilter(%q): %T %v", src, err, err)
		}
		if c, err := CompileCompute(src, schema, row.TypeInvalid); err == nil {
			for _, r := range rows {
				v, err := c.Eval(r)
				if err != nil && !errors.Is(err, ErrEval) {
					t.Fatalf("Eval(%q): unclassified %v", src, err)
				}
				if err == nil && !v.Null {
					if _, ok := toValue(v.Any(c.Type()), c.Type()); !ok {
						t.Fatalf("Eval(%q) = %+v, not a %v", src, v, c.Type())
					}
				}
			}
		}
	})
}
