package train

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// airbenchSpec is a spec with one parameter of each group stage 10 names:
// a conv filter, the whitening conv's bias, a BN bias and the head.
func airbenchSpec() *model.Spec {
	return &model.Spec{Params: []model.Param{
		{Name: "conv.weight", Shape: []int{4, 2, 3, 3}, Role: model.RoleWeight},
		{Name: "whiten.bias", Shape: []int{2}, Role: model.RoleWhitenBias},
		{Name: "bn.bias", Shape: []int{4}, Role: model.RoleBNBias},
		{Name: "head.weight", Shape: []int{10, 4}, Role: model.RoleWeight},
		{Name: "bn.weight", Shape: []int{4}, Role: model.RoleBNScale, Frozen: true},
	}, Layers: []model.Layer{
		{Name: "conv", Op: model.OpConv, Params: []int{0}}, {Name: "whiten", Op: model.OpConv, Params: []int{1}},
		{Name: "bn", Op: model.OpBN, Params: []int{2, 4}}, {Name: "head", Op: model.OpLinear, Params: []int{3}},
	}}
}

// The airbench94 recipe's rates at every one of its 476 steps, against
// legacy/airbench94.py written out: PyTorch lr = 11.5/ks x get_lr(k) and
// weight_decay = (0.0153 x 1024/ks)/(11.5/ks), ks = 1024 (1 + 1/0.15); BN
// biases lr x 64 with weight_decay / 64 (the same decay per step); the
// whitening bias trained with the others for its first 3 x 48 steps,
// then not at all.
func TestAirbenchRates(t *testing.T) {
	tc := stages.Train{Epochs: 9.9, BatchSize: 1024, Momentum: 0.85, Nesterov: true, WeightDecay: 0.0153, Units: "airbench",
		Schedule: "run", LR: []stages.Knot{{Epoch: 0, LR: 2.3}, {Epoch: 0.23, LR: 11.5}, {Epoch: 1, LR: 0.805}}, Optimizer: "sgd",
		BNBiasLRMul: 1, BNBiasWDDiv: 1,
		Groups: []stages.Group{{Params: "bn_bias", LRMul: 64}, {Params: "whiten_bias", Epochs: 3}, {Params: "weights"}}}
	o, err := NewOptimizer(airbenchSpec(), tc, 48)
	if err != nil {
		t.Fatal(err)
	}
	if o.Steps() != 476 || !slices.Equal(o.Of, []int{2, 1, 0, 2, Frozen}) {
		t.Fatalf("steps %d, groups %v", o.Steps(), o.Of)
	}
	ks := 1024 * (1 + 1/(1-0.85))
	lr, wd := 11.5/ks, 0.0153*1024/ks
	getLR := func(step int) float64 { // airbench94's, as written there
		total := 476
		warmup := int(float64(total) * 0.23)
		if step < warmup {
			frac := float64(step) / float64(warmup)
			return 0.2*(1-frac) + 1.0*frac
		}
		frac := float64(step-warmup) / float64(total-warmup)
		return 1.0*(1-frac) + 0.07*frac
	}
	rates := make([]Rate, 3)
	for k := range 476 {
		e, i := k/48+1, k%48
		o.StepRates(k, e, i, rates)
		f := getLR(k)
		w := Rate{LR: float32(lr * f), WD: float32(wd / lr)}
		b := Rate{LR: float32(64 * lr * f), WD: float32(wd / (64 * lr))}
		wb := w
		if k >= 3*48 {
			wb = Rate{}
		}
		for g, want := range []Rate{b, wb, w} {
			if got := rates[g]; math.Abs(float64(got.LR-want.LR)) > 1e-6*float64(want.LR) || math.Abs(float64(got.WD-want.WD)) > 1e-6*float64(want.WD) {
				t.Fatalf("step %d group %s: %+v, airbench94 %+v", k, o.Groups[g].Name, got, want)
			}
		}
		// The decay per step is the same in every group: wd x f.
		if d := float64(rates[0].LR*rates[0].WD) - wd*f; math.Abs(d) > 1e-6*wd {
			t.Fatalf("step %d: BN biases decay %v per step, want %v", k, rates[0].LR*rates[0].WD, wd*f)
		}
	}
}

