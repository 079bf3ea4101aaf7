package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"speedrun/cpu/kernels"
	"speedrun/model"
)

// refLoss is an independent float64 forward pass of spec in training mode
// (batch-stat BN) built from the kernels' float64 references, returning
// the summed smoothed cross-entropy.
func refLoss(t *testing.T, spec *model.Spec, params [][]float64, x []float64, y []int32, smoothing float64) float64 {
	t.Helper()
	n := len(y)
	vals := make([][]float64, len(spec.Layers))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range spec.Layers {
		var in []float64
		var xs []int
		if len(l.Inputs) > 0 {
			in, xs = vals[l.Inputs[0]], spec.Layers[l.Inputs[0]].Out
		}
		out := make([]float64, n*model.Numel(l.Out))
		switch l.Op {
		case model.OpInput:
			out = x
		case model.OpConv:
			c := l.Conv
			s := kernels.ConvShape{N: n, H: xs[1], W: xs[2], C: xs[0], K: c.Out, R: c.K, S: c.K, Stride: c.Stride, Pad: c.Pad}
			must(kernels.ConvForwardRef(s, in, params[l.Params[0]], out))
			if c.Bias { // NHWC: channel j % Out
				for j := range out {
					out[j] += params[l.Params[1]][j%c.Out]
				}
			}
		case model.OpBN:
			if l.BN.Identity {
				copy(out, in)
				break
			}
			s := kernels.BNShape{N: n, HW: xs[1] * xs[2], C: xs[0], Ghost: l.BN.Ghost}
			sp := 1
			if s.Ghost > 0 {
				sp = n / s.Ghost
			}
			m, v := make([]float64, sp*s.C), make([]float64, sp*s.C)
			must(kernels.BNActForwardTrainRef(s, l.BN.Eps, kernels.Activation{}, in, params[l.Params[0]], params[l.Params[1]], out, m, v))
		case model.OpAct:
			a, err := l.Act.Lower()
			must(err)
			must(kernels.ActForwardRef(activation(a), in, out))
		case model.OpMaxPool:
			must(kernels.MaxPoolForwardRef(in, n, xs[1], xs[2], xs[0], l.Pool.K, out, nil))
		case model.OpAvgPool:
			must(kernels.AvgPoolForwardRef(in, n, xs[1], xs[2], xs[0], l.Pool.K, out))
		case model.OpGlobalMaxPool:
			must(kernels.GlobalMaxPoolForwardRef(in, n, xs[1]*xs[2], xs[0], out))
		case model.OpGlobalAvgPool:
			must(kernels.GlobalAvgPoolForwardRef(in, n, xs[1]*xs[2], xs[0], out))
		case model.OpAdd:
			for j := range out {
				out[j] = in[j] + vals[l.Inputs[1]][j]
			}
		case model.OpConcat:
			b, ca, cb := vals[l.Inputs[1]], xs[0], spec.Layers[l.Inputs[1]].Out[0]
			for r := range n {
				copy(out[r*(ca+cb):], in[r*ca:(r+1)*ca])
				copy(out[r*(ca+cb)+ca:], b[r*cb:(r+1)*cb])
			}
		case model.OpScale:
			for j := range out {
				out[j] = l.Scale * in[j]
			}
		case model.OpFlatten:
			copy(out, in)
		case model.OpLinear:
			li, w := l.Linear, params[l.Params[0]]
			for r := range n {
				for o := range li.Out {
					s := 0.0
					if li.Bias {
						s = params[l.Params[1]][o]
					}
					for k := range li.In {
						s += in[r*li.In+k] * w[o*li.In+k]
					}
					out[r*li.Out+o] = s
				}
			}
		default:
			t.Fatalf("refLoss: op %s", l.Op)
		}
		vals[i] = out
	}
	d := make([]float64, n*spec.Classes)
	loss, _, err := kernels.SoftmaxCrossEntropyRef(vals[len(vals)-1], y, n, spec.Classes, smoothing, d)
	must(err)
	return loss
}

