package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestReadmeSlurmExample keeps README.md's emitted Slurm script (stage 8
// at paper scale) equal to what the command it names prints; -update
// rewrites the block.
func TestReadmeSlurmExample(t *testing.T) {
	t.Chdir("../..")
	args := []string{"sweep", "--stage", "8", "--profile", "paper", "--repeats", "10", "--backend", "cuda",
		"--emit", "slurm", "--slurm-dir", "/home/you/speedrun", "--slurm-runner", "/home/you/speedrun/bin/runner"}
	var stdout, stderr bytes.Buffer
	if code := mainCode(context.Background(), args, &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("runner %s: exit %d\n%s", strings.Join(args, " "), code, stderr.Bytes())
	}
	const open, close = "-->\n```bash\n", "```\n<!-- /slurm-example -->"
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "<!-- slurm-example:")
	j := strings.Index(readme, close)
	if i < 0 || j < i || !strings.Contains(readme[i:j], open) {
		t.Fatal("README.md: no slurm-example block")
	}
	start := i + strings.Index(readme[i:j], open) + len(open)
	if got, want := readme[start:j], stdout.String(); got != want {
		if !*update {
			t.Fatalf("README.md's slurm example differs from the output of 'runner %s'; rerun with -update", strings.Join(args, " "))
		}
		if err := os.WriteFile("README.md", []byte(readme[:start]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestArraySpec(t *testing.T) {
	tests := []struct {
		idx  []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{1}, "1"},
		{[]int{0, 1, 2, 3, 7, 9, 10, 11}, "0-3,7,9-11"},
		{[]int{2, 4, 6}, "2,4,6"},
		{[]int{5, 6}, "5-6"},
	}
	for _, tt := range tests {
		if got := arraySpec(tt.idx); got != tt.want {
			t.Errorf("arraySpec(%v) = %q, want %q", tt.idx, got, tt.want)
		}
	}
}
