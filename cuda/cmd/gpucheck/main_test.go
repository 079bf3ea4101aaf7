package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/cuda/internal/fakecuda"
	"speedrun/cuda/kernels"
)

func lines(t *testing.T, out []byte) []Line {
	t.Helper()
	var ls []Line
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		ls = append(ls, l)
	}
	return ls
}

// On the fake driver no kernel runs, so every output stays NaN and every
// kernel comparison must fail: the checker cannot pass a device that does
// nothing. The fake cuBLAS computes fp32 GEMMs, which must pass, and
// rejects bf16, which must be reported.
func TestChecksOnFakeLibraries(t *testing.T) {
	dir := fakecuda.Dir(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"kernels", "-small", "-lib-path", dir}, &out)
	ls := lines(t, out.Bytes())
	if err == nil || len(ls) < 40 {
		t.Fatalf("kernels on the fake: err %v, %d lines", err, len(ls))
	}
	checked := map[string]bool{}
	for _, l := range ls {
		if l.Pass {
			t.Errorf("kernel check passed on a device that runs nothing: %+v", l)
		}
		checked[l.Name] = true
	}
	// Every kernel has a comparison against its Go reference on the device.
	for _, s := range kernels.Signatures {
		if !checked[s.Name] {
			t.Errorf("kernel %s has no device check", s.Name)
		}
	}
	out.Reset()
	// The fake cuBLAS computes Sgemm, Dgemm and GemmEx (bf16 in, fp32
	// out) on the host, so every BLAS comparison passes on it.
	err = run(context.Background(), []string{"blas", "-lib-path", dir}, &out)
	if err != nil {
		t.Errorf("blas on the fake: got %v", err)
	}
	bl := lines(t, out.Bytes())
	if len(bl) != 9 {
		t.Errorf("blas on the fake: %d lines, want 9", len(bl))
	}
	for _, l := range bl {
		if !l.Pass || l.Err != "" {
			t.Errorf("blas line %+v: want a pass", l)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"env", "-lib-path", dir}, &out); err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(out.Bytes(), &env); err != nil || env["name"] != "Fake GPU" || env["cudnn_version"] != float64(92400) {
		t.Errorf("env %v (%v)", env, err)
	}
}

func TestSplitJoinCommands(t *testing.T) {
	src, chunks, dst := t.TempDir(), t.TempDir(), t.TempDir()
	data := bytes.Repeat([]byte("cifar"), 1000)
	f := filepath.Join(src, "data_batch_1.bin")
	os.WriteFile(f, data, 0o644)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"split", "-out", chunks, "-size", "1024", f}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "1 files in 5 chunks under "+chunks+"\n" {
		t.Errorf("split said %q", got)
	}
	if err := run(context.Background(), []string{"join", "-dir", chunks, "-out", dst}, &out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "data_batch_1.bin")); !bytes.Equal(b, data) {
		t.Error("join did not rebuild the file")
	}
}

// train runs a registry variant through the engine and reports per run
// and in summary. On the fake driver no kernel runs (the numbers are not
// a result; the cuda package's engine tests check those), so this checks
// the plumbing: flags, registry, data, JSON lines.
func TestTrainLines(t *testing.T) {
	dir := fakecuda.Dir(t)
	var out bytes.Buffer
	args := []string{"train", "-lib-path", dir, "-config", "../../../experiments.toml", "-variant", "p4.s10", "-data", "synthetic",
		"-train-size", "16", "-test-size", "10", "-epochs", "1", "-batch", "8", "-width", "0.0625", "-prec", "f32", "-seeds", "3,4"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	var got []TrainLine
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l TrainLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		got = append(got, l)
	}
	if len(got) != 3 || got[0].Check != "train" || got[1].Seed != 4 || got[2].Check != "train-summary" || got[2].N != 2 ||
		got[0].Epochs != 1 || len(got[0].PerEpoch) != 1 || got[0].Prec != "f32" || got[0].Device != "Fake GPU (sm_90, 80.0 GiB)" {
		t.Errorf("lines %+v", got)
	}
	// gpu-check.sh's quick epochs of the other networks: an analysis
	// stage's variant under the quick profile (5 s here, so one).
	for _, v := range []string{"p7.e1.bn"} {
		out.Reset()
		args := []string{"train", "-lib-path", dir, "-config", "../../../experiments.toml", "-variant", v, "-profile", "quick", "-data", "synthetic",
			"-train-size", "16", "-test-size", "10", "-epochs", "1", "-batch", "8", "-width", "0.0625", "-prec", "f32"}
		if err := run(context.Background(), args, &out); err != nil || !strings.Contains(out.String(), `"variant":"`+v+`"`) {
			t.Errorf("%s: %v\n%s", v, err, out.String())
		}
	}
	if err := run(context.Background(), []string{"train", "-lib-path", dir, "-config", "../../../experiments.toml", "-variant", "x"}, &out); err == nil || !strings.Contains(err.Error(), `variant "x" is in no stage`) {
		t.Errorf("bad variant: %v", err)
	}
}

