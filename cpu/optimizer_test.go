package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// TestOptimizerByHand runs two steps of Nesterov SGD with coupled weight
// decay and a BN-bias group on tiny tensors and checks each value against
// the update written out by hand.
func TestOptimizerByHand(t *testing.T) {
	spec := &model.Spec{Params: []model.Param{
		{Name: "w", Shape: []int{2}, Role: model.RoleWeight},
		{Name: "b", Shape: []int{1}, Role: model.RoleBNBias},
		{Name: "s", Shape: []int{1}, Role: model.RoleBNScale, Frozen: true},
	}}
	tc := stages.Train{BatchSize: 4, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01, BNBiasLRMul: 8, BNBiasWDDiv: 2, Optimizer: "sgd"}
	o, err := newOptimizer(spec, tc)
	if err != nil {
		t.Fatal(err)
	}
	params := [][]float32{{1, -2}, {0.5}, {3}}
	grads := [][]float32{{0.2, 0.1}, {-0.4}, {7}}
	lambda := []float64{0.4, 0.2}

	// Hand computation in float64 of PyTorch's SGD: lr = λ/N (x8 for the
	// bias), wd = 0.01*N (/2 for the bias); g' = g + wd*w; v = 0.9v + g';
	// w -= lr*(g' + 0.9v).
	type st struct{ w, v, g, lrMul, wd float64 }
	hand := []st{{1, 0, 0.2, 1, 0.04}, {-2, 0, 0.1, 1, 0.04}, {0.5, 0, -0.4, 8, 0.02}}
	for _, lam := range lambda {
		o.step(params, grads, lam)
		for i := range hand {
			h := &hand[i]
			g := h.g + h.wd*h.w
			h.v = 0.9*h.v + g
			h.w -= lam / 4 * h.lrMul * (g + 0.9*h.v)
		}
	}
	got := []float32{params[0][0], params[0][1], params[1][0]}
	for i, h := range hand {
		if math.Abs(float64(got[i])-h.w) > 1e-6 {
			t.Errorf("param %d after two steps: %v, hand computation %v", i, got[i], h.w)
		}
	}
	if params[2][0] != 3 {
		t.Errorf("frozen param changed to %v", params[2][0])
	}

	// Plain momentum (no Nesterov): w -= lr*v.
	tc.Nesterov, tc.BNBiasLRMul, tc.BNBiasWDDiv, tc.WeightDecay = false, 1, 1, 0
	o, _ = newOptimizer(spec, tc)
	p := [][]float32{{1, 1}, {1}, {1}}
	g := [][]float32{{1, 2}, {0}, {0}}
	o.step(p, g, 0.4)
	o.step(p, g, 0.4)
	// v1 = g, w1 = 1 - 0.1g; v2 = 1.9g, w2 = w1 - 0.19g = 1 - 0.29g.
	if math.Abs(float64(p[0][0])-0.71) > 1e-6 || math.Abs(float64(p[0][1])-0.42) > 1e-6 {
		t.Errorf("heavy-ball SGD: %v, want [0.71 0.42]", p[0])
	}
}

func TestOptimizerLARS(t *testing.T) {
	spec := &model.Spec{Params: []model.Param{{Name: "w", Shape: []int{2, 2}, Role: model.RoleWeight}}}
	tc := stages.Train{BatchSize: 1, Momentum: 0, Optimizer: "lars"}
	o, err := newOptimizer(spec, tc)
	if err != nil {
		t.Fatal(err)
	}
	p := [][]float32{{3, 4, 1, 0}}
	g := [][]float32{{0.6, 0.8, 0, 2}}
	o.step(p, g, 0.1)
	// Per row: lr·‖w_r‖/(‖g_r‖+0.01): row 0: 0.1·5/1.01, row 1: 0.1·1/2.01.
	want := []float64{3 - 0.1*5/1.01*0.6, 4 - 0.1*5/1.01*0.8, 1, 0 - 0.1/2.01*2}
	for i, w := range want {
		if math.Abs(float64(p[0][i])-w) > 1e-6 {
			t.Errorf("LARS w[%d] = %v, want %v", i, p[0][i], w)
		}
	}
	if _, err := newOptimizer(spec, stages.Train{BatchSize: 1, Optimizer: "adam"}); err == nil {
		t.Error("optimizer adam accepted")
	}
}

func TestLRSchedule(t *testing.T) {
	knots := []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 5, LR: 0.4}, {Epoch: 24, LR: 0}}
	tests := []struct{ e, want float64 }{
		{-1, 0}, {0, 0}, {2.5, 0.2}, {5, 0.4}, {14.5, 0.2}, {24, 0}, {30, 0},
	}
	for _, tt := range tests {
		if got := stages.InterpLR(knots, tt.e); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("stages.InterpLR(%v) = %v, want %v", tt.e, got, tt.want)
		}
	}
	held := []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 2, LR: 1}, {Epoch: 8, LR: 0.1}}
	if got := stages.InterpLR(held, 9.5); got != 0.1 {
		t.Errorf("lrAt past the last knot = %v, want the last value 0.1", got)
	}
	if got := stages.StepEpoch("fractional", 2, 0, 4); got != 1 {
		t.Errorf("fractional epoch 2 step 0 of 4 = %v, want 1", got)
	}
	if got := stages.StepEpoch("step", 2, 0, 4); got != 1.25 {
		t.Errorf("step-schedule epoch 2 step 0 of 4 = %v, want 1.25", got)
	}
}

