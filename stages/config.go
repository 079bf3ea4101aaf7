// Package stages holds the experiment registry: experiments.toml parsed
// strictly into stages and variants, each variant written as a change on its
// predecessor, and resolved (with a profile) into a full typed Config.
package stages

import "speedrun/model"

// Config is everything one run depends on apart from its seed and dataset.
// It is plain data and hashable (Hash); a changed Config is a new cell.
type Config struct {
	Stage   int    `json:"stage"`
	Variant string `json:"variant"` // e.g. "p4.s10"
	Profile string `json:"profile"` // "paper", "quick", "smoke", ...
	Title   string `json:"title"`   // what this variant changes, in words
	// Kind is "train" for the speed stages, or an analysis experiment kind
	// for posts 5-7 (see Analysis).
	Kind string `json:"kind"`

	Net   model.Net `json:"net"`
	Train Train     `json:"train"`
	Data  Data      `json:"data"`
	// Analysis holds the parameters of a post 5-7 experiment; nil for
	// Kind == "train".
	Analysis *Analysis `json:"analysis,omitempty"`

	// Published is the blog's number for this variant; it is not part of
	// the hash (it describes the blog, not our run).
	Published Published `json:"-"`
}

// Knot is one (epoch, lambda) point of a piecewise-linear LR schedule.
type Knot struct {
	Epoch float64 `json:"epoch"`
	LR    float64 `json:"lr"`
}

// Train holds the optimisation recipe in the blog's conventions
// (blog-stages.md §0): LR values are per-example lambdas applied as
// lambda/N to a loss summed over the batch; WeightDecay is applied as
// coupled L2 with coefficient WeightDecay*N.
type Train struct {
	Epochs      int     `json:"epochs"`
	BatchSize   int     `json:"batch_size"`
	LR          []Knot  `json:"lr"`
	Momentum    float64 `json:"momentum"`
	Nesterov    bool    `json:"nesterov"`
	WeightDecay float64 `json:"weight_decay"`
	// BNBiasLRMul / BNBiasWDDiv give BN biases their own group (p8.s6):
	// lr x mul, wd / div. 1 and 1 mean no separate group.
	BNBiasLRMul float64 `json:"bn_bias_lr_mul"`
	BNBiasWDDiv float64 `json:"bn_bias_wd_div"`
	// Optimizer is "sgd" (Nesterov/heavy-ball SGD with coupled L2) or
	// "lars" (per-filter LARS, post 6 E6.2).
	Optimizer      string  `json:"optimizer"`
	LabelSmoothing float64 `json:"label_smoothing"`
	// EMA of all float state, updated every EMAEvery steps with momentum
	// EMAMomentum per step; evaluation uses the EMA copy. 0 = off.
	EMAMomentum float64 `json:"ema_momentum"`
	EMAEvery    int     `json:"ema_every"`
	TTA         bool    `json:"tta"`       // average logits of image and flip
	DropLast    bool    `json:"drop_last"` // drop the last partial training batch
	// Schedule is where the LR is evaluated within an epoch: "fractional"
	// (epoch + i/steps, Oct-2018 code) or "step" ((k+1)/steps, later code).
	Schedule string `json:"schedule"`
	// Timing is the blog's timing convention: "train+eval" (posts 1-4:
	// training plus per-epoch evaluation) or "dawn" (post 8 and DAWNBench:
	// preprocessing in, evaluation out). Both parts are always stored.
	Timing string `json:"timing"`
	// EvalEvery evaluates on the test set every k epochs (the last epoch
	// is always evaluated).
	EvalEvery int `json:"eval_every"`
}

// Data holds the dataset scaling and augmentation of a run.
type Data struct {
	// TrainSize / TestSize take a class-balanced subset (0 = all).
	TrainSize int  `json:"train_size"`
	TestSize  int  `json:"test_size"`
	Crop      bool `json:"crop"`   // random 32x32 crop of the 4-px reflect-padded image
	Flip      bool `json:"flip"`   // horizontal flip with p = 0.5
	Cutout    int  `json:"cutout"` // cutout size (0 = none)
	// Grouped is the post-8 GPU-style augmentation: shuffle, split into
	// groups, one choice per group, at most MaxGroups groups per epoch.
	Grouped   bool `json:"grouped"`
	MaxGroups int  `json:"max_groups"`
}

// Analysis parameterises a post 5-7 experiment. Fields are used per kind.
type Analysis struct {
	// Grid axes for E5.1 slices: the peak LR values crossed with one other
	// axis ("batch", "one_minus_momentum" or "weight_decay").
	LRGrid   []float64 `json:"lr_grid,omitempty"`
	Axis     string    `json:"axis,omitempty"`
	AxisGrid []float64 `json:"axis_grid,omitempty"`
	// Log per-layer statistics every LogEvery steps (E6.x).
	LogEvery int `json:"log_every,omitempty"`
	// InitScale multiplies the initial weights (E6.3).
	InitScale float64 `json:"init_scale,omitempty"`
	// Depths at which to record histograms (E7.3).
	Depths []int `json:"depths,omitempty"`
}

// Published is the blog's number for a variant, with its source tag.
type Published struct {
	TimeSeconds float64 `json:"time_s,omitempty"`
	Accuracy    float64 `json:"accuracy,omitempty"` // fraction, e.g. 0.9408
	Epochs      int     `json:"epochs,omitempty"`
	Hardware    string  `json:"hardware,omitempty"`
	Source      string  `json:"source,omitempty"` // tags such as "C", "L", "B", "S"
	Runs94      string  `json:"runs94,omitempty"` // e.g. "7/10"
	Unverified  bool    `json:"unverified,omitempty"`
	Note        string  `json:"note,omitempty"`
}