// airbench94_muon's rates, against its script: SGD groups at lr x (1 -
// k/K) with weight_decay = 2e-6 x 2000 / lr, the whitening bias's own
// 1 - k/75 over its 75 steps, Muon's 0.24 (1 - k/K) without decay.
func TestMuonRates(t *testing.T) {
	tc := stages.Train{Epochs: 8, BatchSize: 2000, Momentum: 0.85, Nesterov: true, WeightDecay: 2e-6, Units: "torch",
		Schedule: "run", LR: []stages.Knot{{Epoch: 0, LR: 1}, {Epoch: 1, LR: 0}}, Optimizer: "sgd", BNBiasLRMul: 1, BNBiasWDDiv: 1,
		Groups: []stages.Group{{Params: "whiten_bias", LR: []stages.Knot{{Epoch: 0, LR: 0.053}, {Epoch: 1, LR: 0}}, Epochs: 3},
			{Params: "bn_bias", LRMul: 0.053}, {Params: "head", LRMul: 0.67}, {Params: "filters", Rule: "muon", LRMul: 0.24, Momentum: 0.6}}}
	o, err := NewOptimizer(airbenchSpec(), tc, 25)
	if err != nil {
		t.Fatal(err)
	}
	if o.Steps() != 200 || !slices.Equal(o.Of, []int{3, 0, 1, 2, Frozen}) || !o.HasRule(RuleMuon) || o.Groups[3].Momentum != 0.6 {
		t.Fatalf("steps %d, groups %v %+v", o.Steps(), o.Of, o.Groups)
	}
	wd := 2e-6 * 2000
	rates := make([]Rate, 4)
	for k := range 200 {
		o.StepRates(k, k/25+1, k%25, rates)
		f := 1 - float64(k)/200
		wb := Rate{}
		if k < 75 {
			wb = Rate{LR: float32(0.053 * (1 - float64(k)/75)), WD: float32(wd / 0.053)}
		}
		want := []Rate{wb, {LR: float32(0.053 * f), WD: float32(wd / 0.053)}, {LR: float32(0.67 * f), WD: float32(wd / 0.67)}, {LR: float32(0.24 * f)}}
		for g, w := range want {
			if got := rates[g]; math.Abs(float64(got.LR-w.LR)) > 1e-6 || math.Abs(float64(got.WD-w.WD)) > 1e-6*float64(w.WD) {
				t.Fatalf("step %d group %s: %+v, airbench94_muon %+v", k, o.Groups[g].Name, got, w)
			}
		}
	}
	// A parameter no group names is an error; so is Muon on a vector.
	tc.Groups = tc.Groups[1:]
	if _, err := NewOptimizer(airbenchSpec(), tc, 25); err == nil || !strings.Contains(err.Error(), "whiten.bias is in no group") {
		t.Errorf("whiten.bias in no group: %v", err)
	}
}

// lookaheadRequest is testRequest with airbench94's lookahead and
// six-view TTA over 3.5 epochs of 3 steps (48 images in batches of 16,
// the last dropped): 11 steps, the last epoch 2.
func lookaheadRequest(t *testing.T) backend.Request {
	req := testRequest(t)
	tc := &req.Config.Train
	tc.Epochs, tc.EMAMomentum, tc.EMAEvery, tc.EvalEvery = 3.5, 0, 0, 100
	tc.DropLast = true
	tc.Lookahead = &stages.Lookahead{Every: 3, Decay: 0.95, Power: 3}
	tc.TTAShift = 1
	req.Data.Train = data.Split{Images: req.Data.Train.Images[:48*data.ImageLen], Labels: req.Data.Train.Labels[:48]}
	return req
}

// Lookahead's cadence and fractional epochs through Run: every 3 steps
// the average moves with decay 0.95^3 (k/K)^3 and the live state is reset
// to it, and after the last step (11, not a multiple of 3) the live state
// is set to the average once more; the fourth epoch stops after 2 steps.
func TestRunLookaheadAndFractionalEpochs(t *testing.T) {
	req := lookaheadRequest(t)
	obs := &observed{}
	req.Observer = obs
	var f *fake
	_, err := Run(context.Background(), req, func(su Setup) (Engine, error) {
		if !su.Average || su.Epochs != 4 || su.Optimizer.Steps() != 11 || len(su.Views) != 6 {
			return nil, fmt.Errorf("setup: average %v, %d epochs, %d steps, %d views", su.Average, su.Epochs, su.Optimizer.Steps(), len(su.Views))
		}
		f = &fake{su: su, sync: 1, losses: func(k int) float64 { return 1 }}
		return f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.steps) != 11 || len(obs.epochs) != 4 {
		t.Fatalf("%d steps, %d epochs; want 11 and 4", len(obs.steps), len(obs.epochs))
	}
	var seq []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, "step") || strings.Contains(c, "average") {
			seq = append(seq, c)
		}
	}
	var want []string
	for k := 1; k <= 11; k++ {
		want = append(want, fmt.Sprintf("step %d 16", (k-1)%3))
		if k%3 == 0 {
			want = append(want, "average", "load average")
		}
	}
	want = append(want, "load average")
	if !slices.Equal(seq, want) {
		t.Errorf("calls %v,\nwant %v", seq, want)
	}
	for j, k := range []int{3, 6, 9} {
		if d := math.Pow(0.95, 3) * math.Pow(float64(k)/11, 3); f.avgs[j] != d {
			t.Errorf("lookahead at step %d: decay %v, want %v", k, f.avgs[j], d)
		}
	}
}

