package model

import (
	"fmt"
	"math"
)

// BN constants shared by every network (PyTorch BatchNorm2d defaults).
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// Build turns a validated Net into a Spec. Every network of the catalogue
// (blog-stages.md §1) is described here once; the backends compile the Spec.
func Build(n Net) (*Spec, error) {
	if err := Validate(n); err != nil {
		return nil, err
	}
	b := &builder{n: n, s: &Spec{Name: n.Name, Input: []int{3, 32, 32}, Classes: 10}}
	if n.Name == "deepfc" {
		b.s.Input = []int{n.FCWidth}
		b.s.Classes = n.FCWidth
	}
	b.s.Layers = append(b.s.Layers, Layer{Name: "input", Op: OpInput, Out: b.s.Input})
	fam, isFamily, _ := ParseFamily(n.Name)
	var last int
	switch {
	case isFamily:
		last = b.family(fam)
	case n.Name == "resnet9" || n.Name == "final":
		last = b.family(Family{Residual: true, Layers: [3]bool{true, false, true}})
	case n.Name == "b6":
		last = b.family(Family{})
	case n.Name == "dawn-resnet18":
		last = b.dawn(true)
	case n.Name == "dawn-net":
		last = b.dawn(false)
	case n.Name == "b1", n.Name == "b2", n.Name == "b3", n.Name == "b4", n.Name == "b5":
		last = b.backbone(n.Name)
	case n.Name == "simple8":
		last = b.simple8()
	case n.Name == "deepfc":
		last = b.deepfc()
	case n.Name == "airbench94":
		last = b.airbench94()
	default:
		return nil, fmt.Errorf("build network %q: no builder", n.Name)
	}
	if n.ClassifierScale != 1 && n.Name != "simple8" && n.Name != "deepfc" {
		b.scale(last, "logits.scale", n.ClassifierScale)
	}
	if b.err != nil {
		return nil, fmt.Errorf("build network %q: %w", n.Name, b.err)
	}
	return b.s, nil
}

// builder appends layers and params to a Spec, computing output shapes.
type builder struct {
	n   Net
	s   *Spec
	err error
}

// w scales a blog channel width by Net.Width (rounded, at least 1).
func (b *builder) w(c int) int { return max(1, int(math.Round(float64(c)*b.n.Width))) }

func (b *builder) out(i int) []int { return b.s.Layers[i].Out }

func (b *builder) add(l Layer) int {
	b.s.Layers = append(b.s.Layers, l)
	return len(b.s.Layers) - 1
}

func (b *builder) param(p Param) int {
	b.s.Params = append(b.s.Params, p)
	return len(b.s.Params) - 1
}

func (b *builder) conv(in int, name string, cout, k, stride, pad int, bias bool, init Init) int {
	o := b.out(in)
	if len(o) != 3 {
		b.setErr(fmt.Errorf("layer %s: conv needs a C,H,W input, got %v", name, o))
		return in
	}
	cin := o[0]
	h := (o[1]+2*pad-k)/stride + 1
	wd := (o[2]+2*pad-k)/stride + 1
	l := Layer{Name: name, Op: OpConv, Inputs: []int{in}, Out: []int{cout, h, wd},
		Conv: &Conv{In: cin, Out: cout, K: k, Stride: stride, Pad: pad, Bias: bias}}
	fan := cin * k * k
	role, frozen := RoleWeight, false
	if init == InitWhiten {
		role, frozen = RoleWhiten, true
	}
	l.Params = append(l.Params, b.param(Param{Name: name + ".weight", Shape: []int{cout, cin, k, k}, Role: role, Init: init, FanIn: fan, Frozen: frozen}))
	if bias {
		binit := init
		if binit != InitUniformFanIn && binit != InitHeUniform {
			binit = InitZeros
		}
		l.Params = append(l.Params, b.param(Param{Name: name + ".bias", Shape: []int{cout}, Role: RoleBias, Init: binit, FanIn: fan}))
	}
	return b.add(l)
}

