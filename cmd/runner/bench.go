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
	"time"

	"speedrun/cpu"
	"speedrun/cpu/kernels"
	"speedrun/model"
)

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
	prec    string
}

func benchCommand() *command {
	return &command{
		UsageLine: "runner bench [--net NAME] [--batch B] [--steps N] [--warmup N] [--width W] [--threads N] [--precision f32|bf16] [--torch]",
		Short:     "time CPU training steps: images/s, peak RSS, per-op profile, fraction of peak",
		Long: `
Bench times training steps of one network on the CPU engine with a random
batch, after untimed warm-up steps, and prints images per second (wall and
per CPU-second), the GFLOP per image and the fraction of the machine's
fp32 FMA peak, measured in the same run unless --peak gives it, the peak
RSS and heap allocations per step, and where the time goes, op by op.
--precision bf16 runs the convolutions in bf16 (oneDNN, fp32
accumulation) where the CPU has avx512_bf16. With --torch it also times
PyTorch's step of the same net, resnet9 or final (channels_last, the same shapes and threads), in
fp32 and in bf16 autocast in the same run and prints both ratios; that
needs a python with torch (--python).

Example:

	runner bench --net resnet9 --batch 128 --precision bf16 --torch

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
			fs.Float64Var(&o.peak, "peak", 0, "machine FMA peak in `GFLOP/s` for the fraction of peak (0: measure it in this run)")
			fs.BoolVar(&o.torch, "torch", false, "also time PyTorch's step of the same net (resnet9 or final) (channels_last, fp32 and bf16 autocast) in the same run and print the ratios")
			fs.StringVar(&o.prec, "precision", "f32", "convolutions in `f32` or bf16 (bf16 needs avx512_bf16; elsewhere it runs f32 and says so)")
			fs.StringVar(&o.python, "python", "/usr/bin/python3", "python with torch, for --torch")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				if o.batch <= 0 || o.steps <= 0 || o.warmup < 0 || !(o.width > 0) || o.peak < 0 {
					return usageErr(fmt.Errorf("--batch %d, --steps %d, --warmup %d, --width %v, --peak %v: want positive values (warmup and peak >= 0)", o.batch, o.steps, o.warmup, o.width, o.peak))
				}
				if o.prec != "f32" && o.prec != "bf16" {
					return usageErr(fmt.Errorf("--precision %q: want f32 or bf16", o.prec))
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
	case "airbench94": // as stage 10's airbench94
		n.FreezeBNScale, n.BNEps, n.BNMomentum, n.Dirac = true, 1e-12, 0.4, true
		n.Act, n.Order, n.ClassifierScale = "gelu", "conv-pool-bn-act", 1.0/9
		n.Whiten, n.WhitenEps, n.WhitenImages = true, 5e-4, 5000
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
	peak, peakNote := o.peak, "given"
	if peak == 0 {
		var err error
		if peak, peakNote, err = measurePeak(w); err != nil {
			return err
		}
	}
	r, err := cpu.Bench(ctx, cpu.BenchOptions{Net: net, Batch: o.batch, Warmup: o.warmup, Steps: o.steps, Seed: o.seed, Precision: o.prec})
	if err != nil {
		return err
	}
	gflops := r.ImagesPerSec * r.GFLOPPerImage
	fmt.Fprintf(w, "net %s width %g batch %d: %d timed steps after %d warm-up, kernel threads %d, convolutions in %s\n", o.net, o.width, o.batch, o.steps, o.warmup, kernels.Threads(), r.Precision)
	if r.Precision != o.prec {
		fmt.Fprintf(w, "note: --precision %s asked for, but this CPU has no avx512_bf16: ran %s\n", o.prec, r.Precision)
	}
	fmt.Fprintf(w, "training: %.2f images/s (median step %.3f s; steps %s)\n", r.ImagesPerSec, float64(o.batch)/r.ImagesPerSec, fmtSteps(r.StepSeconds))
	cpuPerStep := r.CPUSeconds / float64(o.steps)
	// CPU time is less sensitive than wall time to other tenants, though
	// spinning worker threads count in it too.
	fmt.Fprintf(w, "cpu time: %.3f CPU-s per step = %.2f images per CPU-second\n", cpuPerStep, float64(o.batch)/cpuPerStep)
	// The count includes the padding taps, which oneDNN's direct conv
	// skips (86.6% of the taps are real for ResNet-9), so the nominal
	// fraction can pass 100%.
	fmt.Fprintf(w, "compute: %.4f GFLOP per training image (conv+linear, 3 passes, padding taps included) = %.1f GFLOP/s = %.1f%% of the %.1f GFLOP/s fp32 FMA peak (%s; nominal)\n", r.GFLOPPerImage, gflops, 100*gflops/peak, peak, peakNote)
	fmt.Fprintf(w, "memory: peak RSS %.2f GiB (activations %.2f GiB); %.0f heap allocations (%.1f KiB) per step\n", float64(r.PeakRSSBytes)/(1<<30), float64(r.ArenaBytes)/(1<<30), r.AllocsPerStep, r.BytesPerStep/1024)
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
	if o.net != "resnet9" && o.net != "final" {
		return usageErr(fmt.Errorf("--torch compares resnet9 and final (N3) only, not %q", o.net))
	}
	perCPU := float64(o.batch) / cpuPerStep
	for _, prec := range []string{"f32", "bf16"} {
		tr, err := torchBench(ctx, o, prec)
		if err != nil {
			return fmt.Errorf("--torch %s: %w", prec, err)
		}
		torchPerCPU := float64(o.batch) * float64(len(tr.StepSeconds)) / tr.CPUSeconds
		fmt.Fprintf(w, "pytorch %s %s %s (%d threads, channels_last), same shapes in this run: %.2f images/s (steps %s), %.2f images per CPU-second; speedrun %s / pytorch %s = %.2f (per CPU-second %.2f)\n",
			tr.Torch, o.net, torchMode(prec), tr.Threads, tr.ImagesPerSec, fmtSteps(tr.StepSeconds), torchPerCPU, r.Precision, prec, r.ImagesPerSec/tr.ImagesPerSec, perCPU/torchPerCPU)
		if tr.PeakRSS > 0 {
			fmt.Fprintf(w, "pytorch %s peak RSS %.2f GiB (the python process); speedrun / pytorch = %.2f\n",
				torchMode(prec), float64(tr.PeakRSS)/(1<<30), float64(r.PeakRSSBytes)/float64(tr.PeakRSS))
		}
	}
	return nil
}

// torchMode names a PyTorch precision as the bench prints it.
func torchMode(prec string) string {
	if prec == "bf16" {
		return "bf16 autocast"
	}
	return "fp32"
}

// measurePeak measures the fp32 FMA peak on the kernels' threads, 512-bit
// and 256-bit where the CPU has them, prints both and returns the larger.
func measurePeak(w io.Writer) (float64, string, error) {
	threads := kernels.Threads()
	best, note := 0.0, ""
	for _, bits := range []int{512, 256} {
		gf, err := kernels.FMAPeak(threads, bits, 600*time.Millisecond)
		if err != nil {
			fmt.Fprintf(w, "fma peak %d-bit: %v\n", bits, err)
			continue
		}
		fmt.Fprintf(w, "fma peak %d-bit, %d threads, measured now: %.1f GFLOP/s\n", bits, threads, gf)
		if gf > best {
			best, note = gf, fmt.Sprintf("%d-bit, measured now", bits)
		}
	}
	if best == 0 {
		return 0, "", fmt.Errorf("no FMA peak could be measured: give --peak")
	}
	return best, note, nil
}

// torchResult is the JSON line of cpu.TorchResNet9Script.
type torchResult struct {
	ImagesPerSec float64   `json:"images_per_sec"`
	StepSeconds  []float64 `json:"step_seconds"`
	Torch        string    `json:"torch"`
	Threads      int       `json:"threads"`
	CPUSeconds   float64   `json:"cpu_seconds"`
	Precision    string    `json:"precision"`
	// PeakRSS is the python process's peak resident set in bytes, its
	// VmHWM: the whole process, as our own peak RSS is. Not the child's
	// rusage: Go starts children with a clone that shares our memory, and
	// Linux carries that address space's high-water mark into ru_maxrss on
	// execve, so it read our own peak whenever ours was the larger.
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// torchBench runs the PyTorch step script (resnet9 or final) with o's shapes in
// precision prec ("f32", or "bf16" autocast).
func torchBench(ctx context.Context, o benchOptions, prec string) (torchResult, error) {
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
		strconv.FormatFloat(o.width, 'g', -1, 64), strconv.Itoa(threads), strconv.FormatUint(o.seed, 10), prec, o.net)
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