// scripts/gpu-check.sh runs start to end here, on the fake libraries,
// with a budget too small for its long stages: this checks the script
// itself (stage order and skipping, the files it writes, its use of this
// binary); what its stages measure needs a GPU.
func TestGPUCheckScriptDryRun(t *testing.T) {
	root, libs := scriptRoot(t)
	out := filepath.Join(root, "out")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "gpu-check.sh"))
	// A budget under the 20 s that a stage needs to start: each stage
	// after the environment is skipped as a spent budget.
	cmd.Env = append(os.Environ(), "OUT="+out, "BUDGET=15", "FIND_CIFAR=0", "SPEEDRUN_CUDA_LIB_PATH="+libs, "PY=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gpu-check.sh: %v\n%s", err, b)
	}
	log, err := os.ReadFile(filepath.Join(out, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"env written", "stage gpu-env: rc=0", "stage checks skipped: budget spent",
		"data: no .device/chunks/manifest.json carried", "train-p8 skipped: budget spent", "stage train-p6.e2 skipped: budget spent", "stage train-p8-f32 skipped: budget spent",
		"memcheck skipped", "] done"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("run.log lacks %q:\n%s", want, log)
		}
	}
	env, err := os.ReadFile(filepath.Join(out, "gpu_env.json"))
	if err != nil || !strings.Contains(string(env), "Fake GPU") {
		t.Errorf("gpu_env.json: %v\n%s", err, env)
	}
}

