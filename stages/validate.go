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
	case t.Epochs < 1:
		return fmt.Errorf("epochs must be >= 1, got %d", t.Epochs)
	case t.BatchSize < 1:
		return fmt.Errorf("batch_size must be >= 1, got %d", t.BatchSize)
	case len(t.LR) == 0:
		return fmt.Errorf("lr: no knots (want e.g. [[0, 0], [5, 0.4], [24, 0]])")
	}
	for i, k := range t.LR {
		if k.Epoch < 0 || k.LR < 0 {
			return fmt.Errorf("lr[%d]: knot [%v, %v] is negative", i, k.Epoch, k.LR)
		}
		if i > 0 && !(k.Epoch > t.LR[i-1].Epoch) {
			return fmt.Errorf("lr[%d]: epoch %v is not after epoch %v of lr[%d] (knots must be strictly increasing in epoch)", i, k.Epoch, t.LR[i-1].Epoch, i-1)
		}
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
	if err := oneOf("schedule", t.Schedule, "fractional", "step"); err != nil {
		return err
	}
	if err := oneOf("timing", t.Timing, "train+eval", "dawn"); err != nil {
		return err
	}
	return oneOf("precision", t.Precision, "fp16-all", "fp16", "bf16", "fp32")
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
		return fmt.Errorf("epochs must be >= 0, got %d", p.Epochs)
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
