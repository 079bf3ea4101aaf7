package backend

import (
	"context"
	"errors"
	"io"
	"strings"

	"speedrun/model"
	"speedrun/stages"
)

// Chooser is a Backend that picks, per config, the engine that trains it.
// The runner asks it before a run starts, so the run records the engine
// that actually trained it.
type Chooser interface {
	Backend
	For(cfg stages.Config) Backend
}

// Fallback runs on Primary every config Primary runs (Check) and the
// rest on Secondary: the runner's "auto" mode, where the GPU engine trains
// every image network it supports and the CPU engine everything else.
type Fallback struct {
	Primary, Secondary Backend
}

// For returns the backend that runs cfg. A network that does not build
// goes to Primary, whose run then fails with the build error.
func (f *Fallback) For(cfg stages.Config) Backend {
	spec, err := model.Build(cfg.Net)
	if err != nil || f.runs(cfg, spec) {
		return f.Primary
	}
	return f.Secondary
}

// runs reports whether Primary runs cfg with spec (Check).
func (f *Fallback) runs(cfg stages.Config, spec *model.Spec) bool {
	return Check(CapsOf(f.Primary), cfg, spec) == nil
}

// Name is Primary's; Chooser users record For(cfg).Name() per run.
func (f *Fallback) Name() string { return f.Primary.Name() }

// Device is Primary's.
func (f *Fallback) Device() string { return f.Primary.Device() }

// Train runs req on the backend that supports it (analysis runs hand their
// inner trainings here without asking For).
func (f *Fallback) Train(ctx context.Context, req Request) (Result, error) {
	if req.Spec != nil && !f.runs(req.Config, req.Spec) {
		return f.Secondary.Train(ctx, req)
	}
	return f.Primary.Train(ctx, req)
}

// Versions names both engines' kernel libraries, for the run provenance.
func (f *Fallback) Versions() string {
	var vs []string
	for _, b := range []Backend{f.Primary, f.Secondary} {
		if v, ok := b.(interface{ Versions() string }); ok && v.Versions() != "" {
			vs = append(vs, v.Versions())
		}
	}
	return strings.Join(vs, "; ")
}

// Close closes both engines (those that hold resources: the GPU engine's
// device thread and context), Secondary even when Primary fails.
func (f *Fallback) Close() error {
	var errs []error
	for _, b := range []Backend{f.Primary, f.Secondary} {
		if c, ok := b.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
