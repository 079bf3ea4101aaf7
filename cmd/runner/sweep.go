package main

import (
	"context"
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
	cellIndex int
}

func sweepCommand() command {
	return command{name: "sweep", short: "run every selected (variant, repeat) cell not yet done; resumable", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		var o sweepOptions
		fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
		fs.SetOutput(env.stderr)
		o.global.register(fs)
		o.train.register(fs)
		fs.StringVar(&o.stages, "stage", "", "stages `N[,M...]` (numbers or names; default: all)")
		fs.Var(&o.variants, "variant", "only these variants (`NAME`, repeatable or comma-separated; default: all)")
		fs.IntVar(&o.repeats, "repeats", 1, "runs per variant")
		fs.BoolVar(&o.noReport, "no-report", false, "do not refresh the report afterwards")
		fs.StringVar(&o.emit, "emit", "", "instead of running, print a cluster job with one task per cell: `KIND` slurm (a job-array script) or k8s (an Indexed Job manifest)")
		fs.StringVar(&o.resume, "resume", "", "with --emit slurm: emit only the cells that database `DB` (the merged shards) does not hold finished, under their plan indices; print nothing when there are none")
		o.slurm.register(fs)
		fs.IntVar(&o.cellIndex, "cell-index", -1, "run only cell `I` of the plan (0-based; what an array task runs)")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usageErr(fmt.Errorf("sweep: unexpected arguments %q", pos))
		}
		if o.repeats < 1 {
			return usageErr(fmt.Errorf("sweep: --repeats %d: want at least 1", o.repeats))
		}
		switch o.emit {
		case "", "slurm", "k8s":
		default:
			return usageErr(fmt.Errorf("sweep: --emit %q: want slurm or k8s", o.emit))
		}
		if err := checkEmitFlags(fs, o.emit); err != nil {
			return usageErr(fmt.Errorf("sweep: %w", err))
		}
		return runSweep(ctx, env, o)
	}}
}

func runSweep(ctx context.Context, env *cmdEnv, o sweepOptions) error {
	if o.emit != "" {
		return emitSweep(ctx, env, o)
	}
	if o.cellIndex >= 0 {
		// A task beyond the plan must not leave a database behind.
		cells, err := loadPlan(o)
		if err != nil {
			return err
		}
		if o.cellIndex >= len(cells) {
			return usageErr(fmt.Errorf("sweep: --cell-index %d: the plan has %d cells (0..%d)", o.cellIndex, len(cells), len(cells)-1))
		}
	}
	s, err := openSession(ctx, env, o.global, o.train)
	if err != nil {
		return err
	}
	defer s.Close()
	cells, err := planSweep(s.reg, o)
	if err != nil {
		return err
	}
	if o.cellIndex >= 0 {
		cells = cells[o.cellIndex : o.cellIndex+1]
	}
	env.log.Info("sweep", "cells", len(cells), "profile", o.train.profile, "db", o.global.db, "backend", s.run.Backend.Name())
	sum, sweepErr := s.run.Sweep(ctx, cells)
	fmt.Fprintf(env.stdout, "sweep: %d cells: %d run now (%d done, %d diverged, %d failed, %d interrupted), %d already finished or running elsewhere\n",
		sum.Planned, sum.Done+sum.Diverged+sum.Failed+sum.Interrupted, sum.Done, sum.Diverged, sum.Failed, sum.Interrupted, sum.Skipped)
	if sweepErr != nil {
		return sweepErr
	}
	if !o.noReport && sum.Done+sum.Diverged > 0 {
		if err := writeReport(ctx, s.db, s.reg, o.global.reports); err != nil {
			return fmt.Errorf("sweep: the runs are stored, but the report failed: %w", err)
		}
		env.log.Info("report written", "dir", o.global.reports)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("sweep: %d of %d runs failed; see their errors with the report or the runs table, and rerun the sweep to retry them", sum.Failed, sum.Planned)
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
	cells, err := runner.Plan(reg, picks, o.train.profile, o.repeats)
	if err != nil {
		return nil, usageErr(err)
	}
	return cells, nil
}

// writeReport refreshes the HTML report from the database.
func writeReport(ctx context.Context, db *results.DB, reg *stages.Registry, dir string) error {
	return plots.WriteReportWith(ctx, db, reg, dir, analysisCharts(db))
}
