package stages

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBadConfigs parses every testdata/bad/*.toml and compares the error
// with its golden testdata/bad/*.err (rewritten by -update).
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse(filepath.ToSlash(f), src)
			if perr == nil {
				t.Fatalf("Parse(%s) succeeded; want an error", f)
			}
			got := perr.Error() + "\n"
			golden := strings.TrimSuffix(f, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Parse(%s) error:\n got: %s\nwant: %s", f, got, want)
			}
		})
	}
}

// TestBaseParses guards the fixture the bad configs are made from.
func TestBaseParses(t *testing.T) {
	if _, err := Load(filepath.Join("testdata", "base.toml")); err != nil {
		t.Fatal(err)
	}
}
