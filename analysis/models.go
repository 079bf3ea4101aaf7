package analysis

import (
	"cmp"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/results"
	"speedrun/stages"
	"speedrun/train"
)

// The partly trained models of post 7 (E7.5) and what E7.6-E7.10 share:
// the fixed batches, the kept weights, the parameter vectors and the
// objectives whose gradients the engine computes.

// fixedSeed seeds the fixed batches' one augmentation draw and order. It
// is not the cell's seed: every model and every cell of E7.5-E7.10 reads
// the same batches, as the blog's analyses did.
const fixedSeed = 0xf1ed

// batchSet is post 7's fixed batches: Batches batches of Batch training
// images, one draw of the config's augmentation in one shuffled order,
// the same for every model and every cell of a seed.
type batchSet struct {
	x [][]float32
	y [][]int32
}

func (b batchSet) len(i int) int { return len(b.y[i]) }

// fixedBatches draws cfg's fixed batches of ds (its training subset).
func fixedBatches(ctx context.Context, cfg stages.Config, ds *data.Set) (batchSet, error) {
	a := cfg.Analysis
	set, err := ds.Sized(cfg.Data.TrainSize, cfg.Data.TestSize)
	if err != nil {
		return batchSet{}, err
	}
	aug := train.Augment(cfg.Data)
	pad := 0
	if cfg.Data.Crop {
		pad = data.CropPad
	}
	prep, err := data.Prepare(set, pad)
	if err != nil {
		return batchSet{}, err
	}
	size := min(a.Batch, prep.TrainLen())
	ld, err := data.NewLoader(prep, size, true)
	if err != nil {
		return batchSet{}, err
	}
	plan, err := data.NewEpochPlan(aug, pad, prep.TrainLen())
	if err != nil {
		return batchSet{}, err
	}
	plan.Draw(fixedSeed, 0)
	var bs batchSet
	for b, err := range ld.Epoch(ctx, plan) {
		if err != nil {
			return batchSet{}, err
		}
		if len(bs.y) == a.Batches {
			break
		}
		bs.x, bs.y = append(bs.x, slices.Clone(b.X)), append(bs.y, slices.Clone(b.Y))
	}
	if len(bs.y) < a.Batches {
		return batchSet{}, fmt.Errorf("analysis.batches %d of %d images: the %d training images make only %d", a.Batches, size, prep.TrainLen(), len(bs.y))
	}
	return bs, nil
}

// keptModel is the file E7.5 keeps beside the database: the network, its
// trained parameters and its refreshed BN statistics.
type keptModel struct {
	Variant   string
	Net       model.Net
	Params    [][]float32
	Mean, Var [][]float32 // by layer index, as backend.Frozen
}

// ModelRecord is the "model" measurement of an E7.5 run: where its
// weights are and how the frozen model does on the fixed batches.
type ModelRecord struct {
	// Path is the kept weights' file, relative to the database's folder.
	Path      string    `json:"path"`
	BN        string    `json:"bn"`    // net.bn
	Order     string    `json:"order"` // net.order ("conv-act-bn-pool": the "post" model)
	ParamNorm JSONFloat `json:"param_norm"`
	// FrozenLoss and FrozenAcc are the frozen model's mean loss and
	// accuracy on the fixed batches.
	FrozenLoss JSONFloat     `json:"frozen_loss"`
	FrozenAcc  JSONFloat     `json:"frozen_acc"`
	Epochs     []StressEpoch `json:"epochs"`
}

// filesDir is the folder beside the database where post 7 keeps its
// models and eigenvectors: results/speedrun.sqlite keeps them in
// results/speedrun.files/.
func filesDir(db *results.DB) (string, error) {
	p := db.Path()
	if p == "" || strings.HasPrefix(p, ":memory:") || strings.HasPrefix(p, "file::memory:") {
		return "", errors.New("the results database is in memory: there is no folder beside it to keep files in")
	}
	return strings.TrimSuffix(p, filepath.Ext(p)) + ".files", nil
}