// TestMuonByHand: two Muon steps on a wide and a tall filter bank against
// Muon written out in float64 (airbench94_muon's update: Nesterov
// momentum, w scaled to norm sqrt(out), three Newton-Schulz iterations of
// the update, X transposed when taller than wide), with the conv filters
// in a Muon group and the head in an SGD one.
func TestMuonByHand(t *testing.T) {
	spec := &model.Spec{Params: []model.Param{
		{Name: "wide.weight", Shape: []int{3, 2, 2, 2}, Role: model.RoleWeight},
		{Name: "tall.weight", Shape: []int{5, 2, 1, 1}, Role: model.RoleWeight},
		{Name: "head.weight", Shape: []int{2, 3}, Role: model.RoleWeight},
	}, Layers: []model.Layer{
		{Name: "wide", Op: model.OpConv, Params: []int{0}}, {Name: "tall", Op: model.OpConv, Params: []int{1}},
		{Name: "head", Op: model.OpLinear, Params: []int{2}},
	}}
	tc := stages.Train{BatchSize: 4, Momentum: 0.85, Nesterov: true, BNBiasLRMul: 1, BNBiasWDDiv: 1, Optimizer: "sgd", Units: "torch",
		Groups: []stages.Group{{Params: "filters", Rule: "muon", Momentum: 0.6}, {Params: "weights"}}}
	o, err := newOptimizer(spec, tc)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	params, grads := make([][]float32, 3), make([][]float32, 3)
	for i, p := range spec.Params {
		params[i], grads[i] = make([]float32, model.Numel(p.Shape)), make([]float32, model.Numel(p.Shape))
		for j := range params[i] {
			params[i][j], grads[i][j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
	}
	type bank struct{ w, v []float64 }
	hand := make([]bank, 2)
	for i := range hand {
		hand[i] = bank{w: to64(params[i]), v: make([]float64, len(params[i]))}
	}
	rates := []train.Rate{{LR: 0.24}, {LR: 0.01}}
	for range 2 {
		o.apply(params, grads, rates)
		for i, h := range hand {
			rows := spec.Params[i].Shape[0]
			u := make([]float64, len(h.w))
			for j := range u {
				h.v[j] = 0.6*h.v[j] + float64(grads[i][j])
				u[j] = float64(grads[i][j]) + 0.6*h.v[j]
			}
			s := math.Sqrt(float64(rows)) / norm64(h.w)
			x := newtonSchulz64(u, rows, len(u)/rows)
			for j := range h.w {
				h.w[j] = h.w[j]*s - 0.24*x[j]
			}
		}
	}
	for i, h := range hand {
		for j, want := range h.w {
			if d := math.Abs(float64(params[i][j]) - want); d > 2e-4*math.Max(1, math.Abs(want)) {
				t.Fatalf("%s[%d] after two steps: %v, by hand %v", spec.Params[i].Name, j, params[i][j], want)
			}
		}
	}
}

func norm64(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// newtonSchulz64 is zeropower_via_newtonschulz5 written out on a rows x
// cols row-major matrix in float64.
func newtonSchulz64(u []float64, rows, cols int) []float64 {
	const a, b, c, steps, eps = 3.4445, -4.7750, 2.0315, 3, 1e-7
	n := norm64(u)
	r, k := rows, cols
	x := make([]float64, len(u)) // r x k
	for i := range rows {
		for j := range cols {
			if rows > cols { // X = uᵀ
				x[j*rows+i] = u[i*cols+j] / (n + eps)
			} else {
				x[i*cols+j] = u[i*cols+j] / (n + eps)
			}
		}
	}
	if rows > cols {
		r, k = cols, rows
	}
	mul := func(p, q []float64, m, inner, w int, tq bool) []float64 { // p (m x inner) times q (inner x w), or qᵀ
		out := make([]float64, m*w)
		for i := range m {
			for j := range w {
				for l := range inner {
					qv := q[l*w+j]
					if tq {
						qv = q[j*inner+l]
					}
					out[i*w+j] += p[i*inner+l] * qv
				}
			}
		}
		return out
	}
	for range steps {
		A := mul(x, x, r, k, r, true)
		AA := mul(A, A, r, r, r, false)
		B := make([]float64, r*r)
		for i := range B {
			B[i] = b*A[i] + c*AA[i]
		}
		BX := mul(B, x, r, r, k, false)
		for i := range x {
			x[i] = a*x[i] + BX[i]
		}
	}
	if rows <= cols {
		return x
	}
	out := make([]float64, len(x))
	for i := range rows {
		for j := range cols {
			out[i*cols+j] = x[j*rows+i]
		}
	}
	return out
}