// checkGrads compares the graph's float32 loss and gradients with the
// float64 reference: for every trainable parameter, the directional
// derivative along a random unit direction against a central finite
// difference of refLoss.
func checkGrads(t *testing.T, spec *model.Spec, n int, smoothing float64) {
	t.Helper()
	cfg := testConfig(n)
	cfg.Train.LabelSmoothing = smoothing
	tr, err := NewTrainer(spec, cfg, 3, n)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	for i, p := range spec.Params { // whitening filters: any fixed values will do
		if p.Init == model.InitWhiten {
			for j := range tr.st.params[i] {
				tr.st.params[i][j] = float32(rng.NormFloat64() * 0.3)
			}
		}
	}
	x32, y := randBatch(rng, n, model.Numel(spec.Input), spec.Classes)
	loss, err := tr.forwardBackward(x32, y)
	if err != nil {
		t.Fatal(err)
	}
	p64 := make([][]float64, len(spec.Params))
	for i, p := range tr.st.params {
		p64[i] = to64(p)
	}
	x64 := to64(x32)
	ref := refLoss(t, spec, p64, x64, y, smoothing)
	if math.Abs(loss-ref) > 1e-4*math.Abs(ref)+1e-4 {
		t.Errorf("%s: loss %v, float64 reference %v", spec.Name, loss, ref)
	}
	var gnorm float64
	for _, g := range tr.grads {
		gnorm = math.Hypot(gnorm, norm(g))
	}
	for i, p := range spec.Params {
		g := tr.grads[i]
		if p.Frozen {
			if g != nil {
				t.Errorf("%s: frozen %s has a gradient", spec.Name, p.Name)
			}
			continue
		}
		if g == nil {
			t.Errorf("%s: %s has no gradient", spec.Name, p.Name)
			continue
		}
		// Two directions: along the gradient itself (strict: any error
		// that changes the gradient shows up relative to its norm) and a
		// random one (catches errors orthogonal to it).
		gd := to64(g)
		for d, dir := range [][]float64{to64(g), randomDir(rng, len(g))} {
			nrm := math.Sqrt(dot(dir, dir))
			if nrm == 0 {
				continue
			}
			for j := range dir {
				dir[j] /= nrm
			}
			analytic := dot(gd, dir)
			const eps = 1e-5
			w := p64[i]
			orig := append([]float64(nil), w...)
			for j := range w {
				w[j] = orig[j] + eps*dir[j]
			}
			lp := refLoss(t, spec, p64, x64, y, smoothing)
			for j := range w {
				w[j] = orig[j] - eps*dir[j]
			}
			lm := refLoss(t, spec, p64, x64, y, smoothing)
			copy(w, orig)
			fd := (lp - lm) / (2 * eps)
			// The float32 backward pass loses digits to cancellation (BN's
			// backward subtracts projections), up to a few 1e-3 of a
			// tensor's gradient norm; a wrong or missing term is off by
			// O(1) of it.
			if tol := 5e-3*math.Abs(fd) + 5e-3*norm(g) + 1e-6*gnorm; math.Abs(analytic-fd) > tol {
				t.Errorf("%s: %s: directional derivative %.6g, finite difference %.6g (direction %d, |g| %.3g)", spec.Name, p.Name, analytic, fd, d, norm(g))
			}
		}
	}
}

func randomDir(rng *rand.Rand, n int) []float64 {
	d := make([]float64, n)
	for j := range d {
		d[j] = rng.NormFloat64()
	}
	return d
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestGradCheckNetworks checks every Op as it is wired in the catalogue's
// networks at width 1/16 (BN plain and ghost, ReLU and CELU, all three
// conv-pool orders, whitening, concat heads, flatten, scale, biases).
func TestGradCheckNetworks(t *testing.T) {
	final := testNet("final", 1.0/16)
	final.BN, final.GhostBatch, final.FreezeBNScale = "ghost", 1, true
	final.Act, final.CELUAlpha, final.Order, final.ClassifierScale = "celu", 0.3, "conv-pool-bn-act", 1.0/16
	final.Whiten, final.WhitenEps, final.WhitenImages = true, 1e-2, 10
	bnPoolAct := testNet("b4", 1.0/16)
	bnPoolAct.Order = "conv-bn-pool-act"
	noBN := testNet("simple8", 1.0/16)
	noBN.BN = "none"
	fc := testNet("deepfc", 1)
	fc.Act = "shiftscale_relu"
	// airbench94: the 2x2 whitening conv's bias, GELU standalone and in
	// BN, floored pools, a 3x3 pool head, BN eps 1e-12; and without
	// whitening (a learnable 2x2 conv and its BN).
	ab := testNet("airbench94", 1.0/16)
	ab.Act, ab.Order, ab.FreezeBNScale, ab.BNEps, ab.BNMomentum, ab.Dirac = "gelu", "conv-pool-bn-act", true, 1e-12, 0.4, true
	ab.Whiten, ab.WhitenEps, ab.WhitenImages = true, 5e-4, 10
	abNoWhiten := ab
	abNoWhiten.Whiten = false
	nets := []model.Net{
		testNet("resnet9", 1.0/16), final, bnPoolAct, testNet("b1", 1.0/16),
		testNet("b3", 1.0/16), testNet("b5", 1.0/16), testNet("extra:L1+L2+L3", 1.0/16), testNet("simple8", 1.0/16), noBN, fc,
		ab, abNoWhiten,
	}
	if !testing.Short() {
		nets = append(nets, testNet("dawn-resnet18", 1.0/16))
	}
	for _, net := range nets {
		t.Run(fmt.Sprintf("%s-%s-%s", net.Name, net.BN, net.Order), func(t *testing.T) {
			spec, err := model.Build(net)
			if err != nil {
				t.Fatal(err)
			}
			checkGrads(t, spec, 2, 0.2)
		})
	}
}

// TestGradCheckAvgPool covers the average pools, which no catalogue
// network uses, by swapping them into ResNet-9.
func TestGradCheckAvgPool(t *testing.T) {
	spec, err := model.Build(testNet("resnet9", 1.0/16))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range spec.Layers {
		switch l.Op {
		case model.OpMaxPool:
			spec.Layers[i].Op = model.OpAvgPool
		case model.OpGlobalMaxPool:
			spec.Layers[i].Op = model.OpGlobalAvgPool
		}
	}
	checkGrads(t, spec, 2, 0)
}
