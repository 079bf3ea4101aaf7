package cpu

import (
	"math"

	"speedrun/cpu/kernels"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// optimizer applies train.Optimizer's update (SGD with momentum and
// coupled L2, per-group rates and momenta, optional per-filter LARS, or
// Muon) to the host parameters, with its momentum buffers.
type optimizer struct {
	train.Optimizer
	vel   [][]float32 // per param; nil when frozen
	rows  []int       // per param: output channels, LARS's and Muon's rows
	rates []train.Rate
	muon  muonScratch
}

// muonScratch is Muon's working memory, sized once for the largest
// filter bank, so a step allocates nothing: the Nesterov update u, the
// iterate X and its next value, and the r x r products.
type muonScratch struct {
	u, x, next, a, b []float32
}

func newOptimizer(spec *model.Spec, t stages.Train) (*optimizer, error) {
	opt, err := train.NewOptimizer(spec, t, 0)
	if err != nil {
		return nil, err
	}
	o := &optimizer{Optimizer: opt, rates: make([]train.Rate, len(opt.Groups))}
	for i, p := range spec.Params {
		var v []float32
		n := model.Numel(p.Shape)
		if g := opt.Of[i]; g != train.Frozen {
			v = make([]float32, n)
			if opt.Groups[g].Rule == train.RuleMuon {
				r := min(p.Shape[0], n/p.Shape[0])
				o.muon.grow(n, r)
			}
		}
		o.vel = append(o.vel, v)
		o.rows = append(o.rows, p.Shape[0])
	}
	return o, nil
}

func (m *muonScratch) grow(n, r int) {
	if len(m.u) < n {
		m.u, m.x, m.next = make([]float32, n), make([]float32, n), make([]float32, n)
	}
	if len(m.a) < r*r {
		m.a, m.b = make([]float32, r*r), make([]float32, r*r)
	}
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
		r, grp := rates[g], o.Groups[g]
		w, dw, v := params[p], grads[p], o.vel[p]
		rho := float32(grp.Momentum)
		switch {
		case grp.Rule == train.RuleMuon:
			if r.LR != 0 { // a stopped group keeps its weights
				o.muonStep(w, dw, v, o.rows[p], r.LR, rho, grp.Nesterov)
			}
		case !o.LARS:
			sgdUpdate(w, dw, v, r.LR, r.WD, rho, grp.Nesterov)
		default:
			rows := o.rows[p]
			n := len(w) / rows
			for row := range rows {
				lo, hi := row*n, (row+1)*n
				ratio := norm(w[lo:hi]) / (norm(dw[lo:hi]) + 0.01)
				sgdUpdate(w[lo:hi], dw[lo:hi], v[lo:hi], r.LR*float32(ratio), r.WD, rho, grp.Nesterov)
			}
		}
	}
}

func sgdUpdate(w, dw, v []float32, lr, wd, rho float32, nesterov bool) {
	dw, v = dw[:len(w)], v[:len(w)]
	for i := range w {
		g := dw[i] + wd*w[i]
		v[i] = rho*v[i] + g
		s := v[i]
		if nesterov {
			s = g + rho*v[i]
		}
		w[i] -= lr * s
	}
}

// muonStep is one Muon update of a filter bank w (rows output channels):
// v = rho v + g; u = g + rho v (Nesterov) or v; w scaled to norm
// sqrt(rows); w -= lr NS(u), NS train.MuonNS's iteration in fp32 through
// SGEMM (the GPU's is bf16, as airbench's).
func (o *optimizer) muonStep(w, g, v []float32, rows int, lr, rho float32, nesterov bool) {
	u := o.muon.u[:len(w)]
	for i := range w {
		v[i] = rho*v[i] + g[i]
		u[i] = v[i]
		if nesterov {
			u[i] = g[i] + rho*v[i]
		}
	}
	s := float32(math.Sqrt(float64(rows)) / norm(w))
	for i := range w {
		w[i] *= s
	}
	x := o.muon.newtonSchulz(u, rows, len(w)/rows)
	for i := range w {
		w[i] -= lr * x[i]
	}
}

// newtonSchulz returns train.MuonNS's orthogonalisation of the rows x cols
// matrix u (row-major) in scratch memory, rows x cols again. A tall u is
// iterated transposed, as airbench's zeropower_via_newtonschulz5 does.
func (m *muonScratch) newtonSchulz(u []float32, rows, cols int) []float32 {
	ns := train.MuonNS
	n := rows * cols
	x, next := m.x[:n], m.next[:n]
	scale := float32(1 / (norm(u) + ns.Eps))
	r, c := rows, cols
	if rows > cols { // X = uᵀ, cols x rows
		r, c = cols, rows
		for i := range rows {
			for j := range cols {
				x[j*rows+i] = u[i*cols+j] * scale
			}
		}
	} else {
		for i, v := range u {
			x[i] = v * scale
		}
	}
	a, b := m.a[:r*r], m.b[:r*r]
	for range ns.Steps {
		// A = X Xᵀ; B = b A + c A A; X = a X + B X. The sizes are checked
		// here, so the calls cannot fail.
		_ = kernels.Sgemm(false, true, r, r, c, 1, x, c, x, c, 0, a, r)
		copy(b, a)
		_ = kernels.Sgemm(false, false, r, r, r, float32(ns.C), a, r, a, r, float32(ns.B), b, r)
		copy(next, x)
		_ = kernels.Sgemm(false, false, r, c, r, 1, b, r, x, c, float32(ns.A), next, c)
		x, next = next, x
	}
	if rows > cols {
		for i := range rows {
			for j := range cols {
				next[i*cols+j] = x[j*rows+i]
			}
		}
		return next
	}
	return x
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}
