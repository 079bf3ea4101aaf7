package plottest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// ChromiumDOM loads a page in headless Chromium and returns its DOM after
// the load event; it fails the test unless every image of the page
// loaded, and skips it where Chromium is not installed. With shot, it
// also takes a 1280-pixel-wide screenshot, kept in
// $SPEEDRUN_KEEP_SCREENSHOT/shot when that is set.
func ChromiumDOM(t testing.TB, page, shot string) string {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not installed (%v): skipping the browser check", chromium, err)
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--dump-dom"}
	shotPath := filepath.Join(t.TempDir(), "shot.png")
	if shot != "" {
		args = append(args, "--screenshot="+shotPath, "--window-size=1280,2400")
	}
	// A hung browser is stopped by the test's own deadline (go test
	// -timeout), not by a guess at how long a loaded machine needs.
	ctx, cancel := t.Context(), context.CancelFunc(func() {})
	if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dl.Deadline(); ok {
			ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		}
	}
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium, append(args, "file://"+page)...).Output()
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
	if shot != "" {
		fi, err := os.Stat(shotPath)
		if err != nil || fi.Size() < 10000 {
			t.Fatalf("%s: screenshot missing or tiny: %v", page, err)
		}
		if keep := os.Getenv("SPEEDRUN_KEEP_SCREENSHOT"); keep != "" {
			if b, err := os.ReadFile(shotPath); err == nil {
				os.WriteFile(filepath.Join(keep, shot), b, 0o644)
			}
		}
	}
	return string(out)
}
