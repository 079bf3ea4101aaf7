package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// slurmTools are what scripts/slurm-local.sh and the scripts run.
var slurmTools = []string{"slurmctld", "slurmd", "munged", "sbatch", "squeue", "scancel", "sacct", "scontrol", "sinfo"}

// TestSlurm runs the scripts in testdata/slurm on a real single-node Slurm
// cluster that scripts/slurm-local.sh starts in a temporary folder (one
// slurmctld, one slurmd, munge; all on 127.0.0.1): the emitted array job
// and its merge job, a task cancelled mid-run and resumed, and a failing
// task. The scripts share the cluster and run in parallel. It skips where
// Slurm is not installed (.ci/run installs slurm-wlm and munge) or the
// test does not run as root.
func TestSlurm(t *testing.T) {
	if testing.Short() {
		t.Skip("slurm: skipped with -short (the scripts take about a minute)")
	}
	for _, c := range slurmTools {
		if _, err := lookSlurm(c); err != nil {
			t.Skipf("slurm: %s not found: install slurm-wlm and munge (apt-get install slurm-wlm munge, as .ci/run does) to run the emitted sweeps on a real Slurm", c)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("slurm: the local cluster's slurmd must run as root")
	}
	runnerBin, err := exec.LookPath("runner")
	if err != nil {
		t.Fatalf("the test binary's runner command: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(root, "scripts", "slurm-local.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := slurmLocal(ctx, script, "up", dir); err != nil {
		t.Fatalf("slurm-local.sh up: %v\n%s", err, out)
	}
	t.Logf("slurm: cluster up in %v (%s)", time.Since(start).Round(time.Millisecond), dir)
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"slurmctld.log", "slurmd.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, "log", f))
				t.Logf("%s (last 4 kB):\n%s", f, b[max(0, len(b)-4096):])
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		if out, err := slurmLocal(ctx, script, "down", dir); err != nil {
			t.Errorf("slurm-local.sh down: %v\n%s", err, out)
		}
		t.Logf("slurm: cluster down in %v", time.Since(start).Round(time.Millisecond))
	})
	conf := filepath.Join(dir, "slurm.conf")
	testscript.Run(t, scriptParams(t, "testdata/slurm", func(env *testscript.Env) error {
		// Every Slurm client must find this file: without it, it would
		// look the controller up in DNS.
		env.Setenv("SLURM_CONF", conf)
		env.Setenv("RUNNERBIN", runnerBin)
		// A script that stops early leaves no job behind in its folder.
		env.Defer(func() { cancelJobsIn(conf, env.WorkDir) })
		return nil
	}, map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"slurmids":     cmdSlurmIDs,
		"slurmwait":    cmdSlurmWait,
		"slurmrunning": cmdSlurmRunning,
		"slurmtasks":   cmdSlurmTasks,
		"slurmacct":    cmdSlurmAcct,
		"waitrunning":  cmdWaitRunning,
	}))
}

// cancelJobsIn cancels the jobs of the cluster at conf that run in dir.
func cancelJobsIn(conf, dir string) {
	cmd := exec.Command("squeue", "-h", "-o", "%A %Z")
	cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
	out, _ := cmd.Output()
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		if id, wd, ok := strings.Cut(line, " "); ok && (wd == dir || strings.HasPrefix(wd, dir+"/")) {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		cmd := exec.Command("scancel", ids...)
		cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
		cmd.Run()
	}
}

// lookSlurm finds a Slurm or munge program, also in /usr/sbin (which a
// non-login PATH may lack).
func lookSlurm(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: not in PATH or /usr/sbin", name)
	}
	return p, nil
}

func slurmLocal(ctx context.Context, script string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin")
	return cmd.CombinedOutput()
}

// slurm runs a Slurm client against the script's cluster and returns its
// standard output.
func slurm(ts *testscript.TestScript, name string, args ...string) string {
	conf := ts.Getenv("SLURM_CONF")
	if conf == "" {
		ts.Fatalf("SLURM_CONF is not set: a Slurm client without it would look for a controller in DNS")
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		ts.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

var submitted = regexp.MustCompile(`submitted array job (\d+) .* and merge job (\d+)`)

// cmdSlurmIDs reads the job ids that an emitted script's submit printed
// (exec bash SCRIPT submit, just before) into $ARRAY and $MERGE: slurmids.
func cmdSlurmIDs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 || neg {
		ts.Fatalf("usage: slurmids")
	}
	m := submitted.FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("no job ids in the last command's output")
	}
	ts.Setenv("ARRAY", m[1])
	ts.Setenv("MERGE", m[2])
}

