package model

import (
	"fmt"
	"slices"
	"strings"
)

// Catalogue names other than the post-4 family.
var fixedNames = []string{
	"dawn-resnet18",                    // N0: Ben Johnson's DAWNBench pre-activation ResNet-18
	"dawn-net",                         // N1: Page's replication without the duplicated BN-ReLU
	"b1", "b2", "b3", "b4", "b5", "b6", // post-4 backbones
	"resnet9", // N2 = residual:L1+L3
	"final",   // N3: the post-8 net
	"simple8", // post 7: the 8-layer unbranched net
	"deepfc",  // post 7 E7.3: the deep fully connected ReLU net
	// stage 10: Keller Jordan's airbench94 net (and its ablations)
	"airbench94",
}

// Names lists every fixed catalogue name; the post-4 family adds
// "extra:..." and "residual:..." names (see ParseFamily).
func Names() []string { return slices.Clone(fixedNames) }

// Family is a post-4 network: B6 plus an Extra or Residual addition at a
// non-empty subset of the layers L1, L2, L3.
type Family struct {
	Residual bool    // residual:Lk (two convs added to the pool output) or extra:Lk (one conv)
	Layers   [3]bool // L1, L2, L3
}

// ParseFamily parses "extra:L1+L2" or "residual:L1+L3". Layers must be
// distinct, in increasing order, and at least one.
func ParseFamily(name string) (Family, bool, error) {
	kind, rest, ok := strings.Cut(name, ":")
	if !ok {
		return Family{}, false, nil
	}
	var f Family
	switch kind {
	case "extra":
	case "residual":
		f.Residual = true
	default:
		return Family{}, true, fmt.Errorf("network %q: family must be \"extra\" or \"residual\", not %q", name, kind)
	}
	if rest == "" {
		return Family{}, true, fmt.Errorf("network %q: no layers after %q (want e.g. %s:L1+L3)", name, kind+":", kind)
	}
	last := 0
	for _, l := range strings.Split(rest, "+") {
		var k int
		switch l {
		case "L1":
			k = 1
		case "L2":
			k = 2
		case "L3":
			k = 3
		default:
			return Family{}, true, fmt.Errorf("network %q: layer %q is not L1, L2 or L3", name, l)
		}
		if k <= last {
			return Family{}, true, fmt.Errorf("network %q: layers must be distinct and in order L1+L2+L3", name)
		}
		last = k
		f.Layers[k-1] = true
	}
	return f, true, nil
}

// Validate checks a fully resolved Net.
func Validate(n Net) error {
	if _, isFamily, err := ParseFamily(n.Name); isFamily {
		if err != nil {
			return err
		}
	} else if !slices.Contains(fixedNames, n.Name) {
		return fmt.Errorf("unknown network %q (known: %s, or extra:/residual: with L1+L2+L3 subsets)", n.Name, strings.Join(fixedNames, ", "))
	}
	if !(n.Width > 0) {
		return fmt.Errorf("network %q: width multiplier must be > 0, got %v", n.Name, n.Width)
	}
	switch n.BN {
	case "bn", "none":
	case "ghost":
		if n.GhostBatch <= 0 {
			return fmt.Errorf("network %q: ghost BN needs ghost_batch > 0", n.Name)
		}
	default:
		return fmt.Errorf("network %q: bn must be \"bn\", \"ghost\" or \"none\", not %q", n.Name, n.BN)
	}
	if n.BN != "ghost" && n.GhostBatch != 0 {
		return fmt.Errorf("network %q: ghost_batch is set but bn is %q", n.Name, n.BN)
	}
	switch n.BNScaleInit {
	case "uniform", "one":
	default:
		return fmt.Errorf("network %q: bn_scale_init must be \"uniform\" or \"one\", not %q", n.Name, n.BNScaleInit)
	}
	switch n.Act {
	case "relu", "shiftscale_relu", "gelu":
	case "celu":
		if !(n.CELUAlpha > 0) {
			return fmt.Errorf("network %q: celu needs celu_alpha > 0", n.Name)
		}
	case "softplus":
		if !(n.SoftplusBeta > 0) || !(n.SoftplusThreshold > 0) {
			return fmt.Errorf("network %q: softplus needs softplus_beta > 0 and softplus_threshold > 0", n.Name)
		}
	default:
		return fmt.Errorf("network %q: act must be \"relu\", \"celu\", \"gelu\", \"shiftscale_relu\" or \"softplus\", not %q", n.Name, n.Act)
	}
	if n.Act != "softplus" && (n.SoftplusBeta != 0 || n.SoftplusThreshold != 0) {
		return fmt.Errorf("network %q: softplus_beta and softplus_threshold are set but act is %q", n.Name, n.Act)
	}
	switch {
	case n.BNEps < 0:
		return fmt.Errorf("network %q: bn_eps must be > 0 (0: PyTorch's 1e-5), got %v", n.Name, n.BNEps)
	case n.BNMomentum < 0 || n.BNMomentum > 1:
		return fmt.Errorf("network %q: bn_momentum must be in (0, 1] (0: PyTorch's 0.1), got %v", n.Name, n.BNMomentum)
	case n.HeadInit != "" && n.HeadInit != "unit_std":
		return fmt.Errorf("network %q: head_init must be \"unit_std\" or absent, not %q", n.Name, n.HeadInit)
	case n.WhitenBiasInit != "" && n.WhitenBiasInit != "zero" && n.WhitenBiasInit != "uniform":
		return fmt.Errorf("network %q: whiten_bias_init must be \"zero\" or \"uniform\", not %q", n.Name, n.WhitenBiasInit)
	case n.Name == "airbench94" && n.Order != "conv-pool-bn-act":
		return fmt.Errorf("network airbench94: its groups pool before BN: order must be \"conv-pool-bn-act\", not %q", n.Order)
	case n.Name != "airbench94" && (n.Dirac || n.HeadInit != "" || n.WhitenBiasInit != ""):
		return fmt.Errorf("network %q: dirac, head_init and whiten_bias_init belong to the airbench94 net", n.Name)
	}
	switch n.Order {
	case "conv-bn-act-pool", "conv-bn-pool-act", "conv-pool-bn-act":
	case "conv-act-bn-pool":
		// Only simple8 builds every BN through bnAct; the post-4 family
		// has its own pooling orders.
		if n.Name != "simple8" {
			return fmt.Errorf("network %q: order conv-act-bn-pool (BN after the activation) is built for simple8 only", n.Name)
		}
	default:
		return fmt.Errorf("network %q: order must be conv-bn-act-pool, conv-bn-pool-act, conv-pool-bn-act or (simple8) conv-act-bn-pool, not %q", n.Name, n.Order)
	}
	if !(n.ClassifierScale > 0) {
		return fmt.Errorf("network %q: classifier_scale must be > 0, got %v", n.Name, n.ClassifierScale)
	}
	if n.Whiten && (!(n.WhitenEps > 0) || n.WhitenImages <= 0) {
		return fmt.Errorf("network %q: whiten needs whiten_eps > 0 and whiten_images > 0", n.Name)
	}
	if n.Name == "deepfc" && (n.Depth <= 0 || n.FCWidth <= 0) {
		return fmt.Errorf("network deepfc needs depth > 0 and fc_width > 0")
	}
	return nil
}
