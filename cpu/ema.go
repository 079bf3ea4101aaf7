package cpu

// ema is an exponential moving average of all float state: parameters and
// BN running stats (p8.s8). Page updates it every k steps with momentum
// ρ^k; update takes that per-update momentum.
type ema struct {
	params [][]float32
	bn     map[int][2][]float32 // layer -> mean, var
	swap   *snapshot
}

type snapshot struct {
	params [][]float32
	bn     map[int][2][]float32
}

func takeSnapshot(st *state) *snapshot {
	s := &snapshot{bn: map[int][2][]float32{}}
	for _, p := range st.params {
		s.params = append(s.params, append([]float32(nil), p...))
	}
	for i, b := range st.bn {
		s.bn[i] = [2][]float32{append([]float32(nil), b.mean...), append([]float32(nil), b.vr...)}
	}
	return s
}

// copyInto writes s into st (st keeps its slices).
func (s *snapshot) copyInto(st *state) {
	for i, p := range st.params {
		copy(p, s.params[i])
	}
	for i, b := range st.bn {
		copy(b.mean, s.bn[i][0])
		copy(b.vr, s.bn[i][1])
	}
}

// copyFrom overwrites s with st.
func (s *snapshot) copyFrom(st *state) {
	for i, p := range st.params {
		copy(s.params[i], p)
	}
	for i, b := range st.bn {
		copy(s.bn[i][0], b.mean)
		copy(s.bn[i][1], b.vr)
	}
}

func newEMA(st *state) *ema {
	s := takeSnapshot(st)
	return &ema{params: s.params, bn: s.bn, swap: takeSnapshot(st)}
}

// update sets e = rho*e + (1-rho)*x for every float in st.
func (e *ema) update(st *state, rho float64) {
	r, q := float32(rho), float32(1-rho)
	blend := func(dst, src []float32) {
		src = src[:len(dst)]
		for i := range dst {
			dst[i] = r*dst[i] + q*src[i]
		}
	}
	for i, p := range st.params {
		blend(e.params[i], p)
	}
	for i, b := range st.bn {
		blend(e.bn[i][0], b.mean)
		blend(e.bn[i][1], b.vr)
	}
}

// load copies the average into st (lookahead's reset).
func (e *ema) load(st *state) {
	(&snapshot{params: e.params, bn: e.bn}).copyInto(st)
}

// with runs f with the EMA values swapped into st, then restores st.
func (e *ema) with(st *state, f func() error) error {
	e.swap.copyFrom(st)
	(&snapshot{params: e.params, bn: e.bn}).copyInto(st)
	err := f()
	e.swap.copyInto(st)
	return err
}
