package stages

import (
	"path/filepath"
	"slices"
	"testing"

	"speedrun/model"
)

func loadRepo(t *testing.T) *Registry {
	t.Helper()
	r, err := Load(filepath.Join("..", "experiments.toml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

// TestEveryVariantResolves resolves every registered variant under every
// profile and checks the network with model.Validate.
func TestEveryVariantResolves(t *testing.T) {
	r := loadRepo(t)
	n := 0
	for _, s := range r.Stages() {
		for _, v := range s.Variants {
			for _, p := range r.Profiles() {
				c, err := r.Resolve(s.ID, v.Name, p)
				if err != nil {
					t.Errorf("Resolve(%d, %q, %q): %v", s.ID, v.Name, p, err)
					continue
				}
				if err := model.Validate(c.Net); err != nil {
					t.Errorf("%s/%s: %v", v.Name, p, err)
				}
				spec, err := model.Build(c.Net)
				if err != nil {
					t.Errorf("%s/%s: %v", v.Name, p, err)
					continue
				}
				// Histogram layers must name layers of the built net.
				if c.Analysis != nil {
					for _, name := range c.Analysis.Layers {
						if !slices.ContainsFunc(spec.Layers, func(l model.Layer) bool { return l.Name == name }) {
							t.Errorf("%s/%s: analysis.layers names %q, which %s does not have", v.Name, p, name, c.Net.Name)
						}
					}
				}
				if c.Variant != v.Name || c.Stage != s.ID || c.Profile != p {
					t.Errorf("%s/%s: identity is %d/%s/%s", v.Name, p, c.Stage, c.Variant, c.Profile)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no variants")
	}
}

// TestRepoProfiles checks what each profile of the repo registry promises.
func TestRepoProfiles(t *testing.T) {
	r := loadRepo(t)
	if p, err := r.Profile("paper"); err != nil || p != (Profile{Dataset: "cifar10"}) {
		t.Errorf("paper profile = %+v, %v; want no scaling", p, err)
	}
	for _, s := range r.Stages() {
		for _, v := range s.Variants {
			paper, err := r.Resolve(s.ID, v.Name, "paper")
			if err != nil {
				t.Fatal(err)
			}
			smoke, err := r.Resolve(s.ID, v.Name, "smoke")
			if err != nil {
				t.Fatal(err)
			}
			if smoke.Dataset != "synthetic" || smoke.Train.Epochs > 2 || smoke.Data.TrainSize != 512 || smoke.Train.BatchSize > 128 {
				t.Errorf("%s smoke: dataset %s, %v epochs, %d images, batch %d", v.Name, smoke.Dataset, smoke.Train.Epochs, smoke.Data.TrainSize, smoke.Train.BatchSize)
			}
			quick, err := r.Resolve(s.ID, v.Name, "quick")
			if err != nil {
				t.Fatal(err)
			}
			if quick.Dataset != "cifar10" || quick.Train.Epochs > 8 || quick.Data.TrainSize != 8000 || quick.Train.BatchSize > 256 {
				t.Errorf("%s quick: dataset %s, %v epochs, %d images, batch %d", v.Name, quick.Dataset, quick.Train.Epochs, quick.Data.TrainSize, quick.Train.BatchSize)
			}
			// Profiles keep what a variant ablates: the kind, the network's
			// shape and every switch stay as in the paper.
			for _, c := range []Config{smoke, quick} {
				if c.Kind != paper.Kind || c.Net.Name != paper.Net.Name || c.Net.Order != paper.Net.Order || c.Net.Act != paper.Net.Act ||
					c.Data.Cutout != paper.Data.Cutout || c.Train.TTA != paper.Train.TTA || c.Train.LabelSmoothing != paper.Train.LabelSmoothing {
					t.Errorf("%s %s changed what the variant ablates", v.Name, c.Profile)
				}
				// The schedule keeps its shape: the peak LR is unchanged and
				// sits at the same fraction of the run (schedule "run"'s
				// knots are that fraction already).
				pe, pl := peak(paper)
				ce, cl := peak(c)
				if c.Train.Schedule == "run" {
					pe, ce = pe*paper.Train.Epochs, ce*c.Train.Epochs
				}
				if pl != cl || !near(pe/float64(paper.Train.Epochs), ce/float64(c.Train.Epochs)) {
					t.Errorf("%s %s: peak %v at epoch %v of %v; paper %v at %v of %v", v.Name, c.Profile, cl, ce, c.Train.Epochs, pl, pe, paper.Train.Epochs)
				}
			}
		}
	}
}

func peak(c Config) (epoch, lr float64) {
	for _, k := range c.Train.LR {
		if k.LR > lr {
			epoch, lr = k.Epoch, k.LR
		}
	}
	return epoch, lr
}

func TestDeepFCWidthScales(t *testing.T) {
	r := loadRepo(t)
	for _, tt := range []struct {
		profile string
		want    int
	}{{"paper", 2048}, {"quick", 512}, {"smoke", 128}} {
		c, err := r.Resolve(7, "p7.e3", tt.profile)
		if err != nil {
			t.Fatal(err)
		}
		if c.Net.FCWidth != tt.want || c.Net.Depth != 50 {
			t.Errorf("p7.e3 %s: fc_width %d depth %d, want %d and 50", tt.profile, c.Net.FCWidth, c.Net.Depth, tt.want)
		}
	}
}
