package cpu

import (
	"math"

	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// optimizer applies train.Optimizer's update (SGD with momentum and
// coupled L2, per-group rates, optional per-filter LARS) to the host
// parameters, with its momentum buffers.
type optimizer struct {
	train.Optimizer
	momentum float32
	vel      [][]float32 // per param; nil when frozen
	rows     []int       // per param: output channels, LARS's rows
	rates    []train.Rate
}

func newOptimizer(spec *model.Spec, t stages.Train) (*optimizer, error) {
	opt, err := train.NewOptimizer(spec, t)
	if err != nil {
		return nil, err
	}
	o := &optimizer{Optimizer: opt, momentum: float32(opt.Momentum), rates: make([]train.Rate, len(opt.Groups))}
	for i, p := range spec.Params {
		var v []float32
		if opt.Of[i] != train.Frozen {
			v = make([]float32, model.Numel(p.Shape))
		}
		o.vel = append(o.vel, v)
		o.rows = append(o.rows, p.Shape[0])
	}
	return o, nil
}

// step applies one update with per-example learning rate lambda.
func (o *optimizer) step(params, grads [][]float32, lambda float64) {
	o.Rates(lambda, o.rates)
	o.apply(params, grads, o.rates)
}

// apply applies one update with the given per-group rates.
func (o *optimizer) apply(params, grads [][]float32, rates []train.Rate) {
	for p, g := range o.Of {
		if g == train.Frozen {
			continue
		}
		r := rates[g]
		w, dw, v := params[p], grads[p], o.vel[p]
		if !o.LARS {
			o.update(w, dw, v, r.LR, r.WD)
			continue
		}
		rows := o.rows[p]
		n := len(w) / rows
		for row := range rows {
			lo, hi := row*n, (row+1)*n
			ratio := norm(w[lo:hi]) / (norm(dw[lo:hi]) + 0.01)
			o.update(w[lo:hi], dw[lo:hi], v[lo:hi], r.LR*float32(ratio), r.WD)
		}
	}
}

func (o *optimizer) update(w, dw, v []float32, lr, wd float32) {
	rho := o.momentum
	dw, v = dw[:len(w)], v[:len(w)]
	for i := range w {
		g := dw[i] + wd*w[i]
		v[i] = rho*v[i] + g
		s := v[i]
		if o.Nesterov {
			s = g + rho*v[i]
		}
		w[i] -= lr * s
	}
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}
