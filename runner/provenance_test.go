package runner

import (
	"context"
	"runtime/debug"
	"testing"
)

func TestVCSStamp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		settings  []debug.BuildSetting
		rev       string
		dirty, ok bool
	}{
		{"none", nil, "", false, false},
		{"other keys only", []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "vcs", Value: "git"}}, "", false, false},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}, "abc123", false, true},
		{"dirty", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "def456"}}, "def456", true, true},
		{"modified without a revision", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev, dirty, ok := vcsStamp(tc.settings)
			if rev != tc.rev || dirty != tc.dirty || ok != tc.ok {
				t.Errorf("vcsStamp = %q, %v, %v; want %q, %v, %v", rev, dirty, ok, tc.rev, tc.dirty, tc.ok)
			}
		})
	}
}

// The linker's revision wins over everything else: a binary built by
// `make build` records the commit it was built from, whatever the
// working directory holds when it runs.
func TestCollectProvenanceLinkerRevisionWins(t *testing.T) {
	p := CollectProvenance(context.Background(), "0123456789abcdef", true, "oneDNN x")
	if p.GitRev != "0123456789abcdef" || !p.GitDirty {
		t.Errorf("GitRev, GitDirty = %q, %v; want the linker's", p.GitRev, p.GitDirty)
	}
	if p.LibVersion == "" {
		t.Error("LibVersion is empty")
	}
}