func (b *builder) bn(in int, name string) int {
	c := b.out(in)[0]
	bn := &BN{C: c, Eps: bnEps, Momentum: bnMomentum, FreezeScale: b.n.FreezeBNScale, Identity: b.n.BN == "none"}
	if b.n.BNEps > 0 {
		bn.Eps = b.n.BNEps
	}
	if b.n.BNMomentum > 0 {
		bn.Momentum = b.n.BNMomentum
	}
	if b.n.BN == "ghost" {
		bn.Ghost = b.n.GhostBatch
	}
	sinit := InitOnes
	if b.n.BNScaleInit == "uniform" {
		sinit = InitUniform01
	}
	// Identity BN keeps its (unused) params so that the BN and no-BN
	// variants have the same Spec shape; they are frozen.
	frozenScale := b.n.FreezeBNScale || bn.Identity
	frozenBias := bn.Identity
	if b.n.Name == "simple8" { // post 7: BN scale and bias frozen at 1 and 0
		sinit, frozenScale, frozenBias = InitOnes, true, true
	}
	l := Layer{Name: name, Op: OpBN, Inputs: []int{in}, Out: b.out(in), BN: bn}
	l.Params = []int{
		b.param(Param{Name: name + ".weight", Shape: []int{c}, Role: RoleBNScale, Init: sinit, Frozen: frozenScale}),
		b.param(Param{Name: name + ".bias", Shape: []int{c}, Role: RoleBNBias, Init: InitZeros, Frozen: frozenBias}),
	}
	return b.add(l)
}

func (b *builder) act(in int, name string) int {
	a := &Act{Kind: ActKind(b.n.Act)}
	switch a.Kind {
	case ActCELU:
		a.Alpha = b.n.CELUAlpha
	case ActSoftplus:
		a.Beta, a.Threshold = b.n.SoftplusBeta, b.n.SoftplusThreshold
	}
	return b.add(Layer{Name: name, Op: OpAct, Inputs: []int{in}, Out: b.out(in), Act: a})
}

func (b *builder) pool(in int, name string, op Op, k int) int {
	o := b.out(in)
	// PyTorch's pools floor: a 31x31 map pools 2x2 to 15x15 (airbench).
	if len(o) != 3 || o[1] < k || o[2] < k || (op == OpAvgPool && (o[1]%k != 0 || o[2]%k != 0)) {
		b.setErr(fmt.Errorf("layer %s: %d x %d pool needs a C,H,W input of at least %d (divisible by it for a mean), got %v", name, k, k, k, o))
		return in
	}
	return b.add(Layer{Name: name, Op: op, Inputs: []int{in}, Out: []int{o[0], o[1] / k, o[2] / k}, Pool: &Pool{K: k}})
}

func (b *builder) global(in int, name string, op Op) int {
	return b.add(Layer{Name: name, Op: op, Inputs: []int{in}, Out: []int{b.out(in)[0]}})
}

func (b *builder) addLayers(x, y int, name string) int {
	if !equalInts(b.out(x), b.out(y)) {
		b.setErr(fmt.Errorf("layer %s: add of shapes %v and %v", name, b.out(x), b.out(y)))
	}
	return b.add(Layer{Name: name, Op: OpAdd, Inputs: []int{x, y}, Out: b.out(x)})
}

func (b *builder) concat(x, y int, name string) int {
	ox, oy := b.out(x), b.out(y)
	if len(ox) != 1 || len(oy) != 1 {
		b.setErr(fmt.Errorf("layer %s: concat needs N x C inputs, got %v and %v", name, ox, oy))
	}
	return b.add(Layer{Name: name, Op: OpConcat, Inputs: []int{x, y}, Out: []int{ox[0] + oy[0]}})
}

