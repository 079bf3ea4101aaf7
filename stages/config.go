// Package stages holds the experiment registry: experiments.toml parsed
// strictly into stages and variants, each variant written as a change on its
// predecessor, and resolved (with a profile) into a full typed Config.
package stages

import (
	"slices"

	"speedrun/model"
)

// Config is everything one run depends on apart from its seed and dataset.
// It is plain data and hashable (Hash); a changed Config is a new cell.
type Config struct {
	Stage   int    `json:"stage"`
	Variant string `json:"variant"` // e.g. "p4.s10"
	Profile string `json:"profile"` // "paper", "quick", "smoke", ...
	Title   string `json:"title"`   // what this variant changes, in words
	// Kind is KindTrain for the speed stages, or an analysis experiment
	// kind for posts 5-7 (see Analysis).
	Kind Kind `json:"kind"`

	Net   model.Net `json:"net"`
	Train Train     `json:"train"`
	Data  Data      `json:"data"`
	// Analysis holds the parameters of a post 5-7 experiment; nil for
	// Kind == "train".
	Analysis *Analysis `json:"analysis,omitempty"`
	// Overrides are the key=value changes made on the command line
	// (WithOverrides), sorted by key, as "train.epochs=12". They are part
	// of the hash, so a run with overrides is a cell of its own even
	// where an override repeats the registry's value, and the report
	// labels it; empty (and absent from the JSON) for a registry config.
	Overrides []string `json:"overrides,omitempty"`

	// Published is the blog's number for this variant; it is not part of
	// the hash (it describes the blog, not our run).
	Published Published `json:"-"`

	// Dataset is the profile's default dataset, "cifar10" or "synthetic";
	// the CLI may override it. It is not hashed: results record the
	// dataset's name and checksum beside the config hash.
	Dataset string `json:"-"`
}

// Knot is one (epoch, lambda) point of a piecewise-linear LR schedule.
type Knot struct {
	Epoch float64 `toml:"epoch" json:"epoch"`
	LR    float64 `toml:"lr" json:"lr"`
}

