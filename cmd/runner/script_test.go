package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rogpeppe/go-internal/testscript"

	"speedrun/backend"
	"speedrun/plots/plottest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/script/*.txtar")

// testMain is main with the fake backend selectable (--backend fake), a
// test double that exists only in the test binary.
func testMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := mainCode(ctx, os.Args[1:], os.Stdout, os.Stderr,
		map[string]func() (backend.Backend, error){"fake": newFakeBackend})
	stop()
	os.Exit(code)
}

// TestMain lets the scripts run the real runner main as the command
// "runner" (the test binary re-executed), so signals and exit codes are
// those of the real process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"runner": testMain})
}

// TestScripts runs the end-to-end scripts in testdata/script. Most use the
// fake backend (a test double: see backend_fake_test.go) so that killing,
// interrupting and racing sweeps is fast; acceptance_cpu.txtar uses the
// real cpu backend.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script", nil, nil))
}

// scriptParams are the Params of the script tests in dir: $CONFIG is the
// repository's registry, the conditions short and acceptance and the
// commands below are defined, and setup and cmds add to them.
func scriptParams(t *testing.T, dir string, setup func(*testscript.Env) error,
	cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)) testscript.Params {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	p := testscript.Params{
		Dir:           dir,
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("CONFIG", filepath.Join(root, "experiments.toml"))
			env.Setenv("SPEEDRUN_DEBUG", "")
			if setup != nil {
				return setup(env)
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "short":
				return testing.Short(), nil
			case "race":
				return raceEnabled, nil
			case "acceptance":
				return os.Getenv("SPEEDRUN_ACCEPTANCE") != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sqlq":        cmdSQL,
			"waitlines":   cmdWaitLines,
			"exits":       cmdExits,
			"chartsdrawn": cmdChartsDrawn,
			"countlines": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: countlines FILE N")
				}
				n := len(strings.Split(strings.TrimSpace(ts.ReadFile(args[0])), "\n"))
				if want, _ := strconv.Atoi(args[1]); (n == want) == neg {
					ts.Fatalf("%s has %d lines, want %s%d", args[0], n, map[bool]string{true: "not ", false: ""}[neg], want)
				}
			},
		},
	}
	for name, c := range cmds {
		p.Cmds[name] = c
	}
	return p
}

// cmdSQL runs one query on a database and writes its rows to stdout, one
// line per row, columns separated by spaces: sqlq DB QUERY.
func cmdSQL(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sqlq DB QUERY")
	}
	db, err := sql.Open("sqlite3", "file:"+ts.MkAbs(args[0])+"?_busy_timeout=10000")
	ts.Check(err)
	defer db.Close()
	rows, err := db.Query(args[1])
	if neg {
		if err == nil {
			ts.Fatalf("query succeeded")
		}
		return
	}
	ts.Check(err)
	defer rows.Close()
	cols, err := rows.Columns()
	ts.Check(err)
	var out strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		ts.Check(rows.Scan(ptrs...))
		for i, v := range vals {
			if i > 0 {
				out.WriteByte(' ')
			}
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			fmt.Fprint(&out, v)
		}
		out.WriteByte('\n')
	}
	ts.Check(rows.Err())
	ts.Stdout().Write([]byte(out.String()))
}

// cmdChartsDrawn checks that every PNG in a folder is a drawn chart, not
// a blank one (plottest.Check): chartsdrawn DIR.
func cmdChartsDrawn(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: chartsdrawn DIR")
	}
	names, err := plottest.CheckDir(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%d charts checked, blank ones:\n%v", len(names), err)
	}
	if len(names) == 0 {
		ts.Fatalf("no PNG in %s", args[0])
	}
	ts.Logf("%d charts drawn", len(names))
}

// cmdWaitLines waits (up to a minute) until FILE has at least N lines:
// waitlines FILE N.
func cmdWaitLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: waitlines FILE N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if n := countLines(path); n >= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s has %d lines after a minute, want %d", path, countLines(path), want)
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// cmdExits runs a program and checks its exit code: exits CODE PROG ARGS...
// Its output goes to stdout and stderr like exec's.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"WORK", "HOME", "TMPDIR", "CONFIG", "SPEEDRUN_DEBUG",
		"SPEEDRUN_FAKE_EPOCH_MS", "SPEEDRUN_FAKE_NAN", "SPEEDRUN_FAKE_FAIL", "SPEEDRUN_FAKE_LAYERS", "SPEEDRUN_FAKE_LOG", "SPEEDRUN_FAKE_BLOCK"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err = cmd.Run()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else {
		ts.Check(err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
