package cpu

import "speedrun/stages"

// lrAt is the piecewise-linear schedule at (fractional) epoch e with
// np.interp semantics: the first and last values are held outside the
// knots.
func lrAt(knots []stages.Knot, e float64) float64 {
	if len(knots) == 0 {
		return 0
	}
	if e <= knots[0].Epoch {
		return knots[0].LR
	}
	for i := 1; i < len(knots); i++ {
		a, b := knots[i-1], knots[i]
		if e <= b.Epoch {
			if b.Epoch == a.Epoch {
				return b.LR
			}
			return a.LR + (b.LR-a.LR)*(e-a.Epoch)/(b.Epoch-a.Epoch)
		}
	}
	return knots[len(knots)-1].LR
}

// stepEpoch is where the schedule is evaluated for step i (0-based) of
// steps in epoch e (1-based): "fractional" (Oct-2018 code) at
// e-1 + i/steps, "step" (later code) at e-1 + (i+1)/steps.
func stepEpoch(schedule string, e, i, steps int) float64 {
	k := i
	if schedule == "step" {
		k = i + 1
	}
	return float64(e-1) + float64(k)/float64(steps)
}
