package main

import (
	"context"

	"speedrun/plots"
	"speedrun/plots/analysisplot"
	"speedrun/results"
)

// analysisCharts lets a report's stage pages show the post 5-7 analysis
// charts: plots knows nothing of the experiments; analysisplot draws them
// from the measurements that analysis stored.
func analysisCharts(db *results.DB) plots.ExtraCharts {
	return func(ctx context.Context, stage int, dir string) ([]plots.Chart, error) {
		return analysisplot.WriteCharts(ctx, db, stage, dir)
	}
}
