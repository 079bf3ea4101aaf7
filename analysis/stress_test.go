package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"speedrun/backend"
)

// scriptedBackend is a test double that reports a scripted loss per step
// and stops when its context is cancelled, as the engines do.
type scriptedBackend struct {
	loss     func(k int) float64
	diverged int // report Diverged at this epoch (0: never)
	steps    int // per epoch
}

func (*scriptedBackend) Name() string   { return "scripted" }
func (*scriptedBackend) Device() string { return "test double" }
func (b *scriptedBackend) Train(ctx context.Context, req backend.Request) (backend.Result, error) {
	res := backend.Result{TTAAcc: math.NaN(), TestAcc: 0.5}
	total := req.Config.Train.Epochs * b.steps
	for e := 1; e <= req.Config.Train.Epochs; e++ {
		if e == b.diverged {
			res.Diverged, res.DivergedEpoch = true, e
			return res, nil
		}
		for i := range b.steps {
			k := (e-1)*b.steps + i + 1
			req.Observer.Step(k, total, b.loss(k))
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("scripted: epoch %d: %w", e, err)
			}
		}
		req.Observer.Epoch(backend.Epoch{Epoch: e, LR: float64(e), TrainAcc: 0.1, TrainLoss: b.loss(e * b.steps)})
	}
	return res, nil
}

// TestStressRecordsDivergence checks how E7.1 records a run: a NaN
// reported by the engine and a loss beyond fp16's range both end the run
// as diverged in the right epoch; a finite run is not diverged.
func TestStressRecordsDivergence(t *testing.T) {
	e := newSmokeEnv(t)
	cfg, err := e.reg.Resolve(7, "p7.e1.nobn", "smoke")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := stepsPerEpoch(cfg, e.set)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		be        *scriptedBackend
		diverged  bool
		epoch     int
		epochsRec int
	}{
		{"finite", &scriptedBackend{loss: func(int) float64 { return 2.3 }}, false, 0, 25},
		{"engine NaN", &scriptedBackend{loss: func(int) float64 { return 2.3 }, diverged: 5}, true, 5, 4},
		{"fp16 overflow", &scriptedBackend{loss: func(k int) float64 { return map[bool]float64{true: 7e4, false: 2.3}[k >= 3*steps+2] }}, true, 4, 3},
		{"inf", &scriptedBackend{loss: func(k int) float64 { return map[bool]float64{true: math.Inf(1), false: 2.3}[k >= 2] }}, true, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.be.steps = steps
			cfg := cfg
			cfg.Variant += " " + c.name
			id := e.claim(t, cfg)
			out, err := Run(context.Background(), Request{Config: cfg, Data: e.set, Seed: 1, Backend: c.be, DB: e.db, RunID: id})
			if err != nil {
				t.Fatal(err)
			}
			if out.Diverged != c.diverged || out.DivergedEpoch != c.epoch {
				t.Errorf("diverged %v at %d, want %v at %d", out.Diverged, out.DivergedEpoch, c.diverged, c.epoch)
			}
			if c.diverged != math.IsNaN(out.Accuracy) {
				t.Errorf("accuracy %g with diverged %v", out.Accuracy, out.Diverged)
			}
			ms, err := stored(context.Background(), e.db, id)
			if err != nil {
				t.Fatal(err)
			}
			var m stressResult
			if err := json.Unmarshal([]byte(ms["stress"]), &m); err != nil {
				t.Fatal(err)
			}
			if m.Diverged != c.diverged || m.DivergedEpoch != c.epoch || len(m.Epochs) != c.epochsRec {
				t.Errorf("stored %+v, want diverged %v at %d with %d epochs", m, c.diverged, c.epoch, c.epochsRec)
			}
		})
	}
}
