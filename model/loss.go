package model

import "math"

// Numel is the number of elements of a tensor of the given shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Argmax is the index of the first largest value of row.
func Argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// CrossEntropy is every network's loss for one example: softmax cross
// entropy of the logits row against label, with label smoothing s (the
// target is 1-s on the label plus s/K on every class). It also returns
// the row's first maximum, for accuracy. The log-sum-exp is stable and in
// float64: rows are short, and accuracy is cheap. Engines that compute
// the loss on the host call this, so every host loss agrees bit for bit.
func CrossEntropy(row []float32, label int, s float64) (loss float64, best int) {
	loss, _, best = CrossEntropyLSE(row, label, s)
	return loss, best
}

// CrossEntropyLSE is CrossEntropy that also returns the row's
// log-sum-exp, from which the gradient exp(z_j - lse) - target_j follows.
func CrossEntropyLSE(row []float32, label int, s float64) (loss, lse float64, best int) {
	best = Argmax(row)
	mx := float64(row[best])
	var se, sum float64
	for _, v := range row {
		se += math.Exp(float64(v) - mx)
		sum += float64(v)
	}
	lse = mx + math.Log(se)
	// -log p_j = lse - z_j.
	loss = (1-s)*(lse-float64(row[label])) + s*(lse-sum/float64(len(row)))
	return loss, lse, best
}

// UniformKL is the KL divergence from the uniform distribution over the
// row's K classes to its softmax, given the row's log-sum-exp:
// sum_j (1/K) log((1/K) / p_j) = lse - mean(z) - log K. Post 7's E7.5
// adds half of it to the loss (train.kl_uniform), which keeps the
// logits of the partly trained models from growing without bound.
func UniformKL(row []float32, lse float64) float64 {
	var sum float64
	for _, v := range row {
		sum += float64(v)
	}
	k := float64(len(row))
	return lse - sum/k - math.Log(k)
}
