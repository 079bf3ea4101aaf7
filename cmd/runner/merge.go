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
	return command{name: "merge", short: "merge shard databases (from array jobs) into --db; idempotent", run: func(ctx context.Context, env *cmdEnv, args []string) error {
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
