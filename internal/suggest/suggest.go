// Package suggest finds the known name nearest to a misspelled one, for
// the "did you mean" of the registry loader and the command line.
package suggest

import (
	"slices"
	"strings"
)

// Closest returns the candidate nearest to key, or "" when none is close:
// a case-insensitive match, or an edit distance of at most 2 that is less
// than half the key's length. Candidates are not modified.
func Closest(key string, candidates []string) string {
	cs := slices.Sorted(slices.Values(candidates))
	for _, c := range cs {
		if strings.EqualFold(c, key) {
			return c
		}
	}
	best, bestD := "", 3
	for _, c := range cs {
		d := Distance(strings.ToLower(key), c)
		if d < bestD && d*2 < len(key) {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and adjacent transpositions each cost 1.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
