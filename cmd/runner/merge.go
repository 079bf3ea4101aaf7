package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"speedrun/results"
)

// mergeOptions are the flags of `runner merge`.
type mergeOptions struct {
	global globalOptions
	shards []string
}

func mergeCommand() command {
	return command{name: "merge", short: "merge shard databases (from array jobs) into --db; idempotent; exit 1 when their cells are not all finished", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		var o mergeOptions
		fs := flag.NewFlagSet("merge", flag.ContinueOnError)
		fs.SetOutput(env.stderr)
		o.global.register(fs)
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) == 0 {
			return usageErr(errors.New("merge: no shards given; usage: runner merge SHARD... [--db OUT]"))
		}
		o.shards = pos
		return runMerge(ctx, env, o)
	}}
}

// runMerge merges every shard, then reports how the shards' cells stand
// in the merged database: a cell that failed or was interrupted in every
// shard that holds it is listed, and the command fails (after merging
// everything) so that a merge job shows it.
func runMerge(ctx context.Context, env *cmdEnv, o mergeOptions) error {
	db, err := results.Open(ctx, o.global.db)
	if err != nil {
		return err
	}
	defer db.Close()
	var total results.MergeStats
	seen := map[results.Cell]bool{}
	for _, sh := range o.shards {
		st, err := db.Merge(ctx, sh)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s: %d added, %d replaced, %d already present\n", sh, st.Added, st.Replaced, st.Skipped)
		total.Added += st.Added
		total.Replaced += st.Replaced
		total.Skipped += st.Skipped
		for _, c := range st.Cells {
			seen[c] = true
		}
	}
	fmt.Fprintf(env.stdout, "merged %d shards into %s: %d added, %d replaced, %d already present\n",
		len(o.shards), o.global.db, total.Added, total.Replaced, total.Skipped)

	runs, err := db.Runs(ctx, results.Filter{})
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	count := map[results.Status]int{}
	for _, r := range runs {
		if !seen[r.Cell()] {
			continue
		}
		count[r.Status]++
		if !r.Status.Final() {
			fmt.Fprintf(env.stdout, "%s: %v: %s\n", r.Status, r.Cell(), r.Error)
		}
	}
	fmt.Fprintf(env.stdout, "cells in the shards: %d done, %d diverged, %d failed, %d interrupted\n",
		count[results.StatusDone], count[results.StatusDiverged], count[results.StatusFailed], count[results.StatusInterrupted])
	if bad := len(seen) - count[results.StatusDone] - count[results.StatusDiverged]; bad > 0 {
		return fmt.Errorf("merge: %d of the %d cells in the shards is not finished (%d failed, %d interrupted); the rest is merged. "+
			"Rerun the unfinished cells with 'runner sweep --emit slurm --resume %s' and the sweep's flags, or a plain sweep on %s",
			bad, len(seen), count[results.StatusFailed], count[results.StatusInterrupted], o.global.db, o.global.db)
	}
	return nil
}
