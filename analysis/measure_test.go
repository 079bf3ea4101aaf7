package analysis

import (
	"math"
	"slices"
	"testing"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/stages"
)

// TestChannelHistogram checks counts, ranges and moments against a tensor
// whose histogram is known.
func TestChannelHistogram(t *testing.T) {
	// 4 rows of 3 channels: channel 0 = 0,1,2,3; channel 1 = 4 x 10;
	// channel 2 = -1,-1,NaN,3.
	nan := float32(math.NaN())
	y := []float32{0, 10, -1, 1, 10, -1, 2, 10, nan, 3, 10, 3}
	h, err := ChannelHistogram(y, 3, 2, 11)
	if err != nil {
		t.Fatal(err)
	}
	if h.Lo != -1 || h.Hi != 10 || h.NonFinite != 1 {
		t.Fatalf("range [%g, %g], %d non-finite; want [-1, 10], 1", h.Lo, h.Hi, h.NonFinite)
	}
	// Bins of width 1 from -1: value v lands in bin v+1 (10 in the last).
	wantPooled := []int{2, 1, 1, 1, 2, 0, 0, 0, 0, 0, 4}
	if !slices.Equal(h.Pooled, wantPooled) {
		t.Errorf("pooled %v, want %v", h.Pooled, wantPooled)
	}
	if len(h.Channels) != 2 {
		t.Fatalf("%d channel histograms, want 2", len(h.Channels))
	}
	if want := []int{0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}; !slices.Equal(h.Channels[0].Counts, want) {
		t.Errorf("channel 0 %v, want %v", h.Channels[0].Counts, want)
	}
	if h.Channels[1].Counts[10] != 4 || h.Channels[1].Min != 10 || h.Channels[1].Max != 10 {
		t.Errorf("channel 1: %+v", h.Channels[1])
	}
	if h.Means[0] != 1.5 || math.Abs(float64(h.Stds[0])-math.Sqrt(1.25)) > 1e-12 || h.Means[1] != 10 || h.Stds[1] != 0 {
		t.Errorf("means %v stds %v", h.Means, h.Stds)
	}
	if math.Abs(float64(h.Means[2])-1.0/3) > 1e-12 {
		t.Errorf("channel 2 mean %g, want 1/3 (NaN skipped)", h.Means[2])
	}
	if _, err := ChannelHistogram(y, 5, 2, 10); err == nil {
		t.Error("12 values into channels of 5: no error")
	}
}

