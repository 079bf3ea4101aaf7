package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"speedrun/backend"
	"speedrun/cuda"
	"speedrun/results"
	"speedrun/runner"
)

// slurmOptions are the flags of `runner sweep --emit slurm` that shape the
// job script: its resources, where it runs and where its shards go.
type slurmOptions struct {
	name      string
	time      string
	cpus      int
	mem       string
	gpus      int // -1: one with --backend cuda, none otherwise
	partition string
	account   string
	opts      listFlag
	arrayMax  int
	runner    string // the binary; "": this one
	dir       string // the jobs' working directory; "": the current one
	shards    string
	scratch   string
}

func (s *slurmOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&s.name, "slurm-name", "", "--emit slurm: the job's `NAME`, also the script's suggested file name (default speedrun-PROFILE-stageN)")
	fs.StringVar(&s.time, "slurm-time", "", "--emit slurm: time limit of each array task, `D-HH:MM:SS` or HH:MM:SS (default 1:00:00 with --backend cuda, else 12:00:00)")
	fs.IntVar(&s.cpus, "slurm-cpus", 8, "--emit slurm: CPUs per array task (`N`; the runner's BLAS and OpenMP threads follow it)")
	fs.StringVar(&s.mem, "slurm-mem", "16G", "--emit slurm: memory per array task (`SIZE`, as sbatch --mem takes it)")
	fs.IntVar(&s.gpus, "slurm-gpus", -1, "--emit slurm: GPUs per array task, as --gres=gpu:`N` (default 1 with --backend cuda, else 0)")
	fs.StringVar(&s.partition, "slurm-partition", "", "--emit slurm: `PARTITION` of the array and the merge job (default: the cluster's)")
	fs.StringVar(&s.account, "slurm-account", "", "--emit slurm: `ACCOUNT` charged for the array and the merge job (default: the user's)")
	fs.Var(&s.opts, "slurm-opt", "--emit slurm: one more #SBATCH `OPTION` for the array, e.g. --constraint=a100 (repeatable)")
	fs.IntVar(&s.arrayMax, "slurm-array-max", 0, "--emit slurm: run at most `N` array tasks at once (0: no limit)")
	fs.StringVar(&s.runner, "slurm-runner", "", "--emit slurm: the runner binary the jobs run, by `PATH` (default: this binary; no module system needed)")
	fs.StringVar(&s.dir, "slurm-dir", "", "--emit slurm: the jobs' working `DIR`: relative --config, --data, --db and --reports are read there (default: the current folder)")
	fs.StringVar(&s.shards, "slurm-shards", "shards", "--emit slurm: `DIR` on shared storage where each task leaves its shard (relative: in --slurm-dir)")
	fs.StringVar(&s.scratch, "slurm-scratch", "", "--emit slurm: node-local `DIR` where each task writes its shard while it runs (default: the job's $SLURM_TMPDIR, else $TMPDIR, else /tmp)")
}

