package stages

import (
	"regexp"
	"slices"
	"testing"
)

func TestHashStable(t *testing.T) {
	r := loadRepo(t)
	a, err := r.Resolve(4, "p4.s10", "paper")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Resolve(4, "p4.s10", "paper")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(a.Hash()) {
		t.Fatalf("Hash() = %q, want 64 hex digits", a.Hash())
	}
	if a.Hash() != b.Hash() {
		t.Errorf("same config, different hashes: %s vs %s", a.Hash(), b.Hash())
	}
	// A registry parsed again hashes the same.
	if c := loadRepo(t); true {
		cc, err := c.Resolve(4, "p4.s10", "paper")
		if err != nil {
			t.Fatal(err)
		}
		if cc.Hash() != a.Hash() {
			t.Errorf("reparsed registry: hash %s, want %s", cc.Hash(), a.Hash())
		}
	}
	// Published, Dataset and Title describe the blog, the data and the
	// change in words, not the run.
	c := a
	c.Published.Accuracy = 0.5
	c.Dataset = "synthetic"
	c.Title = "reworded"
	if c.Hash() != a.Hash() {
		t.Errorf("Published/Dataset/Title changed the hash")
	}
}

func TestHashChanges(t *testing.T) {
	r := loadRepo(t)
	base, err := r.Resolve(8, "", "paper")
	if err != nil {
		t.Fatal(err)
	}
	edits := []struct {
		name string
		edit func(c *Config)
	}{
		{"epochs", func(c *Config) { c.Train.Epochs++ }},
		{"knot", func(c *Config) { c.Train.LR = slices.Clone(c.Train.LR); c.Train.LR[1].LR += 1e-9 }},
		{"net width", func(c *Config) { c.Net.Width = 0.5 }},
		{"cutout", func(c *Config) { c.Data.Cutout = 8 }},
		{"profile", func(c *Config) { c.Profile = "quick" }},
		{"variant", func(c *Config) { c.Variant = "p8.s9" }},
		{"analysis", func(c *Config) { c.Analysis = &Analysis{LogEvery: 1} }},
	}
	for _, e := range edits {
		c := base
		e.edit(&c)
		if c.Hash() == base.Hash() {
			t.Errorf("changing %s kept the hash", e.name)
		}
	}
	if base.Train.LR[1].LR != 1.0 {
		t.Errorf("an edit leaked into the resolved config: %v", base.Train.LR)
	}
}

// TestEveryHashDistinct: no two variant/profile cells share a hash.
func TestEveryHashDistinct(t *testing.T) {
	r := loadRepo(t)
	seen := map[string]string{}
	for _, s := range r.Stages() {
		for _, v := range s.Variants {
			for _, p := range r.Profiles() {
				c, err := r.Resolve(s.ID, v.Name, p)
				if err != nil {
					t.Fatal(err)
				}
				key := v.Name + "/" + p
				if other, dup := seen[c.Hash()]; dup {
					t.Errorf("%s and %s share hash %s", key, other, c.Hash())
				}
				seen[c.Hash()] = key
			}
		}
	}
}

func TestDiff(t *testing.T) {
	r := loadRepo(t)
	a, err := r.Resolve(8, "p8.s6", "paper")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Resolve(8, "p8.s7", "paper")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range a.Diff(b) {
		got = append(got, ch.String())
	}
	want := []string{
		"data.cutout: 8 -> 5",
		`net.name: "resnet9" -> "final"`,
		"net.whiten: false -> true",
		"net.whiten_eps: (unset) -> 0.01",
		"net.whiten_images: (unset) -> 10000",
		"train.epochs: 17 -> 14",
		"train.lr: [[0, 0], [3.4, 0.6], [17, 0]] -> [[0, 0], [2.8, 1], [14, 0]]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Diff(p8.s6, p8.s7) =\n%q\nwant\n%q", got, want)
	}
	if d := a.Diff(a); len(d) != 0 {
		t.Errorf("Diff with itself = %v, want none", d)
	}
	// Analysis fields appear and disappear as whole paths.
	e, err := r.Resolve(5, "p5.e1.batch", "paper")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, ch := range r4(t, r).Diff(e) {
		paths = append(paths, ch.Path)
	}
	for _, p := range []string{"kind", "analysis.lr_grid", "analysis.axis", "analysis.axis_grid"} {
		if !slices.Contains(paths, p) {
			t.Errorf("Diff(p4.s10, p5.e1.batch) lacks %s: %v", p, paths)
		}
	}
}

func r4(t *testing.T, r *Registry) Config {
	t.Helper()
	c, err := r.Resolve(4, "p4.s10", "paper")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
