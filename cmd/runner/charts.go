package main

import (
	"context"

	"speedrun/analysis"
	"speedrun/plots"
	"speedrun/results"
)

// analysisCharts lets a report's stage pages show the post 5-7 analysis
// charts: plots knows nothing of the experiments, analysis draws them from
// the stored measurements.
func analysisCharts(db *results.DB) plots.ExtraCharts {
	return func(ctx context.Context, stage int, dir string) ([]plots.Chart, error) {
		cs, err := analysis.WriteCharts(ctx, db, stage, dir)
		if err != nil {
			return nil, err
		}
		out := make([]plots.Chart, len(cs))
		for i, c := range cs {
			out[i] = plots.Chart{Title: c.Title, File: c.File}
		}
		return out, nil
	}
}
