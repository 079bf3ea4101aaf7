package cpu

import (
	"fmt"
	"math"
	"sync"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/model"
)

// Logits is backend.Prober's: the eval-mode logits of a frozen model, by
// the same interpreter as Grad (so a perturbation's logits and its
// gradients come from one rendering of the network).
func (b *Backend) Logits(f backend.Frozen, x []float32, n int, dst []float32) error {
	p, err := newFrozenPass(f, n, &b.probeConvs)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.forward(x); err != nil {
		return err
	}
	y := p.outs[len(p.outs)-1]
	if len(dst) != len(y) {
		return fmt.Errorf("logits %s: %d floats for %d examples x %d classes", f.Spec.Name, len(dst), n, f.Spec.Classes)
	}
	copy(dst, y)
	return nil
}

// Grad is backend.Prober's: one eval-mode forward pass of the frozen
// model, the objective's logit gradient from head, and one backward pass
// that adds every trainable parameter's gradient into grads. It is a
// plain interpreter over the lowered Spec, like Forward, outside the
// training graph: the training graph's BN runs in training mode only,
// and post 7's trained-model analyses need BN frozen.
func (b *Backend) Grad(f backend.Frozen, x []float32, n int, head func(logits, dlogits []float32) (float64, error), grads [][]float64) (float64, error) {
	if len(grads) != len(f.Spec.Params) {
		return 0, fmt.Errorf("grad %s: %d gradient tensors, want %d", f.Spec.Name, len(grads), len(f.Spec.Params))
	}
	p, err := newFrozenPass(f, n, &b.probeConvs)
	if err != nil {
		return 0, err
	}
	defer p.close()
	if err := p.forward(x); err != nil {
		return 0, err
	}
	last := len(p.outs) - 1
	dy := make([]float32, len(p.outs[last]))
	obj, err := head(p.outs[last], dy)
	if err != nil {
		return 0, fmt.Errorf("grad %s: objective: %w", f.Spec.Name, err)
	}
	if err := p.backward(dy, grads); err != nil {
		return 0, err
	}
	return obj, nil
}

// frozenPass is one eval-mode forward and backward pass of a frozen model
// on a batch: every layer's output is kept for the backward pass.
type frozenPass struct {
	f       backend.Frozen
	low     *model.Lowered
	n       int
	outs    [][]float32
	argmax  [][]uint8 // per max pool layer
	gArgmax [][]int32 // per global max pool layer
	convs   []*kernels.Conv
	cache   *convCache
}

// convCache holds convolutions by shape; a pass takes one out while it
// runs (so two passes never share one) and puts it back after.
type convCache struct {
	mu   sync.Mutex
	idle map[kernels.ConvShape][]*kernels.Conv
}

func (c *convCache) get(s kernels.ConvShape) (*kernels.Conv, error) {
	c.mu.Lock()
	if l := c.idle[s]; len(l) > 0 {
		cv := l[len(l)-1]
		c.idle[s] = l[:len(l)-1]
		c.mu.Unlock()
		return cv, nil
	}
	c.mu.Unlock()
	return kernels.NewConv(s)
}

func (c *convCache) put(cv *kernels.Conv) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil {
		c.idle = map[kernels.ConvShape][]*kernels.Conv{}
	}
	c.idle[cv.Shape()] = append(c.idle[cv.Shape()], cv)
}

func newFrozenPass(f backend.Frozen, n int, cache *convCache) (*frozenPass, error) {
	spec := f.Spec
	if spec == nil {
		return nil, fmt.Errorf("frozen model: nil spec")
	}
	if len(f.Params) != len(spec.Params) {
		return nil, fmt.Errorf("frozen %s: %d parameter tensors, want %d", spec.Name, len(f.Params), len(spec.Params))
	}
	for i, p := range spec.Params {
		if len(f.Params[i]) != model.Numel(p.Shape) {
			return nil, fmt.Errorf("frozen %s: parameter %s has %d floats, want %d", spec.Name, p.Name, len(f.Params[i]), model.Numel(p.Shape))
		}
	}
	if n < 1 {
		return nil, fmt.Errorf("frozen %s: batch of %d", spec.Name, n)
	}
	low, err := model.Lower(spec)
	if err != nil {
		return nil, err
	}
	k := len(spec.Layers)
	return &frozenPass{f: f, low: low, n: n, outs: make([][]float32, k), argmax: make([][]uint8, k), gArgmax: make([][]int32, k), convs: make([]*kernels.Conv, k), cache: cache}, nil
}

// close hands the pass's convolutions back to the cache.
func (p *frozenPass) close() {
	for _, c := range p.convs {
		if c != nil {
			p.cache.put(c)
		}
	}
}

