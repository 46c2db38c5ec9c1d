// Package suggest finds the plausible intended name for a misspelt one: the "did you mean" of
// job-file errors, aggregate and expression names.
package suggest

import "strings"

// Closest returns the candidate closest to name by edit distance, ignoring case, or "" when none
// is close enough to be a plausible typo: at most two edits, and fewer the shorter the name
// ("smu" is not taken for "sum").
func Closest(name string, candidates []string) string {
	best, bestD := "", -1
	low := strings.ToLower(name)
	for _, c := range candidates {
		if d := Distance(low, strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > 2 || 3*bestD > len(name)+1 {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance between a and b over runes (insertions, deletions and
// substitutions).
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
