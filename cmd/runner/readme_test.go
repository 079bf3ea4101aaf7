package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// runnerOK runs the runner in-process with args, fails the test unless
// it exits 0, and returns its stdout.
func runnerOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := mainCode(context.Background(), args, &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("runner %s: exit %d\n%s", strings.Join(args, " "), code, stderr.Bytes())
	}
	return stdout.String()
}

// syncReadmeBlock holds the generated block of README.md (the working
// directory's) to want: the text after the first open that follows begin,
// up to end. It fails when they differ, or rewrites the block under
// -update. what names the block and source the command that made want.
func syncReadmeBlock(t *testing.T, what, begin, open, end, want, source string) {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i || !strings.Contains(readme[i:j], open) {
		t.Fatalf("README.md: no %s block", what)
	}
	start := i + strings.Index(readme[i:j], open) + len(open)
	if readme[start:j] == want {
		return
	}
	if !*update {
		t.Fatalf("README.md's %s differs from the output of 'runner %s'; rerun with -update:\n%s", what, source, want)
	}
	if err := os.WriteFile("README.md", []byte(readme[:start]+want+readme[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
}
