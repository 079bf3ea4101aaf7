package train

import (
	"context"

	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// Engine is one model on one device, as Run drives it. It holds the data,
// the live state (parameters, BN running stats, momentum), an average of
// that state (the EMA) and the kernels; Run decides everything else. Every
// call comes from the goroutine that called Run.
type Engine interface {
	// Load puts the run's data on the device: both splits normalised by
	// the training split's channel statistics, the training images padded
	// by Setup.Pad (reflect). Run times it as preprocessing.
	Load(set *data.Set) error
	// Whitening returns data.WhiteningFiltersK's filters (3k² of them,
	// 3 x k x k each) of the first n loaded training images' k x k patches,
	// with eigenvalue floor eps.
	Whitening(n, k int, eps float64) ([]float32, error)
	// Start sets the initial state: params (Spec order, PyTorch layouts),
	// the running stats at their initial values, zero momentum, and the
	// average equal to the live state. Untimed: an engine may warm up here
	// (compile graphs, pick algorithms) as long as it leaves that state.
	Start(params [][]float32) error
	// Epoch hands over one epoch's order and augmentation choices. The
	// plan is valid until the next call of Epoch.
	Epoch(ctx context.Context, plan *data.EpochPlan) error
	// Step trains on batch i of the epoch (the n images at positions
	// i*Setup.Batch.. of the plan's order): forward, backward, and one
	// optimizer update with the per-group rates (Optimizer.Groups order).
	Step(i, n int, rates []Rate) error
	// Results appends to dst the results of the steps taken since the
	// last call, in order, waiting for them as needed.
	Results(dst []StepResult) ([]StepResult, error)
	// SyncEvery is how many steps may run before Run reads their results:
	// 1 for an engine that has them at once, 0 for once an epoch (Run also
	// reads them after each step whose layer statistics it logs).
	SyncEvery() int
	// Average blends the live state into the average, parameters and
	// running stats: avg = rho*avg + (1-rho)*live.
	Average(rho float64) error
	// LoadAverage sets the live parameters and running stats to the
	// average (lookahead's reset); momentum stays.
	LoadAverage() error
	// Logits writes the eval-mode logits (TestN x Classes, in test order)
	// of view v (one of Setup.Views) of the test set, with the averaged
	// state when avg is set and the live state otherwise.
	Logits(avg bool, v data.View, dst []float32) error
	// SaveWeights keeps a copy of the parameters of the given indices
	// before a logged step.
	SaveWeights(params []int) error
	// LayerNorms writes, for each parameter index of params, the norms of
	// the last step: |w| before it (SaveWeights), the gradient of the
	// summed loss before weight decay, and |w_after - w_before|.
	LayerNorms(params []int, dst []Norms) error
	// Params returns a copy of the live parameters (Spec order, PyTorch
	// layouts), for a request that keeps them (backend.Request.Keep).
	Params() ([][]float32, error)
	// Precision is the number format the engine trains in: "f32" or
	// "bf16" (recorded with the run).
	Precision() string
	// Close releases the engine's resources.
	Close() error
}

// Setup is what an engine is built for: everything it needs to allocate
// before the data arrives.
type Setup struct {
	Config stages.Config
	Spec   *model.Spec
	// TrainN and TestN are the image counts of the run's subset.
	TrainN, TestN int
	// Pad is the reflect padding of the training images (random crops).
	Pad int
	// Batch is the training batch size; Steps the batches of an epoch.
	Batch, Steps int
	// Batches lists every batch size of the run's training passes: Batch
	// and the short last batch, if any.
	Batches []int
	// Epochs is the run's epochs, the last one maybe partial: the run
	// takes Optimizer.Steps() steps in all.
	Epochs int
	// Augment is the training augmentation Run's plans draw.
	Augment data.Augment
	// Optimizer is the update rule and its parameter groups.
	Optimizer Optimizer
	// Average says the engine keeps an average of the live state (an EMA
	// or lookahead); Views are the test views Logits is asked for (the
	// plain one first).
	Average bool
	Views   []data.View
}

// Open builds an engine for a run.
type Open func(Setup) (Engine, error)

// ReducedPrecision reports whether a run asks for reduced precision: the
// blog's fp16 and fp16-all and bf16 do; fp32 and an unset precision (a
// config built in code) do not. Each engine trains a reduced-precision
// run in bf16 where its hardware has it.
func ReducedPrecision(t stages.Train) bool {
	switch t.Precision {
	case "fp16", "fp16-all", "bf16":
		return true
	}
	return false
}

// Rate is one group's update of a step, in the engine's terms: the
// summed-loss gradient step lr and the coupled L2 coefficient wd, so that
// g = grad + wd*w; v = momentum*v + g; w -= lr*(g + momentum*v or v).
type Rate struct {
	LR, WD float32
}

// StepResult is one training step's loss summed over its batch and its
// count of correct predictions.
type StepResult struct {
	Loss    float64
	Correct int
}

// Norms are one parameter's norms of a logged step (LayerNorms).
type Norms struct {
	Weight, Grad, Delta float64
}
