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
	"slices"
	"strings"

	"speedrun/internal/suggest"
	"speedrun/plots"
	"speedrun/results"
	"speedrun/stages"
)

// reportOptions are the flags of `runner report`.
type reportOptions struct {
	global globalOptions
	format string // html, csv, json or markdown
	pages  string // markdown: the folder its links point into
	table  string // csv and json: one of plots.TableNames
	// tableSet is set when --table is given: json then writes that
	// table alone.
	tableSet bool
	stage    string
	profile  string
	out      string
	maxRuns  int
}

func reportCommand() *command {
	return &command{
		UsageLine: "runner report [--format html|csv|json|markdown] [--table runs|variants|epochs|measurements|layer_stats] [--stage N] [--profile P] [--out PATH] [--max-runs N] [--pages DIR]",
		Short:     "write the HTML report, export runs, variants, epochs, measurements or layer statistics as CSV or JSON, or the results table as Markdown",
		Long: `
Report reads the results database (--db, default results/speedrun.sqlite)
and the registry, and draws from them alone: per stage and series (one
profile, dataset and device, never averaged with another), the scatter
of time against accuracy, the waterfall of each change, the learning
curves and schedules, the analysis charts of posts 5-7, the blog's
numbers beside ours and a verdict per change; per run, a page with its
learning curves, LR per step, resolved config and its change from the
preceding variant, and its provenance. A missing database is an error,
not an empty report; so are a --profile or --stage the registry lacks.

Examples:

	runner report
	runner report --db shards/merged.sqlite --out /tmp/rep
	runner report --format csv --table variants --stage 8 > stage8.csv
	runner report --format csv --table epochs --profile quick > epochs.csv
	runner report --format json --table runs --out runs.json
	runner report --db results/reference/reference.sqlite --format markdown --pages results/reference/report

With --format html (the default) it writes into --out, else --reports
(default reports/): index.html, stage-NN.html per stage, run-ID.html per
run shown, the charts as PNG, runs.csv (every run) and variants.csv (one
line per stage, series and variant); each file through a temporary file
and a rename. With --format csv it writes one table (--table, default
runs), and with json the runs and variants tables, or the one --table
names, to --out or stdout. Every table is in registry order; an absent
value is an empty CSV cell and null in JSON; seeds are unsigned. runs
holds each run's flattened hyperparameters as dotted columns
(train.epochs, net.width, ...). With markdown it writes the results table
the README opens with (each measured variant's time and accuracy beside
the blog's, linking to the stage pages under --pages; series trained on a
subset of the data, as quick's, are only counted under it). The pages'
"generated" stamp is the last run's finish time, so rebuilding a report
from the same database rewrites the same HTML.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o reportOptions
			o.global.register(fs)
			fs.StringVar(&o.format, "format", "html", "output `FORMAT`: html (pages and charts in --out or --reports), csv (one table), json (both tables) or markdown (the README's results table)")
			fs.StringVar(&o.pages, "pages", "reports", "with --format markdown: the report folder its links point into, as seen from where the table is read")
			fs.StringVar(&o.table, "table", "runs", "with --format csv or json: the `TABLE` to write, runs (one line per run), variants (one line per stage, series and variant), epochs, measurements or layer_stats (one line per run and epoch, measurement or step and layer); json without --table writes runs and variants")
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
				if !slices.Contains(plots.TableNames, o.table) {
					msg := fmt.Sprintf("--table %q: want %s", o.table, strings.Join(plots.TableNames, ", "))
					if s := suggest.Closest(o.table, plots.TableNames); s != "" {
						msg += fmt.Sprintf("; did you mean %q?", s)
					}
					return usageErr(errors.New(msg))
				}
				fs.Visit(func(f *flag.Flag) { o.tableSet = o.tableSet || f.Name == "table" })
				if o.tableSet && o.format == "html" {
					return usageErr(errors.New("--table: only with --format csv or json (the HTML report has every table)"))
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
	if o.profile != "" {
		if _, err := reg.Profile(o.profile); err != nil {
			return usageErr(fmt.Errorf("--profile: %w", err))
		}
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
	tables, err := exportTables(ctx, db, d, o)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch o.format {
	case "markdown":
		err = plots.WriteMarkdown(&buf, d, o.pages)
	case "json":
		err = plots.WriteJSON(&buf, tables...)
	default:
		err = tables[0].WriteCSV(&buf)
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

// exportTables builds the tables --format csv or json writes: the one
// --table names, or for json without --table the runs and the variants.
func exportTables(ctx context.Context, db *results.DB, d *plots.Data, o reportOptions) ([]plots.Table, error) {
	if o.format == "json" && !o.tableSet {
		return []plots.Table{plots.RunsTable(d), plots.VariantsTable(plots.VariantRows(d))}, nil
	}
	var t plots.Table
	switch o.table {
	case "runs":
		t = plots.RunsTable(d)
	case "variants":
		t = plots.VariantsTable(plots.VariantRows(d))
	case "epochs":
		t = plots.EpochsTable(d)
	case "measurements":
		ms, err := perRun(ctx, d, db.Measurements)
		if err != nil {
			return nil, err
		}
		t = plots.MeasurementsTable(d, ms)
	case "layer_stats":
		ls, err := perRun(ctx, d, db.LayerStats)
		if err != nil {
			return nil, err
		}
		t = plots.LayerStatsTable(d, ls)
	default:
		return nil, usageErr(fmt.Errorf("--table %q: unknown", o.table))
	}
	return []plots.Table{t}, nil
}

// perRun reads one run's rows of a child table for every run of d.
func perRun[T any](ctx context.Context, d *plots.Data, read func(context.Context, int64) ([]T, error)) (map[int64][]T, error) {
	out := make(map[int64][]T, len(d.Runs))
	for _, r := range d.Runs {
		rows, err := read(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		out[r.ID] = rows
	}
	return out, nil
}
