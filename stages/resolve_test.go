package stages

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"speedrun/model"
)

func loadBase(t *testing.T) *Registry {
	t.Helper()
	r, err := Load(filepath.Join("testdata", "base.toml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

// TestResolveInheritance checks how variants build on each other.
func TestResolveInheritance(t *testing.T) {
	r := loadBase(t)
	tests := []struct {
		name    string
		stage   int
		variant string
		check   func(c Config) string // "" when fine
	}{
		{"first variant is the defaults", 1, "a.s1", func(c Config) string {
			if c.Net.Name != "resnet9" || c.Train.Epochs != 24 || c.Data.Cutout != 0 || c.Net.Width != 1 {
				return "defaults not applied"
			}
			return ""
		}},
		{"a change keeps the rest of its table", 1, "a.s2", func(c Config) string {
			if c.Data.Cutout != 8 || !c.Data.Crop || c.Data.Loader != "bulk" || c.Net.Width != 2 || c.Net.Name != "resnet9" {
				return "deep merge lost a key"
			}
			return ""
		}},
		{"a stage's first variant builds on the previous stage's last", 2, "b.s1", func(c Config) string {
			if c.Data.Cutout != 8 || c.Net.Width != 2 {
				return "did not inherit a.s2"
			}
			return ""
		}},
		{"lists replace whole", 2, "b.s1", func(c Config) string {
			if !slices.Equal(c.Train.LR, []Knot{{0, 0}, {4, 0.4}, {20, 0}}) {
				return "knots merged instead of replaced"
			}
			return ""
		}},
		{"from starts from the named variant", 2, "b.s2", func(c Config) string {
			if c.Data.Cutout != 0 || c.Train.Epochs != 24 || c.Net.BN != "ghost" || c.Net.GhostBatch != 32 {
				return "from = a.s1 not honoured"
			}
			return ""
		}},
		{"title and published are not inherited", 1, "a.s2", func(c Config) string {
			if c.Title != "second" || !reflect.DeepEqual(c.Published, Published{}) {
				return "inherited title or published"
			}
			return ""
		}},
		{"published belongs to its variant", 1, "a.s1", func(c Config) string {
			if c.Published.TimeSeconds != 79 || c.Published.Accuracy != 0.9408 || c.Published.Source != "B" {
				return "published lost"
			}
			return ""
		}},
		{"unverified fields", 2, "b.s2", func(c Config) string {
			if !c.Published.IsUnverified("time_s") || c.Published.IsUnverified("accuracy") {
				return "unverified_fields not honoured"
			}
			return ""
		}},
		{"empty variant is the stage's last", 2, "", func(c Config) string {
			if c.Variant != "b.s3" || c.Kind != "lr_batch" {
				return "not the last variant"
			}
			return ""
		}},
		{"an analysis kind gets its table", 2, "b.s3", func(c Config) string {
			if c.Analysis == nil || c.Analysis.Axis != "batch" || len(c.Analysis.LRGrid) != 4 {
				return "analysis not resolved"
			}
			return ""
		}},
		{"paper profile and dataset", 1, "a.s1", func(c Config) string {
			if c.Profile != "paper" || c.Dataset != "cifar10" {
				return "profile/dataset not set"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.Resolve(tt.stage, tt.variant, "paper")
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Errorf("%s: %+v", msg, c)
			}
		})
	}
}

// TestResolveProfile checks the smoke profile's scaling rules.
func TestResolveProfile(t *testing.T) {
	r := loadBase(t)
	get := func(stage int, v string) Config {
		t.Helper()
		c, err := r.Resolve(stage, v, "smoke")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := get(1, "a.s2")
	if a.Dataset != "synthetic" || a.Data.TrainSize != 512 || a.Data.TestSize != 256 {
		t.Errorf("sizes/dataset: %q %d %d", a.Dataset, a.Data.TrainSize, a.Data.TestSize)
	}
	if a.Net.Width != 2*0.0625 {
		t.Errorf("width = %v, want the variant's 2 x 0.0625", a.Net.Width)
	}
	// 24 epochs x 0.05 = 1.2 -> 2 (ceil), capped at max_epochs 2: knots x 2/24.
	if a.Train.Epochs != 2 {
		t.Errorf("epochs = %v, want 2", a.Train.Epochs)
	}
	wantLR := []Knot{{0, 0}, {5 * 2.0 / 24, 0.4}, {2, 0}}
	if len(a.Train.LR) != 3 || a.Train.LR[1].LR != 0.4 || !near(a.Train.LR[1].Epoch, wantLR[1].Epoch) || a.Train.LR[2].Epoch != 2 {
		t.Errorf("lr = %v, want %v", a.Train.LR, wantLR)
	}
	// batch_cap 0.25 x 512 = 128.
	if a.Train.BatchSize != 128 {
		t.Errorf("batch = %d, want 128", a.Train.BatchSize)
	}
	// The paper config is untouched by resolving under a profile.
	p, err := r.Resolve(1, "a.s2", "paper")
	if err != nil {
		t.Fatal(err)
	}
	if p.Train.Epochs != 24 || p.Train.LR[1].Epoch != 5 || p.Net.Width != 2 || p.Train.BatchSize != 512 {
		t.Errorf("paper config changed: %+v", p.Train)
	}
	// Grids thin to max_grid values keeping both ends; the batch axis is
	// capped and deduplicated.
	g := get(2, "b.s3")
	if !slices.Equal(g.Analysis.LRGrid, []float64{0.1, 0.8}) {
		t.Errorf("lr_grid = %v, want [0.1 0.8]", g.Analysis.LRGrid)
	}
	if !slices.Equal(g.Analysis.AxisGrid, []float64{128}) {
		t.Errorf("axis_grid = %v, want [128]", g.Analysis.AxisGrid)
	}
	pg, _ := r.Resolve(2, "b.s3", "paper")
	if len(pg.Analysis.LRGrid) != 4 || len(pg.Analysis.AxisGrid) != 4 {
		t.Errorf("paper grid changed: %+v", pg.Analysis)
	}
}

func TestThin(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		k    int
		want []float64
	}{
		{1, []float64{4}},
		{2, []float64{1, 7}},
		{3, []float64{1, 4, 7}},
		{4, []float64{1, 3, 5, 7}},
		{7, xs},
		{9, xs},
	}
	for _, tt := range tests {
		if got := thin(xs, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("thin(%v, %d) = %v, want %v", xs, tt.k, got, tt.want)
		}
	}
}

func TestGhostBatchCap(t *testing.T) {
	// 0.3 x 512 = 153 rounds down to 128, a multiple of the ghost batch 32.
	c := Config{Net: net9Ghost(), Train: Train{Epochs: 10, BatchSize: 512, LR: []Knot{{0, 0}, {10, 0}}}}
	Profile{TrainSize: 512, BatchCap: 0.3}.apply(&c)
	if c.Train.BatchSize != 128 {
		t.Errorf("batch = %d, want 128", c.Train.BatchSize)
	}
}

func TestResolveErrors(t *testing.T) {
	r := loadBase(t)
	tests := []struct {
		stage            int
		variant, profile string
		want             string
	}{
		{1, "a.s1", "fast", `unknown profile "fast" (known: paper, smoke)`},
		{3, "", "paper", `no stage "3" (known: 1 (one), 2 (two))`},
		{1, "b.s1", "paper", `stage 1 has no variant "b.s1" (known: a.s1, a.s2)`},
	}
	for _, tt := range tests {
		_, err := r.Resolve(tt.stage, tt.variant, tt.profile)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Resolve(%d, %q, %q) error = %v, want it to contain %q", tt.stage, tt.variant, tt.profile, err, tt.want)
		}
	}
}

func TestStageLookup(t *testing.T) {
	r := loadRepo(t)
	for _, key := range []string{"9", "fenwicks"} {
		s, err := r.Stage(key)
		if err != nil {
			t.Fatalf("Stage(%q): %v", key, err)
		}
		if s.ID != 9 || s.Name != "fenwicks" || len(s.Variants) == 0 {
			t.Errorf("Stage(%q) = %+v", key, s)
		}
	}
	if s, err := r.Stage("after-the-blog"); err != nil || s.ID != 10 {
		t.Errorf("Stage(after-the-blog) = %+v, %v", s, err)
	}
	if _, err := r.Stage("11"); err == nil {
		t.Error("Stage(11) succeeded")
	}
	var ids []int
	for _, s := range r.Stages() {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("stage ids = %v", ids)
	}
	if got := r.Profiles(); !slices.Equal(got, []string{"paper", "quick", "quarter", "smoke", "demo"}) {
		t.Errorf("Profiles() = %v", got)
	}
}

// TestQuarterProfile: the paper's recipe on all of CIFAR-10 at a quarter
// of the width, in fp32.
func TestQuarterProfile(t *testing.T) {
	r := loadRepo(t)
	paper, err := r.Resolve(8, "p8.s10", "paper")
	if err != nil {
		t.Fatal(err)
	}
	q, err := r.Resolve(8, "p8.s10", "quarter")
	if err != nil {
		t.Fatal(err)
	}
	if q.Net.Width != paper.Net.Width/4 || q.Data.TrainSize != 0 || q.Data.TestSize != 0 || q.Dataset != "cifar10" {
		t.Errorf("quarter: width %v (paper %v), sizes %d/%d, dataset %s", q.Net.Width, paper.Net.Width, q.Data.TrainSize, q.Data.TestSize, q.Dataset)
	}
	if q.Train.Epochs != paper.Train.Epochs || q.Train.BatchSize != paper.Train.BatchSize || q.Train.EMAMomentum != paper.Train.EMAMomentum ||
		!slices.Equal(q.Train.LR, paper.Train.LR) {
		t.Errorf("quarter changed the recipe: %+v, paper %+v", q.Train, paper.Train)
	}
	if q.Train.Precision != "fp32" || paper.Train.Precision == "fp32" {
		t.Errorf("precision: quarter %q, paper %q", q.Train.Precision, paper.Train.Precision)
	}
}

// TestRegisteredVariants pins the variant lists of the repo registry.
func TestRegisteredVariants(t *testing.T) {
	r := loadRepo(t)
	want := map[int][]string{
		1: {"p1.s0", "p1.s1", "p1.s2", "p1.s3", "p1.s4", "p1.s5"},
		2: {"p2.s1"},
		3: {"p3.s1", "p3.s2", "p3.s3", "p3.s4", "p3.s5", "p3.s6"},
		5: {"p5.e1.batch", "p5.e1.momentum", "p5.e1.wd", "p5.e2"},
		6: {"p6.e1", "p6.e2", "p6.e3"},
		7: {"p7.e1.bn", "p7.e1.nobn", "p7.e2", "p7.e3", "p7.e4", "p7.e5.bn", "p7.e5.nobn", "p7.e5.post", "p7.e6", "p7.e7", "p7.e8", "p7.e9", "p7.e10"},
		8: {"p8.s0", "p8.s1", "p8.s2a", "p8.s2b", "p8.s2c", "p8.s3", "p8.s4", "p8.s5", "p8.s6", "p8.s7", "p8.s8", "p8.s9", "p8.s10"},
		9: {"fenwicks"},
		10: {"ab.s0", "ab.s1", "ab.s2", "ab.s3", "ab.s4", "ab.s5", "ab.s6", "airbench94", "airbench94_muon",
			"loo.whiten", "loo.dirac", "loo.biaslr", "loo.lookahead", "loo.tta", "loo.altflip"},
	}
	for _, s := range r.Stages() {
		var names []string
		family := 0
		for _, v := range s.Variants {
			names = append(names, v.Name)
			if strings.HasPrefix(v.Name, "p4.s8.") {
				family++
			}
		}
		if s.ID == 4 {
			if family != 15 || len(names) != 10+15 {
				t.Errorf("stage 4: %d family variants of %d, want 15 of 25: %v", family, len(names), names)
			}
			continue
		}
		if !slices.Equal(names, want[s.ID]) {
			t.Errorf("stage %d variants = %v, want %v", s.ID, names, want[s.ID])
		}
	}
	kinds := map[string]Kind{"p5.e1.batch": "lr_batch", "p5.e1.momentum": "lr_momentum", "p5.e1.wd": "lr_wd", "p5.e2": "tune",
		"p6.e1": "norms", "p6.e2": "lars", "p6.e3": "equilibrium", "p7.e1.bn": "lr_stress", "p7.e1.nobn": "lr_stress",
		"p7.e2": "bn_histograms", "p7.e3": "deepfc", "p7.e4": "conv_histograms", "p7.e5.bn": "partial_train",
		"p7.e5.post": "partial_train", "p7.e6": "logit_grads", "p7.e7": "logit_grads", "p7.e8": "hessian", "p7.e9": "eigen_perturb",
		"p7.e10": "overlap", "p8.s10": "train"}
	for _, s := range r.Stages() {
		for _, v := range s.Variants {
			if k, ok := kinds[v.Name]; ok && v.Kind != k {
				t.Errorf("%s kind = %q, want %q", v.Name, v.Kind, k)
			}
		}
	}
}

// TestPublishedAnchors checks a few blog numbers against blog-stages.md.
func TestPublishedAnchors(t *testing.T) {
	r := loadRepo(t)
	tests := []struct {
		stage   int
		variant string
		time    float64
		epochs  float64
	}{
		{1, "p1.s0", 340.6, 30},
		{4, "p4.s10", 79, 24},
		{8, "p8.s10", 26, 10},
	}
	for _, tt := range tests {
		c, err := r.Resolve(tt.stage, tt.variant, "paper")
		if err != nil {
			t.Fatal(err)
		}
		if c.Published.TimeSeconds != tt.time || c.Published.Epochs != tt.epochs {
			t.Errorf("%s published %v s / %v epochs, want %v / %v", tt.variant, c.Published.TimeSeconds, c.Published.Epochs, tt.time, tt.epochs)
		}
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-12 && d > -1e-12 }

// net9Ghost is ResNet-9 with ghost BN of 32.
func net9Ghost() model.Net {
	return model.Net{Name: "resnet9", Width: 1, BN: "ghost", GhostBatch: 32, BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125}
}

// TestResolveReturnsCopies: changing a resolved config leaves the registry
// as it was.
func TestResolveReturnsCopies(t *testing.T) {
	r := loadBase(t)
	c, err := r.Resolve(2, "b.s3", "paper")
	if err != nil {
		t.Fatal(err)
	}
	c.Train.LR[1].LR = 99
	c.Analysis.LRGrid[0] = 99
	c.Analysis.Axis = "x"
	d, err := r.Resolve(2, "b.s3", "paper")
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.LR[1].LR == 99 || d.Analysis.LRGrid[0] == 99 || d.Analysis.Axis != "batch" {
		t.Errorf("a change to a resolved config reached the registry: %+v %+v", d.Train.LR, d.Analysis)
	}
}

func TestDidYouMean(t *testing.T) {
	r := loadBase(t)
	if _, err := r.Resolve(1, "a.s1", "smok"); err == nil || !strings.Contains(err.Error(), `did you mean "smoke"?`) {
		t.Errorf("unknown profile: %v", err)
	}
	if _, err := r.Resolve(1, "a.S2", "paper"); err == nil || !strings.Contains(err.Error(), `did you mean "a.s2"?`) {
		t.Errorf("unknown variant: %v", err)
	}
	tests := []struct{ key, want string }{
		{"lables", "labels"}, {"Epochs", "epochs"}, {"cutuot", "cutout"}, {"zzz", ""}, {"lr", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.key, []string{"labels", "epochs", "cutout", "tta", "lars"}); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// TestEMAHorizon checks ema_horizon = "run": the per-step momentum is
// rescaled so -1/ln(m), the EMA's horizon in steps, keeps its fraction of
// the run's optimizer steps.
func TestEMAHorizon(t *testing.T) {
	ema := func() Config {
		return Config{Net: net9Ghost(), Train: Train{Epochs: 13, BatchSize: 512, DropLast: true,
			EMAMomentum: 0.99, EMAEvery: 5, LR: []Knot{{0, 0}, {13, 0}}}}
	}
	tests := []struct {
		name string
		p    Profile
		c    Config
		want float64
	}{
		{"paper", Profile{EMAHorizon: "run"}, ema(), 0.99},
		{"steps kept", Profile{TrainSize: 8000, EpochsScale: 0.25, BatchCap: 0.032}, ema(), 0.99},
		// 97 x 13 = 1,261 steps become 31 x 4 = 124.
		{"quick-like", Profile{TrainSize: 8000, EpochsScale: 0.25, BatchCap: 0.032, EMAHorizon: "run"}, ema(), math.Pow(0.99, 1261.0/124)},
		{"no EMA", Profile{TrainSize: 8000, EMAHorizon: "run"}, Config{Net: net9Ghost(), Train: Train{Epochs: 13, BatchSize: 512}}, 0},
	}
	for _, tt := range tests {
		c := tt.c
		tt.p.apply(&c)
		if math.Abs(c.Train.EMAMomentum-tt.want) > 1e-12 {
			t.Errorf("%s: momentum %v, want %v", tt.name, c.Train.EMAMomentum, tt.want)
		}
		if tt.want > 0 {
			frac := func(m float64, steps int) float64 { return -1 / math.Log(m) / float64(steps) }
			if tt.p.EMAHorizon == "run" && math.Abs(frac(c.Train.EMAMomentum, runSteps(c, cifar10Train))-frac(0.99, 1261)) > 1e-9 {
				t.Errorf("%s: horizon fraction %v, want %v", tt.name, frac(c.Train.EMAMomentum, runSteps(c, cifar10Train)), frac(0.99, 1261))
			}
		}
	}
}

// Stage 10's recipe as resolved: airbench94's decoupled hyperparameters,
// its run-fraction schedule and its tricks, and the Muon variant's
// groups; and its run of 476 steps at batch 1024 on CIFAR-10.
func TestStage10Recipe(t *testing.T) {
	r := loadRepo(t)
	a, err := r.Resolve(10, "airbench94", "paper")
	if err != nil {
		t.Fatal(err)
	}
	tc := a.Train
	if tc.Units != "airbench" || tc.Schedule != "run" || tc.Epochs != 9.9 || tc.BatchSize != 1024 || tc.Momentum != 0.85 ||
		tc.WeightDecay != 0.0153 || !tc.Lookahead.On() || tc.TTAShift != 1 || !a.Data.AltFlip || a.Data.Translate != 2 ||
		a.Net.BNMomentum != 0.4 || a.Net.BNEps != 1e-12 || !a.Net.Dirac || !a.Net.Whiten || a.Net.Act != "gelu" || a.Train.Timing != "airbench" {
		t.Errorf("airbench94: %+v %+v %+v", tc, a.Data, a.Net)
	}
	if got := RunSteps(50000/1024, tc.Epochs); got != 476 {
		t.Errorf("airbench94: %d steps, want ceil(48 x 9.9) = 476", got)
	}
	if len(tc.Groups) != 3 || tc.Groups[0].LRMul != 64 || tc.Groups[1].Params != "whiten_bias" || tc.Groups[1].Epochs != 3 {
		t.Errorf("airbench94 groups %+v", tc.Groups)
	}
	m, err := r.Resolve(10, "airbench94_muon", "paper")
	if err != nil {
		t.Fatal(err)
	}
	if m.Train.Lookahead.On() || m.Train.Units != "torch" || m.Train.BatchSize != 2000 || len(m.Train.Groups) != 4 ||
		m.Train.Groups[3].Rule != "muon" || m.Train.Groups[3].Momentum != 0.6 || m.Net.ClassifierScale != 1.0/256 || m.Net.HeadInit != "unit_std" {
		t.Errorf("airbench94_muon: %+v %+v", m.Train, m.Net)
	}
	// A profile scales fractional epochs without rounding, integral ones
	// with; "run" knots stay fractions.
	q, err := r.Resolve(10, "airbench94", "quick")
	if err != nil {
		t.Fatal(err)
	}
	if q.Train.Epochs != 9.9*0.25 || !slices.Equal(q.Train.LR, tc.LR) || q.Train.Groups[1].Epochs != 1 {
		t.Errorf("quick: epochs %v, lr %v, groups %+v", q.Train.Epochs, q.Train.LR, q.Train.Groups)
	}
}
