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
}

// Group is the runs of one (stage, variant, profile) cell family: the unit
// every statistic is computed over. Profiles are never mixed, since a smoke
// run and a paper run measure different things.
type Group struct {
	Stage   int
	Variant Variant
	Profile string
	Runs    []results.Run // sorted by repeat, then ID
	// Config is the resolved config of the group's first run that has one;
	// nil when no run carries a parsable config.
	Config *stages.Config
	// ConfigErr says why Config is nil although a run carried one.
	ConfigErr error
	// Registered is false for runs whose variant is not in the registry.
	Registered bool
}

// Section is one stage under one profile: what a stage page shows per
// profile.
type Section struct {
	Stage   Stage
	Profile string
	Groups  []*Group // in registry order
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

	type gkey struct {
		stage            int
		profile, variant string
	}
	byKey := map[gkey][]results.Run{}
	profiles := map[int][]string{}
	for _, r := range runs {
		k := gkey{r.Stage, r.Profile, r.Variant}
		if _, ok := byKey[k]; !ok && !slices.Contains(profiles[r.Stage], r.Profile) {
			profiles[r.Stage] = append(profiles[r.Stage], r.Profile)
		}
		byKey[k] = append(byKey[k], r)
	}
	var out []Section
	for _, s := range stageList {
		ps := profiles[s.ID]
		slices.SortFunc(ps, compareProfiles)
		for _, p := range ps {
			sec := Section{Stage: s, Profile: p}
			for _, v := range s.Variants {
				rs := byKey[gkey{s.ID, p, v.Name}]
				if len(rs) == 0 {
					continue
				}
				g := &Group{Stage: s.ID, Variant: v, Profile: p, Runs: rs,
					Registered: regVariant[[2]string{fmt.Sprint(s.ID), v.Name}]}
				g.Config, g.ConfigErr = groupConfig(rs)
				sec.Groups = append(sec.Groups, g)
			}
			out = append(out, sec)
		}
	}
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
