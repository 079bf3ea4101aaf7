package stages

import (
	"fmt"
	"math"
	"slices"
)

// Profile scales a variant without changing what it ablates. The rules are
// documented beside the [profile.*] tables of experiments.toml; a zero
// field leaves that part of the variant as it is.
type Profile struct {
	// Dataset is the default dataset, "cifar10" or "synthetic" (the CLI may
	// override it). Empty means "cifar10".
	Dataset string `toml:"dataset"`
	// TrainSize / TestSize cap the class-balanced subsets (0 = no cap).
	TrainSize int `toml:"train_size"`
	TestSize  int `toml:"test_size"`
	// Width multiplies the variant's width multiplier (and deepfc's
	// FCWidth).
	Width float64 `toml:"width"`
	// Epochs become max(1, ceil(epochs*EpochsScale)), capped at MaxEpochs
	// when it is > 0; every LR knot's epoch is multiplied by new/old
	// epochs, so the schedule keeps its shape.
	EpochsScale float64 `toml:"epochs_scale"`
	MaxEpochs   int     `toml:"max_epochs"`
	// BatchCap > 0 caps the batch (and the batch values of an E5.1 batch
	// grid, and post 7's fixed analysis batches) at floor(BatchCap*train_size), rounded down to a multiple of
	// the ghost batch under ghost BN, so that a run has several steps.
	BatchCap float64 `toml:"batch_cap"`
	// MaxGrid > 0 thins every analysis grid to at most MaxGrid values,
	// evenly spaced through the list and keeping both ends (the middle
	// value when MaxGrid is 1).
	MaxGrid int `toml:"max_grid"`
	// MaxRuns > 0 caps an analysis run budget (E5.2 max_runs).
	MaxRuns int `toml:"max_runs"`
	// MaxBatches > 0 caps post 7's fixed analysis batches
	// (analysis.batches, E7.5-E7.10), and MaxEigen > 0 the Hessian
	// eigenvalues and eigenvectors they find and use (analysis.eigen).
	MaxBatches int `toml:"max_batches"`
	MaxEigen   int `toml:"max_eigen"`
	// EMAHorizon says what an EMA keeps when the profile changes the number
	// of optimizer steps: "steps" (or empty) keeps the per-step momentum,
	// "run" rescales it so the EMA averages the same fraction of the run.
	EMAHorizon string `toml:"ema_horizon"`
	// Precision, when set, replaces every variant's train.precision:
	// "fp32" keeps a profile's numbers the same on every CPU (bf16 falls
	// back to fp32 where the CPU lacks it), "bf16" asks for reduced
	// precision. Empty keeps the variant's (the blog's).
	Precision string `toml:"precision"`
}

// cifar10Train is the size of the training split the blog's runs use: a
// variant's own step count (the reference for ema_horizon = "run") is
// counted on it.
const cifar10Train = 50000

func (p Profile) validate() error {
	switch p.Dataset {
	case "", "cifar10", "synthetic":
	default:
		return fmt.Errorf("dataset must be \"cifar10\" or \"synthetic\", not %q", p.Dataset)
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"train_size", p.TrainSize}, {"test_size", p.TestSize}, {"max_epochs", p.MaxEpochs}, {"max_grid", p.MaxGrid}, {"max_runs", p.MaxRuns}, {"max_batches", p.MaxBatches}, {"max_eigen", p.MaxEigen}} {
		if f.v < 0 {
			return fmt.Errorf("%s must be >= 0, got %d", f.key, f.v)
		}
	}
	switch p.EMAHorizon {
	case "", "steps", "run":
	default:
		return fmt.Errorf("ema_horizon must be \"steps\" or \"run\", not %q", p.EMAHorizon)
	}
	switch p.Precision {
	case "", "fp32", "bf16":
	default:
		return fmt.Errorf("precision must be \"fp32\" or \"bf16\" (or absent), not %q", p.Precision)
	}
	if p.Width < 0 {
		return fmt.Errorf("width must be > 0 (or absent), got %v", p.Width)
	}
	if p.EpochsScale < 0 {
		return fmt.Errorf("epochs_scale must be > 0 (or absent), got %v", p.EpochsScale)
	}
	if p.BatchCap < 0 || p.BatchCap > 1 {
		return fmt.Errorf("batch_cap must be in [0, 1], got %v", p.BatchCap)
	}
	return nil
}