// check validates the flags and fills the defaults that depend on the
// backend and on this process.
func (s *slurmOptions) check(backend string) error {
	if s.time == "" {
		s.time = "12:00:00"
		if backend == "cuda" {
			s.time = "1:00:00"
		}
	}
	if s.gpus < 0 {
		s.gpus = 0
		if backend == "cuda" {
			s.gpus = 1
		}
	}
	if s.cpus < 1 {
		return fmt.Errorf("--slurm-cpus %d: want at least 1", s.cpus)
	}
	if s.arrayMax < 0 {
		return fmt.Errorf("--slurm-array-max %d: want 0 (no limit) or more", s.arrayMax)
	}
	for name, v := range map[string]string{"--slurm-time": s.time, "--slurm-mem": s.mem,
		"--slurm-partition": s.partition, "--slurm-account": s.account} {
		if strings.ContainsAny(v, " \t\n'\"\\$`") {
			return fmt.Errorf("%s %q: no spaces, quotes or shell characters", name, v)
		}
	}
	for _, o := range s.opts {
		if !strings.HasPrefix(o, "-") || strings.ContainsAny(o, "\n") {
			return fmt.Errorf("--slurm-opt %q: want one sbatch option such as --constraint=a100", o)
		}
	}
	if s.runner == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--slurm-runner: this binary's path: %w", err)
		}
		s.runner = exe
	}
	var err error
	// A bare name is looked up in the nodes' PATH; a path is made absolute.
	if strings.ContainsRune(s.runner, filepath.Separator) {
		if s.runner, err = filepath.Abs(s.runner); err != nil {
			return fmt.Errorf("--slurm-runner: %w", err)
		}
	}
	if s.dir == "" {
		if s.dir, err = os.Getwd(); err != nil {
			return fmt.Errorf("--slurm-dir: %w", err)
		}
	}
	if s.dir, err = filepath.Abs(s.dir); err != nil {
		return fmt.Errorf("--slurm-dir: %w", err)
	}
	// sbatch reads #SBATCH --chdir up to the first space.
	if strings.ContainsAny(s.dir, " \t\n") {
		return fmt.Errorf("--slurm-dir %q: sbatch cannot take a folder with spaces; choose another with --slurm-dir", s.dir)
	}
	return nil
}

// args are the flags that give another emit the same job shape.
func (s *slurmOptions) args() []string {
	a := []string{"--slurm-name", s.name, "--slurm-time", s.time, "--slurm-cpus", strconv.Itoa(s.cpus), "--slurm-mem", s.mem,
		"--slurm-gpus", strconv.Itoa(s.gpus)}
	if s.partition != "" {
		a = append(a, "--slurm-partition", s.partition)
	}
	if s.account != "" {
		a = append(a, "--slurm-account", s.account)
	}
	for _, o := range s.opts {
		a = append(a, "--slurm-opt="+o)
	}
	if s.arrayMax > 0 {
		a = append(a, "--slurm-array-max", strconv.Itoa(s.arrayMax))
	}
	a = append(a, "--slurm-runner", s.runner, "--slurm-dir", s.dir, "--slurm-shards", s.shards)
	if s.scratch != "" {
		a = append(a, "--slurm-scratch", s.scratch)
	}
	return a
}

// checkEmitFlags refuses the --emit slurm and --emit k8s flags without
// their --emit, and --resume without --emit slurm.
func checkEmitFlags(fs *flag.FlagSet, emit string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch {
		case err != nil:
		case f.Name == "resume" && emit != "slurm":
			err = errors.New("--resume DB: only with --emit slurm (a plain sweep resumes by itself)")
		case strings.HasPrefix(f.Name, "slurm-") && emit != "slurm":
			err = fmt.Errorf("--%s: only with --emit slurm", f.Name)
		case strings.HasPrefix(f.Name, "k8s-") && emit != "k8s":
			err = fmt.Errorf("--%s: only with --emit k8s", f.Name)
		}
	})
	return err
}

