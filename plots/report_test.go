package plots

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
		if !strings.HasSuffix(f, ".html") {
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
	// 3 sections × 4 charts + 2 overviews.
	if pngs != 14 {
		t.Errorf("wrote %d charts, want 14: %v", pngs, w.Files)
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
}

func TestRunsCSVRoundTrip(t *testing.T) {
	d := loadFixture(t)
	var buf bytes.Buffer
	if err := WriteRunsCSV(&buf, d.Runs); err != nil {
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

// TestReportInChromium opens the report's pages in headless Chromium,
// takes a screenshot and checks that every image loaded: the page's own
// script sets data-images="ok" on load when every <img> has a natural
// width.
func TestReportInChromium(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if testing.Short() {
		t.Skip("-short: skipping the report check in headless Chromium (two browser launches)")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not installed (%v): skipping the browser check", chromium, err)
	}
	dir, _ := writeFixtureReport(t)
	for _, page := range []string{"index.html", "stage-08.html"} { // each launch costs ~10 s
		profile := t.TempDir()
		shot := filepath.Join(t.TempDir(), "shot.png")
		args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + profile}
		url := "file://" + filepath.Join(dir, page)
		// --dump-dom prints the DOM after the load event, when the
		// page's script has run; one launch also takes the screenshot.
		cmdArgs := append(args, "--dump-dom")
		if page == "stage-08.html" {
			cmdArgs = append(cmdArgs, "--screenshot="+shot, "--window-size=1280,2400")
		}
		// A hung browser is stopped by the test's own deadline (go test
		// -timeout), not by a guess at how long a loaded machine needs.
		ctx, cancel := t.Context(), context.CancelFunc(func() {})
		if d, ok := t.Deadline(); ok {
			ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		}
		out, err := exec.CommandContext(ctx, chromium, append(cmdArgs, url)...).Output()
		cancel()
		if err != nil {
			t.Fatalf("chromium --dump-dom %s: %v", page, err)
		}
		m := regexp.MustCompile(`<body[^>]*data-images="([^"]*)"`).FindSubmatch(out)
		if m == nil || string(m[1]) != "ok" {
			t.Errorf("%s: images did not all load: %q", page, m)
		}
		cnt := regexp.MustCompile(`data-image-count="(\d+)"`).FindSubmatch(out)
		if cnt == nil || string(cnt[1]) == "0" {
			t.Errorf("%s: no images counted: %q", page, cnt)
		}
		if page != "stage-08.html" {
			continue // one screenshot is enough; each launch costs seconds
		}
		fi, err := os.Stat(shot)
		if err != nil || fi.Size() < 10000 {
			t.Fatalf("%s: screenshot missing or tiny: %v", page, err)
		}
		if dir := os.Getenv("SPEEDRUN_KEEP_SCREENSHOT"); dir != "" {
			if b, err := os.ReadFile(shot); err == nil {
				os.WriteFile(filepath.Join(dir, "stage-08.png"), b, 0o644)
			}
		}
	}
}

func TestWriteJSON(t *testing.T) {
	d := loadFixture(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, d.Runs, VariantRows(d)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs     []map[string]any `json:"runs"`
		Variants []map[string]any `json:"variants"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not valid JSON: %v", err)
	}
	if len(doc.Runs) != len(d.Runs) || len(doc.Variants) != 7 {
		t.Errorf("json has %d runs and %d variants, want %d and 7", len(doc.Runs), len(doc.Variants), len(d.Runs))
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
