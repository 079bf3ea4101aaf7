package cuda

import (
	"slices"
	"strings"
	"testing"

	"speedrun/cuda/launch"
	"speedrun/model"
	"speedrun/train"
)

// finalNet is N3, the post-8 final net, as the registry configures it.
var finalNet = model.Net{Name: "final", Width: 1, BN: "ghost", GhostBatch: 32, BNScaleInit: "one", FreezeBNScale: true,
	Act: "celu", CELUAlpha: 0.3, Order: "conv-pool-bn-act", ClassifierScale: 1.0 / 16, Whiten: true, WhitenEps: 1e-2, WhitenImages: 10000}

func TestPlanFinalNet(t *testing.T) {
	spec, err := model.Build(finalNet)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPlan(spec, train.Optimizer{}, 512, launch.BF16)
	if err != nil {
		t.Fatal(err)
	}
	// blog-stages.md §1 N3: 6,570,880 trainable parameters, of which 2,240
	// are BN biases; frozen: 729 whitening weights and 2,240 BN scales.
	if got := pl.Groups; got[GroupWeights].Len != 6570880-2240 || got[GroupBNBias].Len != 2240 || got[pl.Frozen()].Len != 729+2240 {
		t.Errorf("groups %+v", got)
	}
	if pl.ParamLen != 6570880+2969 {
		t.Errorf("ParamLen %d", pl.ParamLen)
	}
	// Groups tile the flat buffer, and every parameter sits in its group.
	off := 0
	for g, r := range pl.Groups {
		if r.Off != off {
			t.Errorf("group %d starts at %d, want %d", g, r.Off, off)
		}
		off += r.Len
	}
	covered := make([]bool, pl.ParamLen)
	for _, p := range pl.Params {
		r := pl.Groups[p.Group]
		if p.Off < r.Off || p.Off+p.Len > r.Off+r.Len {
			t.Errorf("%s [%d,%d) outside its group %+v", p.Name, p.Off, p.Off+p.Len, r)
		}
		for i := p.Off; i < p.Off+p.Len; i++ {
			if covered[i] {
				t.Fatalf("%s overlaps another parameter at %d", p.Name, i)
			}
			covered[i] = true
		}
	}
	// 8 ghost BN layers of 16 splits: mean and var per split and channel.
	if pl.StatsLen != 2*16*2240 {
		t.Errorf("StatsLen %d, want %d", pl.StatsLen, 2*16*2240)
	}
	kinds := map[Kernel]int{}
	for _, l := range pl.Layers {
		kinds[l.Kernel]++
		if l.Out%256 != 0 || l.Grad%256 != 0 {
			t.Errorf("%s: unaligned buffers %d %d", l.Name, l.Out, l.Grad)
		}
	}
	want := map[Kernel]int{KInput: 1, KConv: 9, KBNAct: 8, KFused: 8, KMaxPool: 3, KAdd: 2, KGlobalMax: 1, KLinear: 1, KScale: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d layers run %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	l1 := pl.Layers[5] // layer1.conv: 512 x 32 x 32 x 128 in bf16
	if l1.Name != "layer1.conv" || l1.Shape != [4]int{512, 32, 32, 128} || l1.Bytes != 512*32*32*128*2 {
		t.Errorf("layer1.conv plan %+v", l1)
	}
	if act := pl.Layers[4]; act.Out != pl.Layers[3].Out {
		t.Errorf("prep.act is fused but has its own buffer")
	}
	if logits := pl.Layers[len(pl.Layers)-1]; logits.Bytes != 512*10*4 {
		t.Errorf("logits bytes %d, want fp32", logits.Bytes)
	}
	// Outputs plus gradients of every unfused layer, about 2.3 GB in bf16
	// at batch 512: far inside 80 GB, and the number to watch when fusing.
	if pl.ActBytes < 1<<30 || pl.ActBytes > 4<<30 {
		t.Errorf("activation arena %d bytes", pl.ActBytes)
	}
}

func TestPlanErrors(t *testing.T) {
	spec, err := model.Build(finalNet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPlan(spec, train.Optimizer{}, 500, launch.F32); err == nil || !strings.Contains(err.Error(), "batch 500 is not a multiple of ghost batch 32") {
		t.Errorf("got %v", err)
	}
	if _, err := NewPlan(spec, train.Optimizer{}, 0, launch.F32); err == nil {
		t.Error("batch 0 accepted")
	}
}

// The registry's other networks in bf16: which outputs stay fp32, and
// which layers share their input's buffers.
func TestPlanOtherNets(t *testing.T) {
	for _, tc := range []struct {
		stage     int
		variant   string
		f32       []string // every fp32 output, in order
		shared    []string // every layer without buffers of its own
		kernelsOf map[string]Kernel
	}{
		{1, "p1.s2", []string{"linear"}, []string{"layer1.0.pre.act", "layer1.0.mid.act", "layer1.1.pre.act", "layer1.1.mid.act",
			"layer2.0.pre.act", "layer2.0.mid.act", "layer2.1.pre.act", "layer2.1.mid.act", "layer3.0.pre.act", "layer3.0.mid.act",
			"layer3.1.pre.act", "layer3.1.mid.act", "layer4.0.pre.act", "layer4.0.mid.act", "layer4.1.pre.act", "layer4.1.mid.act"},
			map[string]Kernel{"pool.avg": KGlobalAvg, "pool.cat": KConcat, "linear": KLinear}},
		{7, "p7.e1.bn", []string{"logits.scale"}, []string{"prep.act", "layer1.act", "layer1.extra.act", "layer2.act", "layer2.extra.act", "layer3.act", "layer3.extra.act", "flatten"},
			map[string]Kernel{"input.scale": KScale, "pool": KMaxPool, "head.conv": KConv, "logits.scale": KScale}},
		{7, "p7.e1.nobn", []string{"logits.scale"}, []string{"prep.bn", "layer1.bn", "layer1.extra.bn", "layer2.bn", "layer2.extra.bn", "layer3.bn", "layer3.extra.bn", "flatten"},
			map[string]Kernel{"prep.act": KAct, "prep.bn": KIdentityBN}},
		{8, "p8.s2a", []string{"linear", "logits.scale"}, []string{"prep.act", "layer1.res1.act", "layer1.res2.act", "layer3.res1.act", "layer3.res2.act"},
			map[string]Kernel{"layer1.act": KAct, "layer1.pool": KMaxPool}},
	} {
		c := stageConfig(t, tc.stage, tc.variant, "paper")
		spec, err := model.Build(c.Net)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := NewPlan(spec, train.Optimizer{}, 64, launch.BF16)
		if err != nil {
			t.Fatalf("%s: %v", tc.variant, err)
		}
		var f32, shared []string
		for i, l := range pl.Layers {
			if l.F32 {
				f32 = append(f32, l.Name)
			}
			if i > 0 && l.Out == pl.Layers[spec.Layers[i].Inputs[0]].Out {
				shared = append(shared, l.Name)
			}
			if k, ok := tc.kernelsOf[l.Name]; ok && l.Kernel != k {
				t.Errorf("%s: %s runs %s, want %s", tc.variant, l.Name, l.Kernel, k)
			}
		}
		if !slices.Equal(f32, tc.f32) || !slices.Equal(shared, tc.shared) {
			t.Errorf("%s: fp32 outputs %v, want %v; shared buffers %v, want %v", tc.variant, f32, tc.f32, shared, tc.shared)
		}
		if last := pl.Layers[len(pl.Layers)-1]; last.Bytes != 64*10*4 {
			t.Errorf("%s: logits bytes %d, want fp32", tc.variant, last.Bytes)
		}
	}
}
