package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"speedrun/backend"
)

// The Hessian of the training loss (E7.8, E7.10) by Lanczos on
// Hessian-vector products.

// gradFn is the gradient of an objective averaged over the fixed batches
// at the given parameters, as one vector, and the objective.
type gradFn func(params [][]float32) ([]float64, float64, error)

// meanGrad returns the gradient of head(b)'s objective at the frozen
// model's params, averaged over the fixed batches.
func meanGrad(pr backend.Prober, f backend.Frozen, vs vecSpace, bs batchSet, head func(b int) func(logits, dlogits []float32) (float64, error)) gradFn {
	return func(params [][]float32) ([]float64, float64, error) {
		g := vs.zeros()
		at := f
		at.Params = params
		var obj float64
		for b := range bs.y {
			o, err := pr.Grad(at, bs.x[b], bs.len(b), head(b), g)
			if err != nil {
				return nil, 0, fmt.Errorf("batch %d: %w", b, err)
			}
			obj += o
		}
		v := vs.flat(g)
		nb := float64(len(bs.y))
		for i := range v {
			v[i] /= nb
		}
		return v, obj / nb, nil
	}
}

// hvp is a Hessian-vector product by central differences of the
// gradient: H v ~ (g(w + e v) - g(w - e v)) / 2e with e = eps |w| / |v|.
// The engine's gradients are float32; everything around them (the moved
// parameters before their one rounding, the difference, the average over
// batches) is float64. eps is relative to the parameter norm so that the
// step keeps its size against float32 rounding of the weights at every
// width; TestHVPAgainstExactHessian measures the error of each eps on a
// network whose Hessian is known exactly.
func hvp(grad gradFn, vs vecSpace, params [][]float32, eps float64) Operator {
	wn := norm2(vs.flat32(params))
	return func(v, out []float64) error {
		vn := norm2(v)
		if vn == 0 {
			clear(out)
			return nil
		}
		e := eps * wn / vn
		gp, _, err := grad(vs.moved(params, v, e))
		if err != nil {
			return err
		}
		gm, _, err := grad(vs.moved(params, v, -e))
		if err != nil {
			return err
		}
		for i := range out {
			out[i] = (gp[i] - gm[i]) / (2 * e)
		}
		return nil
	}
}

// HessianHessianSpectrum is the "eigen/MODEL" measurement of E7.8 (and
// "projected/MODEL" of E7.10): the top Hessian eigenvalues of one model's
// training loss.
type HessianSpectrum struct {
	Model     string      `json:"model"` // the partial_train variant
	BN        string      `json:"bn"`
	Order     string      `json:"order"`
	Values    []JSONFloat `json:"values"`
	Residuals []JSONFloat `json:"residuals"`
	Products  int         `json:"products"`
	Converged bool        `json:"converged"`
	Batches   int         `json:"batches"`
	Eps       JSONFloat   `json:"eps"`
	Seconds   JSONFloat   `json:"seconds"`
	// Vectors is the kept eigenvectors' file, relative to the database's
	// folder (E7.8 only).
	Vectors string `json:"vectors,omitempty"`
}

// keptVectors is the file of a model's eigenvectors that E7.8 keeps for
// E7.9 and E7.10.
type keptVectors struct {
	Model   string
	Values  []float64
	Vectors [][]float64
}

// spectrum runs Lanczos on the loss Hessian of f (projected by project
// when set).
func spectrum(ctx context.Context, req Request, pr backend.Prober, f backend.Frozen, bs batchSet, project func([]float64)) (Eigen, time.Duration, error) {
	a := req.Config.Analysis
	vs := newVecSpace(f.Spec)
	kl := req.Config.Train.KLUniform
	grad := meanGrad(pr, f, vs, bs, func(b int) func(logits, dlogits []float32) (float64, error) { return lossHead(bs.y[b], kl) })
	op := hvp(grad, vs, f.Params, a.HVPEps)
	t0 := time.Now()
	n := 0
	counted := func(x, y []float64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		req.Log.Debug("hessian-vector product", "n", n)
		return op(x, y)
	}
	e, err := Lanczos(counted, vs.dim, LanczosOptions{K: a.Eigen, Tol: a.Tol, Project: project, Seed: req.Seed})
	return e, time.Since(t0), err
}

// runHessian is E7.8: the top analysis.eigen eigenvalues of the training
// loss's Hessian (cross entropy plus the KL term, averaged over the
// examples of the fixed batches, no weight decay) for each model of
// analysis.models, frozen BN. The eigenvectors are kept beside the
// database for E7.9 and E7.10.
func runHessian(ctx context.Context, req Request) (Outcome, error) {
	return eachModel(ctx, req, func(m trainedModel) error {
		e, took, err := spectrum(ctx, req, m.pr, m.f, m.bs, nil)
		if err != nil {
			return err
		}
		path, err := keepFile(req.DB, fmt.Sprintf("run%d-%s-eigen.vectors", req.RunID, m.name), keptVectors{Model: m.name, Values: e.Values, Vectors: e.Vectors})
		if err != nil {
			return err
		}
		sp := spectrumOf(m.name, m.rec, e, len(m.bs.y), req.Config.Analysis.HVPEps, took)
		sp.Vectors = path
		req.Log.Info("hessian spectrum", "model", m.name, "top", e.Values[:min(5, len(e.Values))], "products", e.Products, "converged", e.Converged, "seconds", took.Seconds())
		return put(ctx, req, "eigen/"+m.name, sp)
	})
}

func spectrumOf(name string, rec ModelRecord, e Eigen, batches int, eps float64, took time.Duration) HessianSpectrum {
	sp := HessianSpectrum{Model: name, BN: rec.BN, Order: rec.Order, Products: e.Products, Converged: e.Converged, Batches: batches,
		Eps: JSONFloat(eps), Seconds: JSONFloat(took.Seconds())}
	for i, v := range e.Values {
		sp.Values = append(sp.Values, JSONFloat(v))
		sp.Residuals = append(sp.Residuals, JSONFloat(e.Residuals[i]))
	}
	return sp
}

// loadVectors reads the eigenvectors that the newest run of the hessian
// variant from kept for model.
func loadVectors(ctx context.Context, req Request, from, model string) (keptVectors, error) {
	var kv keptVectors
	_, m, err := latestRun(ctx, req, from, "eigen/"+model)
	if err != nil {
		return kv, err
	}
	var sp HessianSpectrum
	if err := jsonUnmarshal(m, &sp); err != nil {
		return kv, err
	}
	if err := readFile(req.DB, sp.Vectors, &kv); err != nil {
		return kv, err
	}
	if len(kv.Vectors) == 0 {
		return kv, fmt.Errorf("%s kept no eigenvectors of %s", from, model)
	}
	return kv, nil
}

// unit returns v / |v|, or an error when v is zero or not finite.
func unit(v []float64) ([]float64, error) {
	n := norm2(v)
	if !(n > 0) || math.IsInf(n, 0) {
		return nil, fmt.Errorf("direction of norm %v", n)
	}
	return scaled(1/n, v), nil
}

func jsonUnmarshal(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("measurement: %w", err)
	}
	return nil
}
