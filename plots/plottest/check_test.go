package plottest_test

import (
	"bytes"
	"fmt"
	"image/png"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"speedrun/plots"
	"speedrun/plots/plottest"
)

// series returns n bell curves, one per channel, and their mean, named
// as the per-channel histograms name them.
func series(n int) []plots.Series {
	var out []plots.Series
	mean := plots.Series{Name: "all channels / C"}
	for c := range n {
		s := plots.Series{Name: fmt.Sprintf("ch %d", c)}
		for i := range 40 {
			x := float64(i)/4 - 5
			d := x - float64(c)/3 + 1
			s.X, s.Y = append(s.X, x), append(s.Y, 1000/(1+d*d))
		}
		out = append(out, s)
	}
	for i := range out[0].X {
		y := 0.0
		for _, s := range out {
			y += s.Y[i] / float64(n)
		}
		mean.X, mean.Y = append(mean.X, out[0].X[i]), append(mean.Y, y)
	}
	return append(out, mean)
}

func lines(t *testing.T, n int) *plots.Figure {
	t.Helper()
	f, err := plots.Lines("layer", "activation", "count", series(n), plots.Axes{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// stacked is the drawing of issue 23: each figure's panels all stretched
// over one cell of a grid, so that a side legend's panel (white, without
// axes) covers the plot it belongs to.
func stacked(figs []*plots.Figure, cols int) *plots.Figure {
	rows := (len(figs) + cols - 1) / cols
	out := &plots.Figure{Width: vg.Length(cols) * 4 * vg.Inch, Height: vg.Length(rows) * 3 * vg.Inch}
	for i, f := range figs {
		r, c := i/cols, i%cols
		for _, p := range f.Panels {
			out.Panels = append(out.Panels, plots.Panel{Plot: p.Plot,
				X0: float64(c) / float64(cols), X1: float64(c+1) / float64(cols),
				Y0: 1 - float64(r+1)/float64(rows), Y1: 1 - float64(r)/float64(rows)})
		}
	}
	return out
}

// legendOnly is a plot whose legend lists curves it never draws, inside
// its axes.
func legendOnly(t *testing.T) *plots.Figure {
	t.Helper()
	full := lines(t, 3) // four entries: the legend stays inside the axes
	p := plot.New()
	p.Title.Text = "layer"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -5, 5, 0, 1000
	p.Legend = full.Panels[0].Plot.Legend
	return plots.Single(p)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fig   func(t *testing.T) *plots.Figure
		areas int
		want  string // "" when the chart passes, else a part of the error
	}{
		{"few curves, legend inside", func(t *testing.T) *plots.Figure { return lines(t, 3) }, 1, ""},
		{"many curves, legend beside", func(t *testing.T) *plots.Figure { return lines(t, 10) }, 1, ""},
		{"one curve", func(t *testing.T) *plots.Figure {
			f, err := plots.Lines("one", "x", "y", series(1)[:1], plots.Axes{})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, 1, ""},
		{"grid with one legend", func(t *testing.T) *plots.Figure {
			var ps []plots.LinesPanel
			for _, n := range []int{4, 10, 10, 10} {
				ps = append(ps, plots.LinesPanel{Title: "layer", XLabel: "activation", YLabel: "count", Series: series(n)})
			}
			f, err := plots.LinesGrid(ps, 3, 4*vg.Inch, 3*vg.Inch, plots.Axes{})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, 4, ""},
		{"a side without data says so, without axes", func(t *testing.T) *plots.Figure {
			empty := plot.New()
			empty.Title.Text = "blog (published) (no data)"
			empty.HideAxes()
			f := lines(t, 3)
			return &plots.Figure{Width: 2 * plots.Width, Height: plots.Height, Panels: []plots.Panel{
				{Plot: f.Panels[0].Plot, X1: 0.5, Y1: 1}, {Plot: empty, X0: 0.5, X1: 1, Y1: 1}}}
		}, 1, ""},
		{"issue 23: legend over the plot", func(t *testing.T) *plots.Figure { return stacked([]*plots.Figure{lines(t, 10)}, 1) }, 0, "no plot area"},
		{"issue 23: some tiles legend only", func(t *testing.T) *plots.Figure {
			return stacked([]*plots.Figure{lines(t, 4), lines(t, 10), lines(t, 10), lines(t, 10), lines(t, 10)}, 3)
		}, 1, "legends outside the plot areas"},
		{"axes, nothing in them", func(t *testing.T) *plots.Figure {
			p := plot.New()
			p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
			return plots.Single(p)
		}, 1, "is empty"},
		{"axes and a legend, no curves", legendOnly, 1, "holds no series colour"},
		{"no axes at all", func(t *testing.T) *plots.Figure {
			p := plot.New()
			p.Title.Text = "nothing"
			p.HideAxes()
			return plots.Single(p)
		}, 0, "no plot area"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.fig(t).PNG()
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(plottest.Inspect(img).Areas); got != tc.areas {
				t.Errorf("%d plot areas, want %d", got, tc.areas)
			}
			err = plottest.Check(img)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("drawn chart fails: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("blank chart passes, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want one with %q", err, tc.want)
			}
		})
	}
}
