package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	buildPkgs = "gcc libopenblas-dev libdnnl-dev"
	testPkgs  = "python3-torch python3-numpy clang-16 chromium fonts-dejavu-core xz-utils slurm-wlm munge"
)

// machine is what deps.sh sees: who runs it, which packages dpkg has, and
// whether sudo works.
type machine struct {
	uid       int
	installed string // space-separated; "" = none
	sudo      string // "ok", "password" (sudo -n refuses) or "" (no sudo)
	noDpkg    bool
}

// stubs writes stand-ins for id, dpkg-query, apt-get and sudo into a new
// folder and returns it with the file that apt-get and sudo log their
// calls to. Only env and sh are the machine's own.
func stubs(t *testing.T, m machine) (bin, calls string) {
	t.Helper()
	bin = t.TempDir()
	calls = filepath.Join(t.TempDir(), "calls")
	for _, tool := range []string{"env", "sh"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("id", "echo "+map[bool]string{true: "0", false: "1000"}[m.uid == 0]+"\n")
	if !m.noDpkg {
		// Like dpkg-query -W: a line per known package, an error for the
		// others; "rc" is removed with its configuration left.
		write("dpkg-query", `printf '%s\n' "dpkg-query $*" >>`+calls+`
shift 2
for p in "$@"; do
  case " `+m.installed+` " in
  *" $p "*) echo "ii  $p" ;;
  *" $p:rc "*) echo "rc  $p" ;;
  *) echo "dpkg-query: no packages found matching $p" >&2; rc=1 ;;
  esac
done
exit ${rc:-0}
`)
	}
	write("apt-get", `printf '%s\n' "apt-get $*" >>`+calls+"\n")
	switch m.sudo {
	case "ok":
		write("sudo", `[ "$1" = -n ] || exit 9
shift
printf '%s\n' "sudo $*" >>`+calls+`
"$@"
`)
	case "password":
		write("sudo", "echo 'sudo: a password is required' >&2; exit 1\n")
	}
	return bin, calls
}

// TestDeps runs scripts/deps.sh on stand-in machines: only what is
// missing is installed, as root with apt-get, else with sudo -n, else it
// prints the one command to run and exits 2.
func TestDeps(t *testing.T) {
	all := buildPkgs + " " + testPkgs
	apt := "env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q"
	tests := []struct {
		name     string
		mode     string
		m        machine
		wantCode int
		wantRun  []string // the apt-get and sudo calls, in order
		wantErr  string   // the whole of stderr
	}{
		{name: "all present", mode: "test", m: machine{uid: 0, installed: all}},
		{name: "all present, not root", mode: "test", m: machine{uid: 1000, installed: all}},
		{name: "build present, tests missing: build mode", mode: "build", m: machine{uid: 1000, installed: buildPkgs}},
		{name: "root installs the missing only", mode: "test", m: machine{uid: 0, installed: "gcc libopenblas-dev python3-numpy fonts-dejavu-core xz-utils slurm-wlm munge chromium:rc"},
			wantRun: []string{"apt-get -o DPkg::Lock::Timeout=600 -y -q update",
				"apt-get -o DPkg::Lock::Timeout=600 -y -q install --no-install-recommends libdnnl-dev python3-torch clang-16 chromium"},
			wantErr: "deps: installing libdnnl-dev python3-torch clang-16 chromium\n"},
		{name: "sudo without a password", mode: "build", m: machine{uid: 1000, installed: "gcc", sudo: "ok"},
			wantRun: []string{"sudo true", "sudo " + apt + " update", "apt-get -o DPkg::Lock::Timeout=600 -y -q update",
				"sudo " + apt + " install --no-install-recommends libopenblas-dev libdnnl-dev",
				"apt-get -o DPkg::Lock::Timeout=600 -y -q install --no-install-recommends libopenblas-dev libdnnl-dev"},
			wantErr: "deps: installing libopenblas-dev libdnnl-dev\n"},
		{name: "sudo wants a password", mode: "build", m: machine{uid: 1000, installed: "gcc", sudo: "password"}, wantCode: 2,
			wantErr: "speedrun needs Debian packages that this machine lacks: libopenblas-dev libdnnl-dev\n" +
				"Install them with this command (as a user who may use sudo, or as root), then run make again:\n\n" +
				"    sudo apt-get install -y --no-install-recommends libopenblas-dev libdnnl-dev\n\n"},
		{name: "no sudo at all", mode: "test", m: machine{uid: 1000, installed: all[len("gcc "):]}, wantCode: 2,
			wantErr: "speedrun needs Debian packages that this machine lacks: gcc\n" +
				"Install them with this command (as a user who may use sudo, or as root), then run make again:\n\n" +
				"    su -c 'apt-get install -y --no-install-recommends gcc'\n\n"},
		{name: "not Debian", mode: "test", m: machine{uid: 0, noDpkg: true},
			wantErr: "deps: no dpkg-query, so not Debian or Ubuntu: check by hand that you have (Debian's names) " + all + "\n"},
		{name: "bad mode", mode: "everything", m: machine{uid: 0, installed: all}, wantCode: 2, wantErr: "usage: scripts/deps.sh [build|test]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, calls := stubs(t, tt.m)
			cmd := exec.Command(filepath.Join(bin, "sh"), filepath.Join("..", "..", "scripts", "deps.sh"), tt.mode)
			cmd.Env = []string{"PATH=" + bin}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || stderr.String() != tt.wantErr || len(out) != 0 {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, no stdout, stderr:\n%s", code, out, stderr.String(), tt.wantCode, tt.wantErr)
			}
			b, _ := os.ReadFile(calls)
			var ran []string
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if strings.HasPrefix(l, "dpkg-query ") {
					// One query for every package of the mode.
					if want := "dpkg-query -W -f=${db:Status-Abbrev} ${Package}\\n " + map[string]string{"build": buildPkgs, "test": all}[tt.mode]; l != want {
						t.Errorf("ran %q, want %q", l, want)
					}
				} else if l != "" {
					ran = append(ran, l)
				}
			}
			if strings.Join(ran, "\n") != strings.Join(tt.wantRun, "\n") {
				t.Errorf("ran:\n%s\nwant:\n%s", strings.Join(ran, "\n"), strings.Join(tt.wantRun, "\n"))
			}
		})
	}
}
