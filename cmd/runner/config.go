package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"speedrun/runner"
	"speedrun/stages"
)

// configOptions are the flags of `runner config`.
type configOptions struct {
	global  globalOptions
	train   trainFlags
	stage   string
	variant string
}

func configCommand() *command {
	return &command{
		UsageLine: "runner config --stage N [--variant V] [--profile P] [--precision fp32|bf16] [KEY=VALUE...]",
		Args:      true,
		Short:     "print a variant's resolved config as TOML",
		Long: `
Config resolves one variant of the registry (--config, default
experiments.toml) under a profile, with --precision and any KEY=VALUE
overrides laid over it as 'runner run' would, and prints the result as
TOML in experiments.toml's syntax: every setting the run would use, and
the config hash that names its cells. Without --variant it prints the
stage's final variant. An override is checked as 'runner run' checks it,
so config is also a way to try one.

Examples:

	runner config --stage 8 --variant p8.s10
	runner config --stage 8 --variant p8.s10 --profile smoke train.epochs=12 data.cutout=0

It reads the registry only, and writes the TOML to stdout.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o configOptions
			o.global.register(fs)
			fs.StringVar(&o.train.profile, "profile", "paper", "`profile` of the registry (paper, quick, smoke, ...)")
			fs.StringVar(&o.train.precision, "precision", "", "resolve with train.precision `fp32` or bf16, as run's --precision does")
			fs.StringVar(&o.stage, "stage", "", "stage `N` or name (required)")
			fs.StringVar(&o.variant, "variant", "", "variant `NAME` (default: the stage's final variant)")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				if o.stage == "" {
					return usageErr(errors.New("--stage is required"))
				}
				var err error
				if o.train.overrides, err = overrideArgs(pos); err != nil {
					return err
				}
				return runConfig(env.stdout, o)
			}
		},
	}
}

func runConfig(w io.Writer, o configOptions) error {
	cell, err := planCell(o.global.config, o.train, o.stage, o.variant, 0)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, cell.Config.TOML())
	return err
}

// planCell resolves the one cell that run and config name: repeat of the
// variant (the stage's final one when variant is empty) under the
// profile, with --precision and the overrides, all checked.
func planCell(config string, t trainFlags, stage, variant string, repeat int) (runner.Cell, error) {
	reg, err := stages.Load(config)
	if err != nil {
		return runner.Cell{}, usageErr(err)
	}
	if _, err := reg.Profile(t.profile); err != nil {
		return runner.Cell{}, usageErr(fmt.Errorf("--profile: %w", err))
	}
	var variants []string
	if variant != "" {
		variants = []string{variant}
	}
	picks, err := stagePicks(reg, stage, variants, "final")
	if err != nil {
		return runner.Cell{}, err
	}
	res, err := t.resolver(reg)
	if err != nil {
		return runner.Cell{}, err
	}
	cells, err := runner.Plan(res, picks[:1], t.profile, repeat+1)
	if err != nil {
		return runner.Cell{}, usageErr(err)
	}
	return cells[repeat], nil
}
