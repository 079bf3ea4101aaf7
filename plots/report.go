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

// SectionView is what a stage page shows for one profile.
type SectionView struct {
	Section
	ID          string // HTML anchor
	Rows        []VariantRow
	Comparisons []ComparisonView
	Provenance  []Provenance
	Charts      []Chart
	Runs        []results.Run // capped
	RunsTotal   int
	Warnings    []string
	// Notes are the statistics' warnings, each once (e.g. too few runs
	// for a finite interval of the median).
	Notes []string
}

// StagePage is one stage's page.
type StagePage struct {
	Stage    Stage
	File     string
	Sections []*SectionView
	// Extra are the stage's analysis charts (Options.Extra).
	Extra []Chart
}

// IndexRow is one stage under one profile on the index page.
type IndexRow struct {
	Page    *StagePage
	Section *SectionView
	Final   *VariantRow // the last variant with finished runs, if any
}

// Index is the index page.
type Index struct {
	Profiles []IndexProfile
	Pages    []*StagePage
	Runs     int
}

// IndexProfile is the index's overview of one profile.
type IndexProfile struct {
	Profile string
	Chart   Chart
	Rows    []IndexRow
}

// pageData is what every template gets.
type pageData struct {
	Title     string
	Generated time.Time
	Index     *Index
	Page      *StagePage
}

// Written lists the files a report wrote, relative to its folder.
type Written struct {
	Files []string
}

// stageFile is a stage page's file name: the stage ID is an integer, so
// no user text reaches the file system.
func stageFile(id int) string { return fmt.Sprintf("stage-%02d.html", id) }

// Write builds the whole report into dir: index.html, one page per stage,
// every chart as PNG, runs.csv and variants.csv. Charts with nothing to
// draw are left out with a note on the page; any other failure is an
// error. Each file is written through a temporary file and a rename.
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
	profiles := map[string]*IndexProfile{}
	var profileOrderSeen []string
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
		sv, err := buildSection(sec, d, opt)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(page.File, ".html") + "-" + Slug(sec.Profile)
		sv.ID = "profile-" + Slug(sec.Profile)
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
			c, err := chart(cd.title, base+"-"+cd.suffix+".png", f, err)
			if err != nil {
				return nil, err
			}
			sv.Charts = append(sv.Charts, c)
		}
		page.Sections = append(page.Sections, sv)

		ip := profiles[sec.Profile]
		if ip == nil {
			ip = &IndexProfile{Profile: sec.Profile}
			profiles[sec.Profile] = ip
			profileOrderSeen = append(profileOrderSeen, sec.Profile)
		}
		row := IndexRow{Page: page, Section: sv}
		for i := len(sv.Rows) - 1; i >= 0; i-- {
			if sv.Rows[i].Stats.Done > 0 {
				row.Final = &sv.Rows[i]
				break
			}
		}
		ip.Rows = append(ip.Rows, row)
	}
	for _, p := range sortedProfiles(profileOrderSeen) {
		ip := profiles[p]
		var pts []OverviewPoint
		for _, r := range ip.Rows {
			if r.Final == nil || r.Final.Group.Variant.Kind != "" && r.Final.Group.Variant.Kind != stages.KindTrain {
				continue
			}
			pts = append(pts, OverviewPoint{Stage: fmt.Sprintf("%d %s", r.Page.Stage.ID, r.Page.Stage.Name), Variant: r.Final.Group.Variant.Name,
				Ours: r.Final.Stats.Time, Published: r.Final.Group.Variant.Published.TimeSeconds})
		}
		f, err := Overview(fmt.Sprintf("Time of each stage's final variant (%s)", p), pts)
		if errors.Is(err, ErrNoData) && len(pts) == 0 {
			err = fmt.Errorf("no stage has finished training runs: %w", ErrNoData)
		}
		c, err := chart("Overview: time per stage, ours against the blog's", "overview-"+Slug(p)+".png", f, err)
		if err != nil {
			return nil, err
		}
		ip.Chart = c
		idx.Profiles = append(idx.Profiles, *ip)
	}

	var buf bytes.Buffer
	if err := WriteRunsCSV(&buf, d.Runs); err != nil {
		return nil, fmt.Errorf("report: runs.csv: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "runs.csv"), buf.Bytes()); err != nil {
		return nil, err
	}
	w.Files = append(w.Files, "runs.csv")
	buf.Reset()
	if err := WriteVariantsCSV(&buf, VariantRows(d)); err != nil {
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

func sortedProfiles(ps []string) []string {
	out := append([]string(nil), ps...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && compareProfiles(out[j-1], out[j]) > 0; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

// buildSection computes one section's tables.
func buildSection(sec Section, d *Data, opt Options) (*SectionView, error) {
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
	for _, r := range sv.Rows {
		for _, w := range r.Stats.Median.Warnings {
			if !seen[w] {
				seen[w] = true
				sv.Notes = append(sv.Notes, "median interval: "+w)
			}
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
		sv.Comparisons = append(sv.Comparisons, cv)
	}
	sv.Provenance = SummarizeProvenance(runs)
	sv.RunsTotal = len(runs)
	if len(runs) > opt.RunsPerSection {
		runs = runs[:opt.RunsPerSection]
	}
	sv.Runs = runs
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
}
