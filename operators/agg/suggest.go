package agg

import "strings"

// suggest returns the candidate closest to name by edit distance (case-insensitive), or "" when
// none is close enough to be a plausible typo.
func suggest(name string, candidates []string) string {
	best, bestD := "", -1
	low := strings.ToLower(name)
	for _, c := range candidates {
		d := levenshtein(low, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// At most two edits, and fewer the shorter the name: "smu" is not taken for "sum".
	if bestD < 0 || bestD > 2 || 3*bestD > len(name)+1 {
		return ""
	}
	return best
}

// levenshtein is the edit distance between a and b (insertions, deletions, substitutions of
// bytes).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
