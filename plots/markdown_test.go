package plots

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteMarkdown renders the README's results table from the fixture
// and compares it with testdata/golden/results.md (-update rewrites it):
// one row per variant with finished runs, the blog's numbers beside ours,
// what ours are, and a link to the stage page.
func TestWriteMarkdown(t *testing.T) {
	d := loadFixture(t)
	var b bytes.Buffer
	if err := WriteMarkdown(&b, d, "results/reference/report"); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"| stage | variant | blog: time, accuracy |", "](results/reference/report/stage-"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	path := filepath.Join("testdata", "golden", "results.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestWriteMarkdown -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("table differs from %s:\n%s", path, got)
	}
	if err := WriteMarkdown(&b, &Data{}, "x"); err == nil {
		t.Error("an empty database gave a table")
	}
}

// TestWriteMarkdownLeavesOutSubsets: series trained on a subset of the data
// (the quick profile's cifar10[8000/2000]) are not set beside the blog's
// full-data numbers; a line under the table counts them.
func TestWriteMarkdownLeavesOutSubsets(t *testing.T) {
	d := loadFixture(t)
	for i := range d.Runs {
		if d.Runs[i].Profile == "quick" {
			d.Runs[i].Dataset = "cifar10[8000/2000]"
		}
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, d, "r"); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if strings.Contains(got, "| quick ·") {
		t.Errorf("a quick series on a subset is in the table:\n%s", got)
	}
	if !strings.Contains(got, "\n2 series trained on a subset of the data (the quick profile) are left out here") {
		t.Errorf("no line counting the 2 series left out:\n%s", got)
	}
	if !strings.Contains(got, "| smoke ·") {
		t.Errorf("the whole-dataset series are gone too:\n%s", got)
	}
}
