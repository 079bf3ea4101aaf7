// Label-smoothed softmax cross-entropy, one thread per example (10 classes).
#include "prelude.h"

// xent_ls_f32: with targets t_j = eps/K + (1-eps)[j == label],
// loss[i] = -sum_j t_j log softmax_j, dlogits = scale*(softmax - t),
// correct[i] = 1 when the first maximal logit is the label, else 0.
// dlogits may be null (evaluation).
KERNEL xent_ls_f32(const float *logits, const int *labels, float *dlogits, float *loss, float *correct, int N, int K,
		   float eps, float scale) {
	for (long i = gtid(); i < N; i += gstride()) {
		const float *row = logits + i * K;
		int lab = labels[i], best = 0;
		for (int j = 1; j < K; j++)
			if (row[j] > row[best]) best = j;
		float m = row[best], se = 0;
		for (int j = 0; j < K; j++) se += exp_(row[j] - m);
		float lse = m + log_(se), l = 0;
		for (int j = 0; j < K; j++) {
			float t = eps / K + (j == lab ? 1 - eps : 0);
			l -= t * (row[j] - lse);
			if (dlogits) dlogits[i * K + j] = scale * (exp_(row[j] - lse) - t);
		}
		loss[i] = l;
		correct[i] = best == lab ? 1 : 0;
	}
}
