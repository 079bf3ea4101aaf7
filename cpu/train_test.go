package cpu

import (
	"context"
	"errors"
	"math"
	"testing"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

type recorder struct {
	backend.NopObserver
	epochs []backend.Epoch
	losses []float64
}

func (r *recorder) Step(k, total int, loss float64) { r.losses = append(r.losses, loss) }
func (r *recorder) Epoch(e backend.Epoch)           { r.epochs = append(r.epochs, e) }

func smokeConfig() stages.Config {
	return stages.Config{
		Net: testNet("resnet9", 1.0/16),
		Train: stages.Train{Epochs: 4, BatchSize: 64, LR: []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 1, LR: 0.4}, {Epoch: 4, LR: 0}},
			Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, BNBiasLRMul: 1, BNBiasWDDiv: 1, Optimizer: "sgd",
			Schedule: "fractional", EvalEvery: 2, TTA: true, DropLast: false},
		Data: stages.Data{Crop: true, Flip: true},
	}
}

func trainOnce(t *testing.T, cfg stages.Config, seed uint64) (backend.Result, *recorder) {
	t.Helper()
	set, err := data.Synthetic(data.SyntheticOptions{Train: 1000, Test: 500, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := model.Build(cfg.Net)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	res, err := b.Train(context.Background(), backend.Request{Config: cfg, Spec: spec, Data: set, Seed: seed, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

// TestTrainLearns is a real (small) training run: ResNet-9 at width 1/16
// on the synthetic set must beat chance by far.
func TestTrainLearns(t *testing.T) {
	res, rec := trainOnce(t, smokeConfig(), 1)
	for _, e := range rec.epochs {
		t.Logf("epoch %d lr %.3f train loss %.3f acc %.3f test loss %.3f acc %.3f", e.Epoch, e.LR, e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc)
	}
	t.Logf("result: test acc %.3f tta %.3f loss %.3f, train %.2fs eval %.2fs prep %.2fs rss %d MiB", res.TestAcc, res.TTAAcc, res.TestLoss, res.TrainSeconds, res.EvalSeconds, res.PreprocessSeconds, res.PeakRSSBytes>>20)
	if len(rec.epochs) != 4 {
		t.Fatalf("%d epochs reported, want 4", len(rec.epochs))
	}
	first, last := rec.epochs[0], rec.epochs[3]
	if !(last.TrainLoss < first.TrainLoss*0.85) {
		t.Errorf("train loss %.3f -> %.3f: did not fall", first.TrainLoss, last.TrainLoss)
	}
	// The synthetic set is built not to be easy (blends, noise); 4 epochs
	// of 1000 images at width 1/16 reach about 0.38.
	if res.TestAcc < 0.25 {
		t.Errorf("test accuracy %.3f, want well above chance (0.1), at least 0.25", res.TestAcc)
	}
}

// TestTrainDeterministic trains twice with one seed: every step's loss
// must be bit-identical.
func TestTrainDeterministic(t *testing.T) {
	cfg := smokeConfig()
	cfg.Train.Epochs = 1
	cfg.Train.EMAMomentum, cfg.Train.EMAEvery = 0.99, 2
	cfg.Data.Cutout = 8
	cfg.Data.TrainSize, cfg.Data.TestSize = 256, 100 // also exercises Subset
	_, a := trainOnce(t, cfg, 42)
	_, b := trainOnce(t, cfg, 42)
	if len(a.losses) == 0 || len(a.losses) != len(b.losses) {
		t.Fatalf("%d and %d steps", len(a.losses), len(b.losses))
	}
	for i := range a.losses {
		if a.losses[i] != b.losses[i] {
			t.Fatalf("step %d: loss %v then %v with the same seed", i+1, a.losses[i], b.losses[i])
		}
	}
	_, c := trainOnce(t, cfg, 43)
	if c.losses[len(c.losses)-1] == a.losses[len(a.losses)-1] {
		t.Errorf("seeds 42 and 43 gave the same last loss %v", a.losses[len(a.losses)-1])
	}
}

type layerRecorder struct {
	recorder
	stats []backend.LayerStat
}

func (r *layerRecorder) Layers(s []backend.LayerStat) { r.stats = append(r.stats, s...) }

// TestTrainFinalNet runs the post-8 recipe end to end on a small set:
// whitening, ghost BN (with a short last batch), CELU, frozen BN scales
// with a BN-bias group, label smoothing, EMA, TTA and per-layer stats.
func TestTrainFinalNet(t *testing.T) {
	cfg := smokeConfig()
	n := &cfg.Net
	n.Name, n.BN, n.GhostBatch, n.FreezeBNScale = "final", "ghost", 16, true
	n.Act, n.CELUAlpha, n.Order, n.ClassifierScale = "celu", 0.3, "conv-pool-bn-act", 1.0/16
	n.Whiten, n.WhitenEps, n.WhitenImages = true, 1e-2, 200
	cfg.Train.Epochs, cfg.Train.LabelSmoothing = 2, 0.2
	cfg.Train.BNBiasLRMul, cfg.Train.BNBiasWDDiv = 64, 64
	cfg.Train.EMAMomentum, cfg.Train.EMAEvery = 0.99, 5
	cfg.Train.LR = []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 1, LR: 1}, {Epoch: 2, LR: 0.1}}
	cfg.Data.TrainSize, cfg.Data.TestSize = 296, 100 // 296 = 4*64 + 40: the last batch has 4 ghost batches of 10
	cfg.Analysis = &stages.Analysis{LogEvery: 3}

	set, err := data.Synthetic(data.SyntheticOptions{Train: 1000, Test: 500, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := model.Build(cfg.Net)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(Options{})
	rec := &layerRecorder{}
	res, err := b.Train(context.Background(), backend.Request{Config: cfg, Spec: spec, Data: set, Seed: 5, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diverged || math.IsNaN(res.TestLoss) || math.IsNaN(res.TTAAcc) || len(res.Epochs) != 2 {
		t.Fatalf("result %+v", res)
	}
	if len(rec.losses) != 10 {
		t.Errorf("%d steps, want 2 epochs x 5", len(rec.losses))
	}
	// 10 steps, logged every 3rd from the first (steps 0, 3, 6, 9): 4 logs
	// of the 9 trainable conv/linear weights. Step 0 runs at LR 0.
	if len(rec.stats) != 4*9 || rec.stats[0].Step != 0 || rec.stats[35].Step != 9 {
		t.Errorf("%d layer stats, want 36 at steps 0 to 9", len(rec.stats))
	}
	for _, s := range rec.stats {
		if !(s.WeightNorm > 0 && s.GradNorm > 0 && (s.Update > 0) == (s.Step > 0)) {
			t.Errorf("layer stat %+v: want positive norms and an update after step 0", s)
		}
	}
}

func TestTrainDivergesAndCancels(t *testing.T) {
	set, err := data.Synthetic(data.SyntheticOptions{Train: 256, Test: 64, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := smokeConfig()
	cfg.Train.LR = []stages.Knot{{Epoch: 0, LR: 1e8}}
	cfg.Train.Epochs = 3
	spec, _ := model.Build(cfg.Net)
	b, _ := New(Options{})
	res, err := b.Train(context.Background(), backend.Request{Config: cfg, Spec: spec, Data: set, Seed: 1})
	if err != nil {
		t.Fatalf("diverging run: error %v, want a nil error", err)
	}
	if !res.Diverged || res.DivergedEpoch < 1 {
		t.Errorf("LR 1e8: Diverged %v at epoch %d, want a divergence", res.Diverged, res.DivergedEpoch)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg = smokeConfig()
	_, err = b.Train(ctx, backend.Request{Config: cfg, Spec: spec, Data: set, Seed: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: error %v, want context.Canceled", err)
	}
}
