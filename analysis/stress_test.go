package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/stages"
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
	total := int(req.Config.Train.Epochs) * b.steps
	for e := 1; e <= int(req.Config.Train.Epochs); e++ {
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
// reported by the engine, a loss summed over the batch beyond fp16's range
// and a net that ends dead (loss exactly ln 10 for its last steps) all end
// the run as diverged in the right epoch with their cause; a finite run,
// and one whose loss sat at ln 10 but left it, are not diverged.
func TestStressRecordsDivergence(t *testing.T) {
	e := newSmokeEnv(t)
	cfg, err := e.reg.Resolve(7, "p7.e1.nobn", "smoke")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := stepBatches(cfg, e.set)
	if err != nil {
		t.Fatal(err)
	}
	steps, epochs := bs.perEpoch, int(stretchRamp(cfg, bs.perEpoch).Train.Epochs)
	total := steps * epochs
	// from returns a loss of v from step k on and 2.3 before.
	from := func(k int, v float64) func(int) float64 {
		return func(i int) float64 {
			if i >= k {
				return v
			}
			return 2.3
		}
	}
	// spikeThenDead is a blow-up at step k followed by death.
	spikeThenDead := func(k int) func(int) float64 {
		return func(i int) float64 {
			switch {
			case i < k:
				return 2.3
			case i == k:
				return 20.3
			}
			return float64(float32(math.Ln10))
		}
	}
	for _, c := range []struct {
		name      string
		be        *scriptedBackend
		diverged  bool
		epoch     int
		epochsRec int
		cause     string
	}{
		{"finite", &scriptedBackend{loss: from(1, 2.3)}, false, 0, epochs, ""},
		{"engine NaN", &scriptedBackend{loss: from(1, 2.3), diverged: 5}, true, 5, 4, CauseNaN},
		{"fp16 overflow", &scriptedBackend{loss: from(3*steps+2, 7e4)}, true, 4, 3, CauseOverflow},
		{"batch sum overflows", &scriptedBackend{loss: from(2*steps+1, 1.01*fp16Max/float64(bs.size))}, true, 3, 2, CauseOverflow},
		{"batch sum fits", &scriptedBackend{loss: from(2*steps+1, 0.99*fp16Max/float64(bs.size))}, false, 0, epochs, ""},
		{"inf", &scriptedBackend{loss: from(2, math.Inf(1))}, true, 1, 0, CauseNaN},
		{"died", &scriptedBackend{loss: from(2*steps+1, math.Ln10)}, true, 3, epochs, CauseDied},
		{"died in the last steps", &scriptedBackend{loss: spikeThenDead(total - stressDeadSteps)}, true, epochs, epochs, CauseDied},
		{"dead for one step only", &scriptedBackend{loss: spikeThenDead(total - 1)}, false, 0, epochs, ""},
		{"near ln 10 but alive", &scriptedBackend{loss: from(2*steps+1, math.Ln10+2*deadTol)}, false, 0, epochs, ""},
		{"recovered", &scriptedBackend{loss: func(k int) float64 { return map[bool]float64{true: math.Ln10, false: 2.2}[k <= total-steps] }}, false, 0, epochs, ""},
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
			if c.diverged != (out.DivergedWhy != "") {
				t.Errorf("diverged %v with error text %q", c.diverged, out.DivergedWhy)
			}
			m := e.storedStress(t, id)
			if m.Diverged != c.diverged || m.DivergedEpoch != c.epoch || len(m.Epochs) != c.epochsRec || m.Cause != c.cause {
				t.Errorf("stored %+v, want diverged %v at %d (%q) with %d epochs", m, c.diverged, c.epoch, c.cause, c.epochsRec)
			}
		})
	}
}

// TestStepBatches checks the batch size of every step, with and without
// a short last batch.
func TestStepBatches(t *testing.T) {
	for _, c := range []struct {
		n, bs int
		drop  bool
		want  batches
	}{
		{512, 128, false, batches{4, 128, 128}},
		{8000, 256, false, batches{32, 256, 64}},
		{8000, 256, true, batches{31, 256, 256}},
		{100, 512, false, batches{1, 100, 100}},
	} {
		var cfg stages.Config
		cfg.Train.BatchSize, cfg.Train.DropLast = c.bs, c.drop
		cfg.Data.TrainSize = c.n
		set, err := data.Synthetic(data.SyntheticOptions{Train: c.n, Test: 10, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := stepBatches(cfg, set)
		if err != nil || got != c.want {
			t.Errorf("%d images, batch %d, drop %v: %+v %v, want %+v", c.n, c.bs, c.drop, got, err, c.want)
			continue
		}
		for k := 1; k <= 2*got.perEpoch; k++ {
			e, n := got.of(k)
			wantN := got.size
			if k%got.perEpoch == 0 {
				wantN = got.last
			}
			if e != (k-1)/got.perEpoch+1 || n != wantN {
				t.Errorf("%+v: step %d in epoch %d with %d examples, want %d with %d", got, k, e, n, (k-1)/got.perEpoch+1, wantN)
			}
		}
	}
}

// storedStress reads the stress measurement of run id.
func (e *smokeEnv) storedStress(t *testing.T, id int64) StressResult {
	t.Helper()
	ms, err := e.db.MeasurementsByName(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var m StressResult
	if err := json.Unmarshal([]byte(ms["stress"]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
