package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"speedrun/plots"

	"speedrun/results"
)

// runOptions are the flags of `runner run`.
type runOptions struct {
	global  globalOptions
	train   trainFlags
	stage   string
	variant string
	repeat  int
}

func runCommand() *command {
	return &command{
		UsageLine: "runner run --stage N [--variant V] [--repeat R] [--profile P] [--seed S] [--backend auto|cpu|cuda] [flags] [KEY=VALUE...]",
		Args:      true,
		Short:     "train one variant once and store the run",
		Long: `
Run trains one cell, a (variant, repeat) pair of the registry, under a
profile, and prints its test accuracy (and TTA accuracy) with both of the
blog's timings: train+eval (posts 1-4) and preprocess+train (DAWNBench,
post 8). Without --variant it trains the stage's final variant. A cell
already finished in the database is not trained again: run prints the
stored result instead. A diverged run exits 3.

KEY=VALUE arguments after the flags change the resolved config for this
run, Hydra style: a key of experiments.toml's variant tables (net.*,
train.*, data.*, analysis.*) and a TOML value (a bare word is a string).
They set the value the run uses, after the profile's scaling, and are
checked by the registry's own rules (a misspelled key gets a did-you-mean).
The override set is part of the config hash, so such a run is a cell of
its own, labelled with its overrides in the report. 'runner config'
prints the config a command line resolves to.

Examples:

	runner run --stage 8 --variant p8.s10 --profile smoke --data synthetic
	runner run --stage 8 --variant p8.s10 train.epochs=12 data.cutout=0

It writes the run into the results database (--db, default
results/speedrun.sqlite): its row in runs with the resolved config and
provenance, its per-epoch metrics in epochs, and for an analysis variant
its layer_stats and measurements. It does not refresh the report; run
'runner report' for that. Progress and logs go to stderr, the result to
stdout.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o runOptions
			o.global.register(fs)
			o.train.register(fs)
			fs.StringVar(&o.stage, "stage", "", "stage `N` or name (required)")
			fs.StringVar(&o.variant, "variant", "", "variant `NAME` (default: the stage's final variant)")
			fs.IntVar(&o.repeat, "repeat", 0, "repeat index `R` of the cell (its seed depends on it)")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				if o.stage == "" {
					return usageErr(errors.New("--stage is required"))
				}
				if o.repeat < 0 {
					return usageErr(fmt.Errorf("--repeat %d: want >= 0", o.repeat))
				}
				var err error
				if o.train.overrides, err = overrideArgs(pos); err != nil {
					return err
				}
				return runRun(ctx, env, o)
			}
		},
	}
}

func runRun(ctx context.Context, env *cmdEnv, o runOptions) error {
	// The cell first: a bad stage, variant or override is refused before
	// any engine or database is opened.
	cell, err := planCell(o.global.config, o.train, o.stage, o.variant, o.repeat)
	if err != nil {
		return err
	}
	s, err := openSession(ctx, env, o.global, o.train)
	if err != nil {
		return err
	}
	defer s.Close()
	out, err := s.run.Run(ctx, cell)
	if err != nil {
		return err
	}
	run := out.Run
	if out.Skipped {
		if run, err = s.db.Run(ctx, out.RunID); err != nil {
			return err
		}
		if run.Status == results.StatusRunning {
			return fmt.Errorf("%v is running in another process (%s); try again when it ends", cell, run.LeaseOwner)
		}
		fmt.Fprintf(env.stdout, "%v: already %s (run %d); not run again\n", cell, run.Status, run.ID)
	}
	printRun(env.stdout, run)
	switch run.Status {
	case results.StatusDone:
		return nil
	case results.StatusDiverged:
		return &exitError{code: exitDiverged, err: fmt.Errorf("%v diverged at epoch %d", cell, run.DivergedEpoch)}
	default:
		return fmt.Errorf("%v %s: %s", cell, run.Status, run.Error)
	}
}

// printRun prints a run's result in both of the blog's timing conventions.
func printRun(w io.Writer, r results.Run) {
	fmt.Fprintf(w, "run %d: stage %d %s (%s) repeat %d seed %d on %s (%s)\n", r.ID, r.Stage, r.Variant, r.Profile, r.Repeat, r.Seed, r.Backend, r.Device)
	if ovs := plots.RunOverrides(r); len(ovs) > 0 {
		fmt.Fprintf(w, "  overrides %s; config %s\n", strings.Join(ovs, " "), plots.ShortHash(r.ConfigHash))
	}
	switch r.Status {
	case results.StatusDone:
		fmt.Fprintf(w, "  test accuracy %.2f%%", 100*r.TestAcc)
		if r.TTAAcc == r.TTAAcc { // not NaN
			fmt.Fprintf(w, " (TTA %.2f%%)", 100*r.TTAAcc)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  time: train+eval %.2f s, dawn (preprocess+train) %.2f s, airbench (all three) %.2f s; preprocess %.2f s, train %.2f s, eval %.2f s\n",
			r.TrainEvalSeconds(), r.DawnSeconds(), r.AirbenchSeconds(), r.PreprocessSeconds, r.TrainSeconds, r.EvalSeconds)
	case results.StatusDiverged:
		fmt.Fprintf(w, "  diverged at epoch %d\n", r.DivergedEpoch)
	default:
		fmt.Fprintf(w, "  %s: %s\n", r.Status, r.Error)
	}
}