// Train holds the optimisation recipe in the blog's conventions
// (blog-stages.md §0): LR values are per-example lambdas applied as
// lambda/N to a loss summed over the batch; WeightDecay is applied as
// coupled L2 with coefficient WeightDecay*N.
type Train struct {
	// Epochs may be fractional (airbench's 9.9): the run takes
	// ceil(steps per epoch x Epochs) optimizer steps, and its last epoch
	// stops there.
	Epochs      float64 `toml:"epochs" json:"epochs"`
	BatchSize   int     `toml:"batch_size" json:"batch_size"`
	LR          []Knot  `toml:"lr" json:"lr"`
	Momentum    float64 `toml:"momentum" json:"momentum"`
	Nesterov    bool    `toml:"nesterov" json:"nesterov"`
	WeightDecay float64 `toml:"weight_decay" json:"weight_decay"`
	// BNBiasLRMul / BNBiasWDDiv give BN biases their own group (p8.s6):
	// lr x mul, wd / div. 1 and 1 mean no separate group.
	BNBiasLRMul float64 `toml:"bn_bias_lr_mul" json:"bn_bias_lr_mul"`
	BNBiasWDDiv float64 `toml:"bn_bias_wd_div" json:"bn_bias_wd_div"`
	// Optimizer is "sgd" (Nesterov/heavy-ball SGD with coupled L2) or
	// "lars" (per-filter LARS, post 6 E6.2).
	Optimizer      string  `toml:"optimizer" json:"optimizer"`
	LabelSmoothing float64 `toml:"label_smoothing" json:"label_smoothing"`
	// KLUniform adds KLUniform times the KL divergence from the uniform
	// distribution to the softmax to each example's loss (post 7's E7.5
	// models: 0.5). 0 = none.
	KLUniform float64 `toml:"kl_uniform" json:"kl_uniform,omitempty"`
	// EMA of all float state, updated every EMAEvery steps with momentum
	// EMAMomentum per step; evaluation uses the EMA copy. 0 = off.
	EMAMomentum float64 `toml:"ema_momentum" json:"ema_momentum"`
	EMAEvery    int     `toml:"ema_every" json:"ema_every"`
	TTA         bool    `toml:"tta" json:"tta"`             // average logits of image and flip
	DropLast    bool    `toml:"drop_last" json:"drop_last"` // drop the last partial training batch
	// Schedule is where the LR is evaluated within an epoch: "fractional"
	// (epoch + i/steps, Oct-2018 code) or "step" ((k+1)/steps, later code);
	// or "run" (airbench): the knots' epochs are fractions of the run's
	// steps, knot x at step floor(x*K) of K, read at step k (0-based).
	Schedule string `toml:"schedule" json:"schedule"`
	// Timing is the blog's timing convention: "train+eval" (posts 1-4:
	// training plus per-epoch evaluation) or "dawn" (post 8 and DAWNBench:
	// preprocessing in, evaluation out), or airbench's: "airbench"
	// (preprocessing, whitening, training and the evaluation, which
	// stage 10 runs once, at the end, with its TTA). Every part is stored.
	Timing string `toml:"timing" json:"timing"`
	// EvalEvery evaluates on the test set every k epochs (the last epoch
	// is always evaluated).
	EvalEvery int `toml:"eval_every" json:"eval_every"`
	// Units is the convention of LR and WeightDecay (and of Groups'
	// schedules); train.Optimizer converts them in one place:
	//   "" (the blog's): LR knots are per-example lambdas (lambda/N on the
	//     summed loss) and WeightDecay the nominal alpha (coupled L2 alpha*N);
	//   "airbench": airbench94's decoupled form: LR knots per 1024 examples
	//     (PyTorch's lr = knot / (1024 (1 + 1/(1-momentum)))) and
	//     WeightDecay per 1024 examples at the schedule's peak (the decay
	//     per step is WeightDecay*N/1024/(1+1/(1-momentum)) times the
	//     schedule's fraction of its peak, whatever a group's lr multiplier);
	//   "torch": airbench94_muon's form: LR knots are PyTorch's lr on the
	//     summed loss, WeightDecay the decay per example and step at the
	//     schedule's peak (PyTorch's weight_decay = WeightDecay*N/lr).
	Units string `toml:"units" json:"units,omitempty"`
	// Groups, when set, replace the default optimizer groups (weights and
	// BN biases, with BNBiasLRMul and BNBiasWDDiv) by these, in order: each
	// trainable parameter falls in the first group whose Params names it.
	Groups []Group `toml:"groups" json:"groups,omitempty"`
	// Lookahead keeps an average of the live state (parameters and BN
	// running stats) and resets the live state to it every Every steps
	// (airbench94); nil = off.
	Lookahead *Lookahead `toml:"lookahead" json:"lookahead,omitempty"`
	// TTAShift > 0 adds, to flip TTA, the test images translated by
	// TTAShift pixels up-left and down-right (reflect padding), each with
	// its mirror: airbench's six views, weighted 1/4 (plain, mirror) and
	// 1/8 (the four translated views).
	TTAShift int `toml:"tta_shift" json:"tta_shift,omitempty"`
	// Precision is the blog's number format: "fp16-all" (posts 1-2: the
	// whole model in fp16, BN included), "fp16" (fp16 with fp32 BN weights
	// and stats, p3.s1 on), or ours, "bf16" and "fp32". The engines train
	// the reduced ones (train.ReducedPrecision) in bf16 where the hardware
	// has it and fp32 elsewhere, and each run records what it trained in.
	Precision string `toml:"precision" json:"precision"`
}

// Group is one optimizer group of train.groups.
type Group struct {
	// Params names the parameters: "weights" (every trainable parameter
	// no earlier group took), "bn_bias", "whiten_bias" (the whitening
	// conv's bias), "head" (the linear head's weight) or "filters" (every
	// trainable conv weight).
	Params string `toml:"params" json:"params"`
	// Rule is "sgd" (the run's SGD, empty means it) or "muon" (filters
	// only: momentum, Newton-Schulz orthogonalisation, no weight decay).
	Rule string `toml:"rule" json:"rule,omitempty"`
	// LR is the group's own schedule (empty: train.lr); under schedule
	// "run" its knots are fractions of the group's own steps.
	LR []Knot `toml:"lr" json:"lr,omitempty"`
	// LRMul multiplies the schedule (0 means 1).
	LRMul float64 `toml:"lr_mul" json:"lr_mul,omitempty"`
	// Momentum replaces train.momentum for the group (0: the run's).
	Momentum float64 `toml:"momentum" json:"momentum,omitempty"`
	// Epochs > 0 trains the group only for the first
	// ceil(steps per epoch x Epochs) steps; it is frozen after.
	Epochs float64 `toml:"epochs" json:"epochs,omitempty"`
}

