package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/model"
)

// tinyNet is a network small enough to form its Hessian in full: the
// deepfc builder at depth 2 and width 6 (x -> W1 -> softplus -> W2 ->
// 6 logits), 72 parameters, with post 7's softplus and loss (cross
// entropy plus 0.5 KL to the uniform distribution).
type tinyNet struct {
	spec   *model.Spec
	w      int // width = classes
	beta   float64
	thresh float64
	kl     float64
	x      []float64 // n x w
	labels []int32
	params [][]float32
}

func newTinyNet(t *testing.T, n int, seed uint64, threshold float64) *tinyNet {
	t.Helper()
	net := model.Net{Name: "deepfc", Depth: 2, FCWidth: 6, Width: 1, BN: "none", BNScaleInit: "one", Act: "softplus",
		SoftplusBeta: 10, SoftplusThreshold: threshold, Order: "conv-bn-act-pool", ClassifierScale: 1}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	tn := &tinyNet{spec: spec, w: 6, beta: 10, thresh: threshold, kl: 0.5}
	rng := rand.New(rand.NewPCG(seed, 5))
	for range n * tn.w {
		tn.x = append(tn.x, rng.NormFloat64())
	}
	for range n {
		tn.labels = append(tn.labels, int32(rng.IntN(tn.w)))
	}
	// Weights of about 0.2 put the pre-activations around +-0.5: most
	// in softplus's curved part (beta x < 2.5), some in its linear part.
	for range 2 {
		p := make([]float32, tn.w*tn.w)
		for i := range p {
			p[i] = float32(rng.NormFloat64() * 0.2)
		}
		tn.params = append(tn.params, p)
	}
	return tn
}

// gradHVP returns the exact float64 gradient of the mean loss at params
// p (W1, W2 flat, row-major Out x In) and, for v != nil, the exact
// Hessian-vector product H v by forward-mode differentiation of the
// backward pass (Pearlmutter's R operator).
func (tn *tinyNet) gradHVP(p, v []float64) (g, hv []float64) {
	w := tn.w
	w1, w2 := p[:w*w], p[w*w:]
	var v1, v2 []float64
	if v != nil {
		v1, v2 = v[:w*w], v[w*w:]
	}
	g, hv = make([]float64, 2*w*w), make([]float64, 2*w*w)
	n := len(tn.labels)
	mv := func(m, x []float64, trans bool) []float64 {
		y := make([]float64, w)
		for o := range w {
			for i := range w {
				if trans {
					y[i] += m[o*w+i] * x[o]
				} else {
					y[o] += m[o*w+i] * x[i]
				}
			}
		}
		return y
	}
	for e := range n {
		x := tn.x[e*w : (e+1)*w]
		a := mv(w1, x, false)
		h, d1, d2 := make([]float64, w), make([]float64, w), make([]float64, w)
		for i, ai := range a {
			if tn.beta*ai > tn.thresh {
				h[i], d1[i] = ai, 1
				continue
			}
			s := 1 / (1 + math.Exp(-tn.beta*ai))
			h[i], d1[i], d2[i] = math.Log1p(math.Exp(tn.beta*ai))/tn.beta, s, tn.beta*s*(1-s)
		}
		z := mv(w2, h, false)
		mx := math.Inf(-1)
		for _, zi := range z {
			mx = math.Max(mx, zi)
		}
		var se float64
		for _, zi := range z {
			se += math.Exp(zi - mx)
		}
		pr := make([]float64, w)
		for i, zi := range z {
			pr[i] = math.Exp(zi-mx) / se
		}
		gz := make([]float64, w)
		for i := range w {
			gz[i] = (pr[i] + tn.kl*(pr[i]-1/float64(w))) / float64(n)
		}
		gz[tn.labels[e]] -= 1 / float64(n)
		gh := mv(w2, gz, true)
		ga := make([]float64, w)
		for i := range w {
			ga[i] = gh[i] * d1[i]
		}
		for o := range w {
			for i := range w {
				g[o*w+i] += ga[o] * x[i]
				g[w*w+o*w+i] += gz[o] * h[i]
			}
		}
		if v == nil {
			continue
		}
		ra := mv(v1, x, false)
		rh := make([]float64, w)
		for i := range w {
			rh[i] = d1[i] * ra[i]
		}
		rz := mv(v2, h, false)
		for i, y := range mv(w2, rh, false) {
			rz[i] += y
		}
		var prz float64
		for i := range w {
			prz += pr[i] * rz[i]
		}
		rgz := make([]float64, w)
		for i := range w {
			rgz[i] = (1 + tn.kl) * pr[i] * (rz[i] - prz) / float64(n)
		}
		rgh := mv(v2, gz, true)
		for i, y := range mv(w2, rgz, true) {
			rgh[i] += y
		}
		for o := range w {
			rga := rgh[o]*d1[o] + gh[o]*d2[o]*ra[o]
			for i := range w {
				hv[o*w+i] += rga * x[i]
				hv[w*w+o*w+i] += rgz[o]*h[i] + gz[o]*rh[i]
			}
		}
	}
	return g, hv
}

// hessian forms the exact Hessian in full, column by column.
func (tn *tinyNet) hessian(p []float64) *mat.Dense {
	d := len(p)
	h := mat.NewDense(d, d, nil)
	for j := range d {
		e := make([]float64, d)
		e[j] = 1
		_, col := tn.gradHVP(p, e)
		h.SetCol(j, col)
	}
	return h
}