// keepFile gob-encodes v into name in filesDir (temp file + rename) and
// returns its path relative to the database's folder.
func keepFile(db *results.DB, name string, v any) (string, error) {
	dir, err := filesDir(db)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("keep %s: %w", name, err)
	}
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return "", fmt.Errorf("keep %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	if err := gob.NewEncoder(f).Encode(v); err != nil {
		f.Close()
		return "", fmt.Errorf("keep %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("keep %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(f.Name(), path); err != nil {
		return "", fmt.Errorf("keep %s: %w", name, err)
	}
	return filepath.Rel(filepath.Dir(db.Path()), path)
}

// readFile decodes a kept file (a path relative to the database's folder).
func readFile(db *results.DB, rel string, v any) error {
	f, err := os.Open(filepath.Join(filepath.Dir(db.Path()), rel))
	if err != nil {
		return fmt.Errorf("kept file: %w", err)
	}
	defer f.Close()
	if err := gob.NewDecoder(f).Decode(v); err != nil {
		return fmt.Errorf("kept file %s: %w", rel, err)
	}
	return nil
}

// latestRun finds the newest finished run of variant at the request's
// profile on the request's dataset, and returns its measurement name.
func latestRun(ctx context.Context, req Request, variant, name string) (results.Run, string, error) {
	runs, err := req.DB.Runs(ctx, results.Filter{Variants: []string{variant}, Profile: req.Config.Profile, Statuses: []results.Status{results.StatusDone}})
	if err != nil {
		return results.Run{}, "", err
	}
	runs = slices.DeleteFunc(runs, func(r results.Run) bool { return r.DataSum != req.Data.Checksum })
	if len(runs) == 0 {
		return results.Run{}, "", fmt.Errorf("no finished run of %s at profile %s on this dataset: run it first (runner run --stage %d --variant %s --profile %s)",
			variant, req.Config.Profile, req.Config.Stage, variant, req.Config.Profile)
	}
	r := slices.MaxFunc(runs, func(a, b results.Run) int { return cmp.Compare(a.ID, b.ID) })
	ms, err := req.DB.MeasurementsByName(ctx, r.ID)
	if err != nil {
		return r, "", err
	}
	m, ok := ms[name]
	if !ok {
		return r, "", fmt.Errorf("run %d of %s has no %q measurement", r.ID, variant, name)
	}
	return r, m, nil
}

// loadModel reads the model kept by the newest E7.5 run of variant.
func loadModel(ctx context.Context, req Request, variant string) (backend.Frozen, ModelRecord, error) {
	var rec ModelRecord
	r, m, err := latestRun(ctx, req, variant, "model")
	if err != nil {
		return backend.Frozen{}, rec, err
	}
	if err := json.Unmarshal([]byte(m), &rec); err != nil {
		return backend.Frozen{}, rec, fmt.Errorf("run %d model: %w", r.ID, err)
	}
	var km keptModel
	if err := readFile(req.DB, rec.Path, &km); err != nil {
		return backend.Frozen{}, rec, err
	}
	spec, err := model.Build(km.Net)
	if err != nil {
		return backend.Frozen{}, rec, err
	}
	return backend.Frozen{Spec: spec, Params: km.Params, Mean: km.Mean, Var: km.Var}, rec, nil
}

// vecSpace maps the trainable parameters of a spec to one float64
// vector (Spec.Params order, each tensor flat) and back.
type vecSpace struct {
	spec *model.Spec
	off  []int // by param: its offset in the vector, -1 when frozen
	dim  int
}

func newVecSpace(spec *model.Spec) vecSpace {
	s := vecSpace{spec: spec, off: make([]int, len(spec.Params))}
	for i, p := range spec.Params {
		s.off[i] = -1
		if p.Trainable() {
			s.off[i] = s.dim
			s.dim += model.Numel(p.Shape)
		}
	}
	return s
}

// flat returns the trainable entries of ts as one vector.
func (s vecSpace) flat(ts [][]float64) []float64 {
	v := make([]float64, s.dim)
	for i, o := range s.off {
		if o >= 0 && ts[i] != nil {
			copy(v[o:], ts[i])
		}
	}
	return v
}

// flat32 is flat for float32 tensors.
func (s vecSpace) flat32(ts [][]float32) []float64 {
	v := make([]float64, s.dim)
	for i, o := range s.off {
		if o >= 0 {
			for j, x := range ts[i] {
				v[o+j] = float64(x)
			}
		}
	}
	return v
}

// moved returns params with the trainable ones moved by t*v, computed in
// float64 and rounded once to float32; frozen tensors are shared.
func (s vecSpace) moved(params [][]float32, v []float64, t float64) [][]float32 {
	out := make([][]float32, len(params))
	for i, o := range s.off {
		if o < 0 {
			out[i] = params[i]
			continue
		}
		out[i] = make([]float32, len(params[i]))
		for j, x := range params[i] {
			out[i][j] = float32(float64(x) + t*v[o+j])
		}
	}
	return out
}

// zeros returns a gradient accumulator for Prober.Grad.
func (s vecSpace) zeros() [][]float64 {
	g := make([][]float64, len(s.spec.Params))
	for i, o := range s.off {
		if o >= 0 {
			g[i] = make([]float64, model.Numel(s.spec.Params[i].Shape))
		}
	}
	return g
}

func dot(a, b []float64) float64 {
	var s float64
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

func norm2(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// axpy sets y += t*x.
func axpy(t float64, x, y []float64) {
	for i, v := range x {
		y[i] += t * v
	}
}

func scaled(t float64, x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = t * v
	}
	return out
}

// lossHead is the objective of E7.8's Hessian: the training loss (cross
// entropy plus kl times the KL to the uniform distribution, no weight
// decay) averaged over the batch's examples.
func lossHead(labels []int32, kl float64) func(logits, dlogits []float32) (float64, error) {
	return func(logits, dlogits []float32) (float64, error) {
		n := len(labels)
		k := len(logits) / n
		var sum float64
		for i, lab := range labels {
			row, drow := logits[i*k:(i+1)*k], dlogits[i*k:(i+1)*k]
			loss, lse, _ := model.CrossEntropyLSE(row, int(lab), 0)
			sum += loss + kl*model.UniformKL(row, lse)
			for j, v := range row {
				p := math.Exp(float64(v) - lse)
				drow[j] = float32((p + kl*(p-1/float64(k))) / float64(n))
			}
			drow[lab] -= float32(1 / float64(n))
		}
		return sum / float64(n), nil
	}
}

// The per-class statistics of the logits over a batch whose gradients
// E7.6 and E7.10 take.
const (
	statMean = iota
	statVar
	statSkew
	numStats
)

var statNames = [numStats]string{"mean", "variance", "skew"}

// statHead is the objective of one statistic of class c's logit over the
// batch (k classes): its mean, its (population) variance or its skew
// m3/m2^1.5.
func statHead(c, stat, k int) func(logits, dlogits []float32) (float64, error) {
	return func(logits, dlogits []float32) (float64, error) {
		clear(dlogits)
		n := len(logits) / k
		var mu float64
		for i := range n {
			mu += float64(logits[i*k+c])
		}
		mu /= float64(n)
		var m2, m3 float64
		for i := range n {
			d := float64(logits[i*k+c]) - mu
			m2 += d * d
			m3 += d * d * d
		}
		m2, m3 = m2/float64(n), m3/float64(n)
		if stat == statSkew && !(m2 > 0) {
			return 0, fmt.Errorf("class %d's logit is constant over the batch: its skew is undefined", c)
		}
		obj := mu
		for i := range n {
			d := float64(logits[i*k+c]) - mu
			var g float64
			switch stat {
			case statMean:
				g = 1 / float64(n)
			case statVar:
				g, obj = 2*d/float64(n), m2
			case statSkew:
				// d(m3)/dz_i = 3(d_i^2 - m2)/n, d(m2)/dz_i = 2 d_i/n.
				s := math.Pow(m2, 1.5)
				g = 3*(d*d-m2)/float64(n)/s - 1.5*m3/(s*m2)*2*d/float64(n)
				obj = m3 / s
			}
			dlogits[i*k+c] = float32(g)
		}
		return obj, nil
	}
}

// trainable reports whether the Frozen model's Spec has trainable
// parameters at all (an analysis of none would divide by zero).
func trainable(f backend.Frozen) error {
	if newVecSpace(f.Spec).dim == 0 {
		return fmt.Errorf("network %s has no trainable parameters", f.Spec.Name)
	}
	return nil
}