// Lookahead is airbench94's lookahead: every Every steps the average moves
// toward the live state with weight 1-d, d = Decay^Every (k/K)^Power at
// step k of K, and the live state is reset to it; after the last step the
// live state is set to the average.
// Every 0 turns it off (a later variant cannot delete an inherited table).
type Lookahead struct {
	Every int     `toml:"every" json:"every"`
	Decay float64 `toml:"decay" json:"decay"`
	Power float64 `toml:"power" json:"power"`
}

// On reports whether lookahead runs.
func (la *Lookahead) On() bool { return la != nil && la.Every > 0 }

// Data holds the dataset scaling and augmentation of a run.
type Data struct {
	// TrainSize / TestSize take a class-balanced subset (0 = all).
	TrainSize int  `toml:"train_size" json:"train_size"`
	TestSize  int  `toml:"test_size" json:"test_size"`
	Crop      bool `toml:"crop" json:"crop"`     // random 32x32 crop of the 4-px reflect-padded image
	Flip      bool `toml:"flip" json:"flip"`     // horizontal flip with p = 0.5
	Cutout    int  `toml:"cutout" json:"cutout"` // cutout size (0 = none)
	// Translate > 0 is airbench's translation: a random 32x32 crop of the
	// image reflect-padded by Translate pixels (crop is Translate 4).
	Translate int `toml:"translate" json:"translate,omitempty"`
	// AltFlip is airbench's alternating flip: each image's flip is drawn
	// once per run, and every second epoch mirrors every image, so each
	// image is seen both ways in each pair of epochs (needs flip).
	AltFlip bool `toml:"alt_flip" json:"alt_flip,omitempty"`
	// Grouped is the post-8 GPU-style augmentation: shuffle, split into
	// groups, one choice per group, at most MaxGroups groups per epoch.
	Grouped   bool `toml:"grouped" json:"grouped"`
	MaxGroups int  `toml:"max_groups" json:"max_groups"`
	// Loader is how the training batches are made (post 1): "per-sample"
	// (pad, normalise and transform each image every epoch, p1.s0-s2),
	// "preprocessed" (pad/normalise/transpose once up front, p1.s3) or
	// "bulk" (random choices drawn in bulk once per epoch, p1.s4 on).
	// Workers is the number of loader processes (0 = the main thread).
	Loader  string `toml:"loader" json:"loader"`
	Workers int    `toml:"workers" json:"workers"`
}

