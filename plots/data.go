// Package plots turns result rows into statistics, gonum/plot charts and a
// static HTML report. It reads results and never writes them: every core
// function takes plain rows (Data), so a report can be rebuilt from the
// database, or from a JSON fixture in a test, at any time.
package plots

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"speedrun/results"
	"speedrun/stages"
)

// Data is everything a report is built from.
type Data struct {
	// Stages lists the registry's stages and variants in registry order;
	// runs of a stage or variant missing here are still reported, after
	// the registered ones.
	Stages []Stage
	Runs   []results.Run
	// Epochs holds each run's per-epoch rows, by run ID.
	Epochs map[int64][]results.Epoch
	// Resolve, when set, resolves a variant of the registry under a
	// profile: a run page compares its run's config with the preceding
	// variant's. Without it the page compares with a run of that variant.
	Resolve func(stage int, variant, profile string) (stages.Config, error)
}

// LastFinished is the latest finish time of d's runs (zero when none has
// finished): the report's "generated" stamp, so that rebuilding a report
// from the same database writes the same pages.
func (d *Data) LastFinished() time.Time {
	var t time.Time
	for _, r := range d.Runs {
		if r.Finished.After(t) {
			t = r.Finished
		}
	}
	return t
}

// Stage is one stage of the registry as the report needs it.
type Stage struct {
	ID       int
	Name     string // short name, e.g. "p4"
	Title    string
	Variants []Variant
}

// Variant is one variant of a stage, with the blog's number for it.
type Variant struct {
	Name      string
	Title     string
	Kind      stages.Kind // KindTrain or an analysis kind
	Published stages.Published
	// Base is the variant it is written as a change on (stages.VariantInfo).
	Base string
}

// Group is the runs of one variant of a stage in one series (profile,
// dataset, device, precision, overrides): the unit every statistic is
// computed over. Series are never mixed, since a smoke run on a CPU and a
// paper run on a GPU measure different things.
type Group struct {
	Stage   int
	Variant Variant
	Profile string
	Series  SeriesKey
	Label   string        // the series' label
	Runs    []results.Run // sorted by repeat, then ID
	// Config is the resolved config of the group's first run that has one;
	// nil when no run carries a parsable config.
	Config *stages.Config
	// ConfigErr says why Config is nil although a run carried one.
	ConfigErr error
	// Registered is false for runs whose variant is not in the registry.
	Registered bool
}

// Section is one stage in one series: what a stage page shows per series.
type Section struct {
	Stage   Stage
	Profile string
	Series  SeriesKey
	// Label names the series for people, "demo · synthetic · CPU"
	// (SeriesLabels over every run of the Data).
	Label  string
	Groups []*Group // in registry order
}

// Accuracy is the run's reported accuracy: the TTA accuracy when the run
// used TTA (the blog reports TTA numbers from p8.s9 on), else the plain
// test accuracy. NaN when the run has none.
func Accuracy(r results.Run) float64 {
	if !math.IsNaN(r.TTAAcc) && r.TTAAcc != 0 {
		return r.TTAAcc
	}
	return r.TestAcc
}

// Timing conventions (stages.Train.Timing).
const (
	TimingTrainEval = "train+eval"
	TimingDawn      = "dawn"
	TimingAirbench  = "airbench"
)

// TimeIn returns the run's time in a timing convention: "train+eval" is
// training plus per-epoch evaluation (posts 1-4), "dawn" is preprocessing
// plus training (post 8 and DAWNBench), "airbench" all three (stage 10,
// whose evaluation is the final one with its TTA).
func TimeIn(r results.Run, timing string) float64 {
	switch timing {
	case TimingDawn:
		return r.DawnSeconds()
	case TimingAirbench:
		return r.AirbenchSeconds()
	}
	return r.TrainEvalSeconds()
}

// Timing returns the group's timing convention: its config's, else the
// blog's default for the stage (DAWNBench rules from post 8 on).
func (g *Group) Timing() string {
	if g.Config != nil && g.Config.Train.Timing != "" {
		return g.Config.Train.Timing
	}
	if g.Stage >= 8 {
		return TimingDawn
	}
	return TimingTrainEval
}

