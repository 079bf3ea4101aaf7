package plots

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"speedrun/results"
	"speedrun/stages"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Options tune a report.
type Options struct {
	// RunsPerSection caps the per-run table of each stage and profile
	// (default 200); the complete table is always in runs.csv.
	RunsPerSection int
	// Generated, when not zero, is printed on every page.
	Generated time.Time
	// Extra, when set, draws the charts a stage page shows besides its run
	// charts (the post 5-7 analysis charts). It writes them into dir itself
	// and returns their titles and file names relative to dir.
	Extra ExtraCharts
}

// ExtraCharts draws a stage's extra charts into dir (see Options.Extra).
type ExtraCharts func(ctx context.Context, stage int, dir string) ([]Chart, error)

// Chart is one image on a page, or the reason it is missing.
type Chart struct {
	Title, File, Missing string
}

// ComparisonView is a Comparison with the config changes behind it.
type ComparisonView struct {
	Comparison
	Changes   []Change
	ChangeErr string
}

// SectionView is what a stage page shows for one series.
type SectionView struct {
	Section
	ID          string // HTML anchor
	Rows        []VariantRow
	Comparisons []ComparisonView
	Provenance  []Provenance
	Charts      []Chart
	Runs        []RunRow // capped
	RunsTotal   int
	Warnings    []string
	// Notes are the statistics' warnings, each once (e.g. too few runs
	// for a finite interval of the median, or for a U test).
	Notes []string
}

// RunRow is a run in a table, with the file of its page.
type RunRow struct {
	results.Run
	Page string
}

// StagePage is one stage's page.
type StagePage struct {
	Stage    Stage
	File     string
	Sections []*SectionView
	// Series sums up each series of the stage: its final variant beside
	// the blog's.
	Series []IndexRow
	// Extra are the stage's analysis charts (Options.Extra).
	Extra []Chart
}

// IndexRow is one stage in one series, on the index and the stage page.
type IndexRow struct {
	Page    *StagePage
	Section *SectionView
	Final   *VariantRow // the last variant with finished runs, if any
}

// Index is the index page.
type Index struct {
	Series []IndexSeries
	Pages  []*StagePage
	Runs   int
}

// IndexSeries is the index's overview of one series.
type IndexSeries struct {
	Key   SeriesKey
	Label string
	Chart Chart
	Rows  []IndexRow
}

// pageData is what every template gets.
type pageData struct {
	Title     string
	Generated time.Time
	Index     *Index
	Page      *StagePage
	Run       *RunPage
}

// Written lists the files a report wrote, relative to its folder.
type Written struct {
	Files []string
}

// stageFile is a stage page's file name: the stage ID is an integer, so
// no user text reaches the file system.
func stageFile(id int) string { return fmt.Sprintf("stage-%02d.html", id) }

// runFile is a run page's file name, by the run's integer ID.
func runFile(id int64) string { return fmt.Sprintf("run-%d.html", id) }

