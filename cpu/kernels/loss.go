package kernels

import (
	"fmt"
	"math"
	"speedrun/model"
)

// SoftmaxCrossEntropy computes softmax cross-entropy with label smoothing s
// for n rows of classes logits: per row, loss = (1-s)*CE + s*mean over
// classes of -log p. It returns the loss SUMMED over the batch and the
// number of rows whose argmax (first maximum) equals the label, and writes
// dlogits = d(loss sum)/d logits (overwritten).
func SoftmaxCrossEntropy(logits []float32, labels []int32, n, classes int, smoothing float32, dlogits []float32) (lossSum float64, correct int, err error) {
	return SoftmaxCrossEntropyKL(logits, labels, n, classes, smoothing, 0, dlogits)
}

// SoftmaxCrossEntropyKL is SoftmaxCrossEntropy plus kl times the KL
// divergence from the uniform distribution to the softmax
// (model.UniformKL), post 7's E7.5 loss term.
func SoftmaxCrossEntropyKL(logits []float32, labels []int32, n, classes int, smoothing, kl float32, dlogits []float32) (lossSum float64, correct int, err error) {
	if n < 1 || classes < 1 {
		return 0, 0, fmt.Errorf("kernels: SoftmaxCrossEntropy: bad shape n=%d classes=%d: want both >= 1", n, classes)
	}
	if !(smoothing >= 0 && smoothing <= 1) {
		return 0, 0, fmt.Errorf("kernels: SoftmaxCrossEntropy: smoothing %v outside [0, 1]", smoothing)
	}
	if !(kl >= 0) {
		return 0, 0, fmt.Errorf("kernels: SoftmaxCrossEntropy: kl weight %v: want >= 0", kl)
	}
	if err := checkLens("SoftmaxCrossEntropy", []lenCheck{{"logits", len(logits), n * classes}, {"labels", len(labels), n}, {"dlogits", len(dlogits), n * classes}}); err != nil {
		return 0, 0, err
	}
	s := float64(smoothing)
	for i := 0; i < n; i++ {
		lab := int(labels[i])
		if lab < 0 || lab >= classes {
			return 0, 0, fmt.Errorf("kernels: SoftmaxCrossEntropy: labels[%d]=%d outside [0, %d)", i, lab, classes)
		}
		row := logits[i*classes : (i+1)*classes]
		drow := dlogits[i*classes : (i+1)*classes]
		drow = drow[:len(row)]
		loss, lse, best := model.CrossEntropyLSE(row, lab, s)
		if best == lab {
			correct++
		}
		// d(KL)/dz_j = p_j - 1/K: the term pulls every logit toward the
		// row's mean.
		w, u := float64(kl), 1/float64(classes)
		if w > 0 {
			loss += w * model.UniformKL(row, lse)
		}
		lossSum += loss
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			drow[j] = float32(p - s/float64(classes) + w*(p-u))
		}
		drow[lab] -= float32(1 - s)
	}
	return lossSum, correct, nil
}
