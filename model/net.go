// Package model describes networks declaratively. A Net is the architecture
// part of a resolved experiment config; Build turns it into a Spec, a flat,
// topologically ordered list of layers that every backend compiles on its own.
package model

// Net selects and parameterises a network from the catalogue in
// ../shared/reference/blog-stages.md §1. It is plain data: it is hashed into
// the run's config hash, so every field that changes the function or the
// training of the network belongs here.
type Net struct {
	// Name is a catalogue name: "dawn-resnet18" (N0), "dawn-net" (N1),
	// "b1".."b6" (post-4 backbones), "extra:L1+L2" / "residual:L1+L3" style
	// names for the post-4 family (any non-empty subset of L1,L2,L3, and
	// "extra:L1+L2+L3,residual:L3" style combinations), "resnet9" (N2, an
	// alias of residual:L1+L3), "final" (N3), "simple8" (the post-7 8-layer
	// net), "deepfc" (the post-7 50-layer fully connected net) and
	// "airbench94" (Keller Jordan's airbench94 net: a 2x2 first conv, conv
	// groups 64/256/256 of conv-pool-BN-act-conv-BN-act, a 3x3 max pool
	// and a linear head; see Build).
	Name string `toml:"name" json:"name"`
	// Width multiplies every channel width (1 = the blog). Profiles use it to
	// shrink networks without changing their shape.
	Width float64 `toml:"width" json:"width"`
	// BN is "bn" (default), "ghost" (ghost BN with GhostBatch samples per
	// split) or "none" (BN replaced by identity, post 7).
	BN         string `toml:"bn" json:"bn"`
	GhostBatch int    `toml:"ghost_batch" json:"ghost_batch,omitempty"`
	// BNScaleInit is "uniform" (PyTorch 0.4 U[0,1], posts 1-4 before p4.s6)
	// or "one".
	BNScaleInit string `toml:"bn_scale_init" json:"bn_scale_init"`
	// FreezeBNScale fixes every BN scale at its init value (p8.s6 on).
	FreezeBNScale bool `toml:"freeze_bn_scale" json:"freeze_bn_scale"`
	// BNEps and BNMomentum replace the BN constants (PyTorch's 1e-5 and
	// 0.1; airbench: 1e-12 and 0.4); 0 keeps them. Momentum is PyTorch's:
	// the weight of the new batch in the running stats.
	BNEps      float64 `toml:"bn_eps" json:"bn_eps,omitempty"`
	BNMomentum float64 `toml:"bn_momentum" json:"bn_momentum,omitempty"`
	// Act is "relu", "celu" (with CELUAlpha), "gelu" (the exact, erf one,
	// airbench's), "shiftscale_relu" or "softplus" (with SoftplusBeta and
	// SoftplusThreshold, post 7 E7.5).
	Act               string  `toml:"act" json:"act"`
	CELUAlpha         float64 `toml:"celu_alpha" json:"celu_alpha,omitempty"`
	SoftplusBeta      float64 `toml:"softplus_beta" json:"softplus_beta,omitempty"`
	SoftplusThreshold float64 `toml:"softplus_threshold" json:"softplus_threshold,omitempty"`
	// Order of the conv+pool layers: "conv-bn-act-pool" (default),
	// "conv-bn-pool-act" (p8.s2a) or "conv-pool-bn-act" (p8.s2b); simple8
	// also takes "conv-act-bn-pool", batch norm after the activation
	// (post 7's "post" model, E7.7).
	Order string `toml:"order" json:"order"`
	// ClassifierScale multiplies the logits (0.125 from p4.s6, 1/16 from
	// p8.s6; 1 means none).
	ClassifierScale float64 `toml:"classifier_scale" json:"classifier_scale"`
	// Whiten replaces the prep conv by a frozen 3x3 PCA-whitening conv 3->27
	// computed from WhitenImages training images with WhitenEps, followed by
	// a learnable 1x1 conv 27->64 (N3). In "airbench94" it makes the first
	// layer a frozen 2x2 whitening conv 3->24 (the 12 eigenvectors and
	// their negatives) with a learnable bias, in place of a 2x2 conv and
	// its BN.
	Whiten       bool    `toml:"whiten" json:"whiten"`
	WhitenEps    float64 `toml:"whiten_eps" json:"whiten_eps,omitempty"`
	WhitenImages int     `toml:"whiten_images" json:"whiten_images,omitempty"`
	// Dirac sets the first In filters of every 3x3 conv to the identity
	// (a 1 at the centre tap of their own input channel) after the
	// default init: airbench's implicit residual.
	Dirac bool `toml:"dirac" json:"dirac,omitempty"`
	// HeadInit "unit_std" rescales the linear head's initial weight to
	// unit standard deviation (airbench94_muon); empty keeps PyTorch's.
	HeadInit string `toml:"head_init" json:"head_init,omitempty"`
	// WhitenBiasInit is the airbench94 net's whitening bias at init:
	// "zero" (airbench94, empty means it) or "uniform" (PyTorch's conv
	// default, U(+-1/sqrt(fan_in)), as airbench94_muon leaves it).
	WhitenBiasInit string `toml:"whiten_bias_init" json:"whiten_bias_init,omitempty"`
	// Depth and FCWidth parameterise "deepfc" (post 7, E7.3).
	Depth   int `toml:"depth" json:"depth,omitempty"`
	FCWidth int `toml:"fc_width" json:"fc_width,omitempty"`
}
