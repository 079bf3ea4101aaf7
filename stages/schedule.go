package stages

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
