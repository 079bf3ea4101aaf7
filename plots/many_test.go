package plots

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"speedrun/results"
	"speedrun/stages"
)

// stage4Names are the 25 variants of the registry's stage 4, the largest
// stage: the charts must tell every one of them apart.
var stage4Names = []string{
	"p4.s1", "p4.s2", "p4.s3", "p4.s4", "p4.s5", "p4.s6", "p4.s7", "p4.s8.b6",
	"p4.s8.extra-L1", "p4.s8.extra-L2", "p4.s8.extra-L3", "p4.s8.extra-L1+L2",
	"p4.s8.extra-L1+L3", "p4.s8.extra-L2+L3", "p4.s8.extra-L1+L2+L3",
	"p4.s8.residual-L1", "p4.s8.residual-L2", "p4.s8.residual-L3",
	"p4.s8.residual-L1+L2", "p4.s8.residual-L1+L3", "p4.s8.residual-L2+L3",
	"p4.s8.residual-L1+L2+L3", "p4.s9", "p4.s10", "p4.s11",
}

// stage4Published holds the blog's (time s, accuracy) for the stage-4
// variants that have one (experiments.toml).
var stage4Published = map[string][2]float64{
	"p4.s1": {36, 0.559}, "p4.s2": {32, 0.560}, "p4.s3": {36, 0.856}, "p4.s4": {43, 0.897},
	"p4.s5": {47, 0.907}, "p4.s6": {47, 0.911}, "p4.s7": {321, 0.935}, "p4.s9": {66, 0.938},
	"p4.s10": {79, 0.9408}, "p4.s11": {180, 0.950},
}

// manySection builds a seeded synthetic stage-4 quick section with one
// group per stage4Names entry: three done runs of five epochs each, and
// a config whose LR schedule is the same for most variants (as in the
// registry) and peaks later for every fifth.
func manySection(t testing.TB) (Section, []*Stats, map[int64][]results.Epoch) {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 25))
	sec := Section{Stage: Stage{ID: 4, Name: "p4", Title: "Architecture"}, Profile: "quick"}
	epochs := map[int64][]results.Epoch{}
	id := int64(0)
	for i, name := range stage4Names {
		v := Variant{Name: name, Kind: "train"}
		if p, ok := stage4Published[name]; ok {
			v.Published = stages.Published{TimeSeconds: p[0], Accuracy: p[1], Epochs: 20, Hardware: "V100"}
		}
		sec.Stage.Variants = append(sec.Stage.Variants, v)
		cfg := &stages.Config{Stage: 4, Variant: name, Profile: "quick", Kind: "train"}
		cfg.Train = stages.Train{Epochs: 5, LR: []stages.Knot{kn(0, 0), kn(1, 0.4), kn(5, 0)}, Timing: TimingTrainEval}
		if i%5 == 4 {
			cfg.Train.LR[1] = kn(2, 0.4)
		}
		g := &Group{Stage: 4, Variant: v, Profile: "quick", Registered: true, Config: cfg}
		acc := 0.45 + 0.4*float64(i)/float64(len(stage4Names)-1)
		tm := 15 + 25*rng.Float64()
		for rep := 0; rep < 3; rep++ {
			id++
			a := acc + 0.01*rng.NormFloat64()
			r := results.Run{ID: id, Stage: 4, Variant: name, Profile: "quick", Repeat: rep, Status: results.StatusDone,
				TestAcc: a, TTAAcc: math.NaN(), TrainSeconds: tm * (1 + 0.03*rng.NormFloat64()), EvalSeconds: 0.1 * tm}
			g.Runs = append(g.Runs, r)
			for e := 1; e <= 5; e++ {
				frac := float64(e) / 5
				epochs[id] = append(epochs[id], results.Epoch{RunID: id, Epoch: e,
					TrainLoss: 2.3*math.Exp(-2*frac*acc) + 0.02*rng.Float64(),
					TestAcc:   0.1 + (a-0.1)*math.Sqrt(frac) + 0.005*rng.NormFloat64(), TestLoss: math.NaN()})
			}
		}
		sec.Groups = append(sec.Groups, g)
	}
	st := make([]*Stats, len(sec.Groups))
	for i, g := range sec.Groups {
		st[i] = Summarize(g)
	}
	return sec, st, epochs
}