// emitSweep prints a cluster job that runs the sweep's cells as one array
// task each. SQLite must not be shared over NFS, so every task writes its
// own shard on local disk and copies it to the shared shards folder when
// it ends; `runner merge` then combines the shards. With --resume DB only
// the cells DB does not hold finished are emitted, under their plan
// indices; when there are none, nothing is printed.
func emitSweep(ctx context.Context, env *cmdEnv, o sweepOptions) error {
	cells, err := loadPlan(o)
	if err != nil {
		return err
	}
	if err := checkEmitEngines(env, o.train.backend, cells); err != nil {
		return usageErr(fmt.Errorf("--emit %s: %w", o.emit, err))
	}
	idx := make([]int, len(cells))
	for i := range idx {
		idx[i] = i
	}
	if o.resume != "" {
		if idx, err = unfinishedCells(ctx, o, cells); err != nil {
			return err
		}
		if len(idx) == 0 {
			env.log.Info("nothing to resume: every cell of the plan is finished", "db", o.resume, "cells", len(cells))
			return nil
		}
		env.log.Info("resume", "unfinished", len(idx), "cells", len(cells), "db", o.resume)
	}
	// The pods run the image's registry (the repository's, copied in by
	// the Dockerfile), not a path on this machine.
	config := o.global.config
	if o.emit == "k8s" {
		config = o.k8s.config
	}
	args := []string{"sweep", "--config", config, "--profile", o.train.profile,
		"--repeats", fmt.Sprint(o.repeats), "--backend", o.train.backend}
	if o.stages != "" {
		args = append(args, "--stage", o.stages)
	}
	for _, v := range o.variants {
		args = append(args, "--variant", v)
	}
	if o.global.data != "" {
		args = append(args, "--data", o.global.data)
	}
	if o.train.seed != "" {
		args = append(args, "--seed", o.train.seed)
	}
	if o.train.precision != "" {
		args = append(args, "--precision", o.train.precision)
	}
	// The overrides last: the tasks' own flags follow them, which
	// parseArgs takes anywhere.
	args = append(args, o.train.overrides...)
	name := "speedrun-" + o.train.profile
	if o.stages != "" {
		name += "-stage" + strings.ReplaceAll(o.stages, ",", "-")
	}
	d := emitData{
		Name:    sanitizeName(name),
		Cells:   len(idx),
		Planned: len(cells),
		Args:    shellJoin(append(args, "--no-report")),
	}
	if o.emit == "slurm" {
		s := o.slurm
		if err := s.check(o.train.backend); err != nil {
			return usageErr(fmt.Errorf("sweep: %w", err))
		}
		if s.name != "" {
			d.Name = sanitizeName(s.name)
		}
		s.name = d.Name
		d.Array = arraySpec(idx)
		if s.arrayMax > 0 {
			d.Array += "%" + strconv.Itoa(s.arrayMax)
		}
		d.Time, d.Mem, d.CPUs, d.GPUs = s.time, s.mem, s.cpus, s.gpus
		d.Partition, d.Account, d.Opts = s.partition, s.account, s.opts
		d.Dir, d.DirQ = s.dir, shellJoin([]string{s.dir})
		d.ConfigQ, d.DBQ, d.ReportsQ = shellJoin([]string{o.global.config}), shellJoin([]string{o.global.db}), shellJoin([]string{o.global.reports})
		d.RunnerQ, d.ShardsQ = shellJoin([]string{s.runner}), shellJoin([]string{s.shards})
		d.ScratchQ = `${SLURM_TMPDIR:-${TMPDIR:-/tmp}}`
		if s.scratch != "" {
			d.ScratchQ = shellJoin([]string{s.scratch})
		}
		d.ResumeQ = shellJoin(append(append(args, "--emit", "slurm", "--db", o.global.db, "--reports", o.global.reports), s.args()...))
	}
	if o.emit == "k8s" {
		k := o.k8s
		if err := k.check(o.train.backend, d.Name); err != nil {
			return usageErr(err)
		}
		d.Name = k.name
		return k8sTemplate.Execute(env.stdout, newK8sData(d, k, config))
	}
	return emitTemplates.Lookup(o.emit).Execute(env.stdout, d)
}

// checkEmitEngines refuses a job whose tasks their engine would refuse
// (runner.CheckEngines, as a sweep checks before it runs): under cuda the
// GPU engine's capabilities, which need no GPU to ask; under auto none,
// since the CPU engine takes what the GPU's does not; any other backend
// is opened and asked.
func checkEmitEngines(env *cmdEnv, name string, cells []runner.Cell) error {
	var caps backend.Caps
	switch name {
	case "auto", "":
		return nil
	case "cuda":
		caps = cuda.EngineCaps()
	default:
		be, err := openBackend(name, env)
		if err != nil {
			return err
		}
		caps = backend.CapsOf(be)
		if err := closeBackend(be); err != nil {
			return err
		}
	}
	return runner.CheckEngines(name, cells, func(runner.Cell) backend.Caps { return caps })
}

