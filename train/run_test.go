package train

import (
	"context"
	"errors"
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

// fake is an Engine that trains nothing: each step's loss comes from a
// table, logits are made up per view so that accuracies are known, and
// every call is recorded.
type fake struct {
	su      Setup
	sync    int
	losses  func(k int) float64 // loss of the k-th step of the run (0-based)
	calls   []string
	k       int
	pending []StepResult
	rates   [][]Rate
	avgs    []float64
	loaded  *data.Set
	start   [][]float32
	whiten  []float32
	saved   int
}

func (f *fake) Load(set *data.Set) error {
	f.loaded = set
	f.calls = append(f.calls, "load")
	return nil
}
func (f *fake) Whitening(n, k int, eps float64) ([]float32, error) {
	f.calls = append(f.calls, fmt.Sprintf("whiten %d %g", n, eps))
	return f.whiten, nil
}
func (f *fake) Start(params [][]float32) error {
	f.start = params
	f.calls = append(f.calls, "start")
	return nil
}
func (f *fake) Epoch(_ context.Context, plan *data.EpochPlan) error {
	if len(plan.Order) != f.su.TrainN {
		return fmt.Errorf("plan of %d", len(plan.Order))
	}
	f.calls = append(f.calls, "epoch")
	return nil
}
func (f *fake) Step(i, n int, rates []Rate) error {
	f.calls = append(f.calls, fmt.Sprintf("step %d %d", i, n))
	f.rates = append(f.rates, slices.Clone(rates))
	f.pending = append(f.pending, StepResult{Loss: f.losses(f.k) * float64(n), Correct: n / 2})
	f.k++
	return nil
}
func (f *fake) Results(dst []StepResult) ([]StepResult, error) {
	f.calls = append(f.calls, fmt.Sprintf("results %d", len(f.pending)))
	dst = append(dst, f.pending...)
	f.pending = f.pending[:0]
	return dst, nil
}
func (f *fake) SyncEvery() int { return f.sync }
func (f *fake) Params() ([][]float32, error) {
	return nil, nil
}
func (f *fake) Average(rho float64) error {
	f.avgs = append(f.avgs, rho)
	f.calls = append(f.calls, "average")
	return nil
}
func (f *fake) LoadAverage() error {
	f.calls = append(f.calls, "load average")
	return nil
}

// Logits makes image i's plain view predict its label when i%4 < 2 and
// the mirrored view when i%4 is 1 or 2: a right row has 1 on the label
// and 0.5 on another class, a wrong one 0.25 on that class, so the mean
// of two views is right when either is. With avg the plain view is right
// for every image.
func (f *fake) Logits(avg bool, v data.View, dst []float32) error {
	f.calls = append(f.calls, fmt.Sprintf("logits avg=%v flip=%v", avg, v.Flip))
	k := f.su.Spec.Classes
	for i := range dst {
		dst[i] = 0
	}
	for i, y := range f.loaded.Test.Labels {
		row := dst[i*k : (i+1)*k]
		right := i%4 < 2
		if v.Flip {
			right = i%4 == 1 || i%4 == 2
		}
		if avg && !v.Flip {
			right = true
		}
		other := (int(y) + 1) % k
		if right {
			row[y] = 1
			row[other] = 0.5
		} else {
			row[other] = 0.25
		}
	}
	return nil
}
func (f *fake) SaveWeights(params []int) error {
	f.saved++
	f.calls = append(f.calls, "save")
	return nil
}
func (f *fake) LayerNorms(params []int, dst []Norms) error {
	for j := range params {
		dst[j] = Norms{Weight: 2, Grad: 3, Delta: float64(f.k)}
	}
	return nil
}
func (f *fake) Precision() string { return "f32" }
func (f *fake) Close() error      { f.calls = append(f.calls, "close"); return nil }

type observed struct {
	steps  []int
	losses []float64
	epochs []backend.Epoch
	layers []backend.LayerStat
}

func (o *observed) Step(k, total int, loss float64) {
	o.steps = append(o.steps, k)
	o.losses = append(o.losses, loss)
}
func (o *observed) Epoch(e backend.Epoch)        { o.epochs = append(o.epochs, e) }
func (o *observed) Layers(s []backend.LayerStat) { o.layers = append(o.layers, s...) }

func testRequest(t *testing.T) backend.Request {
	t.Helper()
	net := model.Net{Name: "resnet9", Width: 0.125, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.Synthetic(data.SyntheticOptions{Train: 50, Test: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := stages.Config{Net: net,
		Train: stages.Train{Epochs: 3, BatchSize: 16, LR: []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 1, LR: 0.4}, {Epoch: 3, LR: 0.1}},
			Momentum: 0.9, WeightDecay: 5e-4, BNBiasLRMul: 4, BNBiasWDDiv: 2, Optimizer: "sgd", Schedule: "fractional",
			EMAMomentum: 0.9, EMAEvery: 2, EvalEvery: 2, TTA: true},
		Data: stages.Data{Crop: true, Flip: true}}
	return backend.Request{Config: cfg, Spec: spec, Data: set, Seed: 5}
}

// TestRunDrivesEngine runs three epochs of 50 images in batches of 16
// (4 steps, the last of 2) and checks every call against the recipe.
func TestRunDrivesEngine(t *testing.T) {
	for _, sync := range []int{1, 0} {
		t.Run(fmt.Sprintf("sync%d", sync), func(t *testing.T) {
			req := testRequest(t)
			obs := &observed{}
			req.Observer = obs
			var f *fake
			res, err := Run(context.Background(), req, func(su Setup) (Engine, error) {
				f = &fake{su: su, sync: sync, losses: func(k int) float64 { return 2 - 0.1*float64(k) }}
				return f, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			tc := req.Config.Train
			// Steps: 1-based, every one reported, with per-example losses.
			if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; !slices.Equal(obs.steps, want) {
				t.Errorf("observed steps %v, want %v", obs.steps, want)
			}
			for k, l := range obs.losses {
				if want := 2 - 0.1*float64(k); math.Abs(l-want) > 1e-12 {
					t.Errorf("step %d loss %v, want %v", k+1, l, want)
				}
			}
			// Rates: the LR read at each step's epoch position, per group.
			for k, r := range f.rates {
				e, i := k/4+1, k%4
				lambda := stages.InterpLR(tc.LR, stages.StepEpoch(tc.Schedule, e, i, 4))
				w := Rate{LR: float32(lambda / 16), WD: float32(5e-4 * 16)}
				b := Rate{LR: float32(lambda / 16 * 4), WD: float32(5e-4 * 16 / 2)}
				if len(r) != 2 || r[GroupWeights] != w || r[GroupBNBias] != b {
					t.Errorf("step %d rates %+v, want %+v and %+v", k+1, r, w, b)
				}
			}
			// EMA every 2 steps with rho^2.
			if len(f.avgs) != 6 || f.avgs[0] != math.Pow(0.9, 2) {
				t.Errorf("averages %v, want 6 of 0.81", f.avgs)
			}
			// Evaluated at epochs 2 and 3 (the last), on the average;
			// TTA only at the end.
			var evals []string
			for _, c := range f.calls {
				if strings.HasPrefix(c, "logits") {
					evals = append(evals, c)
				}
			}
			if want := []string{"logits avg=true flip=false", "logits avg=true flip=false", "logits avg=true flip=true"}; !slices.Equal(evals, want) {
				t.Errorf("evaluations %v, want %v", evals, want)
			}
			if len(obs.epochs) != 3 || !math.IsNaN(obs.epochs[0].TestAcc) || obs.epochs[1].TestAcc != 1 {
				t.Fatalf("epochs %+v", obs.epochs)
			}
			// The averaged plain view is right for all 20, so is its
			// mean with the flip view.
			if res.TestAcc != 1 || res.TTAAcc != 1 {
				t.Errorf("test acc %v, TTA %v; want 1 and 1", res.TestAcc, res.TTAAcc)
			}
			e2 := obs.epochs[1]
			if e2.LR != stages.InterpLR(tc.LR, stages.StepEpoch(tc.Schedule, 2, 3, 4)) {
				t.Errorf("epoch 2 LR %v", e2.LR)
			}
			// Train loss: per example over the epoch's 50 images.
			want := 0.0
			for k := 4; k < 8; k++ {
				want += (2 - 0.1*float64(k)) * float64(min(16, 50-(k-4)*16))
			}
			if math.Abs(e2.TrainLoss-want/50) > 1e-12 || e2.TrainAcc != float64(8+8+8+1)/50 {
				t.Errorf("epoch 2 train loss %v acc %v, want %v and %v", e2.TrainLoss, e2.TrainAcc, want/50, 25.0/50)
			}
			if f.calls[0] != "load" || f.calls[1] != "start" || f.calls[len(f.calls)-1] != "close" {
				t.Errorf("calls begin %v and end %q", f.calls[:2], f.calls[len(f.calls)-1])
			}
			if len(f.start) != len(req.Spec.Params) {
				t.Errorf("Start got %d params", len(f.start))
			}
		})
	}
}

// TestRunDiverges: the first non-finite loss ends the run in its epoch,
// unreported, whenever the engine's results are read.
func TestRunDiverges(t *testing.T) {
	for _, sync := range []int{1, 0} {
		req := testRequest(t)
		obs := &observed{}
		req.Observer = obs
		var f *fake
		res, err := Run(context.Background(), req, func(su Setup) (Engine, error) {
			f = &fake{su: su, sync: sync, losses: func(k int) float64 {
				if k >= 5 {
					return math.Inf(1)
				}
				return 1
			}}
			return f, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Diverged || res.DivergedEpoch != 2 || len(obs.steps) != 5 || len(obs.epochs) != 1 {
			t.Errorf("sync %d: diverged %v at %d after %d steps, %d epochs; want epoch 2, 5 steps, 1 epoch", sync, res.Diverged, res.DivergedEpoch, len(obs.steps), len(obs.epochs))
		}
		// An engine with results at once stops at the step.
		if steps := f.k; (sync == 1 && steps != 6) || (sync == 0 && steps != 8) {
			t.Errorf("sync %d: the engine took %d steps", sync, steps)
		}
	}
}

// TestRunLayerStats logs steps 0, 3, 6, ... with the engine's norms.
func TestRunLayerStats(t *testing.T) {
	req := testRequest(t)
	req.Config.Analysis = &stages.Analysis{LogEvery: 3}
	obs := &observed{}
	req.Observer = obs
	_, err := Run(context.Background(), req, func(su Setup) (Engine, error) {
		return &fake{su: su, losses: func(int) float64 { return 1 }}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logged := LoggedParams(req.Spec)
	if len(obs.layers) != 4*len(logged) {
		t.Fatalf("%d layer stats, want 4 logged steps of %d", len(obs.layers), len(logged))
	}
	for j, s := range obs.layers {
		step := j / len(logged) * 3
		if s.Step != step || s.WeightNorm != 2 || s.GradNorm != 3 || s.Update != float64(step+1)/2 ||
			s.Layer != req.Spec.Params[logged[j%len(logged)]].Name || s.Epoch != stages.StepEpoch("fractional", step/4+1, step%4, 4) {
			t.Errorf("stat %d: %+v", j, s)
		}
	}
}

// TestRunWhitens: the whitening filters come from the loaded data and go
// into the parameters Start gets.
func TestRunWhitens(t *testing.T) {
	req := testRequest(t)
	req.Config.Net.Name, req.Config.Net.Whiten, req.Config.Net.WhitenEps, req.Config.Net.WhitenImages = "final", true, 1e-2, 30
	req.Config.Net.Order = "conv-pool-bn-act"
	spec, err := model.Build(req.Config.Net)
	if err != nil {
		t.Fatal(err)
	}
	req.Spec = spec
	var f *fake
	_, err = Run(context.Background(), req, func(su Setup) (Engine, error) {
		f = &fake{su: su, losses: func(int) float64 { return 1 }}
		f.whiten = make([]float32, 27*27)
		for i := range f.whiten {
			f.whiten[i] = float32(i)
		}
		return f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.calls[1] != "whiten 30 0.01" {
		t.Errorf("calls %v", f.calls[:3])
	}
	for i, p := range spec.Params {
		if p.Init == model.InitWhiten && !slices.Equal(f.start[i], f.whiten) {
			t.Errorf("Start got whitening filters %v...", f.start[i][:3])
		}
	}
	// A wrong-sized filter set is an error.
	_, err = Run(context.Background(), req, func(su Setup) (Engine, error) {
		return &fake{su: su, losses: func(int) float64 { return 1 }, whiten: make([]float32, 3)}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "3 floats") {
		t.Errorf("short filters: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	req := testRequest(t)
	boom := errors.New("boom")
	if _, err := Run(context.Background(), req, func(Setup) (Engine, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("open error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var f *fake
	_, err := Run(ctx, req, func(su Setup) (Engine, error) {
		f = &fake{su: su, losses: func(int) float64 { return 1 }}
		return f, nil
	})
	if !errors.Is(err, context.Canceled) || f.calls[len(f.calls)-1] != "close" {
		t.Errorf("cancelled: %v, last call %q", err, f.calls[len(f.calls)-1])
	}
	req.Config.Train.DropLast, req.Config.Train.BatchSize = true, 64
	if _, err := Run(context.Background(), req, nil); err == nil || !strings.Contains(err.Error(), "no batch of 64") {
		t.Errorf("no batch: %v", err)
	}
}

func TestNewSetup(t *testing.T) {
	req := testRequest(t)
	for _, tc := range []struct {
		trainN, batch int
		drop          bool
		steps         int
		batches       []int
	}{
		{50, 16, false, 4, []int{16, 2}},
		{50, 16, true, 3, []int{16}},
		{48, 16, false, 3, []int{16}},
		{10, 16, false, 1, []int{10}},
	} {
		cfg := req.Config
		cfg.Train.BatchSize, cfg.Train.DropLast = tc.batch, tc.drop
		set, err := req.Data.Sized(tc.trainN, 0)
		if err != nil {
			t.Fatal(err)
		}
		su, err := NewSetup(cfg, req.Spec, set)
		if err != nil {
			t.Fatal(err)
		}
		if su.Steps != tc.steps || !slices.Equal(su.Batches, tc.batches) || su.Pad != data.CropPad || su.TrainN != tc.trainN {
			t.Errorf("%d images, batch %d, drop %v: steps %d batches %v pad %d", tc.trainN, tc.batch, tc.drop, su.Steps, su.Batches, su.Pad)
		}
	}
}

// TestOptimizerGroups checks the groups and the rates against the
// blog's formulas written out.
func TestOptimizerGroups(t *testing.T) {
	spec := &model.Spec{Params: []model.Param{
		{Name: "w", Shape: []int{2}, Role: model.RoleWeight},
		{Name: "b", Shape: []int{1}, Role: model.RoleBNBias},
		{Name: "s", Shape: []int{1}, Role: model.RoleBNScale, Frozen: true},
		{Name: "wh", Shape: []int{1}, Role: model.RoleWhiten},
		{Name: "g", Shape: []int{1}, Role: model.RoleBNScale},
	}}
	o, err := NewOptimizer(spec, stages.Train{BatchSize: 512, WeightDecay: 5e-4 * 512 / 512, BNBiasLRMul: 64, BNBiasWDDiv: 64, Optimizer: "lars", Momentum: 0.9}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{GroupWeights, GroupBNBias, Frozen, Frozen, GroupWeights}; !slices.Equal(o.Of, want) || !o.LARS {
		t.Errorf("groups %v, LARS %v; want %v", o.Of, o.LARS, want)
	}
	r := make([]Rate, 2)
	o.Rates(0.4, r)
	if want := (Rate{LR: float32(0.4 / 512), WD: float32(5e-4 * 512)}); r[0] != want {
		t.Errorf("weights %+v, want %+v", r[0], want)
	}
	if want := (Rate{LR: float32(0.4 / 512 * 64), WD: float32(5e-4 * 512 / 64)}); r[1] != want {
		t.Errorf("BN biases %+v, want %+v", r[1], want)
	}
	for _, bad := range []stages.Train{{BatchSize: 1, Optimizer: "adam"}, {BatchSize: 0}} {
		if _, err := NewOptimizer(spec, bad, 0); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestEvaluatorLoss checks the test loss and accuracy against
// model.CrossEntropy summed row by row, and the chunked sum order.
func TestEvaluatorLoss(t *testing.T) {
	req := testRequest(t)
	req.Config.Train.LabelSmoothing = 0.2
	set, err := req.Data.Sized(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	su, err := NewSetup(req.Config, req.Spec, set)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{su: su, loaded: set}
	ev := newEvaluator(su, set.Test.Labels)
	sc, err := ev.evaluate(f, false, false)
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, 20*10)
	if err := f.Logits(false, data.View{}, logits); err != nil {
		t.Fatal(err)
	}
	var chunks [2]float64
	correct := 0
	for i, y := range set.Test.Labels {
		l, best := model.CrossEntropy(logits[i*10:(i+1)*10], int(y), float64(float32(0.2)))
		chunks[i/16] += l
		if best == int(y) {
			correct++
		}
		// Direct: -sum_j target_j log softmax_j.
		var se float64
		for _, v := range logits[i*10 : (i+1)*10] {
			se += math.Exp(float64(v))
		}
		direct := 0.0
		for j, v := range logits[i*10 : (i+1)*10] {
			tgt := float64(float32(0.2)) / 10
			if j == int(y) {
				tgt += 1 - float64(float32(0.2))
			}
			direct -= tgt * (float64(v) - math.Log(se))
		}
		if math.Abs(l-direct) > 1e-12 {
			t.Errorf("row %d: loss %v, direct %v", i, l, direct)
		}
	}
	if want := (chunks[0] + chunks[1]) / 20; sc.loss != want || sc.acc != float64(correct)/20 || correct != 10 {
		t.Errorf("loss %v acc %v, want %v and %v (%d right)", sc.loss, sc.acc, want, float64(correct)/20, correct)
	}
	// TTA of the live views: right where i%4 < 3 (see fake.Logits).
	sc, err = ev.evaluate(f, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if sc.ttaAcc != 15.0/20 {
		t.Errorf("TTA accuracy %v, want 0.75", sc.ttaAcc)
	}
}
