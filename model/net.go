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
	// net) and "deepfc" (the post-7 50-layer fully connected net).
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
	// Act is "relu", "celu" (with CELUAlpha), "shiftscale_relu" or
	// "softplus" (with SoftplusBeta and SoftplusThreshold, post 7 E7.5).
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
	// a learnable 1x1 conv 27->64 (N3).
	Whiten       bool    `toml:"whiten" json:"whiten"`
	WhitenEps    float64 `toml:"whiten_eps" json:"whiten_eps,omitempty"`
	WhitenImages int     `toml:"whiten_images" json:"whiten_images,omitempty"`
	// Depth and FCWidth parameterise "deepfc" (post 7, E7.3).
	Depth   int `toml:"depth" json:"depth,omitempty"`
	FCWidth int `toml:"fc_width" json:"fc_width,omitempty"`
}
