package analysis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"speedrun/backend"
	"speedrun/model"
)

// deepFCWidth is the layer width E7.3 uses: net.fc_width as resolved (the
// profile's width already scales it: 2048 in paper, 512 in quick, 128 in
// smoke).
func deepFCWidth(fcWidth int) int {
	if fcWidth <= 0 {
		return 2048
	}
	return fcWidth
}

// deepFCBound is the half-width of the uniform init of a layer with fan-in
// fan for activation act: He-scaled sqrt(6/fan) for ReLU (the blog), and
// sqrt(3/fan) (unit gain) for the linear net and for the shifted-and-scaled
// ReLU, whose output already has zero mean and unit variance.
func deepFCBound(act string, fan int) float64 {
	if act == "relu" {
		return math.Sqrt(6 / float64(fan))
	}
	return math.Sqrt(3 / float64(fan))
}

// runDeepFC is E7.3: a Depth-layer, bias-free fully connected net at init
// on N(0,1) inputs, for each activation, with per-channel histograms of
// the layer outputs at the chosen depths; for the linear net also the
// singular values of its map from input to each of those depths.
func runDeepFC(ctx context.Context, req Request) (Outcome, error) {
	a, net := req.Config.Analysis, req.Config.Net
	depth := net.Depth
	if depth <= 0 {
		depth = 50
	}
	width := deepFCWidth(net.FCWidth)
	batch := a.Batch
	if batch <= 0 {
		batch = 512
	}
	acts := a.Acts
	if len(acts) == 0 {
		acts = []string{"relu"}
	}
	depths := a.Depths
	if len(depths) == 0 {
		depths = []int{1, depth}
	}
	channels := max(a.Channels, 1)
	pr, err := backend.ProberOf(req.Backend, req.Config)
	if err != nil {
		return none(), err
	}
	for _, act := range acts {
		if err := ctx.Err(); err != nil {
			return none(), err
		}
		var lm *linearMap
		if act == "linear" {
			lm = newLinearMap(pr, width)
		}
		err := deepFC(pr, act, depth, width, batch, req.Seed, func(d int, y, w []float32) error {
			if lm != nil {
				if err := lm.push(w); err != nil {
					return err
				}
			}
			if !slices.Contains(depths, d) {
				return nil
			}
			if lm != nil {
				sv, err := lm.singularValues()
				if err != nil {
					return fmt.Errorf("depth %d: %w", d, err)
				}
				if err := put(ctx, req, fmt.Sprintf("svd/depth%03d", d), Spectrum{Depth: d, Values: sv}); err != nil {
					return err
				}
			}
			h, err := ChannelHistogram(y, width, channels, histBins)
			if err != nil {
				return err
			}
			h.Group, h.Layer, h.Order = "act="+act, fmt.Sprintf("depth %d", d), d
			return put(ctx, req, fmt.Sprintf("hist/act=%s/depth%03d", act, d), h)
		})
		if err != nil {
			return none(), fmt.Errorf("act %s: %w", act, err)
		}
	}
	return none(), nil
}

// deepFC runs the net for one activation and calls visit with the output
// of every linear layer (depth 1..depth), before the next activation, and
// that layer's weights (Out x In).
// Weights come from seed's stream, the same uniform draws for every
// activation, scaled by deepFCBound.
func deepFC(pr backend.Prober, act string, depth, width, batch int, seed uint64, visit func(d int, y, w []float32) error) error {
	var ka model.Act
	switch act {
	case "relu":
		ka.Kind = model.ActReLU
	case "linear":
		ka.Kind = model.ActIdentity
	case "shiftscale_relu":
		ka.Kind = model.ActShiftScaleReLU
	default:
		return fmt.Errorf("analysis.acts: %q: want \"relu\", \"linear\" or \"shiftscale_relu\"", act)
	}
	x := gaussian(batch*width, seed)
	y := make([]float32, batch*width)
	w := make([]float32, width*width)
	rng := rand.New(rand.NewPCG(seed, 0xdeefc))
	bound := deepFCBound(act, width)
	for d := 1; d <= depth; d++ {
		for i := range w {
			w[i] = float32((2*rng.Float64() - 1) * bound)
		}
		if d > 1 {
			if err := pr.Act(ka, y, x); err != nil {
				return err
			}
		}
		// y = x W^T (linear weights are Out x In).
		if err := pr.MatMul(true, batch, width, width, x, w, y); err != nil {
			return err
		}
		if err := visit(d, y, w); err != nil {
			return err
		}
	}
	return nil
}

// Spectrum is the "svd/depthNNN" measurement of E7.3: the singular values
// of the linear net's map from its input to the output of layer Depth, in
// decreasing order.
type Spectrum struct {
	Depth  int         `json:"depth"`
	Values []JSONFloat `json:"values"`
}

// linearMap is the product P_d = W_d ... W_1 of the linear net's weights:
// the output of layer d is x P_d^T. It is kept in float32, as the net
// runs; after 50 layers that leaves singular values below about 1e-6 of
// the largest at rounding level.
type linearMap struct {
	pr     backend.Prober
	n      int
	p, tmp []float32
	layers int
}

func newLinearMap(pr backend.Prober, n int) *linearMap {
	return &linearMap{pr: pr, n: n, p: make([]float32, n*n), tmp: make([]float32, n*n)}
}

// push multiplies the map by the next layer's weights w (n x n) on the
// left.
func (m *linearMap) push(w []float32) error {
	m.layers++
	if m.layers == 1 {
		copy(m.p, w)
		return nil
	}
	n := m.n
	if err := m.pr.MatMul(false, n, n, n, w, m.p, m.tmp); err != nil {
		return err
	}
	m.p, m.tmp = m.tmp, m.p
	return nil
}

// singularValues returns the singular values of the map so far, largest
// first.
func (m *linearMap) singularValues() ([]JSONFloat, error) {
	n := m.n
	a := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			a.Set(i, j, float64(m.p[i*n+j]))
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDNone) {
		return nil, fmt.Errorf("SVD of the %dx%d map after %d layers did not converge", n, n, m.layers)
	}
	vs := svd.Values(nil)
	out := make([]JSONFloat, len(vs))
	for i, v := range vs {
		out[i] = JSONFloat(v)
	}
	return out, nil
}