// Analysis parameterises a post 5-7 experiment. Fields are used per kind.
type Analysis struct {
	// Grid axes for E5.1 slices: the peak LR values crossed with one other
	// axis ("batch", "one_minus_momentum" or "weight_decay").
	LRGrid   []float64 `toml:"lr_grid" json:"lr_grid,omitempty"`
	Axis     string    `toml:"axis" json:"axis,omitempty"`
	AxisGrid []float64 `toml:"axis_grid" json:"axis_grid,omitempty"`
	// Log per-layer statistics every LogEvery steps (E6.x), from the
	// first (0-based steps 0, LogEvery, ...).
	LogEvery int `toml:"log_every" json:"log_every,omitempty"`
	// InitScale multiplies the initial weights (E6.3).
	InitScale float64 `toml:"init_scale" json:"init_scale,omitempty"`
	// Depths at which to record histograms (E7.3).
	Depths []int `toml:"depths" json:"depths,omitempty"`

	// E5.2 cyclical coordinate descent: start at (StartLR, StartMomentum,
	// StartWD), multiply or divide one parameter at a time by Factor in
	// the order Order ("lr", "momentum", "wd"; momentum steps act on
	// 1-momentum), keeping Invariant fixed, for at most MaxRuns runs.
	StartLR       float64  `toml:"start_lr" json:"start_lr,omitempty"`
	StartMomentum float64  `toml:"start_momentum" json:"start_momentum,omitempty"`
	StartWD       float64  `toml:"start_wd" json:"start_wd,omitempty"`
	Factor        float64  `toml:"factor" json:"factor,omitempty"`
	Order         []string `toml:"order" json:"order,omitempty"`
	MaxRuns       int      `toml:"max_runs" json:"max_runs,omitempty"`
	// Invariant is the product the LR is re-adjusted to keep fixed when
	// another axis moves: "lr*wd" (E6.3) or "lr*wd/(1-momentum)" (E5.2).
	Invariant string `toml:"invariant" json:"invariant,omitempty"`
	// InitScales are the initial-weight multipliers compared in E6.3.
	InitScales []float64 `toml:"init_scales" json:"init_scales,omitempty"`

	// Histogram experiments (E7.2-E7.4): Batch examples in one fixed batch,
	// at most Channels channels per plot, at the named Layers; Inputs are
	// "gaussian" (N(0,1) images) and/or "cifar"; Acts are the activations
	// compared in E7.3 ("relu", "linear", "shiftscale_relu"); BNs are the
	// normalisations compared in E7.4 ("none", "bn").
	Batch    int      `toml:"batch" json:"batch,omitempty"`
	Channels int      `toml:"channels" json:"channels,omitempty"`
	Layers   []string `toml:"layers" json:"layers,omitempty"`
	Inputs   []string `toml:"inputs" json:"inputs,omitempty"`
	Acts     []string `toml:"acts" json:"acts,omitempty"`
	BNs      []string `toml:"bns" json:"bns,omitempty"`

	// Post 7 E7.5-E7.10. Batches fixed batches of Batch training images
	// (one draw of the augmentation, in a fixed order) are what every
	// gradient, Hessian and histogram averages over. Models are the
	// partial_train variants whose kept weights a cell reads; EigenFrom is
	// the hessian variant whose eigenvectors E7.9 and E7.10 read. Eigen is
	// how many top Hessian eigenvalues Lanczos finds (E7.8, E7.10's
	// projected re-run) and how many eigenvectors E7.9 perturbs along;
	// Tol is Lanczos's relative residual tolerance; HVPEps is the central
	// difference step of a Hessian-vector product relative to the
	// parameter norm; Delta is the length of every perturbation.
	Batches   int      `toml:"batches" json:"batches,omitempty"`
	Models    []string `toml:"models" json:"models,omitempty"`
	EigenFrom string   `toml:"eigen_from" json:"eigen_from,omitempty"`
	Eigen     int      `toml:"eigen" json:"eigen,omitempty"`
	Tol       float64  `toml:"tol" json:"tol,omitempty"`
	HVPEps    float64  `toml:"hvp_eps" json:"hvp_eps,omitempty"`
	Delta     float64  `toml:"delta" json:"delta,omitempty"`
}

// Published is the blog's number for a variant, with its source tag.
type Published struct {
	TimeSeconds float64 `toml:"time_s" json:"time_s,omitempty"`
	Accuracy    float64 `toml:"accuracy" json:"accuracy,omitempty"` // fraction, e.g. 0.9408
	Epochs      float64 `toml:"epochs" json:"epochs,omitempty"`
	Hardware    string  `toml:"hardware" json:"hardware,omitempty"`
	Source      string  `toml:"source" json:"source,omitempty"` // tags such as "C", "L", "B", "S"
	Runs94      string  `toml:"runs94" json:"runs94,omitempty"` // e.g. "7/10"
	Unverified  bool    `toml:"unverified" json:"unverified,omitempty"`
	Note        string  `toml:"note" json:"note,omitempty"`
	// UnverifiedFields narrows Unverified to some of "time_s", "accuracy",
	// "epochs", "hardware", "runs94"; empty with Unverified set means all.
	UnverifiedFields []string `toml:"unverified_fields" json:"unverified_fields,omitempty"`
}

// IsUnverified reports whether the published value named field (a toml key
// of Published, e.g. "time_s") is unverified.
func (p Published) IsUnverified(field string) bool {
	if !p.Unverified {
		return false
	}
	return len(p.UnverifiedFields) == 0 || slices.Contains(p.UnverifiedFields, field)
}
