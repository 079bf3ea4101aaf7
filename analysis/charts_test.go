package analysis_test

// The smoke runs of stages 5-7 whose charts plots/analysisplot draws; an
// external test package, since analysisplot imports analysis.

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"speedrun/analysis"
	"speedrun/plots/analysisplot"
	"speedrun/plots/plottest"
)

// checkCharts draws the stage's charts and checks that each is a PNG
// with its plots drawn, not blank (plottest.Check).
func checkCharts(t *testing.T, e *analysis.SmokeEnv, stage, want int) {
	t.Helper()
	dir := t.TempDir()
	charts, err := analysisplot.WriteCharts(context.Background(), e.DB(), stage, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) < want {
		t.Errorf("stage %d: %d charts, want at least %d: %v", stage, len(charts), want, charts)
	}
	for _, c := range charts {
		if err := plottest.CheckFile(filepath.Join(dir, c.File)); err != nil {
			t.Errorf("%s: %v", c.Title, err)
		}
	}
}

func TestSmokeStage5(t *testing.T) {
	e := analysis.NewSmokeEnv(t)
	start := time.Now()
	out := e.RunStage(t, 5)
	t.Logf("stage 5 smoke: %.1fs", time.Since(start).Seconds())
	for v, o := range out {
		if math.IsNaN(o.Accuracy) {
			t.Errorf("%s: no headline accuracy", v)
		}
	}
	checkCharts(t, e, 5, 4) // three heat maps and the tuning trajectory
}

func TestSmokeStage6(t *testing.T) {
	e := analysis.NewSmokeEnv(t)
	start := time.Now()
	e.RunStage(t, 6)
	t.Logf("stage 6 smoke: %.1fs", time.Since(start).Seconds())
	checkCharts(t, e, 6, 6) // norms and |w| for E6.1 and E6.2, two for E6.3
}

func TestSmokeStage7(t *testing.T) {
	e := analysis.NewSmokeEnv(t)
	start := time.Now()
	out := e.RunStage(t, 7)
	t.Logf("stage 7 smoke: %.1fs", time.Since(start).Seconds())
	// Over seeds the no-BN net either overflows or dies at smoke scale
	// (TestSmokeStressSeeds); the BN net must survive the whole ramp.
	if o := out["p7.e1.bn"]; o.Diverged {
		t.Errorf("E7.1 with BN diverged at epoch %d", o.DivergedEpoch)
	}
	// Stress, E7.2, E7.3 per act and its spectra, E7.4 per (bn, input);
	// E7.5's accuracies, E7.6's histograms per model (2) and E7.7's (1),
	// their gradient bars, E7.8's eigenvalues, E7.9's histograms per model
	// (2), E7.10's overlap bars per model (2) and projected spectra.
	checkCharts(t, e, 7, 1+1+3+1+4+1+2+1+1+1+2+2+1)
}
