package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"

	"speedrun/model"
	"speedrun/stages"
)

// listOptions are the flags of `runner list`.
type listOptions struct {
	global globalOptions
	stage  string // "" = every stage
}

func listCommand() *command {
	return &command{
		UsageLine: "runner list [--stage N] [--config FILE]",
		Short:     "list the stages and variants with the blog's published numbers",
		Long: `
List prints the registry (--config, default experiments.toml) as one table
per stage: each variant's kind, whether --backend auto trains it on the
GPU engine, the blog's published time, accuracy, epochs, runs reaching 94%
and hardware, the source post, and the change it makes on its
predecessor. A "?" marks a published value the reference marks
unverified; "-" means the blog gives none.

Example:

	runner list --stage 8

It reads the registry only, and writes the tables to stdout.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o listOptions
			o.global.register(fs)
			fs.StringVar(&o.stage, "stage", "", "show only stage `N` (an id, or a name such as fenwicks)")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				return runList(ctx, env, o)
			}
		},
	}
}

// runList prints the registry as one table per stage. Published values
// that the reference marks unverified end in "?"; "-" means the blog gives
// none.
func runList(ctx context.Context, env *cmdEnv, o listOptions) error {
	w := env.stdout
	reg, err := stages.Load(o.global.config)
	if err != nil {
		return usageErr(err)
	}
	var sel []stages.Stage
	if o.stage == "" {
		sel = reg.Stages()
	} else {
		s, err := reg.Stage(o.stage)
		if err != nil {
			return usageErr(fmt.Errorf("--stage: %w", err))
		}
		sel = []stages.Stage{s}
	}
	for i, s := range sel {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "stage %d %s: %s\n", s.ID, s.Name, s.Title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  VARIANT\tKIND\tGPU\tTIME\tACC\tEPOCHS\tRUNS>=94%\tHARDWARE\tSRC\tCHANGE")
		for _, v := range s.Variants {
			p := v.Published
			mark := func(field, s string) string {
				if s != "-" && p.IsUnverified(field) {
					return s + "?"
				}
				return s
			}
			tm, acc, epochs, runs, hw := "-", "-", "-", "-", "-"
			if p.TimeSeconds > 0 {
				tm = strconv.FormatFloat(p.TimeSeconds, 'f', -1, 64) + " s"
			}
			if p.Accuracy > 0 {
				acc = strconv.FormatFloat(100*p.Accuracy, 'f', 2, 64) + "%"
			}
			if p.Epochs > 0 {
				epochs = strconv.FormatFloat(p.Epochs, 'f', -1, 64)
			}
			if p.Runs94 != "" {
				runs = p.Runs94
			}
			if p.Hardware != "" {
				hw = p.Hardware
			}
			src := p.Source
			if src == "" {
				src = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Kind, onGPU(reg, s.ID, v.Name),
				mark("time_s", tm), mark("accuracy", acc), mark("epochs", epochs), mark("runs94", runs), mark("hardware", hw), src, v.Title)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `"?" marks a published value the reference marks unverified; "-" means the blog gives none.`)
	fmt.Fprintln(w, `GPU: "yes" runs on the GPU engine under --backend auto when a GPU is found, "no" on the CPU engine.`)
	return nil
}

// onGPU says whether --backend auto trains the variant on the GPU engine
// (its paper-profile config; the profiles change sizes, not layers).
func onGPU(reg *stages.Registry, stage int, variant string) string {
	cfg, err := reg.Resolve(stage, variant, "paper")
	if err != nil {
		return "?"
	}
	spec, err := model.Build(cfg.Net)
	if err != nil || gpuSupports(cfg, spec) != nil {
		return "no"
	}
	return "yes"
}
