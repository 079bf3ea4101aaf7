package data

import (
	"testing"
)

func TestSyntheticDeterministic(t *testing.T) {
	a, err := Synthetic(SyntheticOptions{Train: 300, Test: 100, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Synthetic(SyntheticOptions{Train: 300, Test: 100, Seed: 5})
	c, _ := Synthetic(SyntheticOptions{Train: 300, Test: 100, Seed: 6})
	if a.Checksum != b.Checksum || a.Checksum != Checksum(a) {
		t.Error("same seed, different bytes")
	}
	if a.Checksum == c.Checksum {
		t.Error("seeds 5 and 6 give the same bytes")
	}
	// A bigger set starts with the same images: image i depends only on
	// (seed, split, i).
	d, _ := Synthetic(SyntheticOptions{Train: 600, Test: 100, Seed: 5})
	if string(d.Train.Images[:300*ImageLen]) != string(a.Train.Images) {
		t.Error("the first 300 images change with the set's size")
	}
	if string(a.Train.Images[:ImageLen]) == string(a.Test.Images[:ImageLen]) {
		t.Error("train and test start with the same image")
	}
	var counts [Classes]int
	for _, l := range a.Train.Labels {
		counts[l]++
	}
	for cl, n := range counts {
		if n != 30 {
			t.Errorf("class %d: %d of 300 images, want 30", cl, n)
		}
	}
	if a.Train.Len() != 300 || a.Test.Len() != 100 || len(a.Train.Images) != 300*ImageLen || len(a.Classes) != Classes {
		t.Errorf("shape: %d/%d images, %d classes", a.Train.Len(), a.Test.Len(), len(a.Classes))
	}
}

// TestSyntheticLearnable checks "learnable but not trivial" without the
// engine: a linear softmax on 8x8-downsampled pixels must do well above
// chance (10%) and well below perfect, while translation-invariant
// features (what a convolutional net can learn) do much better.
func TestSyntheticLearnable(t *testing.T) {
	s, err := Synthetic(SyntheticOptions{Train: 4000, Test: 1000, Seed: 0})
	if err != nil {
		t.Fatal(err)
	}
	acc := softmaxAccuracy(s, 3, 1)
	t.Logf("linear softmax test accuracy: %.3f (n=1000)", acc)
	if acc < 0.25 || acc > 0.75 {
		t.Errorf("linear softmax accuracy %.3f, want 0.25-0.75", acc)
	}
	// The class signal is mostly in translation-invariant structure (the
	// stripes' orientation and frequency): the same linear learner on
	// DFT magnitudes does much better than on pixels.
	tr, te := spectralFeatures(s.Train, 5), spectralFeatures(s.Test, 5)
	standardise(tr, te)
	spec := softmaxFeat(tr, s.Train.Labels, te, s.Test.Labels, 5, 1)
	t.Logf("linear softmax on DFT magnitudes: %.3f", spec)
	if spec < acc+0.15 {
		t.Errorf("softmax on DFT magnitudes %.3f, want at least %.3f (pixels + 0.15)", spec, acc+0.15)
	}
	ncm := nearestMeanAccuracy(s)
	t.Logf("nearest class mean test accuracy: %.3f", ncm)
	if ncm < 0.15 || ncm > 0.75 {
		t.Errorf("nearest class mean accuracy %.3f, want 0.15-0.75", ncm)
	}
}

// TestSyntheticStats checks the pixel statistics stay CIFAR-like: mid-grey
// means and a spread that neither saturates nor collapses.
func TestSyntheticStats(t *testing.T) {
	s, _ := Synthetic(SyntheticOptions{Train: 1000, Test: 10})
	mean, std := ChannelStats(s.Train)
	for c := range Channels {
		if mean[c] < 0.3 || mean[c] > 0.7 || std[c] < 0.1 || std[c] > 0.35 {
			t.Errorf("channel %d: mean %.3f std %.3f, want 0.3-0.7 and 0.1-0.35", c, mean[c], std[c])
		}
	}
}

func BenchmarkSynthetic(b *testing.B) {
	for b.Loop() {
		if _, err := Synthetic(SyntheticOptions{Train: 10000, Test: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10000*float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
