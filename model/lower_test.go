package model

import (
	"slices"
	"strings"
	"testing"
)

// lowerNet builds a hand-made spec: input, conv, bn, then the given tail
// layers (inputs refer to layer indices).
func lowerNet(frozenConv bool, tail ...Layer) *Spec {
	s := &Spec{Name: "t", Classes: 10, Input: []int{3, 8, 8}, Params: []Param{
		{Name: "conv.weight", Shape: []int{4, 3, 3, 3}, Role: RoleWeight, Frozen: frozenConv},
		{Name: "bn.weight", Shape: []int{4}, Role: RoleBNScale, Frozen: true},
		{Name: "bn.bias", Shape: []int{4}, Role: RoleBNBias, Frozen: true},
	}}
	s.Layers = []Layer{
		{Name: "in", Op: OpInput, Out: []int{3, 8, 8}},
		{Name: "conv", Op: OpConv, Inputs: []int{0}, Out: []int{4, 8, 8}, Conv: &Conv{In: 3, Out: 4, K: 3, Stride: 1, Pad: 1}, Params: []int{0}},
		{Name: "bn", Op: OpBN, Inputs: []int{1}, Out: []int{4, 8, 8}, BN: &BN{C: 4, Eps: 1e-5}, Params: []int{1, 2}},
	}
	s.Layers = append(s.Layers, tail...)
	return s
}

func TestLower(t *testing.T) {
	relu := &Act{Kind: ActReLU}
	act := func(in int) Layer {
		return Layer{Name: "act", Op: OpAct, Inputs: []int{in}, Out: []int{4, 8, 8}, Act: relu}
	}
	for _, tc := range []struct {
		name   string
		spec   *Spec
		fuses  int // the BN's (layer 2) fused Act, -1 none
		owners []int
		grads  []bool
	}{
		{"bn then act fuse", lowerNet(false, act(2)), 3, []int{0, 1, 2, 2}, []bool{false, true, true, true}},
		{"two consumers: no fusion", lowerNet(false, act(2), Layer{Name: "add", Op: OpAdd, Inputs: []int{2, 3}, Out: []int{4, 8, 8}}),
			-1, []int{0, 1, 2, 3, 4}, []bool{false, true, true, true, true}},
		{"not adjacent: no fusion", lowerNet(false, Layer{Name: "pool", Op: OpMaxPool, Inputs: []int{1}, Out: []int{4, 4, 4}, Pool: &Pool{K: 2}}, act(2)),
			-1, []int{0, 1, 2, 3, 4}, []bool{false, true, true, true, true}},
		{"frozen: no gradients", lowerNet(true, act(2), Layer{Name: "flat", Op: OpFlatten, Inputs: []int{3}, Out: []int{256}}),
			3, []int{0, 1, 2, 2, 2}, []bool{false, false, false, false, false}},
	} {
		low, err := Lower(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var owners []int
		var grads []bool
		for i, lo := range low.Layers {
			owners, grads = append(owners, lo.Owner), append(grads, lo.NeedsGrad)
			if lo.Fused != (i == tc.fuses) {
				t.Errorf("%s: layer %d fused %v", tc.name, i, lo.Fused)
			}
		}
		bn := low.Layers[2]
		if bn.Fuses != tc.fuses || (tc.fuses >= 0) != (bn.Act.Kind == ActReLU) || !slices.Equal(owners, tc.owners) || !slices.Equal(grads, tc.grads) {
			t.Errorf("%s: BN fuses %d (act %s), owners %v, grads %v; want %d, %v, %v", tc.name, bn.Fuses, bn.Act.Kind, owners, grads, tc.fuses, tc.owners, tc.grads)
		}
		if low.Layers[1].NHWC != [3]int{8, 8, 4} || low.Layers[1].Consumers[0] != 2 {
			t.Errorf("%s: conv layout %v, consumers %v", tc.name, low.Layers[1].NHWC, low.Layers[1].Consumers)
		}
	}
	for _, tc := range []struct {
		name string
		spec *Spec
		want string
	}{
		{"unknown activation", lowerNet(false, Layer{Name: "act", Op: OpAct, Inputs: []int{2}, Out: []int{4, 8, 8}, Act: &Act{Kind: "tanh"}}), `unknown activation "tanh"`},
		{"no activation", lowerNet(false, Layer{Name: "act", Op: OpAct, Inputs: []int{2}, Out: []int{4, 8, 8}}), "without an activation"},
		{"forward reference", lowerNet(false, Layer{Name: "add", Op: OpAdd, Inputs: []int{2, 4}, Out: []int{4, 8, 8}}), "not before it"},
		{"bad shape", lowerNet(false, Layer{Name: "x", Op: OpScale, Inputs: []int{2}, Out: []int{4, 8}}), "want C,H,W or C"},
	} {
		if _, err := Lower(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestLowerRegistryNets: every built network lowers, and each BN fuses
// exactly the activation that follows it when that is its only consumer.
func TestLowerRegistryNets(t *testing.T) {
	for _, name := range []string{"resnet9", "final", "simple8", "dawn-resnet18", "dawn-net"} {
		n := Net{Name: name, Width: 0.25, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125, Depth: 2, FCWidth: 8}
		spec, err := Build(n)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		low, err := Lower(spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fused := 0
		for i, lo := range low.Layers {
			if lo.Fused {
				fused++
				if in := spec.Layers[i].Inputs[0]; low.Layers[in].Fuses != i || in != i-1 {
					t.Errorf("%s: act %d fused into %d", name, i, in)
				}
			}
		}
		if fused == 0 {
			t.Errorf("%s: no BN fuses its activation", name)
		}
	}
}
