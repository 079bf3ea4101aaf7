package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/plots/plottest"
)

// TestReportInBrowser is the report as a researcher opens it: a database
// with runs of two profiles (stage 8, two variants, twice each, under
// the fake backend), its report, and the index and a run page loaded in
// headless Chromium. The index names each series' profile, dataset and
// device, never one for both; the run page shows its learning curves;
// every image of both pages loads.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the report check in headless Chromium (two browser launches)")
	}
	dir := t.TempDir()
	db, rep := filepath.Join(dir, "two.sqlite"), filepath.Join(dir, "rep")
	run := func(args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		extra := map[string]func() (backend.Backend, error){"fake": newFakeBackend}
		if code := mainCode(context.Background(), args, &stdout, &stderr, extra); code != exitOK {
			t.Fatalf("runner %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
		}
	}
	for _, profile := range []string{"smoke", "demo"} {
		run("sweep", "--config", "../../experiments.toml", "--stage", "8", "--variant", "p8.s9,p8.s10", "--profile", profile,
			"--repeats", "2", "--data", "synthetic", "--backend", "fake", "--db", db, "--no-report")
	}
	run("report", "--config", "../../experiments.toml", "--db", db, "--reports", rep)
	index := plottest.ChromiumDOM(t, filepath.Join(rep, "index.html"), "")
	for _, w := range []string{"smoke · synthetic · fake", "demo · synthetic · fake"} {
		if !strings.Contains(index, "Ours: <span class=\"series\">"+w+"</span>") {
			t.Errorf("the index does not name the series %q", w)
		}
	}
	page := plottest.ChromiumDOM(t, filepath.Join(rep, "run-1.html"), "")
	for _, w := range []string{`<img src="run-1.png" alt="Learning curves and LR per step of run 1">`, "smoke · synthetic · fake", "[train]", "test double"} {
		if !strings.Contains(page, w) {
			t.Errorf("run-1.html lacks %q", w)
		}
	}
}
