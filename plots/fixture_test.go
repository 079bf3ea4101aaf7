package plots

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"speedrun/results"
	"speedrun/stages"
)

var regenFixture = flag.Bool("regen-fixture", false, "regenerate testdata/fixture.json from its seeded generator")

// fixture is the JSON form of a Data: NaN cannot travel in JSON, so the
// floats that may be NaN are pointers (null = NaN).
type fixture struct {
	Stages []Stage        `json:"stages"`
	Runs   []fixtureRun   `json:"runs"`
	Epochs []fixtureEpoch `json:"epochs"`
}

type fixtureRun struct {
	results.Run
	TestAcc *float64 `json:"TestAcc"`
	TTAAcc  *float64 `json:"TTAAcc"`
}

type fixtureEpoch struct {
	results.Epoch
	TestLoss *float64 `json:"TestLoss"`
	TestAcc  *float64 `json:"TestAcc"`
}

func ptr(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// loadFixture reads testdata/fixture.json into a Data.
func loadFixture(t testing.TB) *Data {
	t.Helper()
	if *regenFixture {
		writeFixture(t)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "fixture.json"))
	if err != nil {
		t.Fatalf("fixture: %v (run go test -regen-fixture to create it)", err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	d := &Data{Stages: f.Stages, Epochs: map[int64][]results.Epoch{}}
	for _, r := range f.Runs {
		run := r.Run
		run.TestAcc, run.TTAAcc = val(r.TestAcc), val(r.TTAAcc)
		d.Runs = append(d.Runs, run)
	}
	for _, e := range f.Epochs {
		ep := e.Epoch
		ep.TestLoss, ep.TestAcc = val(e.TestLoss), val(e.TestAcc)
		d.Epochs[ep.RunID] = append(d.Epochs[ep.RunID], ep)
	}
	return d
}

func kn(epoch, lr float64) stages.Knot { return stages.Knot{Epoch: epoch, LR: lr} }

// hostileName is a variant name that is HTML, SQL and a path at once.
const hostileName = `<script>alert("x")</script>/../; DROP TABLE runs;--`

// writeFixture generates the fixture from a fixed seed: synthetic rows
// shaped like real ones (two stages, two profiles, a diverged run, an
// unfinished run, a TTA variant and a hostile variant name).
func writeFixture(t testing.TB) {
	rng := rand.New(rand.NewPCG(1, 2))
	st := []Stage{
		{ID: 4, Name: "p4", Title: "Architecture", Variants: []Variant{
			{Name: "p4.s9", Title: "ResNet-9, 20 epochs", Kind: "train", Published: stages.Published{TimeSeconds: 66, Accuracy: 0.938, Epochs: 20, Hardware: "V100", Source: "B"}},
			{Name: "p4.s10", Title: "ResNet-9, 24 epochs", Kind: "train", Base: "p4.s9", Published: stages.Published{TimeSeconds: 79, Accuracy: 0.9408, Epochs: 24, Hardware: "V100", Source: "B", Runs94: "7/10"}},
		}},
		{ID: 8, Name: "p8", Title: "Bag of tricks", Variants: []Variant{
			{Name: "p8.s7", Title: "whitening", Kind: "train", Base: "p4.s10", Published: stages.Published{TimeSeconds: 36, Accuracy: 0.941, Epochs: 14, Hardware: "V100", Source: "B"}},
			{Name: "p8.s8", Title: "EMA", Kind: "train", Base: "p8.s7", Published: stages.Published{TimeSeconds: 33.5, Accuracy: 0.941, Epochs: 13, Hardware: "V100", Source: "B", Unverified: true, Note: "epoch count inferred"}},
			{Name: hostileName, Title: `<b>bold</b> & "quoted"`, Kind: "train", Base: "p8.s8", Published: stages.Published{TimeSeconds: 26, Accuracy: 0.941, Epochs: 10, Hardware: "V100", Source: "B"}},
		}},
	}
	type cell struct {
		stage            int
		variant, profile string
		repeats, epochs  int
		acc, accSD, time float64
		tta              bool
		knots            []stages.Knot
		timing           string
		// A second device: p8.s8 on a GPU in bf16 with an override, a
		// series of its own beside the CPU's.
		gpu bool
	}
	cells := []cell{
		{4, "p4.s9", "smoke", 5, 4, 0.62, 0.01, 3.0, false, []stages.Knot{kn(0, 0), kn(1, 0.4), kn(4, 0)}, "train+eval", false},
		{4, "p4.s10", "smoke", 5, 5, 0.66, 0.01, 3.6, false, []stages.Knot{kn(0, 0), kn(1.25, 0.4), kn(5, 0)}, "train+eval", false},
		{4, "p4.s9", "quick", 2, 3, 0.80, 0.01, 30, false, []stages.Knot{kn(0, 0), kn(1, 0.4), kn(3, 0)}, "train+eval", false},
		{4, "p4.s10", "quick", 2, 3, 0.81, 0.01, 36, false, []stages.Knot{kn(0, 0), kn(1, 0.4), kn(3, 0)}, "train+eval", false},
		{8, "p8.s7", "smoke", 5, 4, 0.940, 0.003, 2.0, false, []stages.Knot{kn(0, 0), kn(0.8, 1.0), kn(4, 0)}, "dawn", false},
		{8, "p8.s8", "smoke", 5, 4, 0.941, 0.003, 1.9, false, []stages.Knot{kn(0, 0), kn(0.8, 1.0), kn(3, 0.1)}, "dawn", false},
		{8, hostileName, "smoke", 5, 3, 0.946, 0.003, 1.4, true, []stages.Knot{kn(0, 0), kn(0.6, 1.0), kn(2.4, 0.1)}, "dawn", false},
		{8, "p8.s8", "smoke", 2, 2, 0.935, 0.003, 0.2, false, []stages.Knot{kn(0, 0), kn(0.8, 1.0), kn(3, 0.1)}, "dawn", true},
	}
	var f fixture
	f.Stages = st
	id := int64(0)
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, c := range cells {
		cfg := stages.Config{Stage: c.stage, Variant: c.variant, Profile: c.profile, Kind: "train"}
		cfg.Net.Name = "resnet9"
		cfg.Net.BN = "bn"
		cfg.Train = stages.Train{Epochs: float64(c.epochs), BatchSize: 512, LR: c.knots, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, Timing: c.timing, TTA: c.tta, EvalEvery: 1}
		if c.stage == 8 {
			cfg.Net.Name, cfg.Net.BN, cfg.Net.Whiten = "final", "ghost", true
			cfg.Train.LabelSmoothing = 0.2
			if c.variant != "p8.s7" {
				cfg.Train.EMAMomentum, cfg.Train.EMAEvery = 0.99, 5
			}
		}
		if c.gpu {
			cfg.Train.Precision = "bf16"
			cfg.Overrides = []string{"train.epochs=2"}
		}
		cj, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for rep := 0; rep < c.repeats; rep++ {
			id++
			acc := c.acc + c.accSD*rng.NormFloat64()
			r := results.Run{ID: id, Stage: c.stage, Variant: c.variant, Profile: c.profile, Repeat: rep, Seed: uint64(1000 + rep),
				ConfigHash: fmt.Sprintf("%x", len(cj)*31+c.stage), ConfigJSON: string(cj), Dataset: "cifar10-mini", DataSum: "sha256:5e1f",
				Status: results.StatusDone, Host: "host-a", Backend: "cpu", Device: "Xeon (2 cores)", GitRev: "ef5770e", GoVersion: "go1.26.8",
				LibVersion: "oneDNN 2.6.3", Started: start.Add(time.Duration(id) * time.Minute)}
			if c.gpu {
				r.Backend, r.Device, r.Precision = "cuda", "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)", "bf16"
			} else {
				r.Precision = "f32"
			}
			r.Attempts, r.PeakRSSBytes, r.TestLoss, r.CPUSeconds, r.LoadStart = 1, 300<<20, 0.5+0.01*float64(rep), 2*c.time, 1.5
			r.PreprocessSeconds = 0.2 + 0.01*rng.Float64()
			r.TrainSeconds = c.time * (1 + 0.03*rng.NormFloat64())
			r.EvalSeconds = 0.1 * c.time
			r.TotalSeconds = r.PreprocessSeconds + r.TrainSeconds + r.EvalSeconds
			r.Finished = r.Started.Add(time.Duration(r.TotalSeconds * float64(time.Second)))
			r.TestAcc, r.TTAAcc = acc, math.NaN()
			if c.tta {
				r.TestAcc, r.TTAAcc = acc-0.004, acc
			}
			if c.stage == 4 && c.profile == "smoke" && c.variant == "p4.s10" && rep == 4 {
				r.Status, r.TestAcc, r.DivergedEpoch, r.Error = results.StatusDiverged, math.NaN(), 2, "loss is NaN at epoch 2"
			}
			if c.stage == 8 && c.variant == "p8.s8" && rep == 4 {
				r.Status, r.TestAcc, r.Error = results.StatusInterrupted, math.NaN(), "interrupted"
				r.Host = "host-b"
			}
			f.Runs = append(f.Runs, fixtureRun{Run: r, TestAcc: ptr(r.TestAcc), TTAAcc: ptr(r.TTAAcc)})
			for e := 1; e <= c.epochs; e++ {
				if r.Status == results.StatusDiverged && e > r.DivergedEpoch {
					break
				}
				frac := float64(e) / float64(c.epochs)
				ep := results.Epoch{RunID: id, Epoch: e, LR: LRAt(c.knots, float64(e)),
					TrainLoss: 2.3*math.Exp(-2*frac) + 0.02*rng.Float64(), TrainAcc: 0.1 + 0.8*frac,
					Elapsed: frac * r.TrainSeconds}
				ep.TestLoss, ep.TestAcc = 2.0*math.Exp(-1.5*frac), 0.1+(acc-0.1)*math.Sqrt(frac)+0.005*rng.NormFloat64()
				if r.Status == results.StatusDiverged && e == r.DivergedEpoch {
					// The loss blew up; the epoch was not evaluated.
					ep.TrainLoss, ep.TestLoss, ep.TestAcc = 1e3, math.NaN(), math.NaN()
				}
				f.Epochs = append(f.Epochs, fixtureEpoch{Epoch: ep, TestLoss: ptr(ep.TestLoss), TestAcc: ptr(ep.TestAcc)})
			}
		}
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "fixture.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