func (b *builder) linear(in int, name string, out int, bias bool, init Init) int {
	o := b.out(in)
	if len(o) != 1 {
		b.setErr(fmt.Errorf("layer %s: linear needs an N x C input, got %v", name, o))
		return in
	}
	l := Layer{Name: name, Op: OpLinear, Inputs: []int{in}, Out: []int{out}, Linear: &Linear{In: o[0], Out: out, Bias: bias}}
	l.Params = append(l.Params, b.param(Param{Name: name + ".weight", Shape: []int{out, o[0]}, Role: RoleWeight, Init: init, FanIn: o[0]}))
	if bias {
		l.Params = append(l.Params, b.param(Param{Name: name + ".bias", Shape: []int{out}, Role: RoleBias, Init: init, FanIn: o[0]}))
	}
	return b.add(l)
}

func (b *builder) scale(in int, name string, s float64) int {
	return b.add(Layer{Name: name, Op: OpScale, Inputs: []int{in}, Out: b.out(in), Scale: s})
}

func (b *builder) flatten(in int, name string) int {
	o := b.out(in)
	n := 1
	for _, d := range o {
		n *= d
	}
	return b.add(Layer{Name: name, Op: OpFlatten, Inputs: []int{in}, Out: []int{n}})
}

func (b *builder) setErr(err error) {
	if b.err == nil {
		b.err = err
	}
}

// bnAct is BN followed by the activation, or under the order
// "conv-act-bn-pool" the activation followed by BN.
func (b *builder) bnAct(in int, name string) int {
	if b.n.Order == "conv-act-bn-pool" {
		return b.bn(b.act(in, name+".act"), name+".bn")
	}
	return b.act(b.bn(in, name+".bn"), name+".act")
}

// cba is conv3x3 (stride 1, pad 1, no bias) -> BN -> act.
func (b *builder) cba(in int, name string, cout int) int {
	return b.bnAct(b.conv(in, name+".conv", cout, 3, 1, 1, false, InitUniformFanIn), name)
}

// convPool is a conv3x3 layer with a 2x2 max pool in the order Net.Order.
func (b *builder) convPool(in int, name string, cout int) int {
	c := b.conv(in, name+".conv", cout, 3, 1, 1, false, InitUniformFanIn)
	switch b.n.Order {
	case "conv-bn-pool-act":
		return b.act(b.pool(b.bn(c, name+".bn"), name+".pool", OpMaxPool, 2), name+".act")
	case "conv-pool-bn-act":
		return b.bnAct(b.pool(c, name+".pool", OpMaxPool, 2), name)
	default:
		return b.pool(b.bnAct(c, name), name+".pool", OpMaxPool, 2)
	}
}

// prep is the first layer: conv-BN-act from the image, or (Whiten) the
// frozen 3x3 whitening conv 3->27 then a learnable 1x1 conv 27->64.
func (b *builder) prep(in int, cout int) int {
	if !b.n.Whiten {
		return b.cba(in, "prep", cout)
	}
	wc := b.conv(in, "whiten", 27, 3, 1, 1, false, InitWhiten)
	return b.bnAct(b.conv(wc, "prep.conv", cout, 1, 1, 0, false, InitUniformFanIn), "prep")
}

// family builds B6 with Extra or Residual additions (post 4; resnet9 and
// final are residual:L1+L3).
func (b *builder) family(f Family) int {
	x := b.prep(0, b.w(64))
	for i, c := range []int{128, 256, 512} {
		name := fmt.Sprintf("layer%d", i+1)
		x = b.convPool(x, name, b.w(c))
		if !f.Layers[i] {
			continue
		}
		if f.Residual {
			r := b.cba(x, name+".res1", b.w(c))
			r = b.cba(r, name+".res2", b.w(c))
			x = b.addLayers(x, r, name+".add")
		} else {
			x = b.cba(x, name+".extra", b.w(c))
		}
	}
	x = b.global(x, "pool", OpGlobalMaxPool)
	return b.linear(x, "linear", b.s.Classes, false, InitUniformFanIn)
}

