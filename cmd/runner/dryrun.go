package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"speedrun/backend"
	"speedrun/results"
	"speedrun/runner"
)

// dryRun is `runner sweep --dry-run`: the cells a sweep would run (those
// the database does not hold finished), each with its expected time from
// the database's past runs of the same variant and profile on the device
// its engine reports, and the total. It trains nothing and creates no
// database.
func dryRun(ctx context.Context, env *cmdEnv, o sweepOptions) error {
	cells, err := loadPlan(o)
	if err != nil {
		return err
	}
	var past []results.Run
	if _, err := os.Stat(o.global.db); err == nil {
		db, err := results.Open(ctx, o.global.db)
		if err != nil {
			return err
		}
		past, err = db.Runs(ctx, results.Filter{})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--db: %w", err)
	}
	finished, err := finishedCells(ctx, past, cells, o.global.data)
	if err != nil {
		return err
	}
	var todo []runner.Cell
	var index []int
	for i, c := range cells {
		if !finished[i] {
			todo = append(todo, c)
			index = append(index, i)
		}
	}
	be, err := openBackend(o.train.backend, env)
	if err != nil {
		return err
	}
	device := func(c runner.Cell) string {
		b := be
		if ch, ok := b.(backend.Chooser); ok {
			b = ch.For(c.Config)
		}
		return b.Device()
	}
	est := runner.EstimateCells(todo, device, past)
	if err := closeBackend(be); err != nil {
		return err
	}
	return printDryRun(env, o, len(cells), index, est)
}

// printDryRun writes the cells to run, one line each, and the summary.
func printDryRun(env *cmdEnv, o sweepOptions, planned int, index []int, est runner.Estimate) error {
	w := env.stdout
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tCELL\tESTIMATE\tFROM")
	for i, ce := range est.Cells {
		t, from := "?", "no past run of this variant and profile on "+ce.Device
		if ce.Past > 0 {
			t = fmtDuration(ce.Seconds)
			what := "this variant and profile"
			if ce.SameConfig {
				what = "this config"
			}
			runs := "runs"
			if ce.Past == 1 {
				runs = "run"
			}
			from = fmt.Sprintf("mean of %d past %s of %s on %s", ce.Past, runs, what, ce.Device)
		}
		fmt.Fprintf(tw, "%d\t%v\t%s\t%s\n", index[i], ce.Cell, t, from)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	todo := len(est.Cells)
	fmt.Fprintf(w, "\nsweep --dry-run: %d cells planned (profile %s, --repeats %d), %d already finished in %s, %d to run.\n",
		planned, o.train.profile, o.repeats, planned-todo, o.global.db, todo)
	switch {
	case todo == 0:
		fmt.Fprintln(w, "Nothing to run.")
	case est.Known == 0:
		fmt.Fprintf(w, "Estimate: none: %s holds no finished run of these variants and profile on this device. Run one cell first (runner run) to get one.\n", o.global.db)
	case est.Known == todo:
		fmt.Fprintf(w, "Estimate: %s in all, one cell after another, from the past runs listed.\n", fmtDuration(est.Seconds))
	default:
		mean := est.Seconds / float64(est.Known)
		fmt.Fprintf(w, "Estimate: at least %s: %s for the %d cells with past runs; the other %d have none and are not counted.\n",
			fmtDuration(est.Seconds), fmtDuration(est.Seconds), est.Known, todo-est.Known)
		fmt.Fprintf(w, "If they took as long as those cells do on average (%s each), all %d would take about %s.\n",
			fmtDuration(mean), todo, fmtDuration(mean*float64(todo)))
	}
	return nil
}

// finishedCells says which cells past holds finished (done or diverged),
// as a sweep would see them: a cell's key holds its dataset's checksum,
// so the dataset of a cell that past holds under its config hash is
// loaded to compare; the others need none.
func finishedCells(ctx context.Context, past []results.Run, cells []runner.Cell, dataFlag string) ([]bool, error) {
	type key struct {
		stage            int
		variant, profile string
		repeat           int
		hash             string
	}
	bySum := map[key]map[string]results.Status{}
	for _, r := range past {
		k := key{r.Stage, r.Variant, r.Profile, r.Repeat, r.ConfigHash}
		if bySum[k] == nil {
			bySum[k] = map[string]results.Status{}
		}
		bySum[k][r.DataSum] = r.Status
	}
	data := datasets(dataFlag)
	out := make([]bool, len(cells))
	for i, c := range cells {
		sums := bySum[key{c.Config.Stage, c.Config.Variant, c.Config.Profile, c.Repeat, c.Hash}]
		if len(sums) == 0 {
			continue
		}
		ds, err := data(ctx, c.Config)
		if err != nil {
			return nil, fmt.Errorf("%v: dataset: %w", c, err)
		}
		out[i] = sums[ds.Checksum].Final()
	}
	return out, nil
}

// fmtDuration writes seconds as "42 s", "12.5 min" or "21.3 h".
func fmtDuration(s float64) string {
	switch {
	case math.IsNaN(s):
		return "?"
	case s < 10:
		return fmt.Sprintf("%.2g s", s)
	case s < 90:
		return fmt.Sprintf("%.0f s", s)
	case s < 90*60:
		return fmt.Sprintf("%.1f min", s/60)
	}
	return fmt.Sprintf("%.1f h (%s)", s/3600, (time.Duration(s) * time.Second).Round(time.Minute))
}
