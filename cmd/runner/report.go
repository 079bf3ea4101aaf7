package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"speedrun/plots"
	"speedrun/results"
	"speedrun/stages"
)

// reportOptions are the flags of `runner report`.
type reportOptions struct {
	global  globalOptions
	format  string // html, csv, json or markdown
	pages   string // markdown: the folder its links point into
	table   string // csv only: runs or variants
	stage   string
	profile string
	out     string
	maxRuns int
}

func reportCommand() *command {
	return &command{
		UsageLine: "runner report [--format html|csv|json|markdown] [--table runs|variants] [--stage N] [--profile P] [--out PATH] [--max-runs N] [--pages DIR]",
		Short:     "write the HTML report, export runs and variants as CSV or JSON, or the results table as Markdown",
		Long: `
Report reads the results database (--db, default results/speedrun.sqlite)
and the registry, and draws from them alone: per stage, the scatter of
time against accuracy, the waterfall of each change, the learning curves
and schedules, the analysis charts of posts 5-7, the blog's numbers beside
ours and a verdict per change. A missing database is an error, not an
empty report.

Examples:

	runner report
	runner report --db shards/merged.sqlite --out /tmp/rep
	runner report --format csv --table variants --stage 8 > stage8.csv
	runner report --db results/reference/reference.sqlite --format markdown --pages results/reference/report

With --format html (the default) it writes into --out, else --reports
(default reports/): index.html, stage-NN.html per stage, the charts as
PNG, runs.csv (every run) and variants.csv (one line per stage, profile
and variant); each file through a temporary file and a rename. With
--format csv it writes one table, and with json both, to --out or stdout;
with markdown, the results table the README opens with (each measured
variant's time and accuracy beside the blog's, linking to the stage pages
under --pages). The pages' "generated" stamp is the last run's finish
time, so rebuilding a report from the same database rewrites the same
HTML.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o reportOptions
			o.global.register(fs)
			fs.StringVar(&o.format, "format", "html", "output `FORMAT`: html (pages and charts in --out or --reports), csv (one table), json (both tables) or markdown (the README's results table)")
			fs.StringVar(&o.pages, "pages", "reports", "with --format markdown: the report folder its links point into, as seen from where the table is read")
			fs.StringVar(&o.table, "table", "runs", "with --format csv: the `TABLE` to write, runs (one line per run) or variants (one line per stage, profile and variant)")
			fs.StringVar(&o.stage, "stage", "", "only stage `N` (id or name)")
			fs.StringVar(&o.profile, "profile", "", "only runs of `profile`")
			fs.StringVar(&o.out, "out", "", "output `path`: a folder for html (default --reports), a file for csv and json (default stdout)")
			fs.IntVar(&o.maxRuns, "max-runs", 200, "html: per-run rows shown per stage and profile (all runs are in runs.csv)")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				switch o.format {
				case "html", "csv", "json", "markdown":
				default:
					return usageErr(fmt.Errorf("--format %q: want html, csv, json or markdown", o.format))
				}
				if o.table != "runs" && o.table != "variants" {
					return usageErr(fmt.Errorf("--table %q: want runs or variants", o.table))
				}
				if o.maxRuns <= 0 {
					return usageErr(fmt.Errorf("--max-runs %d: want > 0", o.maxRuns))
				}
				return runReport(ctx, env, o)
			}
		},
	}
}

func runReport(ctx context.Context, env *cmdEnv, o reportOptions) error {
	reg, err := stages.Load(o.global.config)
	if err != nil {
		return usageErr(err)
	}
	// results.Open would create a missing database; a report of nothing
	// is a mistake worth saying.
	if _, err := os.Stat(o.global.db); err != nil {
		return usageErr(fmt.Errorf("no results database at %s: %w", o.global.db, err))
	}
	db, err := results.Open(ctx, o.global.db)
	if err != nil {
		return err
	}
	defer db.Close()
	var f results.Filter
	stageID := -1
	if o.stage != "" {
		st, err := reg.Stage(o.stage)
		if err != nil {
			return usageErr(fmt.Errorf("--stage: %w", err))
		}
		stageID = st.ID
		f.Stages = []int{st.ID}
	}
	f.Profile = o.profile
	d, err := plots.Load(ctx, db, reg, f)
	if err != nil {
		return err
	}
	if stageID >= 0 {
		d = d.OnlyStage(stageID)
	}

	if o.format == "html" {
		dir := o.out
		if dir == "" {
			dir = o.global.reports
		}
		w, err := plots.Write(ctx, d, dir, plots.Options{RunsPerSection: o.maxRuns, Generated: d.LastFinished(), Extra: analysisCharts(db)})
		if err != nil {
			return err
		}
		env.log.Info("report written", "dir", dir, "files", len(w.Files), "runs", len(d.Runs), "index", filepath.Join(dir, "index.html"))
		return nil
	}
	var buf bytes.Buffer
	switch {
	case o.format == "markdown":
		err = plots.WriteMarkdown(&buf, d, o.pages)
	case o.format == "json":
		err = plots.WriteJSON(&buf, d.Runs, plots.VariantRows(d))
	case o.table == "variants":
		err = plots.WriteVariantsCSV(&buf, plots.VariantRows(d))
	default:
		err = plots.WriteRunsCSV(&buf, d.Runs)
	}
	if err != nil {
		return err
	}
	return writeOut(env.stdout, o.out, buf.Bytes())
}

// writeOut writes b to path through a temporary file and a rename, or to
// stdout when path is empty or "-".
func writeOut(stdout io.Writer, path string, b []byte) error {
	if path == "" || path == "-" {
		_, err := stdout.Write(b)
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return nil
}
