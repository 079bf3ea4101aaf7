package analysis

import (
	"context"
	"fmt"
	"math/rand/v2"

	"speedrun/backend"
	"speedrun/model"
)

// E7.6, E7.7 and E7.9: what nearby parameters do to the outputs, and
// E7.10: where the Hessian's top directions point.

// perturbSalt is the stream of E7.6's random direction.
const perturbSalt = 0x9e27

// GradNorms is the "gradnorm/MODEL" measurement of E7.6 and E7.7: the
// squared norm of the gradient of class 0's mean logit per weight tensor
// (‖dy/dW‖², the post's bar chart), and every class's gradient norm.
type GradNorms struct {
	Model      string      `json:"model"`
	BN         string      `json:"bn"`
	Order      string      `json:"order"`
	Layers     []string    `json:"layers"`
	Class0     []JSONFloat `json:"class0"` // by layer
	ClassNorms []JSONFloat `json:"class_norms"`
	ParamNorm  JSONFloat   `json:"param_norm"`
	Delta      JSONFloat   `json:"delta"` // the perturbation's length
}

// runLogitGrads is E7.6 and E7.7: for each model, the gradient of each
// class's mean logit (averaged over the fixed batches), the output
// histograms with the parameters moved by delta along each of them and
// along a random unit vector, and the per-layer bars of class 0.
//
// Choice: analysis.delta is a fraction of the parameter norm (the blog's
// delta = 0.6 was "about 1% of the parameter norm" of its full-width
// models, 0.01), so that the narrower nets of the quick and smoke profiles
// are moved as far relative to their size.
func runLogitGrads(ctx context.Context, req Request) (Outcome, error) {
	return eachModel(ctx, req, func(m trainedModel) error {
		k := m.f.Spec.Classes
		dirs := make([][]float64, k)
		gn := GradNorms{Model: m.name, BN: m.rec.BN, Order: m.rec.Order, ParamNorm: JSONFloat(m.wn), Delta: JSONFloat(m.delta)}
		for c := range k {
			g, _, err := meanGrad(m.pr, m.f, m.vs, m.bs, func(int) func(logits, dlogits []float32) (float64, error) {
				return statHead(c, statMean, k)
			})(m.f.Params)
			if err != nil {
				return fmt.Errorf("gradient of class %d's mean logit: %w", c, err)
			}
			gn.ClassNorms = append(gn.ClassNorms, JSONFloat(norm2(g)))
			if c == 0 {
				for i, p := range m.f.Spec.Params {
					if o := m.vs.off[i]; o >= 0 && p.Role == model.RoleWeight {
						seg := g[o : o+model.Numel(p.Shape)]
						gn.Layers, gn.Class0 = append(gn.Layers, p.Name), append(gn.Class0, JSONFloat(dot(seg, seg)))
					}
				}
			}
			if dirs[c], err = unit(g); err != nil {
				return fmt.Errorf("class %d's mean logit: %w", c, err)
			}
		}
		if err := put(ctx, req, "gradnorm/"+m.name, gn); err != nil {
			return err
		}
		if err := m.hist(ctx, req, nil, "unperturbed", 0); err != nil {
			return err
		}
		for c, d := range dirs {
			if err := m.hist(ctx, req, d, fmt.Sprintf("grad class %d", c), c+1); err != nil {
				return err
			}
		}
		rng := rand.New(rand.NewPCG(req.Seed, perturbSalt))
		r := make([]float64, m.vs.dim)
		for i := range r {
			r[i] = rng.NormFloat64()
		}
		d, err := unit(r)
		if err != nil {
			return err
		}
		return m.hist(ctx, req, d, "random", k+1)
	})
}

// runEigenPerturb is E7.9: the output histograms with the parameters
// moved by delta along each of the top analysis.eigen Hessian
// eigenvectors that E7.8 (analysis.eigen_from) kept.
func runEigenPerturb(ctx context.Context, req Request) (Outcome, error) {
	return eachModel(ctx, req, func(m trainedModel) error {
		kv, err := loadVectors(ctx, req, req.Config.Analysis.EigenFrom, m.name)
		if err != nil {
			return err
		}
		if err := m.hist(ctx, req, nil, "unperturbed", 0); err != nil {
			return err
		}
		for i := range min(req.Config.Analysis.Eigen, len(kv.Vectors)) {
			if err := m.hist(ctx, req, kv.Vectors[i], fmt.Sprintf("v%d (lambda %.3g)", i+1, kv.Values[i]), i+1); err != nil {
				return err
			}
		}
		return nil
	})
}

// Overlap is the "overlap/MODEL" measurement of E7.10: for each kept
// eigenvector, its eigenvalue and the squared norm of its projection onto
// the span of the class means' gradients, and onto the span of the
// gradients of every class's mean, variance and skew.
type Overlap struct {
	Model    string      `json:"model"`
	BN       string      `json:"bn"`
	Values   []JSONFloat `json:"values"`
	Means    []JSONFloat `json:"means"`     // overlap with span{d mean_c}
	Stats    []JSONFloat `json:"stats"`     // overlap with span{d mean_c, d var_c, d skew_c}
	MeansDim int         `json:"means_dim"` // the spans' dimensions after
	StatsDim int         `json:"stats_dim"` // dropping dependent vectors
}

