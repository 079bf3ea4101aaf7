package stages

import (
	"fmt"
	"slices"
	"strings"

	"speedrun/model"
)

// oneOf checks that v is one of the allowed values.
func oneOf(key, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	err := fmt.Errorf("%s must be one of %s, not %q", key, quoteList(allowed), v)
	if s := closest(v, slices.Clone(allowed)); s != "" {
		err = fmt.Errorf("%w; did you mean %q?", err, s)
	}
	return err
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// validate checks a resolved config; the error names the key path.
func (c Config) validate() error {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	if err := oneOf("kind", string(c.Kind), names...); err != nil {
		return err
	}
	if err := model.Validate(c.Net); err != nil {
		return fmt.Errorf("net: %w", err)
	}
	if err := c.Train.validate(); err != nil {
		return fmt.Errorf("train.%w", err)
	}
	if c.Net.BN == "ghost" && c.Net.GhostBatch > 0 && c.Train.BatchSize%c.Net.GhostBatch != 0 {
		return fmt.Errorf("net.ghost_batch %d does not divide train.batch_size %d", c.Net.GhostBatch, c.Train.BatchSize)
	}
	if err := c.Data.validate(); err != nil {
		return fmt.Errorf("data.%w", err)
	}
	if c.Kind == KindTrain {
		if c.Analysis != nil {
			return fmt.Errorf("analysis: kind \"train\" takes no analysis table (start the variant from a train variant with from = \"...\")")
		}
		return nil
	}
	if c.Analysis == nil {
		return fmt.Errorf("kind %q needs an analysis table", c.Kind)
	}
	if err := c.Analysis.validate(c); err != nil {
		return fmt.Errorf("analysis.%w", err)
	}
	return nil
}

func (t Train) validate() error {
	switch {
	case !(t.Epochs >= 1):
		return fmt.Errorf("epochs must be >= 1, got %v", t.Epochs)
	case t.BatchSize < 1:
		return fmt.Errorf("batch_size must be >= 1, got %d", t.BatchSize)
	case len(t.LR) == 0:
		return fmt.Errorf("lr: no knots (want e.g. [[0, 0], [5, 0.4], [24, 0]])")
	}
	if err := checkKnots("lr", t.LR, t.Schedule); err != nil {
		return err
	}
	switch {
	case t.Momentum < 0 || t.Momentum >= 1:
		return fmt.Errorf("momentum must be in [0, 1), got %v", t.Momentum)
	case t.WeightDecay < 0:
		return fmt.Errorf("weight_decay must be >= 0, got %v", t.WeightDecay)
	case !(t.BNBiasLRMul > 0):
		return fmt.Errorf("bn_bias_lr_mul must be > 0 (1 = no separate group), got %v", t.BNBiasLRMul)
	case !(t.BNBiasWDDiv > 0):
		return fmt.Errorf("bn_bias_wd_div must be > 0 (1 = no separate group), got %v", t.BNBiasWDDiv)
	case t.LabelSmoothing < 0 || t.LabelSmoothing >= 1:
		return fmt.Errorf("label_smoothing must be in [0, 1), got %v", t.LabelSmoothing)
	case t.KLUniform < 0:
		return fmt.Errorf("kl_uniform must be >= 0 (0 = none), got %v", t.KLUniform)
	case t.EMAMomentum < 0 || t.EMAMomentum >= 1:
		return fmt.Errorf("ema_momentum must be in [0, 1) (0 = off), got %v", t.EMAMomentum)
	case t.EMAMomentum > 0 && t.EMAEvery < 1:
		return fmt.Errorf("ema_every must be >= 1 when ema_momentum is set, got %d", t.EMAEvery)
	case t.EMAEvery < 0:
		return fmt.Errorf("ema_every must be >= 0, got %d", t.EMAEvery)
	case t.EvalEvery < 1:
		return fmt.Errorf("eval_every must be >= 1, got %d", t.EvalEvery)
	}
	if err := oneOf("optimizer", t.Optimizer, "sgd", "lars"); err != nil {
		return err
	}
	if err := oneOf("schedule", t.Schedule, "fractional", "step", "run"); err != nil {
		return err
	}
	if err := oneOf("timing", t.Timing, "train+eval", "dawn", "airbench"); err != nil {
		return err
	}
	if err := oneOf("units", t.Units, "", "airbench", "torch"); err != nil {
		return err
	}
	if t.Units != "" && t.BNBiasWDDiv != 1 {
		return fmt.Errorf("bn_bias_wd_div must be 1 under units %q: its weight decay is per step, whatever the lr multiplier", t.Units)
	}
	if err := t.validateGroups(); err != nil {
		return err
	}
	if la := t.Lookahead; la != nil && la.Every < 0 {
		return fmt.Errorf("lookahead.every must be >= 0 (0 = off), got %d", la.Every)
	}
	if la := t.Lookahead; la.On() {
		switch {
		case !(la.Decay > 0 && la.Decay <= 1):
			return fmt.Errorf("lookahead.decay must be in (0, 1], got %v", la.Decay)
		case !(la.Power >= 0):
			return fmt.Errorf("lookahead.power must be >= 0, got %v", la.Power)
		case t.EMAMomentum > 0:
			return fmt.Errorf("lookahead: a run keeps one average, and ema_momentum is set too")
		}
	}
	switch {
	case t.TTAShift < 0 || t.TTAShift > 4:
		return fmt.Errorf("tta_shift must be in [0, 4], got %d", t.TTAShift)
	case t.TTAShift > 0 && !t.TTA:
		return fmt.Errorf("tta_shift %d needs tta = true (the shifted views come with their mirrors)", t.TTAShift)
	}
	return oneOf("precision", t.Precision, "fp16-all", "fp16", "bf16", "fp32")
}

// checkKnots checks a piecewise-linear schedule: non-negative knots,
// strictly increasing in epoch, and under schedule "run" fractions of the
// run in [0, 1].
func checkKnots(key string, kn []Knot, schedule string) error {
	for i, k := range kn {
		if k.Epoch < 0 || k.LR < 0 {
			return fmt.Errorf("%s[%d]: knot [%v, %v] is negative", key, i, k.Epoch, k.LR)
		}
		if i > 0 && !(k.Epoch > kn[i-1].Epoch) {
			return fmt.Errorf("%s[%d]: epoch %v is not after epoch %v of %s[%d] (knots must be strictly increasing in epoch)", key, i, k.Epoch, kn[i-1].Epoch, key, i-1)
		}
		if schedule == "run" && k.Epoch > 1 {
			return fmt.Errorf("%s[%d]: under schedule \"run\" knots are fractions of the run, and %v is above 1", key, i, k.Epoch)
		}
	}
	return nil
}

// GroupParams are the parameter sets train.groups may name.
var groupParams = []string{"weights", "bn_bias", "whiten_bias", "head", "filters"}

func (t Train) validateGroups() error {
	if len(t.Groups) == 0 {
		return nil
	}
	if t.BNBiasLRMul != 1 || t.BNBiasWDDiv != 1 {
		return fmt.Errorf("groups: bn_bias_lr_mul and bn_bias_wd_div must be 1 when groups are given (set the bn_bias group's lr_mul)")
	}
	if t.Optimizer != "sgd" {
		return fmt.Errorf("groups: optimizer %q has no groups (want \"sgd\")", t.Optimizer)
	}
	if t.Units == "" {
		return fmt.Errorf("groups: give units \"airbench\" or \"torch\" (a group's weight decay is decoupled from its lr multiplier)")
	}
	seen := map[string]bool{}
	for i, g := range t.Groups {
		key := fmt.Sprintf("groups[%d]", i)
		if err := oneOf(key+".params", g.Params, groupParams...); err != nil {
			return err
		}
		if seen[g.Params] {
			return fmt.Errorf("%s: params %q appear in two groups", key, g.Params)
		}
		seen[g.Params] = true
		if err := oneOf(key+".rule", g.Rule, "", "sgd", "muon"); err != nil {
			return err
		}
		if g.Rule == "muon" && g.Params != "filters" {
			return fmt.Errorf("%s: rule \"muon\" orthogonalises conv filters: params must be \"filters\", not %q", key, g.Params)
		}
		if err := checkKnots(key+".lr", g.LR, t.Schedule); err != nil {
			return err
		}
		switch {
		case g.LRMul < 0:
			return fmt.Errorf("%s.lr_mul must be >= 0 (0 means 1), got %v", key, g.LRMul)
		case g.Momentum < 0 || g.Momentum >= 1:
			return fmt.Errorf("%s.momentum must be in [0, 1) (0: the run's), got %v", key, g.Momentum)
		case g.Epochs < 0:
			return fmt.Errorf("%s.epochs must be >= 0 (0: the whole run), got %v", key, g.Epochs)
		}
	}
	return nil
}

func (d Data) validate() error {
	switch {
	case d.TrainSize < 0:
		return fmt.Errorf("train_size must be >= 0 (0 = all), got %d", d.TrainSize)
	case d.TestSize < 0:
		return fmt.Errorf("test_size must be >= 0 (0 = all), got %d", d.TestSize)
	case d.Cutout < 0 || d.Cutout > 32:
		return fmt.Errorf("cutout must be in [0, 32] (0 = none), got %d", d.Cutout)
	case d.MaxGroups < 0:
		return fmt.Errorf("max_groups must be >= 0, got %d", d.MaxGroups)
	case d.Grouped && d.MaxGroups == 0:
		return fmt.Errorf("max_groups must be > 0 when grouped is set")
	case d.Workers < 0:
		return fmt.Errorf("workers must be >= 0 (0 = the main thread), got %d", d.Workers)
	case d.Translate < 0 || d.Translate > 8:
		return fmt.Errorf("translate must be in [0, 8] (0 = none), got %d", d.Translate)
	case d.Translate > 0 && d.Crop:
		return fmt.Errorf("translate %d and crop both set: crop is translate 4, set one", d.Translate)
	case d.AltFlip && !d.Flip:
		return fmt.Errorf("alt_flip needs flip = true")
	case d.AltFlip && d.Grouped:
		return fmt.Errorf("alt_flip draws each image's flip once per run, which grouped augmentation does not")
	}
	return oneOf("loader", d.Loader, "per-sample", "preprocessed", "bulk")
}

func (a *Analysis) validate(c Config) error {
	positive := func(key string, xs []float64) error {
		if len(xs) == 0 {
			return fmt.Errorf("%s: empty (kind %q needs it)", key, c.Kind)
		}
		for i, x := range xs {
			if !(x > 0) {
				return fmt.Errorf("%s[%d] must be > 0, got %v", key, i, x)
			}
			if i > 0 && !(x > xs[i-1]) {
				return fmt.Errorf("%s[%d]: %v is not above %v (grids must increase)", key, i, x, xs[i-1])
			}
		}
		return nil
	}
	axis := func(want string) error {
		if a.Axis != want {
			return fmt.Errorf("axis must be %q for kind %q, not %q", want, c.Kind, a.Axis)
		}
		if err := positive("lr_grid", a.LRGrid); err != nil {
			return err
		}
		return positive("axis_grid", a.AxisGrid)
	}
	switch c.Kind {
	case "lr_batch":
		if err := axis("batch"); err != nil {
			return err
		}
		for i, b := range a.AxisGrid {
			if b != float64(int(b)) {
				return fmt.Errorf("axis_grid[%d]: batch size %v is not an integer", i, b)
			}
		}
	case "lr_momentum":
		if err := axis("one_minus_momentum"); err != nil {
			return err
		}
		if last := a.AxisGrid[len(a.AxisGrid)-1]; last > 1 {
			return fmt.Errorf("axis_grid: 1-momentum %v is above 1", last)
		}
	case "lr_wd":
		return axis("weight_decay")
	case "tune":
		switch {
		case !(a.StartLR > 0):
			return fmt.Errorf("start_lr must be > 0, got %v", a.StartLR)
		case a.StartMomentum < 0 || a.StartMomentum >= 1:
			return fmt.Errorf("start_momentum must be in [0, 1), got %v", a.StartMomentum)
		case !(a.StartWD > 0):
			return fmt.Errorf("start_wd must be > 0, got %v", a.StartWD)
		case !(a.Factor > 1):
			return fmt.Errorf("factor must be > 1, got %v", a.Factor)
		case a.MaxRuns < 1:
			return fmt.Errorf("max_runs must be >= 1, got %d", a.MaxRuns)
		case len(a.Order) == 0:
			return fmt.Errorf("order: empty (want e.g. [\"lr\", \"momentum\", \"wd\"])")
		}
		for i, o := range a.Order {
			if err := oneOf(fmt.Sprintf("order[%d]", i), o, "lr", "momentum", "wd"); err != nil {
				return err
			}
		}
		return oneOf("invariant", a.Invariant, "lr*wd/(1-momentum)", "lr*wd", "")
	case "norms", "lars":
		if a.LogEvery < 1 {
			return fmt.Errorf("log_every must be >= 1, got %d", a.LogEvery)
		}
		if c.Kind == KindLARS && c.Train.Optimizer != "lars" {
			return fmt.Errorf("kind \"lars\" needs train.optimizer = \"lars\", not %q", c.Train.Optimizer)
		}
	case "equilibrium":
		if a.LogEvery < 1 {
			return fmt.Errorf("log_every must be >= 1, got %d", a.LogEvery)
		}
		if a.Axis != "weight_decay" {
			return fmt.Errorf("axis must be \"weight_decay\" for kind %q, not %q", c.Kind, a.Axis)
		}
		if err := positive("axis_grid", a.AxisGrid); err != nil {
			return err
		}
		if err := positive("init_scales", a.InitScales); err != nil {
			return err
		}
		return oneOf("invariant", a.Invariant, "lr*wd")
	case "lr_stress":
		// The schedule itself is the experiment; nothing else to check.
	case "partial_train", "logit_grads", "hessian", "eigen_perturb", "overlap":
		return a.validatePartial(c)
	case "bn_histograms", "conv_histograms", "deepfc":
		if a.Batch < 1 {
			return fmt.Errorf("batch must be >= 1, got %d", a.Batch)
		}
		if a.Channels < 1 {
			return fmt.Errorf("channels must be >= 1, got %d", a.Channels)
		}
		switch c.Kind {
		case "bn_histograms":
			if len(a.Layers) == 0 {
				return fmt.Errorf("layers: empty (want e.g. [\"layer2.conv\", \"layer2.bn\"])")
			}
		case "conv_histograms":
			if len(a.Inputs) == 0 || len(a.BNs) == 0 {
				return fmt.Errorf("inputs and bns must both be non-empty")
			}
			for i, in := range a.Inputs {
				if err := oneOf(fmt.Sprintf("inputs[%d]", i), in, "gaussian", "cifar"); err != nil {
					return err
				}
			}
			for i, b := range a.BNs {
				if err := oneOf(fmt.Sprintf("bns[%d]", i), b, "none", "bn"); err != nil {
					return err
				}
			}
		case "deepfc":
			if c.Net.Name != "deepfc" {
				return fmt.Errorf("kind \"deepfc\" needs net.name = \"deepfc\", not %q", c.Net.Name)
			}
			if len(a.Depths) == 0 || len(a.Acts) == 0 {
				return fmt.Errorf("depths and acts must both be non-empty")
			}
			for i, d := range a.Depths {
				if d < 1 || d > c.Net.Depth {
					return fmt.Errorf("depths[%d] = %d is outside 1..net.depth (%d)", i, d, c.Net.Depth)
				}
			}
			for i, act := range a.Acts {
				if err := oneOf(fmt.Sprintf("acts[%d]", i), act, "relu", "linear", "shiftscale_relu"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// validatePartial checks the post-7 E7.5-E7.10 fields.
func (a *Analysis) validatePartial(c Config) error {
	switch {
	case a.Batch < 1:
		return fmt.Errorf("batch must be >= 1, got %d", a.Batch)
	case a.Batches < 1:
		return fmt.Errorf("batches must be >= 1, got %d", a.Batches)
	case c.Kind.ReadsModels() && len(a.Models) == 0:
		return fmt.Errorf("models: empty (kind %q reads partial_train variants, e.g. [\"p7.e5.bn\"])", c.Kind)
	case !c.Kind.ReadsModels() && len(a.Models) > 0:
		return fmt.Errorf("models: kind %q trains its own model and reads none", c.Kind)
	case (c.Kind == KindEigenPerturb || c.Kind == KindOverlap) && a.EigenFrom == "":
		return fmt.Errorf("eigen_from: empty (kind %q reads a hessian variant's eigenvectors)", c.Kind)
	case a.Eigen < 0:
		return fmt.Errorf("eigen must be >= 0, got %d", a.Eigen)
	case (c.Kind == KindHessian || c.Kind == KindEigenPerturb || c.Kind == KindOverlap) && a.Eigen < 1:
		return fmt.Errorf("eigen must be >= 1 for kind %q, got %d", c.Kind, a.Eigen)
	case a.Tol < 0 || a.HVPEps < 0 || a.Delta < 0:
		return fmt.Errorf("tol %v, hvp_eps %v and delta %v must be >= 0", a.Tol, a.HVPEps, a.Delta)
	case (c.Kind == KindHessian || c.Kind == KindOverlap) && (!(a.Tol > 0) || !(a.HVPEps > 0)):
		return fmt.Errorf("kind %q needs tol > 0 and hvp_eps > 0", c.Kind)
	case (c.Kind == KindLogitGrads || c.Kind == KindEigenPerturb) && !(a.Delta > 0):
		return fmt.Errorf("kind %q needs delta > 0", c.Kind)
	}
	return nil
}

// validatePublished checks the blog's numbers for a variant.
func validatePublished(p Published) error {
	switch {
	case p.TimeSeconds < 0:
		return fmt.Errorf("time_s must be >= 0, got %v", p.TimeSeconds)
	case p.Accuracy < 0 || p.Accuracy > 1:
		return fmt.Errorf("accuracy is a fraction in [0, 1] (e.g. 0.9408), got %v", p.Accuracy)
	case p.Epochs < 0:
		return fmt.Errorf("epochs must be >= 0, got %v", p.Epochs)
	case len(p.UnverifiedFields) > 0 && !p.Unverified:
		return fmt.Errorf("unverified_fields is set but unverified is not")
	}
	if p.Runs94 != "" {
		var k, n int
		if _, err := fmt.Sscanf(p.Runs94, "%d/%d", &k, &n); err != nil || fmt.Sprintf("%d/%d", k, n) != p.Runs94 || k < 0 || n < 1 || k > n {
			return fmt.Errorf("runs94 must be \"k/n\" with 0 <= k <= n (e.g. \"7/10\"), got %q", p.Runs94)
		}
	}
	for i, f := range p.UnverifiedFields {
		if err := oneOf(fmt.Sprintf("unverified_fields[%d]", i), f, "time_s", "accuracy", "epochs", "hardware", "runs94"); err != nil {
			return err
		}
	}
	return nil
}
