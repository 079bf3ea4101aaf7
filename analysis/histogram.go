package analysis

import (
	"fmt"
	"math"
)

// Histogram is one layer's activations over one batch, as stored in the
// "hist/..." measurements of the post-7 experiments: a pooled histogram of
// every value, per-channel histograms of the first few channels on the
// same bins, and every channel's mean and standard deviation.
type Histogram struct {
	Group string `json:"group"` // the compared condition, e.g. "bn cifar" or "relu"
	Layer string `json:"layer"`
	Order int    `json:"order"` // panel order: the layer index or the depth
	// Bins equal-width bins over [Lo, Hi], the range of the finite values.
	Lo     JSONFloat `json:"lo"`
	Hi     JSONFloat `json:"hi"`
	Bins   int       `json:"bins"`
	Pooled []int     `json:"pooled"`
	// Channels holds per-channel counts for the first channels.
	Channels  []ChannelHist `json:"channels"`
	Means     []JSONFloat   `json:"means"` // every channel
	Stds      []JSONFloat   `json:"stds"`
	NonFinite int           `json:"non_finite"`
}

type ChannelHist struct {
	Channel int       `json:"channel"`
	Min     JSONFloat `json:"min"`
	Max     JSONFloat `json:"max"`
	Counts  []int     `json:"counts"`
}

// ChannelHistogram bins y, laid out as rows of c channels (NHWC or N x C),
// into bins bins, with per-channel counts for the first keep channels.
func ChannelHistogram(y []float32, c, keep, bins int) (Histogram, error) {
	if c <= 0 || len(y)%c != 0 {
		return Histogram{}, fmt.Errorf("histogram: %d values do not split into channels of %d", len(y), c)
	}
	if bins <= 0 {
		return Histogram{}, fmt.Errorf("histogram: %d bins, want > 0", bins)
	}
	keep = min(keep, c)
	lo, hi := math.Inf(1), math.Inf(-1)
	nonFinite := 0
	for _, v := range y {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			nonFinite++
			continue
		}
		lo, hi = math.Min(lo, f), math.Max(hi, f)
	}
	if lo > hi {
		lo, hi = 0, 1
	}
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	h := Histogram{Lo: JSONFloat(lo), Hi: JSONFloat(hi), Bins: bins, Pooled: make([]int, bins), NonFinite: nonFinite,
		Means: make([]JSONFloat, c), Stds: make([]JSONFloat, c)}
	for ch := range keep {
		h.Channels = append(h.Channels, ChannelHist{Channel: ch, Min: JSONFloat(math.Inf(1)), Max: JSONFloat(math.Inf(-1)), Counts: make([]int, bins)})
	}
	sum, sq := make([]float64, c), make([]float64, c)
	cnt := make([]int, c)
	width := (hi - lo) / float64(bins)
	for j, v := range y {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		ch := j % c
		b := min(int((f-lo)/width), bins-1)
		h.Pooled[b]++
		sum[ch] += f
		sq[ch] += f * f
		cnt[ch]++
		if ch < keep {
			k := &h.Channels[ch]
			k.Counts[b]++
			k.Min = JSONFloat(math.Min(float64(k.Min), f))
			k.Max = JSONFloat(math.Max(float64(k.Max), f))
		}
	}
	for ch := range c {
		if cnt[ch] == 0 {
			h.Means[ch], h.Stds[ch] = JSONFloat(math.NaN()), JSONFloat(math.NaN())
			continue
		}
		m := sum[ch] / float64(cnt[ch])
		h.Means[ch] = JSONFloat(m)
		h.Stds[ch] = JSONFloat(math.Sqrt(math.Max(0, sq[ch]/float64(cnt[ch])-m*m)))
	}
	return h, nil
}

// Centres returns the bin Centres of h.
func (h Histogram) Centres() []float64 {
	out := make([]float64, h.Bins)
	w := (float64(h.Hi) - float64(h.Lo)) / float64(h.Bins)
	for i := range out {
		out[i] = float64(h.Lo) + (float64(i)+0.5)*w
	}
	return out
}
