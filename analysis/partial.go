package analysis

import (
	"context"
	"fmt"
	"math"

	"speedrun/backend"
	"speedrun/model"
)

// runPartialTrain is E7.5: one of post 7's three partly trained models
// (the config's net: BN, no BN, or BN after the activation). It trains
// the config through the backend, keeping the final parameters; then
// freezes BN as the blog does, with one training-mode pass over the fixed
// batches that sets each BN's statistics, after which every analysis
// runs BN in eval mode. The model is kept beside the database and the
// "model" measurement says where.
//
// Choice: the refreshed statistics are the plain averages over the fixed
// batches of each batch's mean and unbiased variance (PyTorch's
// momentum=None), rather than a momentum average that weights the last
// batches most.
func runPartialTrain(ctx context.Context, req Request) (Outcome, error) {
	if req.Backend == nil {
		return none(), fmt.Errorf("partial_train needs a backend")
	}
	pr, err := backend.ProberOf(req.Backend, req.Config)
	if err != nil {
		return none(), err
	}
	cfg := trainConfig(req.Config)
	spec, err := model.Build(cfg.Net)
	if err != nil {
		return none(), err
	}
	var params [][]float32
	rec := &epochLog{Observer: req.Observer}
	res, err := req.Backend.Train(ctx, backend.Request{Config: cfg, Spec: spec, Data: req.Data, Seed: req.Seed, Observer: rec,
		Keep: func(p [][]float32) error { params = p; return nil }})
	if err != nil {
		return none(), err
	}
	out := Outcome{Accuracy: res.TestAcc, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch, Train: &res}
	if res.Diverged {
		out.Accuracy = math.NaN()
		return out, nil
	}
	if params == nil {
		return none(), fmt.Errorf("the %s engine kept no parameters (backend.Request.Keep)", req.Backend.Name())
	}
	bs, err := fixedBatches(ctx, req.Config, req.Data)
	if err != nil {
		return none(), err
	}
	f, err := freeze(pr, spec, params, bs)
	if err != nil {
		return none(), err
	}
	loss, acc, err := frozenScore(pr, f, bs, cfg.Train.KLUniform)
	if err != nil {
		return none(), err
	}
	name := fmt.Sprintf("run%d-%s.model", req.RunID, req.Config.Variant)
	path, err := keepFile(req.DB, name, keptModel{Variant: req.Config.Variant, Net: cfg.Net, Params: params, Mean: f.Mean, Var: f.Var})
	if err != nil {
		return none(), err
	}
	vs := newVecSpace(spec)
	m := ModelRecord{Path: path, BN: orDefault(cfg.Net.BN, "bn"), Order: cfg.Net.Order, ParamNorm: JSONFloat(norm2(vs.flat32(params))),
		FrozenLoss: JSONFloat(loss), FrozenAcc: JSONFloat(acc)}
	for _, e := range rec.epochs {
		m.Epochs = append(m.Epochs, StressEpoch{Epoch: e.Epoch, LR: JSONFloat(e.LR), TrainAcc: JSONFloat(e.TrainAcc), TrainLoss: JSONFloat(e.TrainLoss)})
	}
	if err := put(ctx, req, "model", m); err != nil {
		return none(), err
	}
	req.Log.Info("partly trained model kept", "variant", req.Config.Variant, "path", path, "frozen_acc", acc, "param_norm", float64(m.ParamNorm))
	return out, nil
}

// freeze sets every BN's statistics from one training-mode pass over the
// fixed batches (the mean over batches of each batch's per-channel mean
// and unbiased variance of the BN's input).
func freeze(pr backend.Prober, spec *model.Spec, params [][]float32, bs batchSet) (backend.Frozen, error) {
	k := len(spec.Layers)
	f := backend.Frozen{Spec: spec, Params: params, Mean: make([][]float32, k), Var: make([][]float32, k)}
	// bnOf[j]: the BN layers that read layer j.
	bnOf := make([][]int, k)
	mean, vr := make([][]float64, k), make([][]float64, k)
	for i, l := range spec.Layers {
		if l.Op == model.OpBN && !l.BN.Identity {
			bnOf[l.Inputs[0]] = append(bnOf[l.Inputs[0]], i)
			mean[i], vr[i] = make([]float64, l.BN.C), make([]float64, l.BN.C)
		}
	}
	for b := range bs.y {
		n := bs.len(b)
		err := pr.Forward(spec, params, bs.x[b], n, func(j int, y []float32) error {
			for _, i := range bnOf[j] {
				c := spec.Layers[i].BN.C
				m, v := channelMoments(y, c)
				for ch := range c {
					mean[i][ch] += m[ch]
					vr[i][ch] += v[ch]
				}
			}
			return nil
		})
		if err != nil {
			return f, fmt.Errorf("refresh the BN statistics: %w", err)
		}
	}
	for i := range k {
		if mean[i] == nil {
			continue
		}
		f.Mean[i], f.Var[i] = make([]float32, len(mean[i])), make([]float32, len(mean[i]))
		for ch := range mean[i] {
			f.Mean[i][ch] = float32(mean[i][ch] / float64(len(bs.y)))
			f.Var[i][ch] = float32(vr[i][ch] / float64(len(bs.y)))
		}
	}
	return f, nil
}

// channelMoments returns the per-channel mean and unbiased variance of y
// (rows of c channels), in float64.
func channelMoments(y []float32, c int) (mean, vr []float64) {
	mean, vr = make([]float64, c), make([]float64, c)
	rows := len(y) / c
	for r := range rows {
		for ch, v := range y[r*c : (r+1)*c] {
			mean[ch] += float64(v)
		}
	}
	for ch := range mean {
		mean[ch] /= float64(rows)
	}
	for r := range rows {
		for ch, v := range y[r*c : (r+1)*c] {
			d := float64(v) - mean[ch]
			vr[ch] += d * d
		}
	}
	for ch := range vr {
		vr[ch] /= float64(max(rows-1, 1))
	}
	return mean, vr
}

// frozenScore is the frozen model's mean loss (lossHead's) and accuracy
// on the fixed batches.
func frozenScore(pr backend.Prober, f backend.Frozen, bs batchSet, kl float64) (loss, acc float64, err error) {
	k := f.Spec.Classes
	seen, correct := 0, 0
	for b := range bs.y {
		n := bs.len(b)
		logits := make([]float32, n*k)
		if err := pr.Logits(f, bs.x[b], n, logits); err != nil {
			return 0, 0, err
		}
		l, err := lossHead(bs.y[b], kl)(logits, make([]float32, len(logits)))
		if err != nil {
			return 0, 0, err
		}
		loss += l * float64(n)
		for i, lab := range bs.y[b] {
			if model.Argmax(logits[i*k:(i+1)*k]) == int(lab) {
				correct++
			}
		}
		seen += n
	}
	return loss / float64(seen), float64(correct) / float64(seen), nil
}

// epochLog passes everything on to an Observer and keeps the epochs.
type epochLog struct {
	backend.Observer
	epochs []backend.Epoch
}

func (r *epochLog) Epoch(e backend.Epoch) {
	r.epochs = append(r.epochs, e)
	r.Observer.Epoch(e)
}