// prober is the CPU engine's backend.Prober.
func prober(t *testing.T) backend.Prober {
	t.Helper()
	b, err := cpu.New(cpu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeepFCLinearKeepsVariance checks the E7.3 init scales: with unit
// gain the linear net keeps unit variance, and ReLU with He scaling keeps
// the second moment (the pre-activations stay O(1) at depth 10).
func TestDeepFCLinearKeepsVariance(t *testing.T) {
	for _, act := range []string{"linear", "relu", "shiftscale_relu"} {
		var last []float32
		err := deepFC(prober(t), act, 10, 256, 256, 1, func(d int, y, _ []float32) error {
			last = y
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, v := range last {
			s += float64(v) * float64(v)
		}
		if ms := s / float64(len(last)); ms < 0.3 || ms > 3 {
			t.Errorf("%s: mean square at depth 10 = %g, want O(1)", act, ms)
		}
	}
	if err := deepFC(prober(t), "tanh", 1, 16, 4, 1, func(int, []float32, []float32) error { return nil }); err == nil {
		t.Error("act tanh: no error")
	}
}

// TestLinearMapSpectrum checks E7.3's singular values against a direct
// computation on a tiny linear net: the map P = W_d ... W_1 multiplied out
// in float64 from the net's own weights, whose squared singular values
// sum to its squared Frobenius norm and multiply to det(P)^2 (3x3, by
// cofactors). A single layer's output must also be x W^T.
func TestLinearMapSpectrum(t *testing.T) {
	const n, depth, batch = 3, 4, 2
	lm := newLinearMap(prober(t), n)
	p := [n][n]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	x := gaussian(batch*n, 9)
	err := deepFC(prober(t), "linear", depth, n, batch, 9, func(d int, y, w []float32) error {
		if err := lm.push(w); err != nil {
			return err
		}
		var q [n][n]float64
		for i := range n {
			for j := range n {
				for k := range n {
					q[i][j] += float64(w[i*n+k]) * p[k][j]
				}
			}
		}
		p = q
		if d == 1 {
			for b := range batch {
				for i := range n {
					var want float64
					for k := range n {
						want += float64(x[b*n+k]) * float64(w[i*n+k])
					}
					if math.Abs(float64(y[b*n+i])-want) > 1e-5 {
						t.Errorf("layer 1 output [%d][%d] = %g, want %g", b, i, y[b*n+i], want)
					}
				}
			}
		}
		sv, err := lm.singularValues()
		if err != nil {
			return err
		}
		var frob, sum2, prod2 float64
		prod2 = 1
		for i := range n {
			for j := range n {
				frob += p[i][j] * p[i][j]
			}
		}
		for i, v := range sv {
			sum2 += float64(v) * float64(v)
			prod2 *= float64(v) * float64(v)
			if i > 0 && v > sv[i-1] {
				t.Errorf("depth %d: singular values not decreasing: %v", d, sv)
			}
		}
		det := p[0][0]*(p[1][1]*p[2][2]-p[1][2]*p[2][1]) - p[0][1]*(p[1][0]*p[2][2]-p[1][2]*p[2][0]) + p[0][2]*(p[1][0]*p[2][1]-p[1][1]*p[2][0])
		if math.Abs(sum2-frob) > 1e-5*frob {
			t.Errorf("depth %d: sum of squared singular values %g, |P|_F^2 %g", d, sum2, frob)
		}
		if math.Abs(prod2-det*det) > 1e-4*det*det {
			t.Errorf("depth %d: product of squared singular values %g, det^2 %g", d, prod2, det*det)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithPeakLRAndStretch(t *testing.T) {
	knots := []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 5, LR: 0.4}, {Epoch: 24, LR: 0}}
	got, err := withPeakLR(knots, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 5, LR: 0.1}, {Epoch: 24, LR: 0}}; !slices.Equal(got, want) {
		t.Errorf("withPeakLR: %v, want %v", got, want)
	}
	if _, err := withPeakLR(nil, 1); err == nil {
		t.Error("no knots: no error")
	}
	if _, err := withPeakLR([]stages.Knot{{Epoch: 0, LR: 0}}, 1); err == nil {
		t.Error("zero peak: no error")
	}
	for _, c := range []struct {
		e    float64
		want float64
	}{{-1, 0}, {0, 0}, {2.5, 0.2}, {5, 0.4}, {14.5, 0.2}, {30, 0}} {
		if got := stages.InterpLR(knots, c.e); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("stages.InterpLR(%g) = %g, want %g", c.e, got, c.want)
		}
	}
	cfg := stages.Config{Train: stages.Train{Epochs: 2, LR: []stages.Knot{{Epoch: 0, LR: 0.005}, {Epoch: 2, LR: 29}}}}
	for _, c := range []struct{ steps, epochs int }{{4, 13}, {5, 10}, {10, 5}, {13, 4}, {100, 2}, {1, 25}} {
		s := stretchRamp(cfg, c.steps)
		if s.Train.Epochs != float64(c.epochs) || s.Train.LR[1] != (stages.Knot{Epoch: float64(c.epochs), LR: 29}) || s.Train.LR[0].LR != 0.005 {
			t.Errorf("stretchRamp at %d steps per epoch: %+v, want %d epochs", c.steps, s.Train, c.epochs)
		}
	}
	if cfg.Train.LR[1].Epoch != 2 {
		t.Error("stretchRamp changed its input's knots")
	}
}

// FuzzJSONFloat checks that every float, NaN and Inf included, survives
// the measurement encoding (non-finite values as null, read back as NaN).
func FuzzJSONFloat(f *testing.F) {
	for _, v := range []float64{0, -1.5, 1e300, math.NaN(), math.Inf(1), 5e-324} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		b, err := JSONFloat(v).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got JSONFloat
		if err := got.UnmarshalJSON(b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if finite := !math.IsNaN(v) && !math.IsInf(v, 0); finite && float64(got) != v || !finite && !math.IsNaN(float64(got)) {
			t.Errorf("%g -> %s -> %g", v, b, float64(got))
		}
	})
}

// Every analysis kind of the registry's one list has its experiment, and
// only those do.
func TestEveryKindRuns(t *testing.T) {
	for _, k := range stages.Kinds() {
		if _, ok := experiments[k]; ok != (k != stages.KindTrain) {
			t.Errorf("kind %s: experiment registered %v", k, ok)
		}
	}
	if len(experiments) != len(stages.Kinds())-1 {
		t.Errorf("%d experiments for %d analysis kinds", len(experiments), len(stages.Kinds())-1)
	}
}
