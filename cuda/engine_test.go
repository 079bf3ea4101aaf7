package cuda

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/cuda/internal/fakecuda"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// stageConfig resolves a variant of the repository's registry.
func stageConfig(t *testing.T, stage int, variant, profile string) stages.Config {
	t.Helper()
	r, err := stages.Load("../experiments.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Resolve(stage, variant, profile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tinyConfig shrinks a stage config to width 1/16 and batch 8 (ghost 4),
// keeping every feature of its network and recipe.
func tinyConfig(t *testing.T, stage int, variant string, trainN, testN int) (stages.Config, *model.Spec) {
	t.Helper()
	c := stageConfig(t, stage, variant, "paper")
	c.Net.Width = 1.0 / 16
	if c.Net.BN == "ghost" {
		c.Net.GhostBatch = 4
	}
	c.Net.WhitenImages = min(c.Net.WhitenImages, trainN)
	c.Train.BatchSize = 8
	c.Data.TrainSize, c.Data.TestSize = trainN, testN
	spec, err := model.Build(c.Net)
	if err != nil {
		t.Fatal(err)
	}
	return c, spec
}

func synthetic(t *testing.T, train, test int) *data.Set {
	t.Helper()
	s, err := data.Synthetic(data.SyntheticOptions{Train: train, Test: test, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The GPU's epoch plan gives the same batches as the CPU loader.
func TestEpochPlanMatchesLoader(t *testing.T) {
	set := synthetic(t, 100, 10)
	prep, err := data.Prepare(set, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, aug := range []data.Augment{
		{Crop: true, Flip: true, Cutout: 8},
		{Crop: true, Flip: true, Grouped: true, MaxGroups: 7},
		{Flip: true, Cutout: 12, Grouped: true},
	} {
		t.Run(aug.String(), func(t *testing.T) {
			const batch, seed = 32, 5
			l, err := data.NewLoader(prep, batch, false)
			if err != nil {
				t.Fatal(err)
			}
			p, err := data.NewEpochPlan(aug, prep.Pad, prep.TrainLen())
			if err != nil {
				t.Fatal(err)
			}
			par, y := make([]int32, prep.TrainLen()*kernels.AugParams), make([]int32, prep.TrainLen())
			side := prep.PaddedSide()
			for ep := 1; ep <= 2; ep++ {
				p.Draw(seed, ep)
				augArrays(p, aug.Cutout, prep.TrainLabels, par, y)
				for b, err := range l.Epoch(context.Background(), p) {
					if err != nil {
						t.Fatal(err)
					}
					lo := b.Index * batch
					got := kernels.AugmentRef(prep.Train, p.Order[lo:lo+b.N], par[lo*kernels.AugParams:(lo+b.N)*kernels.AugParams], b.N, side, side, 32, 32, 3)
					for i, v := range b.X {
						if got[i] != v {
							t.Fatalf("epoch %d batch %d: pixel %d = %v, loader has %v", ep, b.Index, i, got[i], v)
						}
					}
					for i, yl := range b.Y {
						if y[lo+i] != yl {
							t.Fatalf("epoch %d batch %d: label %d = %d, loader has %d", ep, b.Index, i, y[lo+i], yl)
						}
					}
				}
			}
		})
	}
}

func TestSupports(t *testing.T) {
	build := func(c stages.Config) *model.Spec {
		s, err := model.Build(c.Net)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		stage   int
		variant string
		edit    func(*stages.Config)
		want    string // "" = supported
	}{
		{8, "p8.s10", nil, ""},
		{4, "p4.s10", nil, ""},
		{1, "p1.s0", nil, ""},
		{4, "p4.s5", nil, ""},
		{8, "p8.s2a", nil, ""},
		{7, "p7.e1.nobn", nil, ""},
		{6, "p6.e2", nil, ""},
		{6, "p6.e1", nil, ""},
		{8, "p8.s10", func(c *stages.Config) { c.Train.Optimizer = "adam" }, `optimizer "adam"`},
		{8, "p8.s10", func(c *stages.Config) { c.Train.DropLast = false }, "ghost BN needs drop_last"},
		{7, "p7.e3", nil, "want 3x32x32 images"},
		// Post 7's E7.5 models: softplus and the KL term are the CPU's.
		{7, "p7.e5.bn", nil, "kl_uniform"},
		{7, "p7.e5.bn", func(c *stages.Config) { c.Train.KLUniform = 0 }, "softplus has no GPU kernel"},
		{7, "p7.e5.post", func(c *stages.Config) {
			c.Train.KLUniform = 0
			c.Net.Act = "relu"
			c.Net.SoftplusBeta, c.Net.SoftplusThreshold = 0, 0
		}, ""},
	} {
		c := stageConfig(t, tc.stage, tc.variant, "paper")
		if tc.edit != nil {
			tc.edit(&c)
		}
		err := Supports(c, build(c))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.variant, err)
		case tc.want != "" && (!errors.Is(err, ErrTrainUnsupported) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s edited: got %v, want ErrTrainUnsupported with %q", tc.variant, err, tc.want)
		}
	}
}

// New finds the (fake) device and keeps it, without Options.Checks too;
// a config the engine does not cover fails in Train with
// ErrTrainUnsupported, before any device work.
func TestTrainUnsupportedFallsBack(t *testing.T) {
	o := fakeOpts(fakecuda.Dir(t))
	o.Checks = false
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := Available(o); err != nil || !strings.Contains(b.Device(), "Fake GPU") {
		t.Errorf("Available: %v; device %q", err, b.Device())
	}
	c, spec := tinyConfig(t, 8, "p8.s10", 64, 32)
	c.Train.Optimizer = "adam" // neither engine has it; the GPU refuses it first
	_, err = b.Train(context.Background(), backend.Request{Config: c, Spec: spec, Data: synthetic(t, 64, 32), Seed: 1})
	if !errors.Is(err, ErrTrainUnsupported) {
		t.Fatalf("got %v, want ErrTrainUnsupported", err)
	}
}

// relDiff is max |a-b| / (max |b| + tiny) over two slices.
func relDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / (m + 1e-12)
}

// An algorithm that cuDNN ranks but then refuses is passed over for the
// next one (the fake ranks algorithm 1, then 0).
func TestConvAlgorithmFallback(t *testing.T) {
	c, spec := tinyConfig(t, 4, "p4.s10", 16, 8)
	for _, refuse := range []string{"", "1"} {
		t.Setenv("FAKECUDNN_REFUSE_ALGO", refuse)
		o := fakeOpts(fakecuda.Dir(t))
		o.Precision = "f32"
		b, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Do(context.Background(), func() error {
			e, err := newEngine(b, c, spec, launch.F32, engineShape{trainN: 16, testN: 8, pad: 4, batches: []int{8}})
			if err != nil {
				return err
			}
			defer e.close()
			want := 1
			if refuse == "1" {
				want = 0
			}
			for k, cc := range e.convs {
				if cc.fwd.Algo != want || cc.bwdData.Algo != want || cc.bwdFilter.Algo != want {
					t.Errorf("refuse %q: layer %d batch %d uses algorithms %d/%d/%d, want %d", refuse, k[0], k[1], cc.fwd.Algo, cc.bwdData.Algo, cc.bwdFilter.Algo, want)
				}
			}
			// The fake checks each call's workspace against its size; the
			// shared one grew for the refused trial and stays.
			if e.workspaceBytes != 4096 || e.workspace == 0 {
				t.Errorf("refuse %q: workspace %d bytes at %#x, want 4096", refuse, e.workspaceBytes, e.workspace)
			}
			return nil
		})
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}