// Write builds the whole report into dir: index.html, one page per stage
// and per run shown in a table, every chart as PNG, runs.csv and
// variants.csv. Charts with nothing to draw are left out with a note on
// the page; any other failure is an error. Each file is written through
// a temporary file and a rename.
func Write(ctx context.Context, d *Data, dir string, opt Options) (*Written, error) {
	if opt.RunsPerSection <= 0 {
		opt.RunsPerSection = 200
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("report: templates: %w", err)
	}
	w := &Written{}
	save := func(name string, f *Figure) error {
		if err := f.Save(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		w.Files = append(w.Files, name)
		return nil
	}
	chart := func(title, name string, f *Figure, err error) (Chart, error) {
		c := Chart{Title: title, File: name}
		if errors.Is(err, ErrNoData) {
			c.File, c.Missing = "", err.Error()
			return c, nil
		}
		if err != nil {
			return c, fmt.Errorf("report: %s: %w", title, err)
		}
		return c, save(name, f)
	}

	idx := &Index{Runs: len(d.Runs)}
	pages := map[int]*StagePage{}
	series := map[SeriesKey]*IndexSeries{}
	var seriesOrder []SeriesKey
	var runPages []*RunPage
	for _, sec := range d.Sections() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		page := pages[sec.Stage.ID]
		if page == nil {
			page = &StagePage{Stage: sec.Stage, File: stageFile(sec.Stage.ID)}
			pages[sec.Stage.ID] = page
			idx.Pages = append(idx.Pages, page)
		}
		sv, err := buildSection(sec, opt)
		if err != nil {
			return nil, err
		}
		slug := Slug(sec.Label)
		base := strings.TrimSuffix(page.File, ".html") + "-" + slug
		sv.ID = "series-" + slug
		stats := make([]*Stats, len(sv.Rows))
		for i, r := range sv.Rows {
			stats[i] = r.Stats
		}
		type chartDef struct {
			title, suffix string
			make          func() (*Figure, error)
		}
		for _, cd := range []chartDef{
			{"Time against accuracy", "scatter", func() (*Figure, error) { return Scatter(sec, stats) }},
			{"Time per variant, ours beside the blog's", "waterfall", func() (*Figure, error) { return Waterfall(sec, stats) }},
			{"Learning curves", "curves", func() (*Figure, error) { return Curves(sec, d.Epochs) }},
			{"Learning-rate schedules", "schedule", func() (*Figure, error) { return Schedule(sec) }},
		} {
			f, err := cd.make()
			c, err := chart(cd.title+" ("+sec.Label+")", base+"-"+cd.suffix+".png", f, err)
			if err != nil {
				return nil, err
			}
			sv.Charts = append(sv.Charts, c)
		}
		for i := range sv.Runs {
			rp := newRunPage(d, sec, sv, page, sv.Runs[i].Run)
			sv.Runs[i].Page = rp.File
			runPages = append(runPages, rp)
		}
		page.Sections = append(page.Sections, sv)

		is := series[sec.Series]
		if is == nil {
			is = &IndexSeries{Key: sec.Series, Label: sec.Label}
			series[sec.Series] = is
			seriesOrder = append(seriesOrder, sec.Series)
		}
		row := IndexRow{Page: page, Section: sv}
		for i := len(sv.Rows) - 1; i >= 0; i-- {
			if sv.Rows[i].Stats.Done > 0 {
				row.Final = &sv.Rows[i]
				break
			}
		}
		is.Rows = append(is.Rows, row)
		page.Series = append(page.Series, row)
	}
	labels := d.SeriesLabels()
	sortSeries(seriesOrder, labels)
	for _, k := range seriesOrder {
		is := series[k]
		var pts []OverviewPoint
		for _, r := range is.Rows {
			if r.Final == nil || r.Final.Group.Variant.Kind != "" && r.Final.Group.Variant.Kind != stages.KindTrain {
				continue
			}
			pts = append(pts, OverviewPoint{Stage: fmt.Sprintf("%d %s", r.Page.Stage.ID, r.Page.Stage.Name), Variant: r.Final.Group.Variant.Name,
				Ours: r.Final.Stats.Time, Published: r.Final.Group.Variant.Published.TimeSeconds})
		}
		f, err := Overview(is.Label, pts)
		if errors.Is(err, ErrNoData) && len(pts) == 0 {
			err = fmt.Errorf("no stage has finished training runs: %w", ErrNoData)
		}
		c, err := chart("Overview: time per stage, ours ("+is.Label+") against the blog's", "overview-"+Slug(is.Label)+".png", f, err)
		if err != nil {
			return nil, err
		}
		is.Chart = c
		idx.Series = append(idx.Series, *is)
	}

	var buf bytes.Buffer
	if err := RunsTable(d).WriteCSV(&buf); err != nil {
		return nil, fmt.Errorf("report: runs.csv: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "runs.csv"), buf.Bytes()); err != nil {
		return nil, err
	}
	w.Files = append(w.Files, "runs.csv")
	buf.Reset()
	if err := VariantsTable(VariantRows(d)).WriteCSV(&buf); err != nil {
		return nil, fmt.Errorf("report: variants.csv: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "variants.csv"), buf.Bytes()); err != nil {
		return nil, err
	}
	w.Files = append(w.Files, "variants.csv")

	render := func(name, tmplName string, pd pageData) error {
		buf.Reset()
		if err := tmpl.ExecuteTemplate(&buf, tmplName, pd); err != nil {
			return fmt.Errorf("report: %s: %w", name, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, name), buf.Bytes()); err != nil {
			return err
		}
		w.Files = append(w.Files, name)
		return nil
	}
	for _, rp := range runPages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := RunChart(rp.Run, rp.Epochs, rp.cfg)
		if rp.Chart, err = chart("Learning curves and LR per step", strings.TrimSuffix(rp.File, ".html")+".png", f, err); err != nil {
			return nil, err
		}
		title := fmt.Sprintf("Run %d: stage %d %s, repeat %d", rp.Run.ID, rp.Run.Stage, rp.Run.Variant, rp.Run.Repeat)
		if err := render(rp.File, "run.tmpl", pageData{Title: title, Generated: opt.Generated, Index: idx, Run: rp}); err != nil {
			return nil, err
		}
	}
	for _, page := range idx.Pages {
		if opt.Extra != nil {
			extra, err := opt.Extra(ctx, page.Stage.ID, dir)
			if err != nil {
				return nil, fmt.Errorf("report: stage %d analysis charts: %w", page.Stage.ID, err)
			}
			page.Extra = extra
			for _, c := range extra {
				if c.File != "" {
					w.Files = append(w.Files, c.File)
				}
			}
		}
		title := fmt.Sprintf("Stage %d: %s", page.Stage.ID, page.Stage.Title)
		if err := render(page.File, "stage.tmpl", pageData{Title: title, Generated: opt.Generated, Index: idx, Page: page}); err != nil {
			return nil, err
		}
	}
	if err := render("index.html", "index.tmpl", pageData{Title: "speedrun report", Generated: opt.Generated, Index: idx}); err != nil {
		return nil, err
	}
	return w, nil
}

// buildSection computes one section's tables.
func buildSection(sec Section, opt Options) (*SectionView, error) {
	sv := &SectionView{Section: sec}
	var runs []results.Run
	for _, g := range sec.Groups {
		sv.Rows = append(sv.Rows, VariantRow{Group: g, Stats: Summarize(g)})
		runs = append(runs, g.Runs...)
		if g.ConfigErr != nil {
			sv.Warnings = append(sv.Warnings, fmt.Sprintf("variant %s: %v", g.Variant.Name, g.ConfigErr))
		}
		if !g.Registered {
			sv.Warnings = append(sv.Warnings, fmt.Sprintf("variant %s has runs but is not in the registry", g.Variant.Name))
		}
	}
	seen := map[string]bool{}
	note := func(s string) {
		if !seen[s] {
			seen[s] = true
			sv.Notes = append(sv.Notes, s)
		}
	}
	for _, r := range sv.Rows {
		for _, w := range r.Stats.Median.Warnings {
			note("median interval: " + w)
		}
	}
	for i := 1; i < len(sv.Rows); i++ {
		a, b := sv.Rows[i-1], sv.Rows[i]
		cv := ComparisonView{Comparison: Compare(a.Group, b.Group, a.Stats, b.Stats)}
		ca, cb := firstConfig(a.Group.Runs), firstConfig(b.Group.Runs)
		if ca != "" && cb != "" {
			ch, err := ConfigDiff(ca, cb)
			if err != nil {
				cv.ChangeErr = err.Error()
			}
			cv.Changes = ch
		} else {
			cv.ChangeErr = "a variant's runs carry no resolved config"
		}
		if cv.NeedRuns > 0 {
			note(fmt.Sprintf("too few runs: a Mann-Whitney U test needs at least %d runs per variant to detect a difference at alpha %v; with fewer a verdict says \"too few runs\".", cv.NeedRuns, cv.Acc.Alpha))
		}
		sv.Comparisons = append(sv.Comparisons, cv)
	}
	sv.Provenance = SummarizeProvenance(runs)
	sv.RunsTotal = len(runs)
	if len(runs) > opt.RunsPerSection {
		runs = runs[:opt.RunsPerSection]
	}
	for _, r := range runs {
		sv.Runs = append(sv.Runs, RunRow{Run: r})
	}
	return sv, nil
}

func firstConfig(rs []results.Run) string {
	for _, r := range rs {
		if r.ConfigJSON != "" {
			return r.ConfigJSON
		}
	}
	return ""
}

// ShortHash cuts a git revision or config hash to 12 characters for a
// table; the run page shows it whole.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// funcs format numbers for the templates; NaN shows as an en dash.
var funcs = template.FuncMap{
	"pct": func(x float64) string {
		if !finite(x) {
			return "–"
		}
		return fmt.Sprintf("%.2f", 100*x)
	},
	"secs": func(x float64) string {
		if !finite(x) || x == 0 {
			return "–"
		}
		if math.Abs(x) < 1 {
			return fmt.Sprintf("%.3g", x)
		}
		if math.Abs(x) >= 100 {
			return fmt.Sprintf("%.0f", x)
		}
		if math.Abs(x) >= 10 {
			return fmt.Sprintf("%.1f", x)
		}
		return fmt.Sprintf("%.2f", x)
	},
	"fixed": func(prec int, x float64) string {
		if !finite(x) {
			return "–"
		}
		return fmt.Sprintf("%.*f", prec, x)
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"confpct": func(c float64) string {
		if !finite(c) || c == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f%%", 100*c)
	},
	"mulf": func(a, b float64) float64 { return a * b },
	"sig": func(x float64) string {
		if !finite(x) {
			return "–"
		}
		return fmt.Sprintf("%+.3g", x)
	},
	"acc":    Accuracy,
	"timein": TimeIn,
	"short":  ShortHash,
	"trunc":  func(n int, s string) string { return truncate(s, n) },
	"mib": func(b int64) string {
		if b <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	},
}
