package plots

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"speedrun/plots/plottest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// writeFixtureReport renders the fixture's report into a fresh folder.
func writeFixtureReport(t *testing.T) (string, *Written) {
	t.Helper()
	d := loadFixture(t)
	dir := t.TempDir()
	w, err := Write(context.Background(), d, dir, Options{RunsPerSection: 6})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return dir, w
}

func TestReportGoldenHTML(t *testing.T) {
	dir, w := writeFixtureReport(t)
	for _, f := range w.Files {
		// The index, the stage pages and one run page.
		if !strings.HasSuffix(f, ".html") || strings.HasPrefix(f, "run-") && f != "run-20.html" {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "golden", f)
		want := plottest.GoldenFile(t, golden, got, *update)
		if want != nil && !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (run go test -update if the change is intended)\n%s", f, golden, firstDiff(got, want))
		}
	}
}

// firstDiff shows the first differing line.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

func TestReportContent(t *testing.T) {
	dir, w := writeFixtureReport(t)
	want := []string{"index.html", "stage-04.html", "stage-08.html", "runs.csv", "variants.csv"}
	for _, f := range want {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	pngs := 0
	for _, f := range w.Files {
		if strings.HasSuffix(f, ".png") {
			pngs++
			if !regexp.MustCompile(`^[a-z0-9.-]+$`).MatchString(f) {
				t.Errorf("chart file name %q has unsafe characters", f)
			}
		}
	}
	// 4 sections (stage 4 at quick and smoke, stage 8 at smoke on the CPU
	// and on the GPU) × 4 charts, 3 overviews (one per series), and one
	// chart per run page: 4 + 6 + 6 + 2 runs shown.
	if pngs != 16+3+18 {
		t.Errorf("wrote %d charts, want %d: %v", pngs, 16+3+18, w.Files)
	}
	page, err := os.ReadFile(filepath.Join(dir, "stage-08.html"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	if strings.Contains(s, hostileName) || strings.Contains(s, "<script>alert") || strings.Contains(s, "<b>bold</b>") {
		t.Error("stage page contains an unescaped hostile name")
	}
	if !strings.Contains(s, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("stage page lacks the escaped hostile name")
	}
	for _, w := range []string{`class="l verdict"`, "unverified", "Clopper-Pearson", "sha256:5e1f", "host-b", "train.ema_momentum"} {
		if !strings.Contains(s, w) {
			t.Errorf("stage page lacks %q", w)
		}
	}
	// The per-run table is capped at 6 rows per section.
	if !strings.Contains(s, "Showing the first 6 of 15 runs") {
		t.Error("stage page does not say the run table is capped")
	}
	// Every stage page states a verdict per consecutive pair.
	if n := strings.Count(s, `class="l verdict"`); n != 2 {
		t.Errorf("stage 8 has %d verdicts, want 2", n)
	}
	// Each series is its own section, labelled; the runs link their pages.
	for _, w := range []string{"smoke · cifar10-mini · CPU", "smoke · cifar10-mini · GPU · bf16 · train.epochs=2", `href="run-20.html"`, "mean acc %<br>[95% t-interval]", "<details>"} {
		if !strings.Contains(s, w) {
			t.Errorf("stage page lacks %q", w)
		}
	}
	if strings.Contains(s, "ef5770e0") || strings.Count(s, "<code>ef5770e</code>") == 0 {
		t.Error("the runs table does not show the short git revision")
	}

	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Ours: <span class=\"series\">quick · cifar10-mini · CPU</span>", "Ours: <span class=\"series\">smoke · cifar10-mini · CPU</span>",
		"smoke · cifar10-mini · GPU · bf16 · train.epochs=2"} {
		if !strings.Contains(string(index), w) {
			t.Errorf("index lacks %q", w)
		}
	}

	// "Too few runs" is explained once per section, not in every verdict.
	p4, err := os.ReadFile(filepath.Join(dir, "stage-04.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n, m := strings.Count(string(p4), "needs at least 4 runs per variant"), strings.Count(string(p4), "too few runs to tell"); n != 1 || m != 1 {
		t.Errorf("stage 4: the U test's rule %d times and \"too few runs to tell\" %d times, want 1 and 1", n, m)
	}

	// Only the runs a table shows get a page: run 10 is the 10th of its
	// section. Uncapped, its page says why it diverged, shows its config
	// and the change from the variant before it.
	if _, err := os.Stat(filepath.Join(dir, "run-10.html")); err == nil {
		t.Error("run-10.html written for a run no table shows")
	}
	all := t.TempDir()
	if _, err := Write(context.Background(), loadFixture(t), all, Options{}); err != nil {
		t.Fatal(err)
	}
	run, err := os.ReadFile(filepath.Join(all, "run-10.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"divergence cause", "loss is NaN at epoch 2", "diverged at epoch", "[train]", "Change from p4.s9",
		`<img src="run-10.png"`, "smoke · cifar10-mini · CPU", "attempts", "precision trained in"} {
		if !strings.Contains(string(run), w) {
			t.Errorf("run-10.html lacks %q", w)
		}
	}
}

func TestRunsCSVRoundTrip(t *testing.T) {
	d := loadFixture(t)
	var buf bytes.Buffer
	if err := RunsTable(d).WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if got := len(recs) - 1; got != len(d.Runs) {
		t.Errorf("csv has %d run rows, want %d", got, len(d.Runs))
	}
	// The hostile name survives quoting.
	found := false
	for _, r := range recs[1:] {
		found = found || r[2] == hostileName
	}
	if !found {
		t.Error("hostile variant name did not round-trip through CSV")
	}
}

// TestReportInChromium opens the report's index, a stage page and a run
// page of the fixture (two profiles, and a GPU series beside the CPU's)
// in headless Chromium, takes a screenshot and checks that every image
// loaded (the page's own script sets data-images="ok" on load when every
// <img> has a natural width), that the index names each series' profile,
// dataset and device, and that the run page shows its learning curves.
func TestReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the report check in headless Chromium (three browser launches)")
	}
	dir, _ := writeFixtureReport(t)
	for _, pc := range []struct {
		page, shot string
		want       []string
	}{
		{"index.html", "", []string{"quick · cifar10-mini · CPU", "smoke · cifar10-mini · CPU", "smoke · cifar10-mini · GPU · bf16 · train.epochs=2"}},
		{"run-20.html", "", []string{"smoke · cifar10-mini · CPU", `<img src="run-20.png" alt="Learning curves and LR per step of run 20">`, "[train]"}},
		{"stage-08.html", "stage-08.png", nil},
	} {
		out := plottest.ChromiumDOM(t, filepath.Join(dir, pc.page), pc.shot)
		for _, w := range pc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s in Chromium lacks %q", pc.page, w)
			}
		}
	}
}

func TestWriteJSON(t *testing.T) {
	d := loadFixture(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, RunsTable(d), VariantsTable(VariantRows(d))); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs     []map[string]any `json:"runs"`
		Variants []map[string]any `json:"variants"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not valid JSON: %v", err)
	}
	if len(doc.Runs) != len(d.Runs) || len(doc.Variants) != 8 {
		t.Errorf("json has %d runs and %d variants, want %d and 8", len(doc.Runs), len(doc.Variants), len(d.Runs))
	}
	// NaN travels as null: the diverged run has no accuracy.
	nulls := 0
	for _, r := range doc.Runs {
		if r["status"] == "diverged" && r["accuracy"] == nil {
			nulls++
		}
	}
	if nulls != 1 {
		t.Errorf("%d diverged runs with a null accuracy, want 1", nulls)
	}
}