// bnScale returns a BN layer's per-channel eval-mode scale gamma/sqrt(var
// + eps) and shift beta - mean*scale, in float64.
func (p *frozenPass) bnScale(i int) (scale, shift []float64, err error) {
	l := p.f.Spec.Layers[i]
	mean, vr := p.f.Mean[i], p.f.Var[i]
	c := l.BN.C
	if len(mean) != c || len(vr) != c {
		return nil, nil, fmt.Errorf("running stats of %d and %d values for %d channels", len(mean), len(vr), c)
	}
	g, b := p.f.Params[l.Params[0]], p.f.Params[l.Params[1]]
	scale, shift = make([]float64, c), make([]float64, c)
	for j := range c {
		scale[j] = float64(g[j]) / math.Sqrt(float64(vr[j])+l.BN.Eps)
		shift[j] = float64(b[j]) - float64(mean[j])*scale[j]
	}
	return scale, shift, nil
}

func (p *frozenPass) forward(x []float32) error {
	spec, n := p.f.Spec, p.n
	if len(p.f.Mean) != len(spec.Layers) || len(p.f.Var) != len(spec.Layers) {
		return fmt.Errorf("frozen %s: running stats for %d and %d layers, want %d", spec.Name, len(p.f.Mean), len(p.f.Var), len(spec.Layers))
	}
	for i, l := range spec.Layers {
		var y []float32
		var err error
		switch {
		case l.Op == model.OpConv:
			y, err = p.conv(i)
		case l.Op == model.OpBN && !l.BN.Identity:
			y, err = p.bn(i)
		case l.Op == model.OpMaxPool || l.Op == model.OpGlobalMaxPool:
			y, err = p.maxPool(i)
		case l.Op == model.OpConcat:
			err = fmt.Errorf("concat has no frozen-model pass")
		default:
			y, err = forwardLayer(spec, l, p.low.Layers[i], p.f.Params, p.outs, x, n)
		}
		if err != nil {
			return fmt.Errorf("frozen %s: layer %s: %w", spec.Name, l.Name, err)
		}
		p.outs[i] = y
	}
	return nil
}

func (p *frozenPass) conv(i int) ([]float32, error) {
	l := p.f.Spec.Layers[i]
	xs, c := p.f.Spec.Layers[l.Inputs[0]].Out, l.Conv
	if c.Bias {
		return nil, fmt.Errorf("conv bias is not supported")
	}
	cv, err := p.cache.get(kernels.ConvShape{N: p.n, H: xs[1], W: xs[2], C: xs[0], K: c.Out, R: c.K, S: c.K, Stride: c.Stride, Pad: c.Pad})
	if err != nil {
		return nil, err
	}
	p.convs[i] = cv
	y := make([]float32, p.n*model.Numel(l.Out))
	return y, cv.Forward(p.outs[l.Inputs[0]], p.f.Params[l.Params[0]], y)
}

func (p *frozenPass) bn(i int) ([]float32, error) {
	l := p.f.Spec.Layers[i]
	scale, shift, err := p.bnScale(i)
	if err != nil {
		return nil, err
	}
	in := p.outs[l.Inputs[0]]
	c := l.BN.C
	y := make([]float32, len(in))
	for j, v := range in {
		ch := j % c
		y[j] = float32(float64(v)*scale[ch] + shift[ch])
	}
	return y, nil
}

func (p *frozenPass) maxPool(i int) ([]float32, error) {
	l := p.f.Spec.Layers[i]
	xs := p.f.Spec.Layers[l.Inputs[0]].Out
	y := make([]float32, p.n*model.Numel(l.Out))
	if l.Op == model.OpGlobalMaxPool {
		p.gArgmax[i] = make([]int32, len(y))
		return y, kernels.GlobalMaxPoolForward(p.outs[l.Inputs[0]], p.n, xs[1]*xs[2], xs[0], y, p.gArgmax[i])
	}
	p.argmax[i] = make([]uint8, len(y))
	return y, kernels.MaxPoolForward(p.outs[l.Inputs[0]], p.n, xs[1], xs[2], xs[0], l.Pool.K, y, p.argmax[i])
}