// viewEngine is the fake with logits that depend on the view: image i's
// row is 1 on class (i + view index) % 10, so the six-view mean weighs
// the views as airbench does.
type viewEngine struct {
	*fake
	views []data.View
}

func (v *viewEngine) Logits(avg bool, view data.View, dst []float32) error {
	j := slices.Index(v.views, view)
	if j < 0 {
		return fmt.Errorf("view %+v not in %v", view, v.views)
	}
	clear(dst)
	for i := range len(dst) / 10 {
		// The plain view and its mirror put 1 on class i, the four
		// shifted views 0.9 on class i+1.
		if j < 2 {
			dst[i*10+i%10] = 1
		} else {
			dst[i*10+(i+1)%10] = 0.9
		}
	}
	return nil
}

// Six-view TTA weighs the plain view and its mirror 2/8 each and the four
// shifted views 1/8 each: (2+2)/8 = 0.5 on the plain views' class against
// 4 x 0.9/8 = 0.45 on the shifted views', which equal weights (2/6
// against 3.6/6) would reverse.
func TestSixViewTTAWeights(t *testing.T) {
	req := lookaheadRequest(t)
	su, err := NewSetup(req.Config, req.Spec, req.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := []data.View{{}, {Flip: true}, {DY: -1, DX: -1}, {Flip: true, DY: -1, DX: -1}, {DY: 1, DX: 1}, {Flip: true, DY: 1, DX: 1}}
	if !slices.Equal(su.Views, want) {
		t.Fatalf("views %v, want %v", su.Views, want)
	}
	labels := make([]uint8, 20)
	for i := range labels {
		labels[i] = uint8(i % 10)
	}
	ev := newEvaluator(su, labels)
	eng := &viewEngine{fake: &fake{su: su}, views: su.Views}
	sc, err := ev.evaluate(eng, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if sc.acc != 1 || sc.ttaAcc != 1 {
		t.Errorf("plain accuracy %v, TTA %v: want 1 and 1", sc.acc, sc.ttaAcc)
	}
	if m := ev.mean[:10]; m[0] != 0.5 || math.Abs(float64(m[1])-0.45) > 1e-7 {
		t.Errorf("mean logits of image 0: %v, want 0.5 on class 0 and 0.45 on class 1", m)
	}
}

// Whiten gives airbench94's first layer the engine's 12 filters of 2x2x3
// and their negatives (24 in all), and a 3x3 whitening conv its 27.
func TestWhitenPairs(t *testing.T) {
	f := make([]float32, 12*12)
	for i := range f {
		f[i] = float32(i + 1)
	}
	for _, c := range []struct {
		shape []int
		want  func(i int) float32
	}{
		{[]int{24, 3, 2, 2}, func(i int) float32 {
			if i < len(f) {
				return f[i]
			}
			return -f[i-len(f)]
		}},
		{[]int{12, 3, 2, 2}, func(i int) float32 { return f[i] }},
	} {
		spec := &model.Spec{Params: []model.Param{{Name: "whiten.weight", Shape: c.shape, Role: model.RoleWhiten, Init: model.InitWhiten}}}
		params := [][]float32{make([]float32, model.Numel(c.shape))}
		eng := &fake{whiten: f}
		if err := Whiten(eng, spec, model.Net{WhitenImages: 10, WhitenEps: 5e-4}, 10, params); err != nil {
			t.Fatal(err)
		}
		for i, v := range params[0] {
			if v != c.want(i) {
				t.Fatalf("%v: filter float %d = %v, want %v", c.shape, i, v, c.want(i))
			}
		}
	}
}
