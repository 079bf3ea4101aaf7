package plots

import (
	"cmp"
	"fmt"
	"slices"

	"speedrun/results"
)

// Provenance summarises one field over a set of runs: its distinct values
// with counts, most common first.
type Provenance struct {
	Field  string
	Values []Count
	// More counts the distinct values left out of Values.
	More int
}

// Count is one distinct value and how many runs had it.
type Count struct {
	Value string
	N     int
}

// maxDistinct is how many distinct values a provenance row lists.
const maxDistinct = 5

// provenanceFields are the run fields a report summarises; hashes are
// cut to 12 characters (a run's page has them whole).
var provenanceFields = []struct {
	name string
	get  func(results.Run) string
}{
	{"host", func(r results.Run) string { return r.Host }},
	{"backend", func(r results.Run) string { return r.Backend }},
	{"device (CPU/GPU model)", func(r results.Run) string { return r.Device }},
	{"git revision", func(r results.Run) string {
		if r.GitDirty {
			return ShortHash(r.GitRev) + " (dirty)"
		}
		return ShortHash(r.GitRev)
	}},
	{"precision", func(r results.Run) string { return r.Precision }},
	{"Go version", func(r results.Run) string { return r.GoVersion }},
	{"kernel libraries", func(r results.Run) string { return r.LibVersion }},
	{"dataset", func(r results.Run) string { return r.Dataset }},
	{"dataset checksum", func(r results.Run) string { return ShortHash(r.DataSum) }},
	{"config hash", func(r results.Run) string { return fmt.Sprintf("%s: %s", r.Variant, ShortHash(r.ConfigHash)) }},
}

// SummarizeProvenance returns one Provenance per field over runs.
func SummarizeProvenance(runs []results.Run) []Provenance {
	out := make([]Provenance, 0, len(provenanceFields))
	for _, f := range provenanceFields {
		counts := map[string]int{}
		for _, r := range runs {
			counts[f.get(r)]++
		}
		var cs []Count
		for v, n := range counts {
			if v == "" {
				v = "(none)"
			}
			cs = append(cs, Count{Value: v, N: n})
		}
		slices.SortFunc(cs, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Value, b.Value)) })
		p := Provenance{Field: f.name, Values: cs}
		if len(cs) > maxDistinct {
			p.Values, p.More = cs[:maxDistinct], len(cs)-maxDistinct
		}
		out = append(out, p)
	}
	return out
}
