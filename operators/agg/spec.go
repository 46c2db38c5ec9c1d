package agg

import (
	"fmt"
	"strings"
)

// ParseSpec parses an aggregate as a job file writes it: "count()", "count(*)" (both count
// rows; arg is ""), "sum(amount)", "approx_count_distinct(user_id)". Spaces around the name,
// the parentheses and the field are allowed. The function name must be an identifier
// ([A-Za-z_][A-Za-z0-9_]*); a field name may also hold '.' and '-'. ParseSpec checks syntax
// only: New checks that fn exists and accepts the field's type. Errors wrap ErrSyntax and quote
// the text.
func ParseSpec(s string) (fn, arg string, err error) {
	fail := func(format string, args ...any) (string, string, error) {
		return "", "", fmt.Errorf("%w in %q: %s; write fn(field) or count(), e.g. sum(amount)",
			ErrSyntax, s, fmt.Sprintf(format, args...))
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return fail("empty aggregate")
	}
	open := strings.IndexByte(t, '(')
	if open < 0 {
		if isIdent(t, false) {
			return fail("missing \"(\" after %q", t)
		}
		return fail("missing \"(\"")
	}
	fn = strings.TrimSpace(t[:open])
	if fn == "" {
		return fail("missing function name before \"(\"")
	}
	if !isIdent(fn, false) {
		return fail("function name %q is not a name (letters, digits and _)", fn)
	}
	rest := t[open+1:]
	if strings.ContainsRune(rest, '(') {
		return fail("nested calls are not supported; the argument must be a field name")
	}
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return fail("missing \")\"")
	}
	if after := strings.TrimSpace(rest[end+1:]); after != "" {
		return fail("unexpected %q after \")\"", after)
	}
	inner := strings.TrimSpace(rest[:end])
	switch {
	case strings.ContainsRune(inner, ','):
		return fail("%s takes one field, got %q", fn, inner)
	case inner == "" || inner == "*":
		return fn, "", nil
	case !isIdent(inner, true):
		return fail("field name %q may hold letters, digits, _, . and - only", inner)
	}
	return fn, inner, nil
}

// isIdent reports whether s is an identifier; field names may also hold '.' and '-' after the
// first character.
func isIdent(s string, field bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && '0' <= c && c <= '9':
		case i > 0 && field && (c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
