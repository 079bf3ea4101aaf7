package plots

import (
	"math"
	"testing"

	"speedrun/results"
)

func TestSectionsUnregistered(t *testing.T) {
	d := &Data{
		Stages: []Stage{{ID: 4, Name: "p4", Variants: make([]Variant, 1, 8)}},
		Runs: []results.Run{
			{ID: 1, Stage: 4, Variant: "", Profile: "smoke", Status: results.StatusDone, TestAcc: 0.9, TTAAcc: math.NaN()},
			{ID: 2, Stage: 4, Variant: "extra", Profile: "smoke", Status: results.StatusDone, TestAcc: 0.9, TTAAcc: math.NaN()},
			{ID: 3, Stage: 3, Variant: "p3.s1", Profile: "paper", Status: results.StatusDone, TestAcc: 0.9, TTAAcc: math.NaN()},
			{ID: 4, Stage: 4, Variant: "extra", Profile: "paper", Status: results.StatusDone, TestAcc: 0.9, TTAAcc: math.NaN()},
		},
	}
	secs := d.Sections()
	type key struct {
		stage   int
		profile string
		groups  int
	}
	var got []key
	for _, s := range secs {
		got = append(got, key{s.Stage.ID, s.Profile, len(s.Groups)})
	}
	// Registered stages first; profiles paper before smoke.
	want := []key{{4, "paper", 1}, {4, "smoke", 2}, {3, "paper", 1}}
	if len(got) != len(want) {
		t.Fatalf("sections %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("section %d = %v, want %v", i, got[i], want[i])
		}
	}
	if g := secs[1].Groups[1]; g.Variant.Name != "extra" || g.Registered {
		t.Errorf("unregistered variant: %+v", g)
	}
	if len(d.Stages[0].Variants) != 1 || d.Stages[0].Variants[:2][1].Name != "" {
		t.Error("Sections wrote into the caller's stages")
	}
}
