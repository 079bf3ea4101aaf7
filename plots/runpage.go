package plots

import (
	"encoding/json"
	"fmt"

	"speedrun/results"
	"speedrun/stages"
)

// RunPage is one run's page: its result and why it ended so, its learning
// curves and LR per step, its provenance, and its resolved config with
// the change from the preceding variant.
type RunPage struct {
	Run       results.Run
	File      string
	Label     string // the run's series
	Stage     Stage
	StageFile string
	SectionID string
	Variant   Variant
	Overrides []string
	Epochs    []results.Epoch
	Chart     Chart
	// Config is the resolved config as TOML (stages.Config.TOML), or
	// ConfigErr says why there is none.
	Config    string
	ConfigErr string
	// Pred is the variant before this one in the registry (the previous
	// stage's last for a stage's first), PredFrom where its config came
	// from, and Changes the differences to this run's config, or
	// ChangeErr why there are none to show.
	Pred      string
	PredFrom  string
	Changes   []Change
	ChangeErr string
	cfg       *stages.Config
}

// newRunPage assembles a run's page; the chart is drawn by Write.
func newRunPage(d *Data, sec Section, sv *SectionView, page *StagePage, r results.Run) *RunPage {
	rp := &RunPage{Run: r, File: runFile(r.ID), Label: sec.Label, Stage: sec.Stage, StageFile: page.File, SectionID: sv.ID,
		Overrides: RunOverrides(r), Epochs: d.Epochs[r.ID]}
	for _, g := range sec.Groups {
		if g.Variant.Name == r.Variant {
			rp.Variant = g.Variant
		}
	}
	if r.ConfigJSON == "" {
		rp.ConfigErr = "the run carries no resolved config"
	} else {
		var c stages.Config
		if err := json.Unmarshal([]byte(r.ConfigJSON), &c); err != nil {
			rp.ConfigErr = fmt.Sprintf("config_json: %v", err)
		} else {
			rp.cfg = &c
			rp.Config = c.TOML()
		}
	}
	ps, pv := predecessor(d.Stages, r.Stage, r.Variant)
	if pv == "" {
		rp.ChangeErr = "the first variant of the registry, or one not in it: nothing precedes it"
		return rp
	}
	rp.Pred = pv
	var from string
	if d.Resolve != nil {
		if c, err := d.Resolve(ps, pv, r.Profile); err == nil {
			if b, err := json.Marshal(c); err == nil {
				from, rp.PredFrom = string(b), fmt.Sprintf("the registry, under profile %s", r.Profile)
			}
		}
	}
	if from == "" {
		for _, o := range d.Runs {
			if o.Stage == ps && o.Variant == pv && o.Profile == r.Profile && o.ConfigJSON != "" {
				from, rp.PredFrom = o.ConfigJSON, fmt.Sprintf("run %d", o.ID)
				break
			}
		}
	}
	switch {
	case from == "":
		rp.ChangeErr = fmt.Sprintf("no config of %s under profile %s to compare with", pv, r.Profile)
	case r.ConfigJSON == "":
		rp.ChangeErr = rp.ConfigErr
	default:
		ch, err := ConfigDiff(from, r.ConfigJSON)
		if err != nil {
			rp.ChangeErr = err.Error()
		}
		rp.Changes = ch
	}
	return rp
}

// predecessor returns the variant (stage, variant) is written as a change
// on (Variant.Base: its from, else the one before it in the file) and
// that variant's stage. Empty for the first variant and for one not in
// the registry.
func predecessor(st []Stage, stage int, variant string) (int, string) {
	base := ""
	for _, s := range st {
		for _, v := range s.Variants {
			if s.ID == stage && v.Name == variant {
				base = v.Base
			}
		}
	}
	for _, s := range st {
		for _, v := range s.Variants {
			if base != "" && v.Name == base {
				return s.ID, v.Name
			}
		}
	}
	return 0, ""
}
