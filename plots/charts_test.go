package plots

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"speedrun/plots/plottest"
	"speedrun/results"
	"speedrun/stages"
)

// goldenImage compares a figure's pixels with testdata/golden/name.png
// (plottest.Golden: a small tolerance; -update rewrites the file), and
// checks that the figure is drawn, not blank (plottest.Check).
func goldenImage(t *testing.T, name string, f *Figure) {
	t.Helper()
	b, err := f.PNG()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	plottest.Golden(t, filepath.Join("testdata", "golden", name+".png"), b, *update)
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := plottest.Check(img); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// sectionOf returns the fixture's section for a stage and profile.
func sectionOf(t *testing.T, d *Data, stage int, profile string) (Section, []*Stats) {
	t.Helper()
	for _, s := range d.Sections() {
		if s.Stage.ID == stage && s.Profile == profile {
			st := make([]*Stats, len(s.Groups))
			for i, g := range s.Groups {
				st[i] = Summarize(g)
			}
			return s, st
		}
	}
	t.Fatalf("fixture has no stage %d profile %s", stage, profile)
	return Section{}, nil
}

func TestChartsGolden(t *testing.T) {
	d := loadFixture(t)
	s8, st8 := sectionOf(t, d, 8, "smoke")
	s4, st4 := sectionOf(t, d, 4, "smoke")
	// Stage 4 has 25 variants: every one must stay distinct.
	many, stMany, epMany := manySection(t)
	mk := map[string]func() (*Figure, error){
		"scatter-many":  func() (*Figure, error) { return Scatter(many, stMany) },
		"curves-many":   func() (*Figure, error) { return Curves(many, epMany) },
		"schedule-many": func() (*Figure, error) { return Schedule(many) },
		"scatter-p8":    func() (*Figure, error) { return Scatter(s8, st8) },
		"scatter-p4":    func() (*Figure, error) { return Scatter(s4, st4) },
		"waterfall-p8":  func() (*Figure, error) { return Waterfall(s8, st8) },
		"curves-p4":     func() (*Figure, error) { return Curves(s4, d.Epochs) },
		"schedule-p8":   func() (*Figure, error) { return Schedule(s8) },
		"run-p8":        func() (*Figure, error) { return runChartOf(t, d, 8, "p8.s8", 0) },
		"run-diverged": func() (*Figure, error) {
			return runChartOf(t, d, 4, "p4.s10", 4)
		},
		"overview": func() (*Figure, error) {
			return Overview("smoke · synthetic · CPU", []OverviewPoint{{Stage: "p1", Ours: 300, Published: 297}, {Stage: "p4", Ours: 90, Published: 79}, {Stage: "p8", Ours: 30, Published: 26}})
		},
		"heatmap": func() (*Figure, error) {
			xs := []float64{0.1, 0.2, 0.4, 0.8}
			ys := []float64{128, 256, 512}
			z := [][]float64{{0.90, 0.92, 0.93, 0.91}, {0.91, 0.93, 0.94, 0.92}, {0.89, 0.92, 0.935, math.NaN()}}
			return Heatmap("accuracy against LR and batch", "peak lambda", "batch size", xs, ys, z, func(p *plot.Plot, at Coords) error {
				// The ridge lambda/N = 0.4/512 through the grid.
				var pts plotter.XYs
				for _, n := range []float64{128, 512} {
					x, y := at(0.4/512*n, n)
					pts = append(pts, plotter.XY{X: x, Y: y})
				}
				l, err := plotter.NewLine(pts)
				if err != nil {
					return err
				}
				p.Add(l)
				return nil
			})
		},
		"lines": func() (*Figure, error) {
			return Lines("weight norm per layer", "step", "|w|", []Series{
				{Name: "conv1", X: []float64{1, 10, 100, 1000}, Y: []float64{1, 2, 3, 3.2}, Points: true},
				{Name: "conv2", X: []float64{1, 10, 100, 1000}, Y: []float64{2, 2.5, 2.8, 3}, Lo: []float64{1.8, 2.3, 2.7, 2.9}, Hi: []float64{2.2, 2.7, 2.9, 3.1}},
			}, Axes{LogX: true})
		},
		"histogram": func() (*Figure, error) {
			var v []float64
			for i := 0; i < 400; i++ {
				v = append(v, math.Sin(float64(i))*math.Sqrt(float64(i%37)))
			}
			return Histogram("activations", "value", append(v, math.NaN()), 20, true)
		},
	}
	for name, f := range mk {
		t.Run(name, func(t *testing.T) {
			fig, err := f()
			if err != nil {
				t.Fatal(err)
			}
			goldenImage(t, name, fig)
		})
	}
}

func TestChartsNoData(t *testing.T) {
	empty := Section{Stage: Stage{ID: 1, Name: "p1"}, Profile: "smoke", Groups: []*Group{{Stage: 1, Variant: Variant{Name: "v"}}}}
	st := []*Stats{Summarize(empty.Groups[0])}
	for name, f := range map[string]func() (*Figure, error){
		"scatter":   func() (*Figure, error) { return Scatter(empty, st) },
		"waterfall": func() (*Figure, error) { return Waterfall(empty, st) },
		"curves":    func() (*Figure, error) { return Curves(empty, nil) },
		"schedule":  func() (*Figure, error) { return Schedule(empty) },
		"overview":  func() (*Figure, error) { return Overview("o", nil) },
		"heatmap":   func() (*Figure, error) { return Heatmap("h", "x", "y", nil, nil, nil, nil) },
		"lines":     func() (*Figure, error) { return Lines("l", "x", "y", nil, Axes{}) },
		"histogram": func() (*Figure, error) { return Histogram("h", "x", []float64{math.NaN()}, 0, false) },
	} {
		if _, err := f(); !errors.Is(err, ErrNoData) {
			t.Errorf("%s with no data: err = %v, want ErrNoData", name, err)
		}
	}
}

func TestChartsDegenerate(t *testing.T) {
	// Inputs gonum/plot chokes on must come back as figures or errors,
	// never as panics.
	for name, f := range map[string]func() (*Figure, error){
		"heatmap constant": func() (*Figure, error) {
			return Heatmap("h", "x", "y", []float64{1}, []float64{1}, [][]float64{{0.5}}, nil)
		},
		"heatmap all NaN": func() (*Figure, error) {
			return Heatmap("h", "x", "y", []float64{1, 2}, []float64{1}, [][]float64{{math.NaN(), math.NaN()}}, nil)
		},
		"histogram constant": func() (*Figure, error) { return Histogram("h", "x", []float64{1, 1, 1}, 0, false) },
		"overview one point": func() (*Figure, error) { return Overview("o", []OverviewPoint{{Stage: "p8", Ours: 3}}) },
		"lines one point": func() (*Figure, error) {
			return Lines("l", "x", "y", []Series{{Name: "a", X: []float64{1}, Y: []float64{1}}}, Axes{LogY: true})
		},
	} {
		fig, err := f()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := fig.PNG(); err != nil {
			t.Errorf("%s: render: %v", name, err)
		}
	}
	// A run timed at zero (the fake backend's, under the clock's step)
	// beside times that span a log axis: the scatter leaves it off and
	// renders the rest.
	d := loadFixture(t)
	s8, _ := sectionOf(t, d, 8, "smoke")
	runs := append([]results.Run(nil), s8.Groups[0].Runs...)
	runs[0].PreprocessSeconds, runs[0].TrainSeconds, runs[0].EvalSeconds = 0, 0, 0
	s8.Groups = append([]*Group(nil), s8.Groups...)
	g0 := *s8.Groups[0]
	g0.Runs = runs
	s8.Groups[0] = &g0
	st := make([]*Stats, len(s8.Groups))
	for i, g := range s8.Groups {
		st[i] = Summarize(g)
	}
	if fig, err := Scatter(s8, st); err != nil {
		t.Errorf("scatter with a zero time: %v", err)
	} else if _, err := fig.PNG(); err != nil {
		t.Errorf("scatter with a zero time: render: %v", err)
	}
	if _, err := Heatmap("h", "x", "y", []float64{1, 2}, []float64{1}, [][]float64{{1}}, nil); err == nil {
		t.Error("heatmap with a short row: no error")
	}
}

func TestGridIndex(t *testing.T) {
	xs := []float64{0.1, 0.2, 0.4, 0.8}
	for _, tc := range []struct{ v, want float64 }{{0.1, 0}, {0.4, 2}, {0.8, 3}, {0.2 * math.Sqrt2, 1.5}, {1.6, 4}, {0.05, -1}} {
		if got := gridIndex(xs, tc.v); !near(got, tc.want, 1e-9) {
			t.Errorf("gridIndex(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestLRAt(t *testing.T) {
	// p8.s8-style: the last value is held after the last knot.
	k := []stages.Knot{kn(0, 0), kn(2, 1.0), kn(8, 0.1)}
	for _, tc := range []struct{ e, want float64 }{{-1, 0}, {0, 0}, {1, 0.5}, {2, 1}, {5, 0.55}, {8, 0.1}, {10, 0.1}} {
		if got := LRAt(k, tc.e); !near(got, tc.want, 1e-12) {
			t.Errorf("LRAt(%v) = %v, want %v", tc.e, got, tc.want)
		}
	}
	if !math.IsNaN(LRAt(nil, 1)) {
		t.Error("LRAt with no knots is not NaN")
	}
}

// runChartOf draws the run chart of the fixture's first CPU run of a
// variant and repeat.
func runChartOf(t *testing.T, d *Data, stage int, variant string, repeat int) (*Figure, error) {
	t.Helper()
	for _, r := range d.Runs {
		if r.Stage == stage && r.Variant == variant && r.Repeat == repeat && r.Backend == "cpu" {
			var c stages.Config
			if err := json.Unmarshal([]byte(r.ConfigJSON), &c); err != nil {
				t.Fatal(err)
			}
			return RunChart(r, d.Epochs[r.ID], &c)
		}
	}
	t.Fatalf("fixture has no run %d %s #%d", stage, variant, repeat)
	return nil, nil
}
