package model

import (
	"fmt"
	"testing"
)

// blogNet is a Net with the defaults of the early posts.
func blogNet(name string) Net {
	n := Net{Name: name, Width: 1, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 1, Depth: 4, FCWidth: 16}
	if name == "airbench94" {
		n.Order = "conv-pool-bn-act"
	}
	return n
}

// finalNet is N3 as post 8 configures it.
func finalNet() Net {
	n := blogNet("final")
	n.BN, n.GhostBatch, n.FreezeBNScale = "ghost", 32, true
	n.Act, n.CELUAlpha = "celu", 0.3
	n.Order = "conv-pool-bn-act"
	n.ClassifierScale = 1.0 / 16
	n.Whiten, n.WhitenEps, n.WhitenImages = true, 1e-2, 10000
	return n
}

func TestBuildParamCounts(t *testing.T) {
	tests := []struct {
		net              Net
		trainable, fixed int
	}{
		{blogNet("resnet9"), 6573120, 0},
		{blogNet("residual:L1+L3"), 6573120, 0},
		{finalNet(), 6570880, 729 + 2240},
	}
	for _, tt := range tests {
		s, err := Build(tt.net)
		if err != nil {
			t.Fatalf("Build(%s): %v", tt.net.Name, err)
		}
		tr, fr := s.NumParams()
		if tr != tt.trainable || fr != tt.fixed {
			t.Errorf("%s: %d trainable + %d frozen params, want %d + %d", tt.net.Name, tr, fr, tt.trainable, tt.fixed)
		}
	}
	s, _ := Build(finalNet())
	whiten := 0
	for _, p := range s.Params {
		if p.Role == RoleWhiten {
			whiten += p.Shape[0] * p.Shape[1] * p.Shape[2] * p.Shape[3]
			if !p.Frozen || p.Init != InitWhiten {
				t.Errorf("whitening param %s: frozen %v init %s", p.Name, p.Frozen, p.Init)
			}
		}
	}
	if whiten != 729 {
		t.Errorf("final: %d whitening params, want 729", whiten)
	}
}

func TestBuildResNet9MACs(t *testing.T) {
	s, err := Build(blogNet("resnet9"))
	if err != nil {
		t.Fatal(err)
	}
	// 2.2756 GFLOP per training image = 3 passes x 2 FLOP per MAC.
	got := float64(s.ForwardMACs()) * 6 / 1e9
	if got < 2.27 || got > 2.28 {
		t.Errorf("resnet9: %.4f GFLOP per training image, want about 2.2756", got)
	}
}

// allNames lists every fixed name and every post-4 family member.
func allNames() []string {
	names := Names()
	for _, kind := range []string{"extra", "residual"} {
		for mask := 1; mask < 8; mask++ {
			name := kind + ":"
			sep := ""
			for k := range 3 {
				if mask&(1<<k) != 0 {
					name += fmt.Sprintf("%sL%d", sep, k+1)
					sep = "+"
				}
			}
			names = append(names, name)
		}
	}
	return names
}

func TestBuildAllNamesShapes(t *testing.T) {
	for _, name := range allNames() {
		for _, width := range []float64{1, 1.0 / 16} {
			n := blogNet(name)
			n.Width = width
			s, err := Build(n)
			if err != nil {
				t.Errorf("Build(%s, width %v): %v", name, width, err)
				continue
			}
			checkShapes(t, s)
		}
	}
}

