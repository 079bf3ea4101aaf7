package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"

	"speedrun/analysis"
	"speedrun/results"
	"speedrun/runner"
	"speedrun/stages"
)

// tuneOptions are the flags of `runner tune`.
type tuneOptions struct {
	global  globalOptions
	train   trainFlags
	variant string
	maxRuns int
}

func tuneCommand() *command {
	return &command{
		UsageLine: "runner tune [--variant NAME] [--profile P] [--max-runs N] [--backend auto|cpu|cuda] [flags]",
		Short:     "E5.2: tune lambda, momentum and weight decay by cyclical coordinate descent (resumable)",
		Long: `
Tune runs post 5's cyclical coordinate descent (experiment E5.2) for a
variant of kind "tune" (default p5.e2): from the variant's starting
point it moves one of lambda, momentum and weight decay at a time by the
variant's factor (up, then down if that is not better), retraining while
the test accuracy improves, and cycles until a whole cycle improves
nothing or --max-runs trainings are spent. Every training is a results
cell of its own, so a tuning killed at any point and run again reads its
finished trainings back instead of redoing them, and follows the same
trajectory.

Example:

	runner tune --profile smoke --max-runs 6 --data synthetic

It prints one line per training (a * marks an accepted step) and the
best point to stdout. It writes each training into the results database
(--db, default results/speedrun.sqlite) and each step as a measurement
named tune/step-NNN, which the report's stage 5 page draws.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o tuneOptions
			o.global.register(fs)
			o.train.register(fs)
			fs.StringVar(&o.variant, "variant", "p5.e2", "the tuning variant `NAME` (kind \"tune\") of the registry")
			fs.IntVar(&o.maxRuns, "max-runs", 0, "at most `N` trainings (default: the variant's analysis.max_runs under the profile)")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				if o.maxRuns < 0 {
					return usageErr(fmt.Errorf("--max-runs %d: want >= 0", o.maxRuns))
				}
				return runTune(ctx, env, o)
			}
		},
	}
}

// runTune runs the descent with every training stored as its own results
// cell (the variant, repeat 0, keyed by the config hash of its lambda,
// momentum and weight decay). A rerun after a crash requeues the cell the
// dead process held and replays the descent: finished trainings are read
// back, not redone, and since the descent is deterministic given their
// accuracies it continues exactly where it stopped.
func runTune(ctx context.Context, env *cmdEnv, o tuneOptions) error {
	s, err := openSession(ctx, env, o.global, o.train)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := o.train.resolver(s.reg)
	if err != nil {
		return err
	}
	cfg, err := resolveVariant(s.reg, res, o.variant, o.train.profile)
	if err != nil {
		return usageErr(err)
	}
	if cfg.Kind != stages.KindTune {
		return usageErr(fmt.Errorf("--variant %s has kind %q, want %q", o.variant, cfg.Kind, stages.KindTune))
	}
	if o.maxRuns > 0 {
		cfg.Analysis.MaxRuns = o.maxRuns
	}
	t, err := analysis.NewTuner(cfg)
	if err != nil {
		return usageErr(fmt.Errorf("--variant %s: %w", o.variant, err))
	}
	t.Name += "/runner"
	requeued, err := s.db.RequeueDead(ctx, s.run.Owner.Host)
	if err != nil {
		return err
	}
	for _, r := range requeued {
		env.log.Info("requeued a cell whose owner is gone", "cell", r)
	}
	runIDs := map[analysis.Point]int64{}
	eval := func(ctx context.Context, p analysis.Point) (float64, error) {
		pc, err := analysis.WithPoint(cfg, p)
		if err != nil {
			return 0, err
		}
		out, err := s.run.Run(ctx, runner.Cell{Config: pc, Hash: pc.Hash()})
		if err != nil {
			return 0, err
		}
		run := out.Run
		if out.Skipped {
			if run, err = s.db.Run(ctx, out.RunID); err != nil {
				return 0, err
			}
		}
		runIDs[p] = out.RunID
		switch run.Status {
		case results.StatusDone:
			return run.TestAcc, nil
		case results.StatusDiverged:
			return math.NaN(), nil
		case results.StatusRunning:
			return 0, fmt.Errorf("run %d is running in another process (%s); try again when it ends", run.ID, run.LeaseOwner)
		default:
			return 0, fmt.Errorf("run %d %s: %s", run.ID, run.Status, run.Error)
		}
	}
	fmt.Fprintf(env.stdout, "tuning %s (%s): start lambda %g, momentum %g, weight decay %g; factor %g, order %v, keeping %s fixed; at most %d runs\n",
		o.variant, o.train.profile, t.Start.LR, t.Start.Momentum, t.Start.WD, t.Factor, t.Order, orNone(t.Invariant), t.MaxRuns)
	best, err := t.Run(ctx, eval, func(st analysis.TuneStep) error {
		mark := ""
		if st.Accepted {
			mark = "  *"
		}
		fmt.Fprintf(env.stdout, "run %2d  cycle %d  %-8s  lambda %-10.4g momentum %-8.4g wd %-10.4g acc %s%s\n",
			st.Run, st.Cycle, st.Axis, st.LR, st.Momentum, st.WD, pct(float64(st.Acc)), mark)
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return s.db.PutMeasurement(ctx, results.Measurement{RunID: runIDs[st.Point], Name: fmt.Sprintf("tune/step-%03d", st.Run), JSON: string(b)})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "best: lambda %g, momentum %g, weight decay %g: %s (run %d)\n", best.LR, best.Momentum, best.WD, pct(float64(best.Acc)), best.Run)
	return nil
}

// resolveVariant resolves the variant named v in whichever stage holds it.
func resolveVariant(reg *stages.Registry, res runner.Resolver, v, profile string) (stages.Config, error) {
	for _, st := range reg.Stages() {
		for _, vi := range st.Variants {
			if vi.Name == v {
				return res.Resolve(st.ID, v, profile)
			}
		}
	}
	return stages.Config{}, fmt.Errorf("--variant %q: no such variant in the registry", v)
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func pct(a float64) string {
	if math.IsNaN(a) {
		return "diverged"
	}
	return fmt.Sprintf("%.2f%%", 100*a)
}