// apply scales c in place.
func (p Profile) apply(c *Config) {
	steps := runSteps(*c, cifar10Train)
	defer func() {
		if p.EMAHorizon == "run" && c.Train.EMAMomentum > 0 {
			c.Train.EMAMomentum = emaRescale(c.Train.EMAMomentum, steps, runSteps(*c, cifar10Train))
		}
	}()
	if p.Precision != "" {
		c.Train.Precision = p.Precision
	}
	c.Dataset = p.Dataset
	if c.Dataset == "" {
		c.Dataset = "cifar10"
	}
	c.Data.TrainSize = capSize(c.Data.TrainSize, p.TrainSize)
	c.Data.TestSize = capSize(c.Data.TestSize, p.TestSize)
	if c.Net.Whiten && c.Data.TrainSize > 0 && c.Net.WhitenImages > c.Data.TrainSize {
		// Whitening reads its patches from the first images of the
		// training set; there are no more than TrainSize of them.
		c.Net.WhitenImages = c.Data.TrainSize
	}
	if p.Width > 0 {
		c.Net.Width *= p.Width
		if c.Net.Name == "deepfc" {
			// deepfc has one width, FCWidth, that Net.Width does not reach.
			c.Net.FCWidth = max(1, int(math.Round(float64(c.Net.FCWidth)*p.Width)))
		}
	}
	if p.EpochsScale > 0 || p.MaxEpochs > 0 {
		old := c.Train.Epochs
		e := scaleEpochs(old, p.EpochsScale)
		if p.MaxEpochs > 0 {
			e = min(e, float64(p.MaxEpochs))
		}
		if e != old && old > 0 {
			r := e / old
			c.Train.Epochs = e
			if c.Train.Schedule != "run" { // "run" knots are fractions of the run
				c.Train.LR = scaleKnots(c.Train.LR, r)
			}
			// A group's epochs (train then freeze) scale with the run.
			for i := range c.Train.Groups {
				g := &c.Train.Groups[i]
				g.Epochs = min(scaleEpochs(g.Epochs, p.EpochsScale), e)
				if c.Train.Schedule != "run" {
					g.LR = scaleKnots(g.LR, r)
				}
			}
		}
	}
	if p.BatchCap > 0 && c.Data.TrainSize > 0 {
		ghost := 1
		if c.Net.BN == "ghost" && c.Net.GhostBatch > 0 {
			ghost = c.Net.GhostBatch
		}
		limit := max(ghost, int(p.BatchCap*float64(c.Data.TrainSize))/ghost*ghost)
		c.Train.BatchSize = min(c.Train.BatchSize, limit)
		if a := c.Analysis; a != nil && a.Batches > 0 {
			// Post 7's fixed analysis batches shrink with the training
			// batch, for the same reason.
			a.Batch = min(a.Batch, limit)
		}
		if a := c.Analysis; a != nil && a.Axis == "batch" {
			var grid []float64
			for _, b := range a.AxisGrid {
				b = min(b, float64(limit))
				if !slices.Contains(grid, b) {
					grid = append(grid, b)
				}
			}
			a.AxisGrid = grid
		}
	}
	if a := c.Analysis; a != nil {
		if p.MaxGrid > 0 {
			a.LRGrid = thin(a.LRGrid, p.MaxGrid)
			a.AxisGrid = thin(a.AxisGrid, p.MaxGrid)
			a.InitScales = thin(a.InitScales, p.MaxGrid)
		}
		if p.MaxRuns > 0 && a.MaxRuns > p.MaxRuns {
			a.MaxRuns = p.MaxRuns
		}
		if p.MaxBatches > 0 && a.Batches > p.MaxBatches {
			a.Batches = p.MaxBatches
		}
		if p.MaxEigen > 0 && a.Eigen > p.MaxEigen {
			a.Eigen = p.MaxEigen
		}
	}
}

// scaleEpochs is a profile's epoch count for a variant's epochs e:
// max(1, ceil(e*scale)) for a whole number of epochs (so every stage
// keeps at least one epoch); a fractional count (airbench's 9.9, whose
// fraction is the ablation) scales without rounding, at least 1. A scale
// of 0 leaves e alone, and so does an e of 0.
func scaleEpochs(e, scale float64) float64 {
	if scale <= 0 || e <= 0 {
		return e
	}
	if e == math.Trunc(e) {
		return max(1, math.Ceil(e*scale-1e-9))
	}
	return max(1, e*scale)
}

// scaleKnots returns the knots with every epoch multiplied by r.
func scaleKnots(kn []Knot, r float64) []Knot {
	if kn == nil {
		return nil
	}
	out := make([]Knot, len(kn))
	for i, k := range kn {
		out[i] = Knot{Epoch: k.Epoch * r, LR: k.LR}
	}
	return out
}

// capSize applies a profile cap to a dataset size where 0 means "all".
func capSize(v, limit int) int {
	switch {
	case limit == 0:
		return v
	case v == 0:
		return limit
	}
	return min(v, limit)
}

// runSteps is the number of optimizer steps c takes, counting a training
// split of full images when c.Data.TrainSize is 0 ("all").
func runSteps(c Config, full int) int {
	n := c.Data.TrainSize
	if n == 0 {
		n = full
	}
	b := max(c.Train.BatchSize, 1)
	per := (n + b - 1) / b
	if c.Train.DropLast {
		per = max(n/b, 1)
	}
	return RunSteps(per, c.Train.Epochs)
}

// emaRescale returns the per-step momentum whose horizon, in steps, is the
// same fraction of a to-step run as m's is of a from-step run: the horizon
// of m is -1/ln(m) steps, so m' = m^(from/to).
func emaRescale(m float64, from, to int) float64 {
	if from <= 0 || to <= 0 || from == to {
		return m
	}
	return math.Pow(m, float64(from)/float64(to))
}

// thin keeps at most k values of xs, evenly spaced and keeping both ends.
func thin(xs []float64, k int) []float64 {
	n := len(xs)
	if n <= k {
		return xs
	}
	if k == 1 {
		return []float64{xs[n/2]}
	}
	out := make([]float64, k)
	for i := range k {
		out[i] = xs[int(math.Round(float64(i*(n-1))/float64(k-1)))]
	}
	return out
}