// TestStylesDistinct checks that every series of a large stage gets its
// own (colour, shape) pair and, for lines, its own (colour, dashes) pair.
func TestStylesDistinct(t *testing.T) {
	const n = 30
	marks, lines := map[[2]int]int{}, map[string]int{}
	for i := 0; i < n; i++ {
		s := StyleOf(i)
		ci := slices.Index(palette10, s.Color)
		if ci < 0 {
			t.Fatalf("series %d: colour %v is not in the palette", i, s.Color)
		}
		shape := s.Marker.Shape % len(unitShapes)
		if j, ok := marks[[2]int{ci, shape}]; ok {
			t.Errorf("series %d and %d share colour %d and shape %d", j, i, ci, shape)
		}
		marks[[2]int{ci, shape}] = i
		key := fmt.Sprint(ci, s.Dashes)
		if j, ok := lines[key]; ok {
			t.Errorf("series %d and %d share colour %d and dashes %v", j, i, ci, s.Dashes)
		}
		lines[key] = i
		if i > 0 {
			if p := StyleOf(i - 1); p.Color == s.Color || p.Marker.Shape%len(unitShapes) == shape {
				t.Errorf("series %d and %d are neighbours but share a colour or shape", i-1, i)
			}
		}
	}
}

// TestMarkersLookDistinct draws every marker shape at the sizes the
// scatter uses and checks their pixels differ: no two variant shapes may
// (nearly) coincide, and the blog's published marker must stand apart
// from every variant's marker.
func TestMarkersLookDistinct(t *testing.T) {
	pub := glyphMask(t, draw.GlyphStyle{Color: Color(0), Radius: pubRadius, Shape: PublishedMark{}})
	for _, r := range []vg.Length{runRadius, meanRadius} {
		masks := make([][]bool, len(unitShapes))
		for i := range unitShapes {
			masks[i] = glyphMask(t, draw.GlyphStyle{Color: Color(0), Radius: r, Shape: Marker{Shape: i, Edge: r == meanRadius}})
			// The ring inks pixels no filled marker reaches (about 80%
			// of either's here).
			if d := maskDiff(pub, masks[i]); d < 0.5 {
				t.Errorf("radius %v: the published marker and shape %d differ in only %.0f%% of their pixels", r, i, 100*d)
			}
		}
		for i := range masks {
			for j := i + 1; j < len(masks); j++ {
				// Equal-area circle and square differ in about 11% of
				// their pixels at the run size, the closest pair; a
				// duplicate shape in 0%.
				if d := maskDiff(masks[i], masks[j]); d < 0.08 {
					t.Errorf("radius %v: shapes %d and %d differ in only %.0f%% of their pixels", r, i, j, 100*d)
				}
			}
		}
	}
}

// maskDiff is the share of the pixels inked in a or b that only one of
// them inked.
func maskDiff(a, b []bool) float64 {
	diff, union := 0, 0
	for k := range a {
		if a[k] || b[k] {
			union++
		}
		if a[k] != b[k] {
			diff++
		}
	}
	return float64(diff) / float64(union)
}

// glyphMask renders one glyph at the report's DPI and returns which
// pixels it inked.
func glyphMask(t *testing.T, sty draw.GlyphStyle) []bool {
	t.Helper()
	const side = 24 // points: room for the largest glyph
	c := vgimg.NewWith(vgimg.UseWH(side, side), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	dc.DrawGlyph(sty, vg.Point{X: side / 2, Y: side / 2})
	img := c.Image()
	b := img.Bounds()
	mask := make([]bool, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			mask = append(mask, r+g+bl < 3*0xffff*3/4)
		}
	}
	if !slices.Contains(mask, true) {
		t.Fatalf("%T drew nothing", sty.Shape)
	}
	return mask
}