// dawn builds N0 (prepBNAct: Ben Johnson's pre-activation ResNet-18) or N1
// (bare prep conv).
func (b *builder) dawn(prepBNAct bool) int {
	x := b.conv(0, "prep.conv", b.w(64), 3, 1, 1, false, InitUniformFanIn)
	if prepBNAct {
		x = b.bnAct(x, "prep")
	}
	cin := b.w(64)
	for s, c := range []int{64, 128, 256, 256} {
		cout := b.w(c)
		for k := range 2 {
			stride := 1
			if s > 0 && k == 0 {
				stride = 2
			}
			name := fmt.Sprintf("layer%d.%d", s+1, k)
			h := b.bnAct(x, name+".pre")
			r := b.conv(h, name+".conv1", cout, 3, stride, 1, false, InitUniformFanIn)
			r = b.bnAct(r, name+".mid")
			r = b.conv(r, name+".conv2", cout, 3, 1, 1, false, InitUniformFanIn)
			short := x
			if stride != 1 || cin != cout {
				short = b.conv(h, name+".shortcut", cout, 1, stride, 0, false, InitUniformFanIn)
			}
			x = b.addLayers(r, short, name+".add")
			cin = cout
		}
	}
	return b.concatHead(x)
}

// concatHead is concat(global avg, global max) -> Linear(2C -> 10, bias).
func (b *builder) concatHead(x int) int {
	a := b.global(x, "pool.avg", OpGlobalAvgPool)
	m := b.global(x, "pool.max", OpGlobalMaxPool)
	return b.linear(b.concat(a, m, "pool.cat"), "linear", b.s.Classes, true, InitUniformFanIn)
}

// backbone builds the post-4 backbones B1-B5.
func (b *builder) backbone(name string) int {
	x := b.conv(0, "prep.conv", b.w(64), 3, 1, 1, false, InitUniformFanIn)
	widths := []int{64, 128, 256, 256}
	if name == "b5" {
		widths[3] = 512
	}
	if name != "b1" {
		x = b.bnAct(x, "prep")
	}
	for s := 1; s < 4; s++ {
		cout := b.w(widths[s])
		lname := fmt.Sprintf("layer%d", s+1)
		switch name {
		case "b1":
			if s == 1 { // stage 1: two identity blocks, each a bare BN-act
				x = b.bnAct(b.bnAct(x, "layer1.0"), "layer1.1")
			}
			x = b.conv(b.bnAct(x, lname+".0"), lname+".0.conv", cout, 1, 2, 0, false, InitUniformFanIn)
			x = b.bnAct(x, lname+".1")
		case "b2":
			x = b.cbaK(x, lname, cout, 1, 2, 0)
		case "b3":
			x = b.cbaK(x, lname, cout, 3, 2, 1)
		default: // b4, b5
			x = b.convPool(x, lname, cout)
		}
	}
	if name == "b5" {
		x = b.global(x, "pool", OpGlobalMaxPool)
		return b.linear(x, "linear", b.s.Classes, true, InitUniformFanIn)
	}
	return b.concatHead(x)
}

func (b *builder) cbaK(in int, name string, cout, k, stride, pad int) int {
	return b.bnAct(b.conv(in, name+".conv", cout, k, stride, pad, false, InitUniformFanIn), name)
}

// simple8 is the post-7 8-layer net: He-scaled convs, BN frozen at 1/0,
// input x 1/sqrt(2), head pool 4 -> 1x1 conv -> x ClassifierScale/sqrt(6)
// (classifier_scale 0.125 gives the blog's 0.125/sqrt(6)).
func (b *builder) simple8() int {
	x := b.scale(0, "input.scale", 1/math.Sqrt2)
	x = b.bnAct(b.conv(x, "prep.conv", b.w(64), 3, 1, 1, false, InitHeUniform), "prep")
	for i, c := range []int{128, 256, 512} {
		name := fmt.Sprintf("layer%d", i+1)
		x = b.bnAct(b.conv(x, name+".conv", b.w(c), 3, 1, 1, false, InitHeUniform), name)
		x = b.pool(x, name+".pool", OpMaxPool, 2)
		x = b.bnAct(b.conv(x, name+".extra.conv", b.w(c), 3, 1, 1, false, InitHeUniform), name+".extra")
	}
	x = b.pool(x, "pool", OpMaxPool, 4)
	x = b.conv(x, "head.conv", b.s.Classes, 1, 1, 0, false, InitHeUniform)
	x = b.flatten(x, "flatten")
	return b.scale(x, "logits.scale", b.n.ClassifierScale/math.Sqrt(6))
}

