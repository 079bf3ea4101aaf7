package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"

	"speedrun/cpu"
	"speedrun/cpu/kernels"
	"speedrun/model"
)

// fmaPeakGFLOPS is the FMA peak of this project's 2-core reference machine
// (2 cores x AVX-512 FMA), the denominator of "fraction of peak".
const fmaPeakGFLOPS = 232.7

// benchOptions are the flags of `runner bench`.
type benchOptions struct {
	global  globalOptions
	net     string
	batch   int
	steps   int
	warmup  int
	width   float64
	seed    uint64
	threads int
	peak    float64
	torch   bool
	python  string
}

func benchCommand() *command {
	return &command{
		UsageLine: "runner bench [--net NAME] [--batch B] [--steps N] [--warmup N] [--width W] [--threads N] [--torch]",
		Short:     "time CPU training steps: images/s, peak RSS, per-op profile, fraction of peak",
		Long: `
Bench times training steps of one network on the CPU engine with a random
batch, after untimed warm-up steps, and prints images per second (wall and
per CPU-second), the GFLOP per image and the fraction of the machine's
FMA peak (--peak), the peak RSS and heap allocations per step, and where
the time goes, op by op. With --torch it also times PyTorch's ResNet-9
step (channels_last, the same shapes and threads) in the same run and
prints the ratio; that needs a python with torch (--python).

Example:

	runner bench --net resnet9 --batch 128 --torch

It trains no registry variant, touches no database and writes only to
stdout.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o benchOptions
			o.global.register(fs)
			fs.StringVar(&o.net, "net", "resnet9", "network `NAME` from the catalogue (blog defaults of its stage)")
			fs.IntVar(&o.batch, "batch", 128, "batch size")
			fs.IntVar(&o.steps, "steps", 5, "timed training steps")
			fs.IntVar(&o.warmup, "warmup", 1, "untimed warm-up steps")
			fs.Float64Var(&o.width, "width", 1, "channel width multiplier")
			fs.Uint64Var(&o.seed, "seed", 1, "seed of the weights and the random batch")
			fs.IntVar(&o.threads, "threads", 0, "kernel threads (0: the kernels' default)")
			fs.Float64Var(&o.peak, "peak", fmaPeakGFLOPS, "machine FMA peak in `GFLOP/s` for the fraction of peak")
			fs.BoolVar(&o.torch, "torch", false, "also time PyTorch's ResNet-9 step (channels_last) in the same run and print the ratio")
			fs.StringVar(&o.python, "python", "/usr/bin/python3", "python with torch, for --torch")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				if o.batch <= 0 || o.steps <= 0 || o.warmup < 0 || !(o.width > 0) || !(o.peak > 0) {
					return usageErr(fmt.Errorf("--batch %d, --steps %d, --warmup %d, --width %v, --peak %v: want positive values (warmup >= 0)", o.batch, o.steps, o.warmup, o.width, o.peak))
				}
				return runBench(ctx, env.stdout, o)
			}
		},
	}
}

// benchNet is the network with the settings of the stage that made it
// (ResNet-9 and the post-4 nets as in p4.s10, final as in p8).
func benchNet(name string, width float64) model.Net {
	n := model.Net{Name: name, Width: width, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125, Depth: 50, FCWidth: 2048}
	switch name {
	case "dawn-resnet18", "dawn-net", "b1", "b2", "b3", "b4", "b5":
		n.BNScaleInit, n.ClassifierScale = "uniform", 1
	case "final":
		n.BN, n.GhostBatch, n.FreezeBNScale = "ghost", 32, true
		n.Act, n.CELUAlpha, n.Order, n.ClassifierScale = "celu", 0.3, "conv-pool-bn-act", 1.0/16
		n.Whiten, n.WhitenEps, n.WhitenImages = true, 1e-2, 10000
	}
	return n
}

func runBench(ctx context.Context, w io.Writer, o benchOptions) error {
	if o.threads > 0 {
		if err := kernels.SetThreads(o.threads); err != nil {
			return usageErr(fmt.Errorf("--threads %d: %w", o.threads, err))
		}
	}
	net := benchNet(o.net, o.width)
	if net.Name == "final" && o.batch%net.GhostBatch != 0 {
		net.GhostBatch = o.batch
	}
	if err := model.Validate(net); err != nil {
		return usageErr(fmt.Errorf("--net: %w", err))
	}
	r, err := cpu.Bench(ctx, cpu.BenchOptions{Net: net, Batch: o.batch, Warmup: o.warmup, Steps: o.steps, Seed: o.seed})
	if err != nil {
		return err
	}
	gflops := r.ImagesPerSec * r.GFLOPPerImage
	fmt.Fprintf(w, "net %s width %g batch %d: %d timed steps after %d warm-up, kernel threads %d\n", o.net, o.width, o.batch, o.steps, o.warmup, kernels.Threads())
	fmt.Fprintf(w, "training: %.2f images/s (median step %.3f s; steps %s)\n", r.ImagesPerSec, float64(o.batch)/r.ImagesPerSec, fmtSteps(r.StepSeconds))
	cpuPerStep := r.CPUSeconds / float64(o.steps)
	// CPU time is less sensitive than wall time to other tenants, though
	// spinning worker threads count in it too.
	fmt.Fprintf(w, "cpu time: %.3f CPU-s per step = %.2f images per CPU-second\n", cpuPerStep, float64(o.batch)/cpuPerStep)
	// The count includes the padding taps, which oneDNN's direct conv
	// skips (86.6% of the taps are real for ResNet-9), so the nominal
	// fraction can pass 100%.
	fmt.Fprintf(w, "compute: %.4f GFLOP per training image (conv+linear, 3 passes, padding taps included) = %.1f GFLOP/s = %.1f%% of the %.1f GFLOP/s FMA peak (nominal)\n", r.GFLOPPerImage, gflops, 100*gflops/o.peak, o.peak)
	fmt.Fprintf(w, "memory: peak RSS %.2f GiB; %.0f heap allocations (%.1f KiB) per step\n", float64(r.PeakRSSBytes)/(1<<30), r.AllocsPerStep, r.BytesPerStep/1024)
	var stepTotal float64
	for _, s := range r.StepSeconds {
		stepTotal += s
	}
	fmt.Fprintf(w, "per-op profile over the timed steps (share of step time; the rest is graph and optimizer):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "op\tms/step\tshare\tcalls/step\t\n")
	for _, op := range r.Ops {
		ms := op.Total.Seconds() * 1000 / float64(o.steps)
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f%%\t%d\t\n", op.Kind, ms, 100*op.Total.Seconds()/stepTotal, op.Calls/o.steps)
	}
	rest := stepTotal - r.OpsTotal.Seconds()
	fmt.Fprintf(tw, "(graph, optimizer)\t%.1f\t%.1f%%\t\t\n", rest*1000/float64(o.steps), 100*rest/stepTotal)
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.torch {
		return nil
	}
	if o.net != "resnet9" {
		return usageErr(fmt.Errorf("--torch compares resnet9 only, not %q", o.net))
	}
	tr, err := torchBench(ctx, o)
	if err != nil {
		return fmt.Errorf("--torch: %w", err)
	}
	fmt.Fprintf(w, "pytorch %s (%d threads, channels_last), same shapes in this run: %.2f images/s (steps %s); speedrun/pytorch = %.2f\n",
		tr.Torch, tr.Threads, tr.ImagesPerSec, fmtSteps(tr.StepSeconds), r.ImagesPerSec/tr.ImagesPerSec)
	torchPerCPU := float64(o.batch) * float64(len(tr.StepSeconds)) / tr.CPUSeconds
	fmt.Fprintf(w, "pytorch cpu time: %.2f images per CPU-second; speedrun/pytorch per CPU-second = %.2f\n", torchPerCPU, float64(o.batch)/cpuPerStep/torchPerCPU)
	return nil
}

// torchResult is the JSON line of cpu.TorchResNet9Script.
type torchResult struct {
	ImagesPerSec float64   `json:"images_per_sec"`
	StepSeconds  []float64 `json:"step_seconds"`
	Torch        string    `json:"torch"`
	Threads      int       `json:"threads"`
	CPUSeconds   float64   `json:"cpu_seconds"`
}

// torchBench runs the PyTorch ResNet-9 step script with o's shapes.
func torchBench(ctx context.Context, o benchOptions) (torchResult, error) {
	var r torchResult
	f, err := os.CreateTemp("", "speedrun-torch-*.py")
	if err != nil {
		return r, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(cpu.TorchResNet9Script); err != nil {
		f.Close()
		return r, err
	}
	if err := f.Close(); err != nil {
		return r, err
	}
	threads := kernels.Threads()
	cmd := exec.CommandContext(ctx, o.python, f.Name(), strconv.Itoa(o.batch), strconv.Itoa(o.steps), strconv.Itoa(o.warmup),
		strconv.FormatFloat(o.width, 'g', -1, 64), strconv.Itoa(threads), strconv.FormatUint(o.seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("%s: %w: %s", o.python, err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return r, fmt.Errorf("%s: output %q: %w", o.python, out, err)
	}
	return r, nil
}

func fmtSteps(s []float64) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.2f", v)
	}
	return out
}
