package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"speedrun/plots"
	"speedrun/results"
	"speedrun/runner"
	"speedrun/stages"
)

// sweepOptions are the flags of `runner sweep`.
type sweepOptions struct {
	global    globalOptions
	train     trainFlags
	stages    string
	variants  stringsFlag
	repeats   int
	noReport  bool
	emit      string
	resume    string
	slurm     slurmOptions
	k8s       k8sOptions
	cellIndex int
	dryRun    bool
}

func sweepCommand() *command {
	return &command{
		UsageLine: "runner sweep [--stage N[,M...]] [--variant V...] [--repeats R] [--profile P] [--backend auto|cpu|cuda] [--no-report] [--dry-run] [--emit slurm|k8s [--resume DB] [--slurm-* | --k8s-* ...]] [flags] [KEY=VALUE...]",
		Args:      true,
		Short:     "run every selected (variant, repeat) cell not yet done; resumable",
		Long: `
Sweep plans every (variant, repeat) cell of the selected stages (all stages
by default) under a profile and trains those not yet finished, in order.
It resumes: a cell already done or diverged is skipped, a failed or
interrupted one is retried, and one left running by a dead process is
requeued. Several sweeps may share one database; each cell runs once. A
run that fails fails alone: the sweep goes on and exits 1 at the end.
Ctrl-C or SIGTERM marks the current run interrupted and exits 130.
KEY=VALUE arguments after the flags change every selected config, as
with 'runner run' (see 'runner help run'): such cells are cells of their
own. --dry-run trains nothing: it lists the cells that would run and
estimates their time from the database's past runs of the same variant
and profile on the same device. A full sweep is long: look first.

Examples:

	runner sweep --stage 8 --repeats 5 --profile quick
	runner sweep --repeats 10 --dry-run
	runner sweep --stage 4 --profile smoke --data synthetic --db /tmp/s.sqlite --reports /tmp/rep
	runner sweep --stage 8 --profile smoke train.epochs=2
	runner sweep --stage 8 --repeats 10 --emit slurm > sweep.slurm
	runner sweep --stage 8 --repeats 10 --emit slurm --resume merged.sqlite > resume.slurm
	runner sweep --stage 8 --repeats 10 --backend cuda --emit k8s --k8s-image registry.example/speedrun:v1 > sweep.yaml

It writes every run into the results database (--db, default
results/speedrun.sqlite), then, unless --no-report, rebuilds the HTML
report in --reports (default reports/): index.html, one page per stage
and per run, the PNG charts, runs.csv and variants.csv. Progress goes to
stderr (a bar on a terminal, else a log line per epoch), the summary to
stdout. --dry-run only reads the database, and prints to stdout. With
--emit it trains nothing and prints a cluster job on stdout: one array
task per cell, each writing its own shard database, for 'runner merge'
(with --emit slurm, 'bash' the script to submit the array and a
dependent merge-and-report job; --resume DB emits only the cells that DB
does not hold finished; with --emit k8s, a PersistentVolumeClaim for the
shards, the Indexed Job and the merge Job, applied as its header says,
from the image the repository's Dockerfile builds). --emit refuses cells
the chosen backend would refuse, as a sweep does.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o sweepOptions
			o.global.register(fs)
			o.train.register(fs)
			fs.StringVar(&o.stages, "stage", "", "stages `N[,M...]` (numbers or names; default: all)")
			fs.Var(&o.variants, "variant", "only these variants (`NAME`, repeatable or comma-separated; default: all)")
			fs.IntVar(&o.repeats, "repeats", 1, "runs per variant")
			fs.BoolVar(&o.noReport, "no-report", false, "do not refresh the report afterwards")
			fs.StringVar(&o.emit, "emit", "", "instead of running, print a cluster job with one task per cell: `KIND` slurm (a job-array script) or k8s (an Indexed Job manifest)")
			fs.StringVar(&o.resume, "resume", "", "with --emit slurm: emit only the cells that database `DB` (the merged shards) does not hold finished, under their plan indices; print nothing when there are none")
			o.slurm.register(fs)
			o.k8s.register(fs)
			fs.IntVar(&o.cellIndex, "cell-index", -1, "run only cell `I` of the plan (0-based; what an array task runs)")
			fs.BoolVar(&o.dryRun, "dry-run", false, "train nothing: list the cells that would run, with a time estimate from the database's past runs")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				var err error
				if o.train.overrides, err = overrideArgs(pos); err != nil {
					return err
				}
				if o.dryRun && (o.emit != "" || o.cellIndex >= 0) {
					return usageErr(errors.New("--dry-run: not with --emit or --cell-index"))
				}
				if o.repeats < 1 {
					return usageErr(fmt.Errorf("--repeats %d: want at least 1", o.repeats))
				}
				switch o.emit {
				case "", "slurm", "k8s":
				default:
					return usageErr(fmt.Errorf("--emit %q: want slurm or k8s", o.emit))
				}
				if err := checkEmitFlags(fs, o.emit); err != nil {
					return usageErr(err)
				}
				return runSweep(ctx, env, o)
			}
		},
	}
}

func runSweep(ctx context.Context, env *cmdEnv, o sweepOptions) error {
	if o.emit != "" {
		return emitSweep(ctx, env, o)
	}
	if o.dryRun {
		return dryRun(ctx, env, o)
	}
	// The plan first: a bad selection or override, or a task beyond the
	// plan, is refused before an engine is opened or a database left
	// behind.
	cells, err := loadPlan(o)
	if err != nil {
		return err
	}
	if o.cellIndex >= 0 {
		if o.cellIndex >= len(cells) {
			return usageErr(fmt.Errorf("sweep: --cell-index %d: the plan has %d cells (0..%d)", o.cellIndex, len(cells), len(cells)-1))
		}
		cells = cells[o.cellIndex : o.cellIndex+1]
	}
	s, err := openSession(ctx, env, o.global, o.train)
	if err != nil {
		return err
	}
	defer s.Close()
	env.log.Info("sweep", "cells", len(cells), "profile", o.train.profile, "db", o.global.db, "backend", s.run.Backend.Name())
	sum, sweepErr := s.run.Sweep(ctx, cells)
	fmt.Fprintf(env.stdout, "sweep: %d cells: %d run now (%d done, %d diverged, %d failed, %d interrupted), %d already finished or running elsewhere\n",
		sum.Planned, sum.Done+sum.Diverged+sum.Failed+sum.Interrupted, sum.Done, sum.Diverged, sum.Failed, sum.Interrupted, sum.Skipped)
	if sweepErr != nil {
		return sweepErr
	}
	if !o.noReport && sum.Done+sum.Diverged > 0 {
		if err := writeReport(ctx, s.db, s.reg, o.global.reports); err != nil {
			return fmt.Errorf("the runs are stored, but the report failed: %w", err)
		}
		env.log.Info("report written", "dir", o.global.reports)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d runs failed; see their errors with the report or the runs table, and rerun the sweep to retry them", sum.Failed, sum.Planned)
	}
	return nil
}

// loadPlan loads the registry and plans the sweep, without a session.
func loadPlan(o sweepOptions) ([]runner.Cell, error) {
	reg, err := stages.Load(o.global.config)
	if err != nil {
		return nil, usageErr(err)
	}
	return planSweep(reg, o)
}

// planSweep turns the selection flags into the ordered cell list.
func planSweep(reg *stages.Registry, o sweepOptions) ([]runner.Cell, error) {
	picks, err := stagePicks(reg, o.stages, o.variants, "")
	if err != nil {
		return nil, err
	}
	res, err := o.train.resolver(reg)
	if err != nil {
		return nil, err
	}
	cells, err := runner.Plan(res, picks, o.train.profile, o.repeats)
	if err != nil {
		return nil, usageErr(err)
	}
	return cells, nil
}

// writeReport refreshes the HTML report from the database.
func writeReport(ctx context.Context, db *results.DB, reg *stages.Registry, dir string) error {
	return plots.WriteReportWith(ctx, db, reg, dir, analysisCharts(db))
}