// unfinishedCells returns the plan indices of the cells that the database
// o.resume does not hold finished (done or diverged): those that failed,
// were interrupted, or never got there (a task that left no shard).
func unfinishedCells(ctx context.Context, o sweepOptions, cells []runner.Cell) ([]int, error) {
	// Open would create a missing file: a mistyped database must be an error.
	if _, err := os.Stat(o.resume); err != nil {
		return nil, usageErr(fmt.Errorf("sweep: --resume: %w", err))
	}
	db, err := results.Open(ctx, o.resume)
	if err != nil {
		return nil, fmt.Errorf("sweep: --resume: %w", err)
	}
	defer db.Close()
	runs, err := db.Runs(ctx, results.Filter{})
	if err != nil {
		return nil, fmt.Errorf("sweep: --resume: %w", err)
	}
	finished, err := finishedCells(ctx, runs, cells, o.global.data)
	if err != nil {
		return nil, fmt.Errorf("sweep: --resume: %w", err)
	}
	var idx []int
	for i := range cells {
		if !finished[i] {
			idx = append(idx, i)
		}
	}
	return idx, nil
}

// arraySpec writes ascending indices as sbatch --array takes them: runs
// of consecutive indices as ranges, "0-3,7,9-11".
func arraySpec(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

type emitData struct {
	Name    string
	Cells   int    // cells in this job
	Planned int    // cells in the plan
	Args    string // the tasks' sweep arguments, shell-quoted

	// Slurm only. The names ending in Q are shell-quoted; the rest go
	// into #SBATCH lines as they are (slurmOptions.check vetted them).
	Array                      string // the --array spec
	Time, Mem                  string
	CPUs, GPUs                 int
	Partition, Account         string
	Opts                       []string
	Dir, DirQ                  string
	ConfigQ, DBQ, ReportsQ     string
	RunnerQ, ShardsQ, ScratchQ string
	ResumeQ                    string // emit arguments for the cells left unfinished
}

var emitTemplates = template.Must(template.New("slurm").Parse(`#!/bin/bash
# Generated by 'runner sweep --emit slurm': a Slurm job array with one task
# per cell ({{.Cells}} of the plan's {{.Planned}}), and a merge-and-report job after it.
# Save it as {{.Name}}.slurm, then
#   bash {{.Name}}.slurm
#       submits the array, then the merge job (--dependency=afterany: it
#       runs however the tasks end);
#   sbatch {{.Name}}.slurm
#       submits the array alone;
#   bash {{.Name}}.slurm merge
#       merges the shards and writes the report now.
#
# Each task runs its cell with the runner binary itself (no module system),
# writing a SQLite shard on node-local job scratch (SQLite must not be
# shared over NFS), and copies it into the shards folder when it ends, also
# when it is cancelled or runs out of time. The merge job folds every shard
# there into the database and writes the report; when cells are left
# unfinished (failed, cancelled, or no shard), it says so, exits 1 and
# writes {{.Name}}-resume.slurm, which reruns only those cells.
#
# SPEEDRUN_RUNNER, SPEEDRUN_SHARDS and SPEEDRUN_SCRATCH, when set at submission,
# override the binary, the shards folder and the scratch folder.
#
#SBATCH --job-name={{.Name}}
#SBATCH --array={{.Array}}
#SBATCH --time={{.Time}}
#SBATCH --cpus-per-task={{.CPUs}}
#SBATCH --mem={{.Mem}}
{{- if gt .GPUs 0}}
#SBATCH --gres=gpu:{{.GPUs}}
{{- end}}
{{- if .Partition}}
#SBATCH --partition={{.Partition}}
{{- end}}
{{- if .Account}}
#SBATCH --account={{.Account}}
{{- end}}
{{- range .Opts}}
#SBATCH {{.}}
{{- end}}
#SBATCH --chdir={{.Dir}}
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail
RUNNER=${SPEEDRUN_RUNNER:-{{.RunnerQ}}}
SHARDS=${SPEEDRUN_SHARDS:-{{.ShardsQ}}}
SCRATCH=${SPEEDRUN_SCRATCH:-{{.ScratchQ}}}
DB={{.DBQ}}
SWEEP=({{.Args}})

# task: run cell $SLURM_ARRAY_TASK_ID of the plan into this task's shard.
task() {
  local i=$SLURM_ARRAY_TASK_ID rc=0 f
  local tmp=$SCRATCH/speedrun-$SLURM_ARRAY_JOB_ID-$i
  local shard=$SHARDS/shard-$SLURM_ARRAY_JOB_ID-$i.sqlite
  mkdir -p "$SHARDS" "$tmp"
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  # scancel and the time limit send SIGTERM to every process of the task:
  # the runner marks its cell interrupted, and this shell still saves it.
  trap 'echo "speedrun: task $i: SIGTERM; saving the shard" >&2' TERM
  "$RUNNER" "${SWEEP[@]}" --cell-index "$i" --db "$tmp/shard.sqlite" || rc=$?
  # The -wal file first, in case the task died before SQLite folded it in;
  # each lands under a temporary name, so a merge sees whole files only.
  for f in -wal ""; do
    if [ -e "$tmp/shard.sqlite$f" ]; then
      cp "$tmp/shard.sqlite$f" "$shard$f.part" && mv "$shard$f.part" "$shard$f"
    fi
  done
  rm -rf "$tmp"
  return "$rc"
}

# merge: fold every shard into $DB, write the report, and write a script
# for the cells left unfinished.
merge() {
  local rc=0 resume={{.Name}}-resume.slurm shards
  cd {{.DirQ}}
  shopt -s nullglob
  shards=("$SHARDS"/shard-*.sqlite)
  if [ "${#shards[@]}" -eq 0 ]; then
    echo "speedrun: no shards in $SHARDS" >&2
    rc=1
  else
    mkdir -p "$(dirname "$DB")"
    "$RUNNER" merge --db "$DB" "${shards[@]}" || rc=$?
    "$RUNNER" report --config {{.ConfigQ}} --db "$DB" --reports {{.ReportsQ}} || rc=$?
  fi
  "$RUNNER" {{.ResumeQ}} --resume "$DB" >"$resume.part" || rc=$?
  if [ -s "$resume.part" ]; then
    mv "$resume.part" "$resume"
    echo "speedrun: cells left unfinished; rerun only them with: bash $PWD/$resume" >&2
    if [ "$rc" -eq 0 ]; then rc=1; fi
  else
    rm -f "$resume.part" "$resume"
  fi
  return "$rc"
}

# submit: the array, then the merge job once every task has ended.
submit() {
  local self array merge
  self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
  cd {{.DirQ}}
  mkdir -p logs "$SHARDS"
  array=$(sbatch --parsable "$self")
  array=${array%%;*}
  merge=$(sbatch --parsable --dependency=afterany:"$array" --job-name={{.Name}}-merge \
    --time=1:00:00 --cpus-per-task=1 --mem=4G{{if .Partition}} --partition={{.Partition}}{{end}}{{if .Account}} --account={{.Account}}{{end}} \
    --chdir={{.DirQ}} --output=logs/%x-%j.out --wrap "bash $(printf %q "$self") merge")
  merge=${merge%%;*}
  echo "submitted array job $array ({{.Cells}} tasks, array {{.Array}}) and merge job $merge"
}

# Everything above is functions, and bash reads this whole command before
# it runs it: the file may be replaced meanwhile (a merge rewrites the
# resume script).
case "${1:-}" in
  merge) merge; exit ;;
  submit) submit; exit ;;
  "") if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then task; else submit; fi; exit ;;
  *) echo "usage: bash $0 [submit|merge]" >&2; exit 2 ;;
esac
`))

// listFlag is a repeatable flag that keeps each value whole.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// shellJoin quotes each argument for sh.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/=:+") == "" {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// sanitizeName keeps a job name to what Slurm and Kubernetes accept.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
