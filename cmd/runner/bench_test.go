package main

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"testing"

	"speedrun/cpu/kernels"
)

func TestRunBench(t *testing.T) {
	var out bytes.Buffer
	o := benchOptions{net: "resnet9", batch: 4, steps: 2, warmup: 1, width: 1.0 / 16, seed: 1, peak: 232.7, prec: "f32"}
	if err := runBench(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"images/s", "GFLOP per training image", "of the 232.7 GFLOP/s fp32 FMA peak (given", "peak RSS", "conv.bwd_weights", "bn_act.bwd", "(graph, optimizer)", "convolutions in f32"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	o.net = "nope"
	if err := runBench(context.Background(), &out, o); err == nil {
		t.Error("bench --net nope succeeded")
	}
}

// TestRunBenchMeasures: without --peak the bench measures the FMA peak in
// the same run; with --precision bf16 it runs bf16 convolutions where the
// CPU has avx512_bf16 and says so where it has not.
func TestRunBenchMeasures(t *testing.T) {
	var out bytes.Buffer
	o := benchOptions{net: "resnet9", batch: 4, steps: 1, warmup: 1, width: 1.0 / 16, seed: 1, prec: "bf16"}
	if err := runBench(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	want := []string{"fma peak 256-bit", "measured now", "convolutions in "}
	if kernels.HasBF16() {
		want = append(want, "convolutions in bf16")
	} else {
		want = append(want, "this CPU has no avx512_bf16: ran f32")
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("bench output lacks %q:\n%s", w, s)
		}
	}
}

// TestRunBenchTorch times PyTorch in fp32 and bf16 autocast beside ours.
func TestRunBenchTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: skips the PyTorch bench (python3-torch)")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 (python3-torch): PyTorch bench skipped")
	}
	var out bytes.Buffer
	o := benchOptions{net: "resnet9", batch: 4, steps: 1, warmup: 1, width: 1.0 / 16, seed: 1, peak: 100, prec: "f32", torch: true, python: "/usr/bin/python3"}
	if err := runBench(context.Background(), &out, o); err != nil {
		if strings.Contains(err.Error(), "No module named 'torch'") {
			t.Skipf("python3 has no torch: %v", err)
		}
		t.Fatal(err)
	}
	for _, w := range []string{"pytorch", "fp32 (", "bf16 autocast (", "speedrun f32 / pytorch f32 = ", "speedrun f32 / pytorch bf16 = ", "pytorch fp32 peak RSS ", "pytorch bf16 autocast peak RSS "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("bench output lacks %q:\n%s", w, out.String())
		}
	}
}

// TestTorchBenchRSSIsPythons: the PyTorch peak RSS is the python
// process's own. With 1.5 GiB of our own resident, a small PyTorch step
// must read well under it: the child's rusage read ours (Linux carries
// the pre-exec high-water mark of the shared address space into it).
func TestTorchBenchRSSIsPythons(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: skips the PyTorch bench (python3-torch)")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 (python3-torch): PyTorch bench skipped")
	}
	ballast := make([]byte, 3<<29)
	for i := range ballast {
		if i%4096 == 0 {
			ballast[i] = 1
		}
	}
	o := benchOptions{net: "resnet9", batch: 4, steps: 1, warmup: 1, width: 1.0 / 16, seed: 1, python: "/usr/bin/python3"}
	r, err := torchBench(context.Background(), o, "f32")
	runtime.KeepAlive(ballast)
	if err != nil {
		if strings.Contains(err.Error(), "No module named 'torch'") {
			t.Skipf("python3 has no torch: %v", err)
		}
		t.Fatal(err)
	}
	if !(r.PeakRSS > 50<<20 && r.PeakRSS < 1<<30) {
		t.Errorf("PyTorch peak RSS %.2f GiB beside our 1.5 GiB: want python's own, between 50 MiB and 1 GiB", float64(r.PeakRSS)/(1<<30))
	}
}
