package stages

import "slices"

// Kind is an experiment kind: KindTrain for the speed stages, the others
// the analysis experiments of posts 5-7 (the analysis package runs them).
type Kind string

// The experiment kinds: the one list (Kinds), in the registry's order.
const (
	KindTrain = Kind("train")
	// Post 5: E5.1's slices of the hyperparameter space and E5.2's tuner.
	KindLRBatch    = Kind("lr_batch")
	KindLRMomentum = Kind("lr_momentum")
	KindLRWD       = Kind("lr_wd")
	KindTune       = Kind("tune")
	// Post 6: E6.1-E6.3.
	KindNorms       = Kind("norms")
	KindLARS        = Kind("lars")
	KindEquilibrium = Kind("equilibrium")
	// Post 7: E7.1-E7.4.
	KindLRStress       = Kind("lr_stress")
	KindBNHistograms   = Kind("bn_histograms")
	KindDeepFC         = Kind("deepfc")
	KindConvHistograms = Kind("conv_histograms")
	// Post 7: E7.5-E7.10, on partly trained models. partial_train trains
	// one and keeps its weights; the others read them (analysis.models).
	KindPartialTrain = Kind("partial_train")
	KindLogitGrads   = Kind("logit_grads")
	KindHessian      = Kind("hessian")
	KindEigenPerturb = Kind("eigen_perturb")
	KindOverlap      = Kind("overlap")
)

var kinds = []Kind{
	KindTrain,
	KindLRBatch, KindLRMomentum, KindLRWD, KindTune,
	KindNorms, KindLARS, KindEquilibrium,
	KindLRStress, KindBNHistograms, KindDeepFC, KindConvHistograms,
	KindPartialTrain, KindLogitGrads, KindHessian, KindEigenPerturb, KindOverlap,
}

// Kinds returns every experiment kind the registry accepts.
func Kinds() []Kind { return slices.Clone(kinds) }

// Probes reports whether an experiment of kind k reads forward (and
// backward) passes at given weights (post 7's histograms, deep linear
// net, and E7.5-E7.10's gradients, Hessians and perturbations) instead
// of only training: an engine runs it only through a backend.Prober.
// partial_train trains too, but refreshes its BN statistics through the
// Prober.
func (k Kind) Probes() bool {
	switch k {
	case KindBNHistograms, KindConvHistograms, KindDeepFC,
		KindPartialTrain, KindLogitGrads, KindHessian, KindEigenPerturb, KindOverlap:
		return true
	}
	return false
}

// ReadsModels reports whether kind k analyses the weights that
// partial_train runs kept (analysis.models) rather than its own.
func (k Kind) ReadsModels() bool {
	switch k {
	case KindLogitGrads, KindHessian, KindEigenPerturb, KindOverlap:
		return true
	}
	return false
}
