package plots

import (
	"context"
	"fmt"

	"speedrun/results"
	"speedrun/stages"
)

// FromRegistry converts the registry's stages and variants into the
// report's plain form. A nil registry gives none: every run is then
// reported as unregistered.
func FromRegistry(reg *stages.Registry) []Stage {
	if reg == nil {
		return nil
	}
	var out []Stage
	for _, s := range reg.Stages() {
		st := Stage{ID: s.ID, Name: s.Name, Title: s.Title}
		for _, v := range s.Variants {
			st.Variants = append(st.Variants, Variant{Name: v.Name, Title: v.Title, Kind: v.Kind, Published: v.Published, Base: v.Base})
		}
		out = append(out, st)
	}
	return out
}

// Load reads the runs matching f and their epochs from db into a Data,
// with the registry's stages. It only reads.
func Load(ctx context.Context, db *results.DB, reg *stages.Registry, f results.Filter) (*Data, error) {
	runs, err := db.Runs(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("load runs from %s: %w", db.Path(), err)
	}
	d := &Data{Stages: FromRegistry(reg), Runs: runs, Epochs: make(map[int64][]results.Epoch, len(runs))}
	if reg != nil {
		d.Resolve = reg.Resolve
	}
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		es, err := db.Epochs(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("load epochs of run %d from %s: %w", r.ID, db.Path(), err)
		}
		d.Epochs[r.ID] = es
	}
	return d, nil
}

// OnlyStage keeps the runs and registry entry of one stage.
func (d *Data) OnlyStage(id int) *Data {
	out := &Data{Epochs: d.Epochs, Resolve: d.Resolve}
	for _, s := range d.Stages {
		if s.ID == id {
			out.Stages = append(out.Stages, s)
		}
	}
	for _, r := range d.Runs {
		if r.Stage == id {
			out.Runs = append(out.Runs, r)
		}
	}
	return out
}

// WriteReport rebuilds the HTML report in dir from every run in db: the
// call the runner makes after a sweep.
func WriteReport(ctx context.Context, db *results.DB, reg *stages.Registry, dir string) error {
	return WriteReportWith(ctx, db, reg, dir, nil)
}

// WriteReportWith is WriteReport with extra charts per stage page (the
// analysis charts of posts 5-7, drawn by a caller that knows them).
func WriteReportWith(ctx context.Context, db *results.DB, reg *stages.Registry, dir string, extra ExtraCharts) error {
	d, err := Load(ctx, db, reg, results.Filter{})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := Write(ctx, d, dir, Options{Generated: d.LastFinished(), Extra: extra}); err != nil {
		return err
	}
	return nil
}
