package plots

import (
	"errors"
	"math"
	"testing"
)

// TestBars draws grouped bars on linear and log axes (golden images,
// drawn not blank) and checks the errors of bars with nothing to draw or
// series that do not fit the categories.
func TestBars(t *testing.T) {
	cats := []string{"prep.conv", "layer1.conv", "layer1.extra.conv", "layer2.conv", "layer2.extra.conv", "layer3.conv"}
	series := []BarSeries{
		{Name: "BN", Values: []float64{0.01, 0.05, 0.04, 0.03, 0.08, 0.03}},
		{Name: "no BN", Values: []float64{0.0005, 0.009, 0.06, 0.03, 0.1, 0.2}},
		{Name: "BN after act", Values: []float64{0.004, 0.009, 0.016, math.NaN(), 0.02, 0.016}},
	}
	for _, tc := range []struct {
		name string
		axes Axes
	}{{"bars-linear", Axes{}}, {"bars-log", Axes{LogY: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Bars("per-layer gradient norms", "layer", "squared norm", cats, series, tc.axes)
			if err != nil {
				t.Fatal(err)
			}
			goldenImage(t, tc.name, f)
		})
	}
	if _, err := Bars("none", "x", "y", []string{"a"}, []BarSeries{{Name: "s", Values: []float64{-1}}}, Axes{LogY: true}); !errors.Is(err, ErrNoData) {
		t.Errorf("nothing positive on a log axis: %v, want ErrNoData", err)
	}
	if _, err := Bars("bad", "x", "y", []string{"a", "b"}, []BarSeries{{Name: "s", Values: []float64{1}}}, Axes{}); err == nil {
		t.Error("a series of 1 value for 2 categories: no error")
	}
}
