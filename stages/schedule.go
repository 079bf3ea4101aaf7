package stages

import "math"

// LRAt returns the schedule's lambda at a (fractional) epoch; see InterpLR.
func (c Config) LRAt(epoch float64) float64 { return InterpLR(c.Train.LR, epoch) }

// InterpLR evaluates piecewise-linear knots at a (fractional) epoch with
// np.interp semantics: linear between knots, the first value before the
// first knot and the last value held after the last; at a repeated epoch
// the later knot wins. It returns 0 when there are no knots. Every engine,
// analysis and chart reads the schedule through it, so they cannot drift.
func InterpLR(k []Knot, epoch float64) float64 {
	switch {
	case len(k) == 0:
		return 0
	case epoch <= k[0].Epoch:
		return k[0].LR
	}
	for i := 1; i < len(k); i++ {
		if a, b := k[i-1], k[i]; epoch <= b.Epoch {
			if b.Epoch == a.Epoch {
				return b.LR
			}
			return a.LR + (b.LR-a.LR)*(epoch-a.Epoch)/(b.Epoch-a.Epoch)
		}
	}
	return k[len(k)-1].LR
}

// StepEpoch is the fractional epoch at which step i (0-based) of `steps`
// in epoch e (1-based) reads the schedule: "fractional" (the Oct-2018 code
// of posts 1-4) at e-1 + i/steps, "step" (later code) at e-1 + (i+1)/steps.
func StepEpoch(schedule string, e, i, steps int) float64 {
	k := i
	if schedule == "step" {
		k = i + 1
	}
	return float64(e-1) + float64(k)/float64(steps)
}

// RunSteps is the optimizer steps of a run of epochs (fractional ones
// included) at steps per epoch: ceil(steps x epochs), as airbench counts
// them. The small slack keeps a product like 25 x 8 from rounding up.
func RunSteps(steps int, epochs float64) int {
	return int(math.Ceil(float64(steps)*epochs - 1e-9))
}

// InterpRun evaluates knots whose epochs are fractions of a run of total
// steps at step k (schedule "run"): knot x sits at step floor(x*total),
// as airbench's int(0.23 * total_train_steps) does, and values between
// knots are linear in steps, with InterpLR's rules at the ends.
func InterpRun(kn []Knot, k, total int) float64 {
	if len(kn) == 0 {
		return 0
	}
	pos := func(i int) float64 { return math.Floor(kn[i].Epoch * float64(total)) }
	x := float64(k)
	if x <= pos(0) {
		return kn[0].LR
	}
	for i := 1; i < len(kn); i++ {
		if a, b := pos(i-1), pos(i); x <= b {
			if b == a {
				return kn[i].LR
			}
			return kn[i-1].LR + (kn[i].LR-kn[i-1].LR)*(x-a)/(b-a)
		}
	}
	return kn[len(kn)-1].LR
}
