package stages

import (
	"path/filepath"
	"testing"

	"speedrun/model"
)

func loadRepo(t *testing.T) *Registry {
	t.Helper()
	r, err := Load(filepath.Join("..", "experiments.toml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

// TestEveryVariantResolves resolves every registered variant under every
// profile and checks the network with model.Validate.
func TestEveryVariantResolves(t *testing.T) {
	r := loadRepo(t)
	n := 0
	for _, s := range r.Stages() {
		for _, v := range s.Variants {
			for _, p := range r.Profiles() {
				c, err := r.Resolve(s.ID, v.Name, p)
				if err != nil {
					t.Errorf("Resolve(%d, %q, %q): %v", s.ID, v.Name, p, err)
					continue
				}
				if err := model.Validate(c.Net); err != nil {
					t.Errorf("%s/%s: %v", v.Name, p, err)
				}
				if c.Variant != v.Name || c.Stage != s.ID || c.Profile != p {
					t.Errorf("%s/%s: identity is %d/%s/%s", v.Name, p, c.Stage, c.Variant, c.Profile)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no variants")
	}
}