// TestHVPAgainstExactHessian checks, on the tiny network, (1) the exact
// Hessian: symmetric, and equal to central differences of the exact
// float64 gradient; (2) the engine's gradient (cpu Prober.Grad, float32)
// against the exact one; and (3) the central-difference Hessian-vector
// products that E7.8 uses, at several relative steps eps, against H v.
// It logs each eps's error: too small a step drowns in float32
// rounding of the weights and gradients, too large one in the third
// derivative and, at E7.5's threshold 2.5, in softplus's kink there: its
// derivative jumps from sigmoid(2.5) = 0.924 to 1, a jump that double
// backprop (the blog's products) never sees but a difference whose step
// carries a pre-activation across it does. Measured (worst of 8
// directions, relative): threshold 2.5: eps 1e-1 0.13, 1e-2 0.2, 3e-3
// 0.63 (crossings), 1e-3 9.2e-5, 3e-4 2.9e-4, 1e-4 9.5e-4, 1e-5 0.0099
// (rounding); threshold 250 (smooth): 0.032, 3.5e-4, 4.5e-5, 8.7e-5,
// 3.2e-4, 1e-3, 0.0094. hvp_eps = 1e-3 in experiments.toml is the
// choice: the bottom of the smooth curve's V, and a step small enough
// that few pre-activations of a large net cross the kink.
func TestHVPAgainstExactHessian(t *testing.T) {
	for _, th := range []float64{2.5, 250} {
		t.Run(fmt.Sprintf("threshold %g", th), func(t *testing.T) { testHVP(t, th) })
	}
}

func testHVP(t *testing.T, threshold float64) {
	tn := newTinyNet(t, 32, 11, threshold)
	vs := newVecSpace(tn.spec)
	p := vs.flat32(tn.params)
	h := tn.hessian(p)
	d := len(p)

	// (1) The exact Hessian is symmetric and matches finite differences
	// of the exact gradient.
	var asym, fdErr, hMax float64
	const step = 1e-6
	for j := range d {
		pp, pm := append([]float64(nil), p...), append([]float64(nil), p...)
		pp[j] += step
		pm[j] -= step
		gp, _ := tn.gradHVP(pp, nil)
		gm, _ := tn.gradHVP(pm, nil)
		for i := range d {
			hMax = math.Max(hMax, math.Abs(h.At(i, j)))
			asym = math.Max(asym, math.Abs(h.At(i, j)-h.At(j, i)))
			fdErr = math.Max(fdErr, math.Abs((gp[i]-gm[i])/(2*step)-h.At(i, j)))
		}
	}
	t.Logf("exact Hessian %dx%d: max |H| %.3g, asymmetry %.2g, vs finite differences of the gradient %.2g", d, d, hMax, asym, fdErr)
	if asym > 1e-12*hMax || fdErr > 1e-6*hMax {
		t.Fatalf("exact Hessian: asymmetry %.2g, finite-difference error %.2g (max |H| %.3g)", asym, fdErr, hMax)
	}

	// (2) The engine's gradient.
	be, err := cpu.New(cpu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x32 := make([]float32, len(tn.x))
	for i, v := range tn.x {
		x32[i] = float32(v)
	}
	k := len(tn.spec.Layers)
	f := backend.Frozen{Spec: tn.spec, Params: tn.params, Mean: make([][]float32, k), Var: make([][]float32, k)}
	bs := batchSet{x: [][]float32{x32}, y: [][]int32{tn.labels}}
	grad := meanGrad(be, f, vs, bs, func(int) func(logits, dlogits []float32) (float64, error) { return lossHead(tn.labels, tn.kl) })
	g32, _, err := grad(tn.params)
	if err != nil {
		t.Fatal(err)
	}
	g64, _ := tn.gradHVP(p, nil)
	if e := relErr(g32, g64); e > 1e-5 {
		t.Fatalf("engine gradient: relative error %.2g against the exact one", e)
	}

	// (3) Central-difference HVPs against H v, for random unit v.
	rng := rand.New(rand.NewPCG(3, 4))
	var vecs [][]float64
	for range 8 {
		v := make([]float64, d)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		u, _ := unit(v)
		vecs = append(vecs, u)
	}
	worstAt := map[float64]float64{}
	for _, eps := range []float64{1e-1, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5} {
		op := hvp(grad, vs, tn.params, eps)
		worst := 0.0
		for _, v := range vecs {
			got := make([]float64, d)
			if err := op(v, got); err != nil {
				t.Fatal(err)
			}
			want := make([]float64, d)
			wv := mat.NewVecDense(d, want)
			wv.MulVec(h, mat.NewVecDense(d, v))
			worst = math.Max(worst, relErr(got, want))
		}
		worstAt[eps] = worst
		t.Logf("hvp eps %-6g (step %.3g): worst relative error |Hv - exact| / |exact| %.2g", eps, eps*norm2(p), worst)
	}
	if e := worstAt[1e-3]; e > 1e-3 {
		t.Errorf("hvp at eps 1e-3 (experiments.toml's hvp_eps): relative error %.2g, want <= 1e-3", e)
	}

	// And Lanczos on those products finds the exact top eigenvalues.
	op := hvp(grad, vs, tn.params, 1e-3)
	got, err := Lanczos(op, d, LanczosOptions{K: 5, Tol: 1e-4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (h.At(i, j)+h.At(j, i))/2)
		}
	}
	var es mat.EigenSym
	es.Factorize(sym, false)
	want := es.Values(nil)
	order := byMagnitude(want)
	var msg string
	for i := range 5 {
		w := want[order[i]]
		msg += fmt.Sprintf(" %.5g/%.5g", got.Values[i], w)
		if e := math.Abs(got.Values[i]-w) / math.Abs(want[order[0]]); e > 1e-3 {
			t.Errorf("eigenvalue %d: lanczos on central-difference products %.6g, exact %.6g", i+1, got.Values[i], w)
		}
	}
	t.Logf("top 5 eigenvalues, lanczos/exact:%s (%d products)", msg, got.Products)
}

// relErr is |a - b| / |b|.
func relErr(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d / n)
}