// checkShapes walks the Spec and checks every layer's Out against its inputs.
func checkShapes(t *testing.T, s *Spec) {
	t.Helper()
	if s.Layers[0].Op != OpInput {
		t.Fatalf("%s: first layer is %s", s.Name, s.Layers[0].Op)
	}
	names := map[string]bool{}
	for _, p := range s.Params {
		if names[p.Name] {
			t.Errorf("%s: duplicate param %s", s.Name, p.Name)
		}
		names[p.Name] = true
	}
	for i, l := range s.Layers[1:] {
		i++
		for _, in := range l.Inputs {
			if in >= i {
				t.Fatalf("%s: layer %s reads later layer %d", s.Name, l.Name, in)
			}
		}
		in := s.Layers[l.Inputs[0]].Out
		switch l.Op {
		case OpConv:
			c := l.Conv
			if in[0] != c.In || len(l.Out) != 3 || l.Out[0] != c.Out {
				t.Errorf("%s: %s: in %v conv %+v out %v", s.Name, l.Name, in, *c, l.Out)
			}
			w := s.Params[l.Params[0]].Shape
			if w[0] != c.Out || w[1] != c.In || w[2] != c.K || w[3] != c.K {
				t.Errorf("%s: %s: weight shape %v", s.Name, l.Name, w)
			}
		case OpBN, OpAct, OpScale:
			if fmt.Sprint(in) != fmt.Sprint(l.Out) {
				t.Errorf("%s: %s: in %v out %v", s.Name, l.Name, in, l.Out)
			}
			if l.Op == OpBN && (l.BN.C != in[0] || s.Params[l.Params[0]].Shape[0] != in[0]) {
				t.Errorf("%s: %s: BN C %d for input %v", s.Name, l.Name, l.BN.C, in)
			}
		case OpMaxPool, OpAvgPool:
			k := l.Pool.K
			// Pools floor (PyTorch's): 31 -> 15 in airbench94.
			if l.Out[0] != in[0] || l.Out[1] != in[1]/k || l.Out[2] != in[2]/k {
				t.Errorf("%s: %s: in %v out %v", s.Name, l.Name, in, l.Out)
			}
		case OpGlobalMaxPool, OpGlobalAvgPool:
			if len(l.Out) != 1 || l.Out[0] != in[0] {
				t.Errorf("%s: %s: in %v out %v", s.Name, l.Name, in, l.Out)
			}
		case OpAdd:
			if fmt.Sprint(in) != fmt.Sprint(s.Layers[l.Inputs[1]].Out) {
				t.Errorf("%s: %s: add of %v and %v", s.Name, l.Name, in, s.Layers[l.Inputs[1]].Out)
			}
		case OpConcat:
			if l.Out[0] != in[0]+s.Layers[l.Inputs[1]].Out[0] {
				t.Errorf("%s: %s: concat out %v", s.Name, l.Name, l.Out)
			}
		case OpLinear:
			if len(in) != 1 || in[0] != l.Linear.In || l.Out[0] != l.Linear.Out {
				t.Errorf("%s: %s: in %v linear %+v", s.Name, l.Name, in, *l.Linear)
			}
		}
	}
	last := s.Layers[len(s.Layers)-1].Out
	if len(last) != 1 || last[0] != s.Classes {
		t.Errorf("%s: logits shape %v, want [%d]", s.Name, last, s.Classes)
	}
}

func TestBuildOptions(t *testing.T) {
	n := blogNet("resnet9")
	n.ClassifierScale = 0.125
	n.BN, n.GhostBatch = "ghost", 32
	n.Act, n.CELUAlpha = "celu", 0.075
	n.Order = "conv-pool-bn-act"
	n.BNScaleInit = "uniform"
	s, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	last := s.Layers[len(s.Layers)-1]
	if last.Op != OpScale || last.Scale != 0.125 {
		t.Errorf("last layer %s scale %v, want scale 0.125", last.Op, last.Scale)
	}
	for _, l := range s.Layers {
		if l.Op == OpBN && (l.BN.Ghost != 32 || s.Params[l.Params[0]].Init != InitUniform01) {
			t.Errorf("%s: ghost %d init %s", l.Name, l.BN.Ghost, s.Params[l.Params[0]].Init)
		}
		if l.Op == OpAct && (l.Act.Kind != ActCELU || l.Act.Alpha != 0.075) {
			t.Errorf("%s: act %+v", l.Name, *l.Act)
		}
		if l.Name == "layer1.pool" && s.Layers[l.Inputs[0]].Op != OpConv {
			t.Errorf("conv-pool-bn-act: layer1.pool reads %s", s.Layers[l.Inputs[0]].Op)
		}
	}
	if _, err := Build(Net{Name: "nope"}); err == nil {
		t.Error("Build(nope) succeeded")
	}
}

