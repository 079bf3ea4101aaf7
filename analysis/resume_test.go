package analysis

import (
	"context"
	"hash/fnv"
	"math"
	"testing"

	"speedrun/backend"
)

// countingBackend is a test double that trains nothing: it counts calls
// and reports an accuracy made from the config hash.
type countingBackend struct{ calls int }

func (*countingBackend) Name() string   { return "counting" }
func (*countingBackend) Device() string { return "test double" }
func (b *countingBackend) Train(_ context.Context, req backend.Request) (backend.Result, error) {
	b.calls++
	h := fnv.New32a()
	h.Write([]byte(req.Config.Hash()))
	return backend.Result{TestAcc: float64(h.Sum32()%1000) / 1000, TTAAcc: math.NaN()}, nil
}

// TestCellsResume runs the E5.1 and E5.2 cells twice on the same run: the
// second pass reads every stored point back and trains nothing.
func TestCellsResume(t *testing.T) {
	e := newSmokeEnv(t)
	for _, v := range []string{"p5.e1.momentum", "p5.e2"} {
		cfg, err := e.reg.Resolve(5, v, "quick")
		if err != nil {
			t.Fatal(err)
		}
		id := e.claim(t, cfg)
		be := &countingBackend{}
		req := Request{Config: cfg, Data: e.set, Seed: 1, Backend: be, DB: e.db, RunID: id}
		first, err := Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		n := be.calls
		if n == 0 {
			t.Fatalf("%s: nothing trained", v)
		}
		second, err := Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if be.calls != n {
			t.Errorf("%s: the second pass trained %d more times", v, be.calls-n)
		}
		if first.Accuracy != second.Accuracy {
			t.Errorf("%s: headline %g then %g", v, first.Accuracy, second.Accuracy)
		}
	}
}

// layerBackend is a test double that reports one per-layer statistic per
// epoch and keeps every request.
type layerBackend struct{ reqs []backend.Request }

func (*layerBackend) Name() string   { return "layers" }
func (*layerBackend) Device() string { return "test double" }
func (b *layerBackend) Train(_ context.Context, req backend.Request) (backend.Result, error) {
	b.reqs = append(b.reqs, req)
	for e := 1; e <= int(req.Config.Train.Epochs); e++ {
		req.Observer.Layers([]backend.LayerStat{{Step: e, Epoch: float64(e), Layer: "conv.weight", WeightNorm: 1, GradNorm: 2, Update: 0.1}})
		req.Observer.Epoch(backend.Epoch{Epoch: e})
	}
	return backend.Result{TestAcc: 0.5, TTAAcc: math.NaN(), TrainSeconds: 1.5}, nil
}

// E6.1 is one training run: its result, times included, is the cell's.
func TestNormsReportsItsRun(t *testing.T) {
	e := newSmokeEnv(t)
	cfg, err := e.reg.Resolve(6, "p6.e1", "smoke")
	if err != nil {
		t.Fatal(err)
	}
	be := &layerBackend{}
	out, err := Run(context.Background(), Request{Config: cfg, Data: e.set, Seed: 1, Backend: be, DB: e.db, RunID: e.claim(t, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if len(be.reqs) != 1 || out.Accuracy != 0.5 || out.Train == nil || out.Train.TrainSeconds != 1.5 {
		t.Errorf("%d trainings, outcome %+v", len(be.reqs), out)
	}
}

// E6.3's runs train through the request's backend as plain training
// configs that ask for per-layer statistics (and the init scale), and
// their statistics are stored under each sub-run's prefix.
func TestEquilibriumTrainsThroughBackend(t *testing.T) {
	e := newSmokeEnv(t)
	cfg, err := e.reg.Resolve(6, "p6.e3", "smoke")
	if err != nil {
		t.Fatal(err)
	}
	id := e.claim(t, cfg)
	be := &layerBackend{}
	out, err := Run(context.Background(), Request{Config: cfg, Data: e.set, Seed: 1, Backend: be, DB: e.db, RunID: id})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Analysis
	if len(be.reqs) != len(a.AxisGrid)+len(a.InitScales) || out.Accuracy != 0.5 {
		t.Fatalf("%d trainings (want %d), accuracy %v", len(be.reqs), len(a.AxisGrid)+len(a.InitScales), out.Accuracy)
	}
	for i, r := range be.reqs {
		ra := r.Config.Analysis
		wantScale := 0.0
		if i >= len(a.AxisGrid) {
			wantScale = a.InitScales[i-len(a.AxisGrid)]
		}
		if r.Config.Kind != "train" || ra == nil || ra.LogEvery < 1 || ra.InitScale != wantScale {
			t.Errorf("training %d: kind %q, analysis %+v; want train with log_every and init_scale %g", i, r.Config.Kind, ra, wantScale)
		}
	}
	rows, err := e.db.LayerStats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(be.reqs) * int(cfg.Train.Epochs); len(rows) != want {
		t.Fatalf("%d layer_stats rows, want %d", len(rows), want)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Layer] = true
	}
	for _, p := range []string{"wd=0.002/conv.weight", "init=4/conv.weight"} {
		if !seen[p] {
			t.Errorf("no layer_stats rows for %s (have %v)", p, seen)
		}
	}
}
