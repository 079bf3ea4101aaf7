package main

import "flag"

// globalOptions are the flags every subcommand accepts.
type globalOptions struct {
	config  string
	db      string
	reports string
	data    string
}

func (g *globalOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&g.config, "config", "experiments.toml", "experiment registry")
	fs.StringVar(&g.db, "db", "results/speedrun.sqlite", "results database")
	fs.StringVar(&g.reports, "reports", "reports", "report folder")
	fs.StringVar(&g.data, "data", "", "CIFAR-10 folder, or 'synthetic' (default: the user's CIFAR-10 folder when present, else synthetic)")
}