// The airbench94 net is the one the ablation README counts: 1,971,640
// parameters besides the 1,152 BN scales fixed at 1 (whitening filters
// included), its
// spatial sizes 32 -> 31 -> 15 -> 7 -> 3 -> 1, and about 0.36 PFLOP for
// airbench94's 476 steps of 1024 (forward MACs x 6 per training image).
func TestBuildAirbench94(t *testing.T) {
	n := blogNet("airbench94")
	n.Act, n.Whiten, n.WhitenEps, n.WhitenImages, n.Order = "gelu", true, 5e-4, 5000, "conv-pool-bn-act"
	n.BNEps, n.BNMomentum, n.FreezeBNScale, n.BNScaleInit, n.Dirac = 1e-12, 0.4, true, "one", true
	s, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	trainable, frozen := s.NumParams()
	if trainable+frozen != 1971640+1152 {
		t.Errorf("airbench94: %d + %d parameters, want 1,971,640 + 1,152 BN scales", trainable, frozen)
	}
	sizes := map[string][]int{"whiten": {24, 31, 31}, "block1.pool": {64, 15, 15}, "block2.pool": {256, 7, 7}, "block3.pool": {256, 3, 3}, "pool": {256, 1, 1}}
	for _, l := range s.Layers {
		if want, ok := sizes[l.Name]; ok && fmt.Sprint(l.Out) != fmt.Sprint(want) {
			t.Errorf("%s: out %v, want %v", l.Name, l.Out, want)
		}
		if l.Op == OpBN && (l.BN.Eps != 1e-12 || l.BN.Momentum != 0.4 || !l.BN.FreezeScale) {
			t.Errorf("%s: BN %+v", l.Name, *l.BN)
		}
	}
	pflop := float64(s.ForwardMACs()) * 6 * 476 * 1024 / 1e15
	if pflop < 0.34 || pflop > 0.38 {
		t.Errorf("airbench94: %.3f PFLOP for 476 steps of 1024, want about 0.36", pflop)
	}
	roles := map[ParamRole]int{}
	for _, p := range s.Params {
		roles[p.Role]++
		switch {
		case p.Role == RoleWhitenBias && (p.Init != InitZeros || p.Frozen):
			t.Errorf("whitening bias %+v", p)
		case p.Role == RoleWeight && len(p.Shape) == 4 && p.Init != InitDirac:
			t.Errorf("%s: init %s, want dirac", p.Name, p.Init)
		}
	}
	if roles[RoleWhiten] != 1 || roles[RoleWhitenBias] != 1 || roles[RoleBNBias] != 6 || roles[RoleWeight] != 7 {
		t.Errorf("roles %v", roles)
	}
	// Without whitening the first layer is a learnable conv and its BN.
	n.Whiten = false
	if s, err = Build(n); err != nil {
		t.Fatal(err)
	}
	if s.Layers[1].Name != "whiten" || s.Layers[2].Op != OpBN || s.Params[0].Role != RoleWeight || s.Layers[1].Conv.Bias {
		t.Errorf("no whitening: layers %s %s, param %+v", s.Layers[1].Name, s.Layers[2].Op, s.Params[0])
	}
}

// Dirac's identity filters, against torch.nn.init.dirac_ written out: a
// 1 at the centre tap of filter o's own channel o, for o < In; the other
// filters keep their values. UnitStd leaves an unbiased std of 1.
func TestDiracAndUnitStd(t *testing.T) {
	shape := []int{4, 2, 3, 3}
	w := make([]float32, Numel(shape))
	for i := range w {
		w[i] = 7
	}
	if err := Dirac(w, shape); err != nil {
		t.Fatal(err)
	}
	for o := range 4 {
		for c := range 2 {
			for k := range 9 {
				v := w[((o*2)+c)*9+k]
				want := float32(7)
				if o < 2 {
					want = 0
					if c == o && k == 4 {
						want = 1
					}
				}
				if v != want {
					t.Fatalf("w[%d,%d,%d] = %v, want %v", o, c, k, v, want)
				}
			}
		}
	}
	if err := Dirac(w, []int{4, 2, 3}); err == nil {
		t.Error("a 3-d shape: no error")
	}
	x := []float32{1, 2, 3, 4, 10}
	UnitStd(x)
	var m, ss float64
	for _, v := range x {
		m += float64(v) / 5
	}
	for _, v := range x {
		ss += (float64(v) - m) * (float64(v) - m)
	}
	if sd := ss / 4; sd < 1-1e-6 || sd > 1+1e-6 {
		t.Errorf("variance after UnitStd %v, want 1", sd)
	}
}
