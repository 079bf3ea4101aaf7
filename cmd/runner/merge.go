package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"speedrun/results"
)

// mergeOptions are the flags of `runner merge`.
type mergeOptions struct {
	global globalOptions
	shards []string
}

func mergeCommand() *command {
	return &command{
		UsageLine: "runner merge SHARD... [--db FILE]",
		Args:      true,
		Short:     "merge shard databases (from array jobs) into --db; idempotent; exit 1 when their cells are not all finished",
		Long: `
Merge copies the runs of each shard database (what the array tasks of
'runner sweep --emit' write) into one results database, with their
epochs, layer statistics, measurements and provenance. A cell the target
lacks is added, one it holds unfinished is replaced by a finished one,
and every other cell is left alone, so merging the same shards twice
changes nothing. A missing shard is an error (exit 2) found before
anything is written: the target is left as it was, and not created.

Example:

	runner merge shards/*.sqlite --db results/speedrun.sqlite

It writes into --db (default results/speedrun.sqlite, created when
absent) and prints what it added, replaced and left per shard on stdout,
and the cells the shards leave failed or interrupted, with exit status 1
(after merging everything). The shards are only read.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o mergeOptions
			o.global.register(fs)
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				if len(pos) == 0 {
					return usageErr(errors.New("no shards given; usage: runner merge SHARD... [--db FILE]"))
				}
				o.shards = pos
				return runMerge(ctx, env, o)
			}
		},
	}
}

// runMerge merges every shard, then reports how the shards' cells stand
// in the merged database: a cell that failed or was interrupted in every
// shard that holds it is listed, and the command fails (after merging
// everything) so that a merge job shows it.
func runMerge(ctx context.Context, env *cmdEnv, o mergeOptions) (err error) {
	// Every shard is there before anything is written: a missing one
	// (a typo, a task that left none) leaves the target as it was.
	for _, sh := range o.shards {
		if _, err := os.Stat(sh); err != nil {
			return usageErr(fmt.Errorf("shard %s: %w; nothing merged", sh, err))
		}
	}
	_, statErr := os.Stat(o.global.db)
	created := errors.Is(statErr, os.ErrNotExist)
	db, err := results.Open(ctx, o.global.db)
	if err != nil {
		return err
	}
	merged := false
	defer func() {
		err = errors.Join(err, db.Close())
		// A database this merge created and filled with nothing is not
		// left behind.
		if err != nil && created && !merged {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(o.global.db + suffix)
			}
		}
	}()
	var total results.MergeStats
	seen := map[results.Cell]bool{}
	for _, sh := range o.shards {
		st, err := db.Merge(ctx, sh)
		if err != nil {
			return err
		}
		merged = true
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
		return err
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
		return fmt.Errorf("%d of the %d cells in the shards is not finished (%d failed, %d interrupted); the rest is merged. "+
			"Rerun the unfinished cells with 'runner sweep --emit slurm --resume %s' and the sweep's flags, or a plain sweep on %s",
			bad, len(seen), count[results.StatusFailed], count[results.StatusInterrupted], o.global.db, o.global.db)
	}
	return nil
}
