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

// StressEpoch is one epoch of the E7.1 LR stress test.
type StressEpoch struct {
	Epoch     int       `json:"epoch"`
	LR        JSONFloat `json:"lr"`
	TrainAcc  JSONFloat `json:"train_acc"`
	TrainLoss JSONFloat `json:"train_loss"`
}

// StressResult is the "stress" measurement of an E7.1 run.
type StressResult struct {
	BN            string        `json:"bn"` // net.bn: "bn" or "none"
	Epochs        []StressEpoch `json:"epochs"`
	Diverged      bool          `json:"diverged"`
	DivergedEpoch int           `json:"diverged_epoch,omitempty"`
	// DivergedLR is lambda at the end of the epoch that diverged.
	DivergedLR JSONFloat `json:"diverged_lr,omitempty"`
	// Cause says how the run diverged: CauseNaN, CauseOverflow or
	// CauseDied.
	Cause string `json:"cause,omitempty"`
}

// How an E7.1 run diverges. The blog stopped at the first NaN of its fp16
// run. Our fp32 engine meets the same blow-up in one of three ways:
//   - CauseNaN: the loss was NaN or Inf;
//   - CauseOverflow: the loss summed over the batch passed fp16's range,
//     which is where the blog's fp16 backward turned to Inf and NaN;
//   - CauseDied: a huge step left every ReLU of some layer dead, so the
//     logits are exactly zero (the nets have no biases), the loss is
//     exactly ln 10 and no gradient flows; the run ends that way. At
//     narrow widths (smoke's 4-32 channels) this comes before any
//     overflow in about half of the seeds. Its train accuracy falls to
//     chance at that lambda, as the blog's chart shows for the no-BN net.
const (
	CauseNaN      = "nan"
	CauseOverflow = "fp16 overflow"
	CauseDied     = "died"
)

// deadTol is how close to ln 10 a step's loss must be for a dead net: its
// logits are exactly zero, so its loss is ln 10 to float32 rounding
// (2.3025851), while a live net's loss moves by far more than this from
// step to step.
const deadTol = 1e-5

// stressDeadSteps is how many final steps must all be dead for a run to
// count as died; death is absorbing (no gradient flows, weight decay only
// shrinks the weights), so two is already beyond chance.
const stressDeadSteps = 2

// recorder passes everything on to an Observer, keeps the epochs and
// stops the run (through cancel) at the first step whose loss summed over
// the batch is not finite or exceeds fp16's largest value. The blog ran
// E7.1 in fp16 and backpropagated loss.sum() (blog-stages.md §0), so a
// batch sum above 65504 was Inf there and the weights NaN after that
// step; our fp32 engine would carry on with a finite but meaningless loss.
// It also tracks the trailing run of dead steps (loss exactly ln 10).
type recorder struct {
	backend.Observer
	epochs   []backend.Epoch
	batches  batches
	cancel   context.CancelFunc
	overflow int    // the epoch of the overflowing step, 0 = none
	why      string // its cause: CauseNaN or CauseOverflow
	last     int    // the last step seen
	deadFrom int    // the first step of the trailing dead run, 0 = none
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
	r.last = k
	switch {
	case math.Abs(loss-math.Ln10) >= deadTol:
		r.deadFrom = 0
	case r.deadFrom == 0:
		r.deadFrom = k
	}
	epoch, n := r.batches.of(k)
	if r.overflow == 0 && !(math.Abs(loss*float64(n)) <= fp16Max) {
		r.overflow, r.why = epoch, CauseOverflow
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			r.why = CauseNaN
		}
		r.cancel()
	}
}

// died returns the epoch in which the net died for good (0: it did not).
func (r *recorder) died() int {
	if r.deadFrom == 0 || r.last-r.deadFrom+1 < stressDeadSteps {
		return 0
	}
	e, _ := r.batches.of(r.deadFrom)
	return e
}

