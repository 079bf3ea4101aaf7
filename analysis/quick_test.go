package analysis_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"speedrun/analysis"
	"speedrun/data"
	"speedrun/plots/analysisplot"
)

// TestQuickStages runs whole analysis stages at the quick profile on real
// CIFAR-10 (about an hour each on 2 cores), for the timings and the E7.1
// outcome at that scale. It runs only when SPEEDRUN_QUICK names the
// stages, e.g. SPEEDRUN_QUICK=7 or 5,6,7.
func TestQuickStages(t *testing.T) {
	sel := os.Getenv("SPEEDRUN_QUICK")
	if sel == "" {
		t.Skip("set SPEEDRUN_QUICK=5,6,7 to run the quick-profile stages on real CIFAR-10 (about an hour each)")
	}
	shared := os.Getenv("SPEEDRUN_SHARED")
	if shared == "" {
		shared = "../../shared"
	}
	dir := filepath.Join(shared, "data", "cifar-10-batches-bin")
	if !data.HasCIFAR10(dir) {
		t.Skipf("no CIFAR-10 at %s (set SPEEDRUN_SHARED)", dir)
	}
	set, err := data.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := analysis.NewSmokeEnv(t)
	e.SetData(set)
	for _, s := range splitInts(t, sel) {
		start := time.Now()
		out := e.RunStageProfile(t, s, "quick")
		t.Logf("stage %d quick: %.0fs", s, time.Since(start).Seconds())
		if s == 7 {
			if !out["p7.e1.nobn"].Diverged || out["p7.e1.bn"].Diverged {
				t.Errorf("E7.1 at quick scale: no-BN diverged %v, BN diverged %v; want true, false", out["p7.e1.nobn"].Diverged, out["p7.e1.bn"].Diverged)
			}
		}
		charts, err := analysisplot.WriteCharts(context.Background(), e.DB(), s, filepath.Join(t.TempDir(), fmt.Sprint(s)))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stage %d: %d charts", s, len(charts))
	}
}

func splitInts(t *testing.T, s string) []int {
	var out []int
	cur := ""
	for _, r := range s + "," {
		if r == ',' {
			if cur != "" {
				n, err := strconv.Atoi(cur)
				if err != nil {
					t.Fatalf("SPEEDRUN_QUICK=%q: %v", s, err)
				}
				out = append(out, n)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	return out
}
