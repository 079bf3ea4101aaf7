package train

import (
	"fmt"

	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// evaluator scores the test set from the engine's logits. Its buffers are
// made once per run.
type evaluator struct {
	classes   int
	chunk     int // rows summed apart before their sums are added (the eval batch)
	smoothing float64
	kl        float64 // the weight of the KL term to the uniform distribution
	labels    []int32
	logits    []float32 // the view being read
	mean      []float32 // the mean logits over the TTA views
	views     []data.View
}

func newEvaluator(su Setup, labels []uint8) *evaluator {
	k := su.Spec.Classes
	// Smoothing as float32, as the engines' loss kernels take it.
	ev := &evaluator{classes: k, chunk: su.Batch, smoothing: float64(float32(su.Config.Train.LabelSmoothing)),
		kl:     float64(float32(su.Config.Train.KLUniform)),
		labels: make([]int32, len(labels)), logits: make([]float32, len(labels)*k), views: su.Views}
	if len(ev.views) == 0 {
		ev.views = []data.View{{}}
	}
	for i, l := range labels {
		ev.labels[i] = int32(l)
	}
	return ev
}

// Views are the test views a run evaluates, the plain one first: with
// train.tta its mirror, and with train.tta_shift s the views translated
// by -s and +s in both axes, each with its mirror (airbench's six).
func Views(t stages.Train) []data.View {
	v := []data.View{{}}
	if !t.TTA {
		return v
	}
	v = append(v, data.View{Flip: true})
	for _, d := range []int{-t.TTAShift, t.TTAShift} {
		if d != 0 {
			v = append(v, data.View{DY: d, DX: d}, data.View{Flip: true, DY: d, DX: d})
		}
	}
	return v
}

// viewWeight is view i's weight, in eighths when there are six views:
// airbench's 0.5 mean(plain, mirror) + 0.5 mean over the shifts of
// mean(shifted, its mirror) is 2/8 for the first two and 1/8 for the
// rest. With two views both weigh 1 (of 2), the blog's (a+b)/2.
func viewWeight(i, n int) float32 {
	if n > 2 && i < 2 {
		return 2
	}
	return 1
}

type score struct{ loss, acc, ttaAcc float64 }

// evaluate scores the live or averaged model on the test set: the mean
// loss (label smoothing and the KL term included, as in training) and accuracy of the plain view, and with
// tta the accuracy of the logits averaged over the TTA views.
func (ev *evaluator) evaluate(eng Engine, avg, tta bool) (score, error) {
	var sc score
	if err := eng.Logits(avg, ev.views[0], ev.logits); err != nil {
		return sc, err
	}
	n := len(ev.labels)
	if n == 0 {
		return sc, fmt.Errorf("empty test set")
	}
	var lossSum float64
	correct := 0
	for lo := 0; lo < n; lo += ev.chunk {
		hi := min(lo+ev.chunk, n)
		// Each batch's sum first, as a batched loss kernel adds them.
		var s float64
		for i := lo; i < hi; i++ {
			row := ev.logits[i*ev.classes : (i+1)*ev.classes]
			loss, lse, best := model.CrossEntropyLSE(row, int(ev.labels[i]), ev.smoothing)
			if ev.kl > 0 {
				loss += ev.kl * model.UniformKL(row, lse)
			}
			s += loss
			if best == int(ev.labels[i]) {
				correct++
			}
		}
		lossSum += s
	}
	sc.loss, sc.acc = lossSum/float64(n), float64(correct)/float64(n)
	if !tta {
		return sc, nil
	}
	if ev.mean == nil {
		ev.mean = make([]float32, len(ev.logits))
	}
	nv := len(ev.views)
	w0 := viewWeight(0, nv)
	for i, x := range ev.logits {
		ev.mean[i] = w0 * x
	}
	var total float32 = w0
	for j, v := range ev.views[1:] {
		if err := eng.Logits(avg, v, ev.logits); err != nil {
			return sc, err
		}
		w := viewWeight(j+1, nv)
		total += w
		for i, x := range ev.logits {
			ev.mean[i] += w * x
		}
	}
	// Two views: (a+b)/2, the mean the blog's TTA takes.
	inv := total
	correct = 0
	for i, y := range ev.labels {
		row := ev.mean[i*ev.classes : (i+1)*ev.classes]
		for j := range row {
			row[j] /= inv
		}
		if model.Argmax(row) == int(y) {
			correct++
		}
	}
	sc.ttaAcc = float64(correct) / float64(n)
	return sc, nil
}
