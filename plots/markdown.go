package plots

import (
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strings"

	"speedrun/results"
)

// WriteMarkdown writes the results table the README opens with: every
// measured variant of d, in registry order, the blog's time and accuracy
// beside ours, with what ours is (profile, dataset, device, precision),
// the run count and a link to its stage page under pages (a folder
// relative to where the table is read). Accuracy is TTA's where a run has
// it, as the blog's is; time is the run's convention (Stats.Timing). Only
// finished runs count; a variant without one is left out. So is a series
// trained on a subset of its dataset (the quick profile's 8,000 images):
// its accuracy says nothing beside the blog's, which is on all of it. A
// line under the table says how many were left out; their stage pages
// show them.
func WriteMarkdown(w io.Writer, d *Data, pages string) error {
	var b strings.Builder
	b.WriteString("| stage | variant | blog: time, accuracy | ours: time, accuracy | n | what ours is | page |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	rows, subset := 0, 0
	for _, v := range VariantRows(d) {
		g, st := v.Group, v.Stats
		if st.N == 0 {
			continue
		}
		if onSubset(g) {
			subset++
			continue
		}
		rows++
		pub := g.Variant.Published
		blog := fmt.Sprintf("%s, %s", mdSeconds(pub.TimeSeconds), mdPercent(pub.Accuracy))
		if pub.Hardware != "" {
			blog += " (" + pub.Hardware + ")"
		}
		ours := fmt.Sprintf("%s, %s", mdSpread(st.Time, st.TimeStd, st.N, mdSeconds), mdSpread(st.AccMean, st.AccStd, st.N, mdPercent))
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %s | [stage %d](%s) |\n",
			g.Stage, mdEscape(g.Variant.Name), mdEscape(blog), ours, st.N, mdEscape(describeRuns(g)), g.Stage, path.Join(pages, stageFile(g.Stage)))
	}
	if rows == 0 {
		return fmt.Errorf("markdown table: no finished run in the database on a whole dataset (%d series on subsets)", subset)
	}
	if subset > 0 {
		fmt.Fprintf(&b, "\n%d series trained on a subset of the data (the quick profile) are left out here; their stage pages show them.\n", subset)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// onSubset reports whether every finished run of g trained on a subset
// of its dataset: "cifar10[8000/2000]".
func onSubset(g *Group) bool {
	n := 0
	for _, r := range g.Runs {
		if r.Status != results.StatusDone {
			continue
		}
		n++
		if _, _, ok := subsetOf(r.Dataset); !ok {
			return false
		}
	}
	return n > 0
}

// mdEscape keeps text from a database (a variant's name, a device) from
// breaking the table or the page: pipes end a cell, and Markdown passes
// HTML through.
var mdEscaper = strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;", "&", "&amp;", "\n", " ")

func mdEscape(s string) string { return mdEscaper.Replace(s) }

// describeRuns names what a group's finished runs are: profile, dataset,
// device (engine) and precision, each once, or "mixed" with the values.
func describeRuns(g *Group) string {
	var profile, dataset, device, prec []string
	add := func(s *[]string, v string) {
		if v == "" {
			v = "?"
		}
		if !slices.Contains(*s, v) {
			*s = append(*s, v)
		}
	}
	for _, r := range g.Runs {
		if r.Status != results.StatusDone {
			continue
		}
		add(&profile, r.Profile)
		add(&dataset, datasetName(r.Dataset))
		add(&device, fmt.Sprintf("%s %s", r.Backend, r.Device))
		add(&prec, r.Precision)
	}
	return strings.Join([]string{strings.Join(profile, ", "), strings.Join(dataset, ", "), strings.Join(device, ", "), strings.Join(prec, ", ")}, " · ")
}

// datasetName drops a subset's size suffix: "cifar10[8000/2000]" is
// "cifar10, 8000/2000".
func datasetName(s string) string {
	if name, sizes, ok := subsetOf(s); ok {
		return name + " " + sizes
	}
	return s
}

// subsetOf splits a subset's recorded name, "cifar10[8000/2000]", into
// the dataset and its sizes; ok is false for a whole dataset.
func subsetOf(s string) (name, sizes string, ok bool) {
	i := strings.IndexByte(s, '[')
	if i <= 0 || !strings.HasSuffix(s, "]") {
		return s, "", false
	}
	return s[:i], s[i+1 : len(s)-1], true
}

func mdSeconds(s float64) string {
	switch {
	case s == 0 || math.IsNaN(s):
		return "-"
	case s >= 600:
		return fmt.Sprintf("%.1f min", s/60)
	}
	return fmt.Sprintf("%.1f s", s)
}

func mdPercent(a float64) string {
	if a == 0 || math.IsNaN(a) {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*a)
}

// mdSpread is a mean with its sample standard deviation when n > 1.
func mdSpread(mean, std float64, n int, f func(float64) string) string {
	if n < 2 || math.IsNaN(std) {
		return f(mean)
	}
	s := f(mean)
	sd := f(std)
	if strings.HasSuffix(s, "%") {
		sd = fmt.Sprintf("%.2f", 100*std)
	} else if strings.HasSuffix(s, " min") {
		sd = fmt.Sprintf("%.1f", std/60)
	} else {
		sd = fmt.Sprintf("%.1f", std)
	}
	return s + " ± " + sd
}
