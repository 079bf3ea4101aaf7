package analysis

import (
	"context"
	"fmt"
	"math"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// stressEpoch is one epoch of the E7.1 LR stress test.
type stressEpoch struct {
	Epoch     int       `json:"epoch"`
	LR        jsonFloat `json:"lr"`
	TrainAcc  jsonFloat `json:"train_acc"`
	TrainLoss jsonFloat `json:"train_loss"`
}

// stressResult is the "stress" measurement of an E7.1 run.
type stressResult struct {
	BN            string        `json:"bn"` // net.bn: "bn" or "none"
	Epochs        []stressEpoch `json:"epochs"`
	Diverged      bool          `json:"diverged"`
	DivergedEpoch int           `json:"diverged_epoch,omitempty"`
	// DivergedLR is lambda at the end of the epoch that diverged.
	DivergedLR jsonFloat `json:"diverged_lr,omitempty"`
}

// recorder passes everything on to an Observer, keeps the epochs and
// stops the run (through cancel) at the first step whose loss is not
// finite or exceeds fp16's largest value: the blog ran E7.1 in fp16, where
// logits that large overflow to Inf and the loss becomes NaN, while our
// fp32 engine would carry on with a finite but meaningless loss (and the
// blown-up net then often dies at chance level instead of reaching NaN).
type recorder struct {
	backend.Observer
	epochs   []backend.Epoch
	perEpoch int // steps per epoch
	cancel   context.CancelFunc
	overflow int // the epoch of the overflowing step, 0 = none
}

// fp16Max is the largest finite IEEE half-precision value.
const fp16Max = 65504

func (r *recorder) Epoch(e backend.Epoch) {
	r.epochs = append(r.epochs, e)
	r.Observer.Epoch(e)
}

func (r *recorder) Step(k, total int, loss float64) {
	r.Observer.Step(k, total, loss)
	if r.overflow == 0 && !(math.Abs(loss) <= fp16Max) {
		r.overflow = (k-1)/max(r.perEpoch, 1) + 1
		r.cancel()
	}
}

// runStress is E7.1: one training run whose LR rises every epoch; the
// run stops at the first non-finite or fp16-overflowing loss and is
// recorded as diverged in that epoch.
func runStress(ctx context.Context, req Request) (Outcome, error) {
	if req.Backend == nil {
		return none(), fmt.Errorf("lr_stress needs a backend")
	}
	cfg := trainConfig(req.Config)
	steps, err := stepsPerEpoch(cfg, req.Data)
	if err != nil {
		return none(), err
	}
	cfg = stretchRamp(cfg, steps)
	spec, err := model.Build(cfg.Net)
	if err != nil {
		return none(), err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec := &recorder{Observer: req.Observer, perEpoch: steps, cancel: cancel}
	res, err := req.Backend.Train(runCtx, backend.Request{Config: cfg, Spec: spec, Data: req.Data, Seed: req.Seed, Observer: rec})
	if err != nil && (rec.overflow == 0 || ctx.Err() != nil) {
		return none(), err
	}
	if rec.overflow > 0 && !res.Diverged {
		res.Diverged, res.DivergedEpoch = true, rec.overflow
	}
	bn := cfg.Net.BN
	if bn == "" {
		bn = "bn"
	}
	m := stressResult{BN: bn, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch}
	for _, e := range rec.epochs {
		m.Epochs = append(m.Epochs, stressEpoch{Epoch: e.Epoch, LR: jsonFloat(e.LR), TrainAcc: jsonFloat(e.TrainAcc), TrainLoss: jsonFloat(e.TrainLoss)})
	}
	if res.Diverged {
		m.DivergedLR = jsonFloat(stages.InterpLR(cfg.Train.LR, float64(res.DivergedEpoch)))
	}
	if err := put(ctx, req, "stress", m); err != nil {
		return none(), err
	}
	out := Outcome{Accuracy: res.TestAcc, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch, Train: &res}
	if res.Diverged {
		out.Accuracy = math.NaN()
	}
	return out, nil
}

// stepsPerEpoch is the number of training batches per epoch of cfg on ds.
func stepsPerEpoch(cfg stages.Config, ds *data.Set) (int, error) {
	n := ds.Train.Len()
	if t := cfg.Data.TrainSize; t > 0 && t < n {
		n = t
	}
	bs := cfg.Train.BatchSize
	if bs <= 0 {
		return 0, fmt.Errorf("train.batch_size %d: want > 0", bs)
	}
	if cfg.Train.DropLast {
		return max(n/bs, 1), nil
	}
	return (n + bs - 1) / bs, nil
}

// stressMinSteps is the fewest training steps E7.1 runs. A profile that
// cuts the 25 epochs to a few (smoke: 2 epochs of 4 steps) leaves too few
// steps at each LR for anything to happen, so a short ramp is stretched
// (same knots, same lambdas, epochs scaled) to at least this many steps,
// and never beyond the blog's 25 epochs. Measured on the smoke data and
// width, even 25 epochs do not make the no-BN net overflow reliably: in
// 3 of 5 seeds it does, in the others it collapses to chance level (dead
// ReLUs) with a finite loss. The BN net never overflowed.
const stressMinSteps = 100

// stressMaxEpochs is the blog's ramp length (one epoch per knot).
const stressMaxEpochs = 25

// stretchRamp lengthens a ramp of fewer than stressMinSteps steps (at
// steps per epoch) to that many, capped at stressMaxEpochs epochs,
// keeping its shape: every knot's epoch is scaled, lambdas are unchanged.
func stretchRamp(cfg stages.Config, steps int) stages.Config {
	e := cfg.Train.Epochs
	want := min(stressMaxEpochs, (stressMinSteps+steps-1)/max(steps, 1))
	if e <= 0 || e >= want {
		return cfg
	}
	f := float64(want) / float64(e)
	knots := make([]stages.Knot, len(cfg.Train.LR))
	for i, k := range cfg.Train.LR {
		knots[i] = stages.Knot{Epoch: k.Epoch * f, LR: k.LR}
	}
	cfg.Train.LR, cfg.Train.Epochs = knots, want
	return cfg
}
