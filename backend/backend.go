// Package backend is the seam between the runner and the training engines:
// the runner hands a resolved config, a network spec and a dataset to a
// Backend and hears back only through an Observer.
package backend

import (
	"context"
	"errors"
	"fmt"

	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// Backend trains one run. Implementations own buffers, kernels and threads.
type Backend interface {
	// Name is "cpu" or "cuda".
	Name() string
	// Device describes the hardware, e.g. the CPU or GPU model name.
	Device() string
	// Train runs cfg on ds with the given seed. Everything the result
	// depends on is cfg, spec, ds and seed. It returns ctx.Err() (wrapped)
	// when cancelled, and a Result with Diverged set (and a nil error) when
	// the loss becomes NaN or Inf.
	Train(ctx context.Context, req Request) (Result, error)
}

// Request is one training run.
type Request struct {
	Config   stages.Config
	Spec     *model.Spec
	Data     *data.Set
	Seed     uint64
	Observer Observer
	// Keep, when set, receives a copy of the live parameters (Spec order,
	// PyTorch layouts) after the last epoch of a run that did not
	// diverge: post 7's E7.5 keeps its partly trained models for the
	// analyses that follow.
	Keep func(params [][]float32) error
}

// Epoch is the per-epoch record of a run.
type Epoch struct {
	Epoch     int     // 1-based
	LR        float64 // lambda at the end of the epoch
	TrainLoss float64 // mean per-example training loss over the epoch
	TrainAcc  float64 // fraction correct on the augmented training batches
	TestLoss  float64 // NaN when not evaluated this epoch
	TestAcc   float64 // NaN when not evaluated this epoch
	Elapsed   float64 // seconds of training since the start (preprocessing excluded)
}

// LayerStat is one per-layer measurement for the post-6 experiments.
type LayerStat struct {
	Step       int     // 0-based: steps 0, log_every, 2 log_every, ...
	Epoch      float64 // the step's position in epochs (stages.StepEpoch)
	Layer      string
	WeightNorm float64 // |w|
	GradNorm   float64 // |g|
	Update     float64 // |dw| / |w|
}

// Observer receives everything a run reports while it trains. Calls come
// from the training goroutine; implementations must be quick.
type Observer interface {
	// Step reports progress within the run: step k of total.
	Step(k, total int, loss float64)
	// Epoch reports one finished epoch.
	Epoch(e Epoch)
	// Layers reports per-layer statistics (only when the config asks).
	Layers(stats []LayerStat)
}

// Result is a finished run.
type Result struct {
	PreprocessSeconds float64 // normalise, pad, whitening, transfers
	TrainSeconds      float64 // training steps only
	EvalSeconds       float64 // per-epoch and final evaluation
	TestAcc           float64 // final test accuracy (EMA model when EMA is on)
	TTAAcc            float64 // final test accuracy with flip TTA (NaN when off)
	TestLoss          float64
	Diverged          bool
	DivergedEpoch     int
	// DivergedWhy says how the run diverged, for its error text; empty
	// means the loss became NaN or Inf.
	DivergedWhy  string
	Epochs       []Epoch
	PeakRSSBytes int64
	// Precision is the number format the engine trained in: "f32" or
	// "bf16".
	Precision string
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Step(int, int, float64) {}
func (NopObserver) Epoch(Epoch)            {}
func (NopObserver) Layers([]LayerStat)     {}

// Validate checks what every engine needs of a request before it starts.
func (r Request) Validate() error {
	if r.Spec == nil || r.Data == nil {
		return errors.New("request needs a spec and a dataset")
	}
	if t := r.Config.Train; t.Epochs <= 0 || t.BatchSize <= 0 {
		return fmt.Errorf("epochs %v and batch_size %d must be > 0", t.Epochs, t.BatchSize)
	}
	return nil
}
