package analysisplot

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"speedrun/analysis"
	"speedrun/plots/plottest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// histLayer is one layer of a made-up histogram run.
type histLayer struct {
	group, layer string
	channels     int
	allNaN       bool // every value non-finite: nothing to draw
}

// histRun stores histograms as the E7.2-E7.4 analyses do: per-channel
// values from a seeded generator whose channels drift apart with depth,
// so that the figures are the same on every machine.
func histRun(t *testing.T, layers []histLayer) runData {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 23))
	meas := map[string]string{}
	for i, l := range layers {
		const rows = 500
		y := make([]float32, rows*l.channels)
		for j := range y {
			ch := j % l.channels
			y[j] = float32(rng.NormFloat64()*(1+0.15*float64(ch%4)) + float64(i)*(float64(ch%7)-3)/3)
			if l.allNaN {
				y[j] = float32(math.NaN())
			}
		}
		h, err := analysis.ChannelHistogram(y, l.channels, 10, 40)
		if err != nil {
			t.Fatal(err)
		}
		if l.allNaN {
			// channelHistogram gives an all-NaN layer the range [0, 1];
			// its counts are all zero, and the means NaN.
			h.Lo, h.Hi = analysis.JSONFloat(math.NaN()), analysis.JSONFloat(math.NaN())
		}
		h.Group, h.Layer, h.Order = l.group, l.layer, i
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		meas["hist/"+l.group+"/"+l.layer] = string(b)
	}
	return runData{meas: meas}
}

// TestHistCharts checks the tiled histogram figures: one per group, a
// drawn panel per layer with data (plottest.Check and its plot areas),
// and the E7.4 figure against its golden image.
func TestHistCharts(t *testing.T) {
	const g = "bn=none input=gaussian"
	e74 := []histLayer{{g, "prep.conv", 4, false}, {g, "layer1.conv", 8, false}, {g, "layer2.conv", 16, false}, {g, "layer3.conv", 32, false}}
	for _, tc := range []struct {
		name   string
		layers []histLayer
		panels []int  // plot areas per figure
		golden string // file under testdata/golden, or ""
	}{
		{"E7.4 four layers", e74, []int{4}, "per-channel-histograms.png"},
		{"one layer", e74[:1], []int{1}, ""},
		{"two groups", append(e74[:2:2], histLayer{"bn=bn input=gaussian", "prep.conv", 4, false}), []int{1, 2}, ""},
		{"a layer without finite values is left out", append(e74[:2:2], histLayer{g, "head.conv", 10, true}), []int{2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			figs := histCharts(histRun(t, tc.layers), "test run 1")
			if len(figs) != len(tc.panels) {
				t.Fatalf("%d figures, want %d", len(figs), len(tc.panels))
			}
			for i, f := range figs {
				if f.err != nil {
					t.Fatalf("%s: %v", f.title, f.err)
				}
				b, err := f.fig.PNG()
				if err != nil {
					t.Fatal(err)
				}
				if tc.golden != "" {
					plottest.Golden(t, filepath.Join("testdata", "golden", tc.golden), b, *update)
				}
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				if err := plottest.Check(img); err != nil {
					t.Errorf("%s: %v", f.title, err)
				}
				if got := len(plottest.Inspect(img).Areas); got != tc.panels[i] {
					t.Errorf("%s: %d plot areas, want %d", f.title, got, tc.panels[i])
				}
			}
		})
	}
}
