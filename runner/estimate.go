package runner

import (
	"math"

	"speedrun/results"
)

// CellEstimate is one planned cell's expected wall time.
type CellEstimate struct {
	Cell   Cell
	Device string // the device its engine reports
	// Past counts the finished runs it is estimated from: those of the
	// same config hash on the device when there are any, else those of
	// the same stage, variant and profile on the device.
	Past int
	// SameConfig is set when those runs had the cell's very config.
	SameConfig bool
	// Seconds is their mean total time (NaN when Past is 0).
	Seconds float64
}

// Estimate is what a sweep of cells is expected to take.
type Estimate struct {
	Cells []CellEstimate
	// Known counts the cells with past runs, and Seconds sums their
	// estimates; the cells without are not in it.
	Known   int
	Seconds float64
}

// EstimateCells estimates each cell's wall time from past runs: the mean
// total time of the done runs of the same (stage, variant, profile) on
// the device the cell would train on (device(c)), narrowed to the runs of
// the cell's own config hash when there are some (a run with overrides,
// or another precision, times differently from the registry's).
func EstimateCells(cells []Cell, device func(Cell) string, past []results.Run) Estimate {
	type key struct {
		stage            int
		variant, profile string
		device           string
	}
	type acc struct {
		n   int
		sum float64
	}
	byKey := map[key]*acc{}
	byHash := map[key]map[string]*acc{}
	for _, r := range past {
		if r.Status != results.StatusDone || !(r.TotalSeconds > 0) || math.IsInf(r.TotalSeconds, 0) {
			continue
		}
		k := key{r.Stage, r.Variant, r.Profile, r.Device}
		if byKey[k] == nil {
			byKey[k], byHash[k] = &acc{}, map[string]*acc{}
		}
		byKey[k].n++
		byKey[k].sum += r.TotalSeconds
		h := byHash[k][r.ConfigHash]
		if h == nil {
			h = &acc{}
			byHash[k][r.ConfigHash] = h
		}
		h.n++
		h.sum += r.TotalSeconds
	}
	var e Estimate
	for _, c := range cells {
		ce := CellEstimate{Cell: c, Device: device(c), Seconds: math.NaN()}
		k := key{c.Config.Stage, c.Config.Variant, c.Config.Profile, ce.Device}
		a := byKey[k]
		if h := byHash[k][c.Hash]; h != nil {
			a, ce.SameConfig = h, true
		}
		if a != nil {
			ce.Past, ce.Seconds = a.n, a.sum/float64(a.n)
			e.Known++
			e.Seconds += ce.Seconds
		}
		e.Cells = append(e.Cells, ce)
	}
	return e
}
