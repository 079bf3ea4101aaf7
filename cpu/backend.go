package cpu

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"speedrun/cpu/kernels"
	"speedrun/stages"
	"speedrun/train"
)

// Options configure the backend.
type Options struct {
	// Threads for the kernels (0: leave the kernels' default).
	Threads int
	// Precision forces the convolutions' number format: "f32" or "bf16"
	// (empty: each run's train.precision, train.ReducedPrecision).
	Precision string
	// NoBF16 treats the CPU as one without avx512_bf16 (tests of the
	// fallback).
	NoBF16 bool
	// Log hears the once-per-process notes (bf16 asked for on a CPU
	// without it); nil discards them.
	Log *slog.Logger
}

// Backend is the CPU backend.Backend.
type Backend struct {
	opts     Options
	device   string
	fallback sync.Once // the bf16 fallback note, said once
	// probeConvs are the frozen-model passes' convolutions by shape
	// (vjp.go), made once: building a oneDNN primitive costs more than
	// running it on a small batch, and E7.8 runs thousands of passes over
	// a handful of shapes. They live as long as the Backend.
	probeConvs convCache
}

// New returns a CPU backend.
func New(opts Options) (*Backend, error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("cpu: threads %d: must be >= 0", opts.Threads)
	}
	switch opts.Precision {
	case "", "f32", "bf16":
	default:
		return nil, fmt.Errorf("cpu: precision %q: want f32 or bf16", opts.Precision)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Backend{opts: opts, device: cpuModel()}, nil
}

// Name is "cpu".
func (b *Backend) Name() string { return "cpu" }

// Device is the CPU model from /proc/cpuinfo.
func (b *Backend) Device() string { return b.device }

// Versions names the kernel libraries loaded (runner.Versioner), recorded
// in every run's provenance.
func (b *Backend) Versions() string { return kernels.Versions() }

// cpuModel reads the first "model name" of /proc/cpuinfo, with its "cpu
// family" and "model" numbers: a VM may hide the name ("AMD EPYC"), and
// the family tells Zen 4 (25) from Zen 5 (26), whose FMA peaks differ 2x.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, seen := fields[k]; !seen {
			fields[k] = strings.TrimSpace(v)
		}
		if k == "processor" && len(fields) > 1 {
			break // the first CPU's fields are all there is to read
		}
	}
	name := fields["model name"]
	if name == "" {
		return "unknown CPU"
	}
	if fam, m := fields["cpu family"], fields["model"]; fam != "" {
		name += fmt.Sprintf(" (family %s, model %s)", fam, m)
	}
	return name
}

// convLib picks the convolutions of a run and names their precision:
// oneDNN in bf16 where the run asks for reduced precision
// (train.ReducedPrecision, or Options.Precision) and the CPU has
// avx512_bf16, fp32 otherwise. A run that asks for bf16 on a CPU without
// it trains in fp32, which the log says once per process and the run
// records.
func (b *Backend) convLib(cfg stages.Config) (kernels.ConvLib, string) {
	want := train.ReducedPrecision(cfg.Train)
	switch b.opts.Precision {
	case "f32":
		want = false
	case "bf16":
		want = true
	}
	if !want {
		return kernels.ConvAuto, "f32"
	}
	if b.opts.NoBF16 || !kernels.HasBF16() {
		b.fallback.Do(func() {
			b.opts.Log.Info("cpu: bf16 asked for, training in f32: this CPU has no avx512_bf16")
		})
		return kernels.ConvAuto, "f32"
	}
	return kernels.ConvOneDNNBF16, "bf16"
}