// runOverlap is E7.10: how much of each top eigenvector lies in the span
// of the class means' gradients and in the 30-dimensional span of the
// gradients of every class's logit mean, variance and skew; then Lanczos
// again on the Hessian projected orthogonal to that span.
func runOverlap(ctx context.Context, req Request) (Outcome, error) {
	return eachModel(ctx, req, func(m trainedModel) error {
		kv, err := loadVectors(ctx, req, req.Config.Analysis.EigenFrom, m.name)
		if err != nil {
			return err
		}
		k := m.f.Spec.Classes
		var grads [][]float64 // every class's mean first, then the rest
		for _, stat := range []int{statMean, statVar, statSkew} {
			for c := range k {
				g, _, err := meanGrad(m.pr, m.f, m.vs, m.bs, func(int) func(logits, dlogits []float32) (float64, error) {
					return statHead(c, stat, k)
				})(m.f.Params)
				if err != nil {
					return fmt.Errorf("gradient of class %d's logit %s: %w", c, statNames[stat], err)
				}
				grads = append(grads, g)
			}
		}
		means, stats := orthonormal(grads[:k]), orthonormal(grads)
		ov := Overlap{Model: m.name, BN: m.rec.BN, MeansDim: len(means), StatsDim: len(stats)}
		for i, v := range kv.Vectors {
			ov.Values = append(ov.Values, JSONFloat(kv.Values[i]))
			ov.Means = append(ov.Means, JSONFloat(projSq(means, v)))
			ov.Stats = append(ov.Stats, JSONFloat(projSq(stats, v)))
		}
		if err := put(ctx, req, "overlap/"+m.name, ov); err != nil {
			return err
		}
		project := func(v []float64) {
			for range 2 {
				for _, q := range stats {
					axpy(-dot(q, v), q, v)
				}
			}
		}
		e, took, err := spectrum(ctx, req, m.pr, m.f, m.bs, project)
		if err != nil {
			return fmt.Errorf("projected spectrum: %w", err)
		}
		req.Log.Info("projected hessian spectrum", "model", m.name, "top", e.Values[:min(5, len(e.Values))], "products", e.Products, "seconds", took.Seconds())
		return put(ctx, req, "projected/"+m.name, spectrumOf(m.name, m.rec, e, len(m.bs.y), req.Config.Analysis.HVPEps, took))
	})
}

// orthonormal is an orthonormal basis of span(vs) by Gram-Schmidt,
// twice per vector; a vector left with under 1e-8 of its norm is
// dependent on those before it and dropped.
func orthonormal(vs [][]float64) [][]float64 {
	var q [][]float64
	for _, v := range vs {
		w := append([]float64(nil), v...)
		n0 := norm2(w)
		for range 2 {
			for _, u := range q {
				axpy(-dot(u, w), u, w)
			}
		}
		if n := norm2(w); n > 1e-8*n0 && n > 0 {
			q = append(q, scaled(1/n, w))
		}
	}
	return q
}

// projSq is |Q^T v|^2 / |v|^2 for an orthonormal Q.
func projSq(q [][]float64, v []float64) float64 {
	var s float64
	for _, u := range q {
		d := dot(u, v)
		s += d * d
	}
	return s / dot(v, v)
}

// trainedModel is one E7.5 model as an E7.6-E7.10 cell analyses it.
type trainedModel struct {
	name  string
	f     backend.Frozen
	rec   ModelRecord
	pr    backend.Prober
	vs    vecSpace
	bs    batchSet
	wn    float64 // the trainable parameters' norm
	delta float64 // perturbations' length: analysis.delta x wn
}

// eachModel loads the fixed batches and runs fn on every model of
// analysis.models in turn.
func eachModel(ctx context.Context, req Request, fn func(trainedModel) error) (Outcome, error) {
	pr, err := backend.ProberOf(req.Backend, req.Config)
	if err != nil {
		return none(), err
	}
	bs, err := fixedBatches(ctx, req.Config, req.Data)
	if err != nil {
		return none(), err
	}
	for _, name := range req.Config.Analysis.Models {
		if err := ctx.Err(); err != nil {
			return none(), err
		}
		f, rec, err := loadModel(ctx, req, name)
		if err != nil {
			return none(), err
		}
		if err := trainable(f); err != nil {
			return none(), err
		}
		vs := newVecSpace(f.Spec)
		wn := norm2(vs.flat32(f.Params))
		m := trainedModel{name: name, f: f, rec: rec, pr: pr, vs: vs, bs: bs, wn: wn, delta: req.Config.Analysis.Delta * wn}
		if err := fn(m); err != nil {
			return none(), fmt.Errorf("%s: %w", name, err)
		}
	}
	return none(), nil
}

// hist stores the per-class histograms of the model's logits over the
// fixed batches with the parameters moved by delta along the unit vector
// dir (nil: unmoved), as panel label of the model's figure.
func (m trainedModel) hist(ctx context.Context, req Request, dir []float64, label string, order int) error {
	at := m.f
	if dir != nil {
		at.Params = m.vs.moved(m.f.Params, dir, m.delta)
	}
	k := m.f.Spec.Classes
	var all []float32
	for b := range m.bs.y {
		n := m.bs.len(b)
		logits := make([]float32, n*k)
		if err := m.pr.Logits(at, m.bs.x[b], n, logits); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		all = append(all, logits...)
	}
	h, err := ChannelHistogram(all, k, k, histBins)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	h.Group, h.Layer, h.Order = "model="+m.name, label, order
	return put(ctx, req, "hist/"+h.Group+"/"+label, h)
}
