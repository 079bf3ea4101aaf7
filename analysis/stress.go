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
	// Collapsed says the run did not diverge but died: from
	// CollapsedEpoch to the end every epoch's train loss is ln 10 (all
	// logits equal: every ReLU of some layer is dead, so no gradient
	// flows). That is a failure of a different kind, recorded apart from
	// divergence.
	Collapsed      bool `json:"collapsed,omitempty"`
	CollapsedEpoch int  `json:"collapsed_epoch,omitempty"`
}

// collapseTol is how close to ln 10 an epoch's mean train loss must be to
// count as collapsed. A dead net's logits are exactly zero (no biases), so
// its loss is ln 10 to float32 rounding; a live net is never this close
// for a whole epoch.
const collapseTol = 1e-4

// collapse returns the first epoch from which every epoch's train loss is
// ln 10 (0: none, or the run diverged).
func collapse(epochs []stressEpoch) int {
	first := 0
	for _, e := range epochs {
		if math.Abs(float64(e.TrainLoss)-math.Ln10) < collapseTol {
			if first == 0 {
				first = e.Epoch
			}
		} else {
			first = 0
		}
	}
	return first
}

// recorder passes everything on to an Observer, keeps the epochs and
// stops the run (through cancel) at the first step whose loss summed over
// the batch is not finite or exceeds fp16's largest value. The blog ran
// E7.1 in fp16 and backpropagated loss.sum() (blog-stages.md §0), so a
// batch sum above 65504 was Inf there and the weights NaN after that
// step; our fp32 engine would carry on with a finite but meaningless loss
// (and the blown-up net then often dies at chance level instead).
type recorder struct {
	backend.Observer
	epochs   []backend.Epoch
	batches  batches
	cancel   context.CancelFunc
	overflow int // the epoch of the overflowing step, 0 = none
}

// batches says how many examples each training step of a run has.
type batches struct {
	perEpoch   int // steps per epoch
	size, last int // examples per step; in the epoch's last step
}

// of returns the epoch (from 1) and batch size of step k (from 1).
func (b batches) of(k int) (epoch, n int) {
	per := max(b.perEpoch, 1)
	epoch, i := (k-1)/per+1, (k-1)%per
	if i == per-1 {
		return epoch, b.last
	}
	return epoch, b.size
}

// fp16Max is the largest finite IEEE half-precision value.
const fp16Max = 65504

func (r *recorder) Epoch(e backend.Epoch) {
	r.epochs = append(r.epochs, e)
	r.Observer.Epoch(e)
}

// Step gets the step's mean loss per example.
func (r *recorder) Step(k, total int, loss float64) {
	r.Observer.Step(k, total, loss)
	epoch, n := r.batches.of(k)
	if r.overflow == 0 && !(math.Abs(loss*float64(n)) <= fp16Max) {
		r.overflow = epoch
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
	bs, err := stepBatches(cfg, req.Data)
	if err != nil {
		return none(), err
	}
	cfg = stretchRamp(cfg, bs.perEpoch)
	spec, err := model.Build(cfg.Net)
	if err != nil {
		return none(), err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec := &recorder{Observer: req.Observer, batches: bs, cancel: cancel}
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
	} else if e := collapse(m.Epochs); e > 0 {
		m.Collapsed, m.CollapsedEpoch = true, e
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
	b, err := stepBatches(cfg, ds)
	return b.perEpoch, err
}

// stepBatches is how cfg's loader splits an epoch of ds into batches.
func stepBatches(cfg stages.Config, ds *data.Set) (batches, error) {
	n := ds.Train.Len()
	if t := cfg.Data.TrainSize; t > 0 && t < n {
		n = t
	}
	bs := cfg.Train.BatchSize
	if bs <= 0 {
		return batches{}, fmt.Errorf("train.batch_size %d: want > 0", bs)
	}
	if cfg.Train.DropLast || n <= bs {
		return batches{perEpoch: max(n/bs, 1), size: min(bs, n), last: min(bs, n)}, nil
	}
	per := (n + bs - 1) / bs
	return batches{perEpoch: per, size: bs, last: n - (per-1)*bs}, nil
}

// stressMinSteps is the fewest training steps E7.1 runs: one per knot of
// the blog's 25-epoch ramp. A profile that cuts the 25 epochs to a few
// (smoke: 2 epochs of 4 steps) leaves too few steps at each LR for
// anything to happen, so a short ramp is stretched (same knots, same
// lambdas, epochs scaled) to at least this many steps, and never beyond
// the blog's 25 epochs. Measured at smoke scale (synthetic data, width
// 0.0625, 20 seeds each, fp16 overflow of the batch loss sum or of a
// gradient element): the no-BN net overflowed in 2/20 runs at 12 steps,
// 8/20 at 20, 14/20 at 25, 9/20 at 32 and 40, 12/20 at 50, 4/12 at 100 and
// 0/6 at 200; in the other runs every ReLU of some layer died at lambda
// 0.3-30 (the loss stays at ln 10) before anything overflowed. That is the
// width: at quick's width (0.25) on the same data it overflowed in 9/10
// runs at 25 steps. The BN net survived every ramp (0/20 at 12-50 steps).
const stressMinSteps = 25

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