// Sections groups the runs by stage and profile, in registry order. Runs
// of stages or variants missing from the registry come after the
// registered ones, marked unregistered, so that no run is silently dropped.
func (d *Data) Sections() []Section {
	// Deep enough a copy that appending unregistered variants never
	// writes into the caller's slices.
	stageList := slices.Clone(d.Stages)
	known := map[int]int{} // stage ID -> index in stageList
	for i, s := range stageList {
		known[s.ID] = i
		stageList[i].Variants = slices.Clone(s.Variants)
	}
	registered := map[[2]string]bool{}
	for _, s := range stageList {
		for _, v := range s.Variants {
			registered[[2]string{fmt.Sprint(s.ID), v.Name}] = true
		}
	}
	// Append unknown stages and variants in a deterministic order.
	runs := slices.Clone(d.Runs)
	slices.SortStableFunc(runs, func(a, b results.Run) int {
		return cmp.Or(cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Profile, b.Profile),
			cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Repeat, b.Repeat), cmp.Compare(a.ID, b.ID))
	})
	for _, r := range runs {
		i, ok := known[r.Stage]
		if !ok {
			stageList = append(stageList, Stage{ID: r.Stage, Name: fmt.Sprintf("stage %d", r.Stage), Title: "(not in the registry)"})
			i = len(stageList) - 1
			known[r.Stage] = i
		}
		key := [2]string{fmt.Sprint(r.Stage), r.Variant}
		if !registered[key] {
			registered[key] = true
			stageList[i].Variants = append(stageList[i].Variants, Variant{Name: r.Variant, Title: "(not in the registry)"})
		}
	}
	regVariant := map[[2]string]bool{}
	for _, s := range d.Stages {
		for _, v := range s.Variants {
			regVariant[[2]string{fmt.Sprint(s.ID), v.Name}] = true
		}
	}

	labels := d.SeriesLabels()
	type gkey struct {
		stage   int
		series  SeriesKey
		variant string
	}
	byKey := map[gkey][]results.Run{}
	series := map[int][]SeriesKey{}
	for _, r := range runs {
		sk := SeriesOf(r)
		k := gkey{r.Stage, sk, r.Variant}
		if !slices.Contains(series[r.Stage], sk) {
			series[r.Stage] = append(series[r.Stage], sk)
		}
		byKey[k] = append(byKey[k], r)
	}
	var out []Section
	for _, s := range stageList {
		ss := series[s.ID]
		sortSeries(ss, labels)
		for _, sk := range ss {
			sec := Section{Stage: s, Profile: sk.Profile, Series: sk, Label: labels[sk]}
			for _, v := range s.Variants {
				rs := byKey[gkey{s.ID, sk, v.Name}]
				if len(rs) == 0 {
					continue
				}
				g := &Group{Stage: s.ID, Variant: v, Profile: sk.Profile, Series: sk, Label: labels[sk], Runs: rs,
					Registered: regVariant[[2]string{fmt.Sprint(s.ID), v.Name}]}
				g.Config, g.ConfigErr = groupConfig(rs)
				sec.Groups = append(sec.Groups, g)
			}
			out = append(out, sec)
		}
	}
	return out
}

// SeriesLabels labels every series of the Data's runs (SeriesLabels).
func (d *Data) SeriesLabels() map[SeriesKey]string {
	var keys []SeriesKey
	seen := map[SeriesKey]bool{}
	for _, r := range d.Runs {
		if k := SeriesOf(r); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return SeriesLabels(keys)
}

// OrderedRuns returns the runs in registry order: by stage, then variant
// as the registry lists them (unregistered ones after), then series,
// repeat and ID. Every table the report exports keeps this order.
func (d *Data) OrderedRuns() []results.Run {
	stageIdx := map[int]int{}
	varIdx := map[[2]string]int{}
	for i, s := range d.Stages {
		stageIdx[s.ID] = i
		for j, v := range s.Variants {
			varIdx[[2]string{fmt.Sprint(s.ID), v.Name}] = j
		}
	}
	rank := func(m map[int]int, k int) int {
		if i, ok := m[k]; ok {
			return i
		}
		return len(m)
	}
	vrank := func(r results.Run) int {
		if i, ok := varIdx[[2]string{fmt.Sprint(r.Stage), r.Variant}]; ok {
			return i
		}
		return len(varIdx)
	}
	labels := d.SeriesLabels()
	out := slices.Clone(d.Runs)
	slices.SortStableFunc(out, func(a, b results.Run) int {
		return cmp.Or(cmp.Compare(rank(stageIdx, a.Stage), rank(stageIdx, b.Stage)), cmp.Compare(a.Stage, b.Stage),
			cmp.Compare(vrank(a), vrank(b)), cmp.Compare(a.Variant, b.Variant),
			compareSeries(SeriesOf(a), SeriesOf(b), labels), cmp.Compare(a.Repeat, b.Repeat), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// profileOrder puts the blog-faithful profile first.
var profileOrder = map[string]int{"paper": 0, "quick": 1, "smoke": 2}

func compareProfiles(a, b string) int {
	ra, oka := profileOrder[a]
	rb, okb := profileOrder[b]
	switch {
	case oka && okb:
		return cmp.Compare(ra, rb)
	case oka:
		return -1
	case okb:
		return 1
	}
	return cmp.Compare(a, b)
}

// groupConfig parses the first run config found in rs.
func groupConfig(rs []results.Run) (*stages.Config, error) {
	for _, r := range rs {
		if r.ConfigJSON == "" {
			continue
		}
		var c stages.Config
		if err := json.Unmarshal([]byte(r.ConfigJSON), &c); err != nil {
			return nil, fmt.Errorf("run %d: config_json: %w", r.ID, err)
		}
		return &c, nil
	}
	return nil, nil
}

// SeriesName is the section's series label, or its profile for a section
// built without one.
func (s Section) SeriesName() string {
	if s.Label != "" {
		return s.Label
	}
	return s.Profile
}