// The script's other modes on the fake libraries: "stage" unpacks xz
// chunks and rebuilds the data, "smoke" checks small kernels after it, and
// an unknown mode is refused.
func TestGPUCheckScriptModes(t *testing.T) {
	root, libs := scriptRoot(t)
	src := filepath.Join(t.TempDir(), "data_batch_1.bin")
	data := make([]byte, 2500)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	chunks := filepath.Join(root, ".device", "chunks")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"split", "-out", chunks, "-size", "1000", src}, &out); err != nil {
		t.Fatal(err)
	}
	xz := false
	if _, err := exec.LookPath("xz"); err == nil {
		if b, err := exec.Command("xz", filepath.Join(chunks, "chunk-000")).CombinedOutput(); err != nil {
			t.Fatalf("xz: %v\n%s", err, b)
		}
		xz = true
	} else {
		t.Log("xz not found: the chunks travel unpacked")
	}
	// The machine's loader cache, as the script sees it: libc.so.6 near
	// the top of a listing far larger than a pipe holds, so that a reader
	// that stops at its match leaves the writer blocked, then killed by
	// SIGPIPE, on every run rather than on a loaded machine only.
	bin := t.TempDir()
	ldconfig := "#!/bin/sh\n[ \"$1\" = -p ] || exit 1\necho '5001 libs found in cache'\n" +
		"printf '\\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\\n'\n" +
		"i=0; while [ $i -lt 5000 ]; do printf '\\tlibfiller%d.so.1 (libc6,x86-64) => /usr/lib/libfiller%d.so.1\\n' $i $i; i=$((i+1)); done\n"
	if err := os.WriteFile(filepath.Join(bin, "ldconfig"), []byte(ldconfig), 0o755); err != nil {
		t.Fatal(err)
	}
	var ran []string
	// On failure, the script's own record of every mode run: each stage,
	// its status and its stderr.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, mode := range ran {
			log, err := os.ReadFile(filepath.Join(root, "out-"+mode, "run.log"))
			t.Logf("%s mode: run.log (%v):\n%s", mode, err, log)
		}
	})
	script := func(mode string) ([]byte, error) {
		ran = append(ran, mode)
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "gpu-check.sh"), mode)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"OUT="+filepath.Join(root, "out-"+mode), "FIND_CIFAR=0", "SPEEDRUN_CUDA_LIB_PATH="+libs, "PY=false")
		return cmd.CombinedOutput()
	}
	if b, err := script("stage"); err != nil {
		t.Fatalf("stage: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(root, ".device", "cifar", "data_batch_1.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stage did not rebuild the file (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(root, ".device", "cifar", ".verified")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(chunks, "chunk-000.xz")); xz && !os.IsNotExist(err) {
		t.Errorf("chunk-000.xz left after unpacking: %v", err)
	}
	if b, err := script("smoke"); err != nil {
		t.Fatalf("smoke: %v\n%s", err, b)
	}
	log, err := os.ReadFile(filepath.Join(root, "out-smoke", "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"data: .device/cifar already rebuilt and verified", "stage gpu-env: rc=0", "stage kernels-small: rc=", "kernels -small: "} {
		if !strings.Contains(string(log), want) {
			t.Errorf("smoke run.log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "out-smoke", "kernels_small.jsonl")); err != nil {
		t.Error(err)
	}
	// sweep: a stand-in runner (the real one needs cgo) shows what the
	// script runs and with which libraries.
	rdir := filepath.Join(root, ".device", "runner")
	if err := os.MkdirAll(filepath.Join(rdir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := "#!/bin/sh\necho \"args: $*\"\necho \"debug=$SPEEDRUN_DEBUG path=$LD_LIBRARY_PATH\"\n"
	if err := os.WriteFile(filepath.Join(rdir, "runner"), []byte(fake), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"libspeedrun-only.so.1", "libc.so.6"} { // the machine has libc.so.6
		if err := os.WriteFile(filepath.Join(rdir, "lib", l), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if xz {
		if b, err := exec.Command("xz", filepath.Join(rdir, "runner"), filepath.Join(rdir, "lib", "libc.so.6")).CombinedOutput(); err != nil {
			t.Fatalf("xz: %v\n%s", err, b)
		}
	}
	if b, err := script("sweep"); err != nil {
		t.Fatalf("sweep: %v\n%s", err, b)
	}
	sw, err := os.ReadFile(filepath.Join(root, "out-sweep", "sweep.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := "args: sweep --backend cuda --data .device/cifar --db " + filepath.Join(root, "out-sweep", "results.sqlite") + " --no-report --stage 8 --profile paper --repeats 1"
	if !strings.Contains(string(sw), wantArgs) || !strings.Contains(string(sw), "debug=1 path=.device/runner/lib:") {
		t.Errorf("sweep ran:\n%s\nwant %q", sw, wantArgs)
	}
	if _, err := os.Stat(filepath.Join(rdir, "unused", "libc.so.6")); err != nil {
		t.Errorf("libc.so.6, which the machine has, was left on the path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rdir, "lib", "libspeedrun-only.so.1")); err != nil {
		t.Errorf("a library the machine lacks left the path: %v", err)
	}

	if b, err := script("nonsense"); err == nil || !strings.Contains(string(b), "unknown mode nonsense") {
		t.Errorf("unknown mode: %v\n%s", err, b)
	}
}

// scriptRoot copies scripts/gpu-check.sh and what it runs into a temporary
// repository root with this package built as .device/gpucheck, and builds
// the fake libraries.
func scriptRoot(t *testing.T) (root, libs string) {
	t.Helper()
	if testing.Short() {
		t.Skip("short mode: builds the binary and runs the script")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	libs = fakecuda.Dir(t)
	root = t.TempDir()
	for _, f := range []string{"scripts/gpu-check.sh", "scripts/gpu-probe.c", "bench/torch_p8_reference.py"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(root, ".device", "gpucheck"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return root, libs
}

func TestMaxRel(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name      string
		got, want []float32
		rel       float64
		at        int
	}{
		{"equal", []float32{1, -2, 0}, []float32{1, -2, 0}, 0, -1},
		{"same infinity", []float32{inf, 3}, []float32{inf, 3}, 0, -1},
		{"small values: absolute", []float32{0.5, 0.25}, []float32{0.5, 0}, 0.25, 1},
		{"large values: relative", []float32{10, 200}, []float32{10, 100}, 1, 1},
		{"nan", []float32{1, nan}, []float32{1, 1}, math.Inf(1), 1},
		{"inf against finite", []float32{inf}, []float32{1}, math.Inf(1), 0},
	} {
		rel, at := maxRel(tc.got, tc.want)
		if rel != tc.rel || at != tc.at {
			t.Errorf("%s: maxRel = %g at %d, want %g at %d", tc.name, rel, at, tc.rel, tc.at)
		}
	}
}

func TestScaleRel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want []float32
		rel       float64
		at        int
	}{
		{"equal", []float32{3, -4}, []float32{3, -4}, 0, -1},
		// rms(want) = 5: the near-zero element's error counts against 5.
		{"near zero: against the scale", []float32{0.5, 7.07106781}, []float32{0, 7.07106781}, 0.1, 0},
		{"large: relative", []float32{0, 8}, []float32{0, 10}, 0.2, 1},
		{"zero result", []float32{0.5}, []float32{0}, 0.5, 0},
	} {
		rel, at := scaleRel(tc.got, tc.want)
		if math.Abs(rel-tc.rel) > 1e-6 || at != tc.at {
			t.Errorf("%s: scaleRel = %g at %d, want %g at %d", tc.name, rel, at, tc.rel, tc.at)
		}
	}
}

// A run's NaN figures (an epoch without evaluation, as stage 10's; a
// diverged loss) encode as null instead of failing the whole line, which
// lost every stage-10 result on the H200.
func TestTrainLineNaN(t *testing.T) {
	nan := math.NaN()
	l := TrainLine{Check: "train", TestLoss: num(math.Inf(1)), PerEpoch: epochLines([]backend.Epoch{{Epoch: 1, TrainLoss: 2, TestLoss: nan, TestAcc: nan}})}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"test_loss":null`, `"TestAcc":null`, `"TrainLoss":2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back TrainLine
	if err := json.Unmarshal(b, &back); err != nil || back.PerEpoch[0].TrainLoss != 2 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}