// runStress is E7.1: one training run whose LR rises every epoch; the
// run stops at the first non-finite or fp16-overflowing loss and is
// recorded as diverged in that epoch, and a run that ends dead is
// recorded as diverged in the epoch it died.
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
	cause := ""
	switch {
	case res.Diverged:
		cause = CauseNaN
	case rec.overflow > 0:
		res.Diverged, res.DivergedEpoch, cause = true, rec.overflow, rec.why
	case rec.died() > 0:
		res.Diverged, res.DivergedEpoch, cause = true, rec.died(), CauseDied
	}
	bn := cfg.Net.BN
	if bn == "" {
		bn = "bn"
	}
	m := StressResult{BN: bn, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch, Cause: cause}
	for _, e := range rec.epochs {
		m.Epochs = append(m.Epochs, StressEpoch{Epoch: e.Epoch, LR: JSONFloat(e.LR), TrainAcc: JSONFloat(e.TrainAcc), TrainLoss: JSONFloat(e.TrainLoss)})
	}
	if res.Diverged {
		m.DivergedLR = JSONFloat(stages.InterpLR(cfg.Train.LR, float64(res.DivergedEpoch)))
		res.DivergedWhy = stressWhy(m)
	}
	if err := put(ctx, req, "stress", m); err != nil {
		return none(), err
	}
	out := Outcome{Accuracy: res.TestAcc, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch, DivergedWhy: res.DivergedWhy, Train: &res}
	if res.Diverged {
		out.Accuracy = math.NaN()
	}
	return out, nil
}

// stressWhy is the run's error text for a diverged E7.1 run.
func stressWhy(m StressResult) string {
	lr := float64(m.DivergedLR)
	switch m.Cause {
	case CauseOverflow:
		return fmt.Sprintf("the loss summed over the batch passed fp16's range (%d) in epoch %d, lambda %.3g", fp16Max, m.DivergedEpoch, lr)
	case CauseDied:
		return fmt.Sprintf("the net died in epoch %d, lambda %.3g: every ReLU of a layer dead, the loss exactly ln 10 to the end", m.DivergedEpoch, lr)
	}
	return fmt.Sprintf("the loss became NaN or Inf in epoch %d, lambda %.3g", m.DivergedEpoch, lr)
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

// stressMinSteps is the fewest training steps E7.1 runs. A profile that
// cuts the blog's 25 epochs to a few (smoke: 2 epochs of 4 steps) leaves
// too few steps at each LR for anything to happen, so a short ramp is
// stretched (same knots, same lambdas, epochs scaled) to at least this
// many steps, and never beyond the blog's 25 epochs.
//
// Measured at smoke scale (width 0.0625, 20 seeds on each of two
// synthetic sets: the runner's and the tests'), counting overflow and
// death as divergence: the no-BN net diverged in 9+19 of 40 runs at 28
// steps, 18+17 at 40, 20+18 at 52, 18+20 at 64 and 18+20 at 80. The few
// others end alive at chance (loss within 0.001 of ln 10: nearly every
// ReLU dead, not all). The BN net survived all of them. 50 is the cheapest
// of the good lengths. (Before death counted, overflow alone was 14/20 at
// 25 steps and fell with length as more nets died first: 4/12 at 100.)
const stressMinSteps = 50

// stressMaxEpochs is the blog's ramp length (one epoch per knot).
const stressMaxEpochs = 25

// stretchRamp lengthens a ramp of fewer than stressMinSteps steps (at
// steps per epoch) to that many, capped at stressMaxEpochs epochs,
// keeping its shape: every knot's epoch is scaled, lambdas are unchanged.
func stretchRamp(cfg stages.Config, steps int) stages.Config {
	e := cfg.Train.Epochs
	want := float64(min(stressMaxEpochs, (stressMinSteps+steps-1)/max(steps, 1)))
	if e <= 0 || e >= want {
		return cfg
	}
	f := want / e
	knots := make([]stages.Knot, len(cfg.Train.LR))
	for i, k := range cfg.Train.LR {
		knots[i] = stages.Knot{Epoch: k.Epoch * f, LR: k.LR}
	}
	cfg.Train.LR, cfg.Train.Epochs = knots, want
	return cfg
}
