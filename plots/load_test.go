package plots

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"speedrun/results"
	"speedrun/stages"
)

// fixtureDB writes the fixture's stage-8 runs and epochs into a fresh
// database through the results API, the way the runner does.
func fixtureDB(t *testing.T, d *Data) (*results.DB, int) {
	t.Helper()
	ctx := context.Background()
	db, err := results.Open(ctx, filepath.Join(t.TempDir(), "r.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	owner, err := results.NewOwner()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range d.Runs {
		if r.Stage != 8 {
			continue
		}
		s := results.Start{Cell: results.Cell{Stage: r.Stage, Variant: r.Variant, Profile: r.Profile, Repeat: r.Repeat, ConfigHash: r.ConfigHash, DataSum: r.DataSum},
			Seed: r.Seed, ConfigJSON: r.ConfigJSON, Dataset: r.Dataset, Host: r.Host, Backend: r.Backend, Device: r.Device,
			GitRev: r.GitRev, GoVersion: r.GoVersion, LibVersion: r.LibVersion}
		c, err := db.Claim(ctx, s, owner, 60e9)
		id, ok := c.RunID, c.OK
		if err != nil || !ok {
			t.Fatalf("claim %v: %v %v", s.Cell, ok, err)
		}
		for _, e := range d.Epochs[r.ID] {
			e.RunID = id
			if err := db.AddEpoch(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		o := results.Outcome{Status: r.Status, Error: r.Error, PreprocessSeconds: r.PreprocessSeconds, TrainSeconds: r.TrainSeconds,
			EvalSeconds: r.EvalSeconds, TestAcc: r.TestAcc, TTAAcc: r.TTAAcc, TestLoss: math.NaN(), DivergedEpoch: r.DivergedEpoch,
			Precision: r.Precision}
		if err := db.Finish(ctx, id, owner, o); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return db, n
}

func TestLoadFromDatabase(t *testing.T) {
	want := loadFixture(t)
	db, n := fixtureDB(t, want)
	ctx := context.Background()
	got, err := Load(ctx, db, nil, results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != n {
		t.Fatalf("loaded %d runs, want %d", len(got.Runs), n)
	}
	// The statistics from the database match those from the fixture rows.
	got.Stages = want.Stages
	gs, ws := got.Sections(), want.OnlyStage(8).Sections()
	// Stage 8 has two series: the CPU's and the GPU's.
	if len(gs) != 2 || len(ws) != 2 {
		t.Fatalf("sections: got %d, want 2 and 2", len(gs))
	}
	for si := range gs {
		if gs[si].Label != ws[si].Label || len(gs[si].Groups) != len(ws[si].Groups) {
			t.Fatalf("section %d: got %q with %d groups, want %q with %d", si, gs[si].Label, len(gs[si].Groups), ws[si].Label, len(ws[si].Groups))
		}
		for i := range gs[si].Groups {
			g, w := Summarize(gs[si].Groups[i]), Summarize(ws[si].Groups[i])
			if g.N != w.N || g.Reached94.K != w.Reached94.K || g.Reached94.N != w.Reached94.N ||
				!near(g.AccMean, w.AccMean, 1e-12) || !near(g.Time, w.Time, 1e-9) {
				t.Errorf("group %s: from db %+v, from rows %+v", gs[si].Groups[i].Variant.Name, g, w)
			}
			for _, r := range gs[si].Groups[i].Runs {
				if len(got.Epochs[r.ID]) == 0 && r.Status == results.StatusDone {
					t.Errorf("run %d has no epochs", r.ID)
				}
			}
		}
	}

	dir := t.TempDir()
	if err := WriteReport(ctx, db, nil, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "stage-08.html", "runs.csv", "variants.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestFromRegistry reads the repository's experiments.toml.
func TestFromRegistry(t *testing.T) {
	reg, err := stages.Load(filepath.Join("..", "experiments.toml"))
	if err != nil {
		t.Fatalf("experiments.toml: %v", err)
	}
	st := FromRegistry(reg)
	if len(st) == 0 || len(st[0].Variants) == 0 {
		t.Fatalf("FromRegistry gave %d stages", len(st))
	}
	if FromRegistry(nil) != nil {
		t.Error("FromRegistry(nil) is not empty")
	}
}
