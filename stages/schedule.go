package stages

// LRAt returns the schedule's lambda at a (fractional) epoch with np.interp
// semantics: linear between knots, the first value before the first knot
// and the last value held after the last. It returns 0 when there are no
// knots.
func (c Config) LRAt(epoch float64) float64 {
	k := c.Train.LR
	switch {
	case len(k) == 0:
		return 0
	case epoch <= k[0].Epoch:
		return k[0].LR
	case epoch >= k[len(k)-1].Epoch:
		return k[len(k)-1].LR
	}
	for i := 1; i < len(k); i++ {
		if epoch <= k[i].Epoch {
			a, b := k[i-1], k[i]
			return a.LR + (b.LR-a.LR)*(epoch-a.Epoch)/(b.Epoch-a.Epoch)
		}
	}
	return k[len(k)-1].LR
}