// backward propagates dy (the logits' gradient) to every layer that
// needs a gradient and adds the parameter gradients into grads.
func (p *frozenPass) backward(dy []float32, grads [][]float64) error {
	spec, n := p.f.Spec, p.n
	d := make([][]float32, len(spec.Layers))
	d[len(d)-1] = dy
	// into adds g into the gradient of layer j's output.
	into := func(j int, g []float32) {
		if !p.low.Layers[j].NeedsGrad {
			return
		}
		if d[j] == nil {
			d[j] = g
			return
		}
		for k, v := range g {
			d[j][k] += v
		}
	}
	addParam := func(pi int, g []float32) error {
		if !spec.Params[pi].Trainable() {
			return nil
		}
		if grads[pi] == nil {
			grads[pi] = make([]float64, len(g))
		}
		if len(grads[pi]) != len(g) {
			return fmt.Errorf("gradient of %s: %d values, want %d", spec.Params[pi].Name, len(grads[pi]), len(g))
		}
		for k, v := range g {
			grads[pi][k] += float64(v)
		}
		return nil
	}
	for i := len(spec.Layers) - 1; i > 0; i-- {
		l, g := spec.Layers[i], d[i]
		d[i] = nil // free as we go: the pass holds every output already
		if g == nil {
			continue
		}
		in := l.Inputs[0]
		xs := spec.Layers[in].Out
		x := p.outs[in]
		need := p.low.Layers[in].NeedsGrad
		var dx []float32
		if need {
			dx = make([]float32, len(x))
		}
		var err error
		switch l.Op {
		case model.OpScale:
			if need {
				for k, v := range g {
					dx[k] = v * float32(l.Scale)
				}
			}
		case model.OpFlatten:
			if need {
				copy(dx, g)
			}
		case model.OpConv:
			cv, w := p.convs[i], p.f.Params[l.Params[0]]
			if spec.Params[l.Params[0]].Trainable() {
				dw := make([]float32, len(w))
				if err = cv.BackwardWeights(x, g, dw); err == nil {
					err = addParam(l.Params[0], dw)
				}
			}
			if err == nil && need {
				err = cv.BackwardData(g, w, dx)
			}
		case model.OpBN:
			err = p.bnBackward(i, g, dx, addParam)
		case model.OpAct:
			if need {
				err = kernels.ActBackward(activation(p.low.Layers[i].Act), x, g, dx)
			}
		case model.OpMaxPool:
			if need {
				err = kernels.MaxPoolBackward(g, p.argmax[i], n, xs[1], xs[2], xs[0], l.Pool.K, dx)
			}
		case model.OpGlobalMaxPool:
			if need {
				err = kernels.GlobalMaxPoolBackward(g, p.gArgmax[i], n, xs[1]*xs[2], xs[0], dx)
			}
		case model.OpAvgPool:
			if need {
				err = kernels.AvgPoolBackward(g, n, xs[1], xs[2], xs[0], l.Pool.K, dx)
			}
		case model.OpGlobalAvgPool:
			if need {
				err = kernels.GlobalAvgPoolBackward(g, n, xs[1]*xs[2], xs[0], dx)
			}
		case model.OpAdd:
			if need {
				copy(dx, g)
			}
			into(l.Inputs[1], append([]float32(nil), g...))
		case model.OpLinear:
			err = p.linearBackward(i, g, dx, addParam)
		default:
			err = fmt.Errorf("op %q has no frozen-model backward pass", l.Op)
		}
		if err != nil {
			return fmt.Errorf("grad %s: layer %s: %w", spec.Name, l.Name, err)
		}
		if need {
			into(in, dx)
		}
	}
	return nil
}

// bnBackward is an eval-mode BN's: y = x*scale + shift per channel, so
// dx = dy*scale, dgamma = sum dy*xhat and dbeta = sum dy.
func (p *frozenPass) bnBackward(i int, g, dx []float32, addParam func(int, []float32) error) error {
	l := p.f.Spec.Layers[i]
	if l.BN.Identity {
		if dx != nil {
			copy(dx, g)
		}
		return nil
	}
	scale, _, err := p.bnScale(i)
	if err != nil {
		return err
	}
	c := l.BN.C
	if dx != nil {
		for k, v := range g {
			dx[k] = float32(float64(v) * scale[k%c])
		}
	}
	gi, bi := l.Params[0], l.Params[1]
	if !p.f.Spec.Params[gi].Trainable() && !p.f.Spec.Params[bi].Trainable() {
		return nil
	}
	x, mean, vr := p.outs[l.Inputs[0]], p.f.Mean[i], p.f.Var[i]
	dg, db := make([]float64, c), make([]float64, c)
	for k, v := range g {
		ch := k % c
		xhat := (float64(x[k]) - float64(mean[ch])) / math.Sqrt(float64(vr[ch])+l.BN.Eps)
		dg[ch] += float64(v) * xhat
		db[ch] += float64(v)
	}
	if err := addParam(gi, toF32(dg)); err != nil {
		return err
	}
	return addParam(bi, toF32(db))
}

// linearBackward: y = x W^T (+ b): dx = dy W, dW = dy^T x, db = sum dy.
func (p *frozenPass) linearBackward(i int, g, dx []float32, addParam func(int, []float32) error) error {
	l := p.f.Spec.Layers[i]
	li, n := l.Linear, p.n
	x, w := p.outs[l.Inputs[0]], p.f.Params[l.Params[0]]
	if dx != nil {
		if err := kernels.Sgemm(false, false, n, li.In, li.Out, 1, g, li.Out, w, li.In, 0, dx, li.In); err != nil {
			return err
		}
	}
	if p.f.Spec.Params[l.Params[0]].Trainable() {
		dw := make([]float32, len(w))
		if err := kernels.Sgemm(true, false, li.Out, li.In, n, 1, g, li.Out, x, li.In, 0, dw, li.In); err != nil {
			return err
		}
		if err := addParam(l.Params[0], dw); err != nil {
			return err
		}
	}
	if li.Bias && p.f.Spec.Params[l.Params[1]].Trainable() {
		db := make([]float64, li.Out)
		for k, v := range g {
			db[k%li.Out] += float64(v)
		}
		return addParam(l.Params[1], toF32(db))
	}
	return nil
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
