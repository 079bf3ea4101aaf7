package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Provenance is what every run records about where and how it ran.
type Provenance struct {
	Host       string
	GitRev     string // "unknown" when neither git nor -ldflags gave one
	GitDirty   bool
	GoVersion  string
	LibVersion string // module and kernel library versions
}

// Versioner is implemented by backends that can name their kernel
// libraries (e.g. "oneDNN 2.6.3, OpenBLAS 0.3.21").
type Versioner interface {
	Versions() string
}

// CollectProvenance gathers the provenance of this process. The revision
// is the binary's, not the working tree's: a long sweep outlives commits
// made beside it. So gitRev and gitDirty come from -ldflags -X when the
// binary was built with them (gitRev != "", as `make build` does), else
// from the VCS stamp `go build` embeds (-buildvcs). Only a binary with
// neither asks git about the working directory, which is right only
// when nothing was committed since it was built.
func CollectProvenance(ctx context.Context, gitRev string, gitDirty bool, backendVersions string) Provenance {
	p := Provenance{GitRev: gitRev, GitDirty: gitDirty, GoVersion: runtime.Version()}
	p.Host, _ = os.Hostname()
	bi, haveBI := debug.ReadBuildInfo()
	if p.GitRev == "" && haveBI {
		p.GitRev, p.GitDirty, _ = vcsStamp(bi.Settings)
	}
	if p.GitRev == "" {
		p.GitRev, p.GitDirty = gitState(ctx)
	}
	var libs []string
	if haveBI {
		for _, d := range bi.Deps {
			switch d.Path {
			case "gorgonia.org/gorgonia", "gorgonia.org/tensor", "github.com/mattn/go-sqlite3", "github.com/ebitengine/purego":
				libs = append(libs, d.Path+"@"+d.Version)
			}
		}
	}
	if backendVersions != "" {
		libs = append(libs, backendVersions)
	}
	p.LibVersion = strings.Join(libs, ", ")
	return p
}

// vcsStamp reads the revision and dirtiness `go build` stamped into the
// binary; ok is false when it stamped none (-buildvcs=false, no git).
func vcsStamp(settings []debug.BuildSetting) (rev string, dirty, ok bool) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "", false, false
	}
	return rev, dirty, true
}

// gitState asks git for the revision and whether the tree is dirty.
func gitState(ctx context.Context) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rev, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return strings.TrimSpace(string(rev)), false
	}
	return strings.TrimSpace(string(rev)), len(strings.TrimSpace(string(st))) > 0
}

// String is a one-line summary for logs.
func (p Provenance) String() string {
	dirty := ""
	if p.GitDirty {
		dirty = "+dirty"
	}
	return fmt.Sprintf("host %s, git %s%s, %s", p.Host, shortHash(p.GitRev), dirty, p.GoVersion)
}