// deepfc is the post-7 E7.3 net: Depth bias-free Linear layers of FCWidth
// (He-uniform) with the activation between them. Its input and output are
// FCWidth-vectors (the experiment feeds N(0,1) inputs).
func (b *builder) deepfc() int {
	x := 0
	for i := range b.n.Depth {
		if i > 0 {
			x = b.act(x, fmt.Sprintf("fc%d.act", i))
		}
		x = b.linear(x, fmt.Sprintf("fc%d", i+1), b.n.FCWidth, false, InitHeUniform)
	}
	return x
}

// airbench94 is Keller Jordan's airbench94 net (cifar10-airbench
// legacy/airbench94.py; the ablations' main0 to main7): the first layer,
// then three conv groups, each conv3x3 -> maxpool 2 -> BN -> act ->
// conv3x3 -> BN -> act (widths 64, 256, 256; convs "same", no bias; the
// pools floor, 31 -> 15 -> 7 -> 3), a 3x3 max pool, and a linear head
// 256 -> 10 without bias (Build adds the logits' scale). The first layer
// is a 2x2 conv 3 -> 24 without padding: with Whiten, the frozen
// whitening filters and a learnable bias, then the activation; without,
// a learnable conv, BN and the activation (the ablation's baseline).
// Dirac initialises the first In filters of every 3x3 conv as identities.
func (b *builder) airbench94() int {
	const whiten = 2 * data3 * 2 * 2 // the 12 eigenvectors of 2x2x3 patches and their negatives
	convInit := InitUniformFanIn
	if b.n.Dirac {
		convInit = InitDirac
	}
	var x int
	if b.n.Whiten {
		x = b.conv(0, "whiten", whiten, 2, 1, 0, true, InitWhiten)
		bias := &b.s.Params[b.s.Layers[x].Params[1]]
		bias.Role, bias.Init = RoleWhitenBias, InitZeros
		if b.n.WhitenBiasInit == "uniform" {
			bias.Init = InitUniformFanIn
		}
	} else {
		x = b.bn(b.conv(0, "whiten", whiten, 2, 1, 0, false, InitUniformFanIn), "whiten.bn")
	}
	x = b.act(x, "whiten.act")
	for i, c := range []int{64, 256, 256} {
		name := fmt.Sprintf("block%d", i+1)
		x = b.conv(x, name+".conv1", b.w(c), 3, 1, 1, false, convInit)
		x = b.pool(x, name+".pool", OpMaxPool, 2)
		x = b.bnAct(x, name+".norm1")
		x = b.conv(x, name+".conv2", b.w(c), 3, 1, 1, false, convInit)
		x = b.bnAct(x, name+".norm2")
	}
	x = b.flatten(b.pool(x, "pool", OpMaxPool, 3), "flatten")
	head := InitUniformFanIn
	if b.n.HeadInit == "unit_std" {
		head = InitUnitStd
	}
	return b.linear(x, "head", b.s.Classes, false, head)
}

// data3 is an image's channels.
const data3 = 3

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// NumParams counts the elements of the trainable and frozen parameters.
func (s *Spec) NumParams() (trainable, frozen int) {
	for _, p := range s.Params {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		if p.Frozen {
			frozen += n
		} else {
			trainable += n
		}
	}
	return trainable, frozen
}

// ForwardMACs counts the multiply-accumulates of one example's forward pass
// through the conv and linear layers (the rest is negligible). A training
// step costs about 3x this (forward, backward data, backward weights).
func (s *Spec) ForwardMACs() int64 {
	var macs int64
	for _, l := range s.Layers {
		switch l.Op {
		case OpConv:
			c := l.Conv
			macs += int64(c.Out) * int64(c.In) * int64(c.K*c.K) * int64(l.Out[1]*l.Out[2])
		case OpLinear:
			macs += int64(l.Linear.In) * int64(l.Linear.Out)
		}
	}
	return macs
}
