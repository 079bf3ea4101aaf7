package plots

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"speedrun/results"
)

// SeriesKey says what a run measured at which scale and where: its
// profile, its dataset, the engine and device it trained on, the number
// format it trained in and the command line's overrides. Runs of
// different keys are never pooled: each key is a series of its own,
// labelled in every table and chart that shows it.
type SeriesKey struct {
	Profile string
	// Dataset is the dataset's name without its sizes: "cifar10",
	// "synthetic".
	Dataset string
	Backend string // cpu, cuda, ...
	Device  string // the CPU or GPU model
	// Precision is what the engine trained in ("f32", "bf16"); empty for
	// runs from before it was recorded.
	Precision string
	// Overrides are the run's key=value overrides, space-separated.
	Overrides string
}

// SeriesOf returns a run's series.
func SeriesOf(r results.Run) SeriesKey {
	return SeriesKey{Profile: r.Profile, Dataset: DatasetName(r.Dataset), Backend: r.Backend, Device: r.Device,
		Precision: r.Precision, Overrides: strings.Join(RunOverrides(r), " ")}
}

// DatasetName is a recorded dataset's name without its parameters and
// sizes: "synthetic(seed=0,512/256)" is "synthetic", "cifar10[8000/2000]"
// is "cifar10".
func DatasetName(s string) string {
	if i := strings.IndexAny(s, "(["); i > 0 {
		s = s[:i]
	}
	if s == "" {
		return "unknown data"
	}
	return s
}

// RunOverrides returns the key=value overrides recorded in a run's config
// (stages.Config.Overrides); nil for a registry config.
func RunOverrides(r results.Run) []string {
	if !strings.Contains(r.ConfigJSON, `"overrides"`) {
		return nil
	}
	var c struct {
		Overrides []string `json:"overrides"`
	}
	if err := json.Unmarshal([]byte(r.ConfigJSON), &c); err != nil {
		return nil
	}
	return c.Overrides
}

// DeviceClass names the kind of device a backend trains on: "CPU" for
// cpu, "GPU" for cuda, else the backend's own name.
func DeviceClass(backend string) string {
	switch backend {
	case "cpu":
		return "CPU"
	case "cuda":
		return "GPU"
	case "":
		return "unknown device"
	}
	return backend
}

// shortDevice is a device model without its details in parentheses:
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" is "NVIDIA H100 80GB HBM3".
func shortDevice(s string) string {
	if i := strings.Index(s, " ("); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// SeriesLabels names each series for people: "demo · synthetic · CPU".
// The label says more only where it must to tell two series apart: the
// device's model when two differ only in it, the precision when two
// differ only in it (or always, with reduced precision), and the
// overrides whenever there are any.
func SeriesLabels(keys []SeriesKey) map[SeriesKey]string {
	base := func(k SeriesKey) string { return k.Profile + " · " + k.Dataset + " · " + DeviceClass(k.Backend) }
	type group struct {
		devices, precisions map[string]bool
	}
	groups := map[string]*group{}
	for _, k := range keys {
		b := base(k)
		g := groups[b]
		if g == nil {
			g = &group{devices: map[string]bool{}, precisions: map[string]bool{}}
			groups[b] = g
		}
		g.devices[k.Device] = true
		g.precisions[k.Precision] = true
	}
	out := make(map[SeriesKey]string, len(keys))
	for _, k := range keys {
		g := groups[base(k)]
		dev := DeviceClass(k.Backend)
		if len(g.devices) > 1 && k.Device != "" {
			dev += " " + shortDevice(k.Device)
		}
		parts := []string{k.Profile, k.Dataset, dev}
		if k.Precision != "" && (len(g.precisions) > 1 || k.Precision != "f32") {
			parts = append(parts, k.Precision)
		}
		if k.Overrides != "" {
			parts = append(parts, k.Overrides)
		}
		out[k] = strings.Join(parts, " · ")
	}
	return out
}

// compareSeries orders series by profile (the blog-faithful first), then
// those without overrides before those with, then by label.
func compareSeries(a, b SeriesKey, labels map[SeriesKey]string) int {
	hasOv := func(k SeriesKey) int {
		if k.Overrides != "" {
			return 1
		}
		return 0
	}
	return cmp.Or(compareProfiles(a.Profile, b.Profile), cmp.Compare(hasOv(a), hasOv(b)),
		cmp.Compare(labels[a], labels[b]), cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)))
}

// sortSeries sorts keys in place by compareSeries.
func sortSeries(keys []SeriesKey, labels map[SeriesKey]string) {
	slices.SortFunc(keys, func(a, b SeriesKey) int { return compareSeries(a, b, labels) })
}
