package stages

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// placed matches an error line that says where: file:line:col.
var placed = regexp.MustCompile(`^fuzz\.toml:\d+:\d+: `)

// FuzzParse: Parse never panics, and every line of an error it returns
// starts with a file:line:column position.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.toml"))
	seeds = append(seeds, filepath.Join("testdata", "base.toml"))
	for _, s := range seeds {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(""))
	f.Add([]byte("[[stage]]\nid = 1\n[[stage.variant]]\nname = 3\n"))
	f.Add([]byte("stage = 1\nprofile = []\n"))
	f.Add([]byte("[profile.paper]\n[[stage]]\nid = 1\nname = \"x\"\nvariant = 5\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Parse("fuzz.toml", src)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !placed.MatchString(line) {
					t.Fatalf("error line without a position or variant: %q", line)
				}
			}
			return
		}
		// A registry that parses resolves every variant under every profile.
		for _, s := range r.Stages() {
			for _, v := range s.Variants {
				for _, p := range r.Profiles() {
					c, err := r.Resolve(s.ID, v.Name, p)
					if err != nil {
						t.Fatalf("Resolve(%d, %q, %q): %v", s.ID, v.Name, p, err)
					}
					_ = c.Hash()
				}
			}
		}
	})
}
