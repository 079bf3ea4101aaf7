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

func mergeCommand() *command {
	return &command{
		UsageLine: "runner merge SHARD... [--db FILE]",
		Args:      true,
		Short:     "merge shard databases (from array jobs) into --db; idempotent",
		Long: `
Merge copies the runs of each shard database (what the array tasks of
'runner sweep --emit' write) into one results database, with their
epochs, layer statistics, measurements and provenance. A cell the target
lacks is added, one it holds unfinished is replaced by a finished one,
and every other cell is left alone, so merging the same shards twice
changes nothing. A missing shard is an error.

Example:

	runner merge shards/*.sqlite --db results/speedrun.sqlite

It writes into --db (default results/speedrun.sqlite, created when
absent) and prints what it added, replaced and left per shard on stdout.
The shards are only read.`,
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

func runMerge(ctx context.Context, env *cmdEnv, o mergeOptions) error {
	db, err := results.Open(ctx, o.global.db)
	if err != nil {
		return err
	}
	defer db.Close()
	var total results.MergeStats
	for _, sh := range o.shards {
		st, err := db.Merge(ctx, sh)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s: %d added, %d replaced, %d already present\n", sh, st.Added, st.Replaced, st.Skipped)
		total.Added += st.Added
		total.Replaced += st.Replaced
		total.Skipped += st.Skipped
	}
	fmt.Fprintf(env.stdout, "merged %d shards into %s: %d added, %d replaced, %d already present\n",
		len(o.shards), o.global.db, total.Added, total.Replaced, total.Skipped)
	return nil
}
