package runner

import (
	"math"
	"testing"

	"speedrun/results"
	"speedrun/stages"
)

func TestEstimateCells(t *testing.T) {
	cell := func(variant, hash string, repeat int) Cell {
		return Cell{Config: stages.Config{Stage: 8, Variant: variant, Profile: "quick"}, Hash: hash, Repeat: repeat}
	}
	run := func(variant, hash, device string, status results.Status, secs float64) results.Run {
		return results.Run{Stage: 8, Variant: variant, Profile: "quick", ConfigHash: hash, Device: device, Status: status, TotalSeconds: secs}
	}
	past := []results.Run{
		run("p8.s0", "h0", "cpu-a", results.StatusDone, 100),
		run("p8.s0", "h0", "cpu-a", results.StatusDone, 200),
		run("p8.s0", "h0", "cpu-a", results.StatusFailed, 5),    // not finished: left out
		run("p8.s0", "h0", "gpu-b", results.StatusDone, 10),     // another device
		run("p8.s1", "h1-old", "cpu-a", results.StatusDone, 60), // an older config of the variant
		run("p8.s1", "h1", "cpu-a", results.StatusDone, 30),     // the cell's own config
		run("p8.s2", "h2-old", "cpu-a", results.StatusDone, 40), // only another config
		run("p8.s9", "h9", "cpu-a", results.StatusDiverged, 3),  // diverged: left out
	}
	cells := []Cell{cell("p8.s0", "h0", 0), cell("p8.s1", "h1", 0), cell("p8.s2", "h2", 0), cell("p8.s9", "h9", 0), cell("p8.s10", "h10", 0)}
	e := EstimateCells(cells, func(Cell) string { return "cpu-a" }, past)
	want := []struct {
		past int
		same bool
		secs float64
	}{{2, true, 150}, {1, true, 30}, {1, false, 40}, {0, false, math.NaN()}, {0, false, math.NaN()}}
	for i, w := range want {
		got := e.Cells[i]
		if got.Past != w.past || got.SameConfig != w.same || !(got.Seconds == w.secs || math.IsNaN(got.Seconds) && math.IsNaN(w.secs)) {
			t.Errorf("cell %d: got %+v, want past %d same %v seconds %v", i, got, w.past, w.same, w.secs)
		}
	}
	if e.Known != 3 || e.Seconds != 220 {
		t.Errorf("known %d seconds %v, want 3 and 220", e.Known, e.Seconds)
	}
}
