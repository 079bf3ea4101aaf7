package main

import (
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
	syncReadmeBlock(t, "slurm example", "<!-- slurm-example:", "-->\n```bash\n", "```\n<!-- /slurm-example -->",
		runnerOK(t, args...), strings.Join(args, " "))
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