// cmdSlurmWait waits, at most SECONDS, until squeue lists none of the
// jobs (whole arrays or tasks): slurmwait SECONDS JOB...
func cmdSlurmWait(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: slurmwait SECONDS JOB...")
	}
	secs, err := strconv.Atoi(args[0])
	ts.Check(err)
	jobs := strings.Join(args[1:], ",")
	start := time.Now()
	for {
		left := strings.TrimSpace(slurm(ts, "squeue", "-h", "-j", jobs, "-o", "%i %T"))
		if left == "" {
			ts.Logf("jobs %s ended after %v", jobs, time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > time.Duration(secs)*time.Second {
			ts.Fatalf("jobs %s still queued or running after %d s:\n%s", jobs, secs, left)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// cmdSlurmRunning waits, at most SECONDS, until the array task JOB_TASK
// runs: slurmrunning SECONDS JOB_TASK.
func cmdSlurmRunning(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: slurmrunning SECONDS JOB_TASK")
	}
	secs, err := strconv.Atoi(args[0])
	ts.Check(err)
	start := time.Now()
	for {
		st := strings.TrimSpace(slurm(ts, "squeue", "-h", "-j", args[1], "-o", "%T"))
		switch {
		case st == "RUNNING":
			return
		case st != "PENDING" && st != "CONFIGURING":
			ts.Fatalf("%s is %q, not running", args[1], st)
		case time.Since(start) > time.Duration(secs)*time.Second:
			ts.Fatalf("%s still %s after %d s", args[1], st, secs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cmdSlurmTasks prints each task of array job JOB as "JOB_TASK STATE
// EXITCODE", in task order, from scontrol (the cluster keeps ended jobs
// for MinJobAge): slurmtasks JOB.
func cmdSlurmTasks(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: slurmtasks JOB")
	}
	type task struct {
		id    int
		state string
		exit  string
	}
	var tasks []task
	sc := bufio.NewScanner(strings.NewReader(slurm(ts, "scontrol", "-o", "show", "job", args[0])))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := map[string]string{}
		for _, kv := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		id, err := strconv.Atoi(f["ArrayTaskId"])
		if err != nil || f["ArrayJobId"] != args[0] {
			continue
		}
		tasks = append(tasks, task{id, f["JobState"], f["ExitCode"]})
	}
	slices.SortFunc(tasks, func(a, b task) int { return a.id - b.id })
	var out strings.Builder
	for _, t := range tasks {
		fmt.Fprintf(&out, "%s_%d %s %s\n", args[0], t.id, t.state, t.exit)
	}
	ts.Stdout().Write([]byte(out.String()))
}

// cmdSlurmAcct prints the job completion records (sacct --completion:
// the cluster keeps no accounting database) of the jobs named NAME or
// NAME-merge, header included: slurmacct NAME.
func cmdSlurmAcct(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: slurmacct NAME")
	}
	out := slurm(ts, "sacct", "--completion", "--format=JobID,JobName%28,Partition,AllocCPUS,State,ExitCode,Start,End,Elapsed")
	var keep strings.Builder
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Fields(line)
		if i < 2 || (len(f) > 1 && (f[1] == args[0] || f[1] == args[0]+"-merge")) {
			keep.WriteString(line + "\n")
		}
	}
	ts.Stdout().Write([]byte(keep.String()))
}

// cmdWaitRunning waits (up to a minute) until database DB exists and holds
// a running cell: waitrunning DB.
func cmdWaitRunning(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: waitrunning DB")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
			ts.Check(err)
			var n int
			err = db.QueryRow("SELECT count(*) FROM runs WHERE status = 'running'").Scan(&n)
			db.Close()
			if err == nil && n > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s holds no running cell after a minute", path)
}
