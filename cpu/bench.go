package cpu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"syscall"
	"time"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// OpTime is the time spent in one kind of Op (forward or backward) over
// the profiled steps.
type OpTime struct {
	Kind  string
	Total time.Duration
	Calls int
}

// OpTimes returns the time per Op kind since the last ResetOpTimes,
// largest first.
func (t *Trainer) OpTimes() []OpTime {
	var out []OpTime
	for k, d := range t.prof.t {
		out = append(out, OpTime{Kind: k, Total: d, Calls: t.prof.calls[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

// ResetOpTimes clears the per-Op profile.
func (t *Trainer) ResetOpTimes() { t.prof.reset() }

// BenchOptions configure a training-step benchmark on random data.
type BenchOptions struct {
	Net    model.Net
	Batch  int
	Warmup int // untimed steps first (heap growth, page faults)
	Steps  int // timed steps
	Seed   uint64
	// Precision of the convolutions: "f32" (or empty) or "bf16"; bf16 on
	// a CPU without avx512_bf16 runs f32 (BenchResult.Precision says).
	Precision string
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Spec          *model.Spec
	StepSeconds   []float64 // per timed step
	ImagesPerSec  float64   // batch / median step time
	GFLOPPerImage float64   // conv + linear, forward + 2 backward passes
	Ops           []OpTime  // over the timed steps
	OpsTotal      time.Duration
	CPUSeconds    float64 // process CPU time (user+sys) over the timed steps
	AllocsPerStep float64 // heap allocations per timed step
	BytesPerStep  float64
	PeakRSSBytes  int64
	// ArenaBytes is the activation memory: the arena every graph of the
	// trainer shares (plan.go), the largest part of PeakRSSBytes.
	ArenaBytes int64
	Precision  string // what the convolutions ran in: "f32" or "bf16"
}

// Bench times training steps (forward, backward, optimizer) of o.Net at
// o.Batch on random normal images with random labels.
func Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	var res BenchResult
	if o.Batch <= 0 || o.Steps <= 0 || o.Warmup < 0 {
		return res, fmt.Errorf("cpu: bench: batch %d, steps %d, warmup %d: want batch, steps > 0", o.Batch, o.Steps, o.Warmup)
	}
	spec, err := model.Build(o.Net)
	if err != nil {
		return res, fmt.Errorf("cpu: bench: %w", err)
	}
	res.Spec = spec
	res.GFLOPPerImage = float64(6*spec.ForwardMACs()) / 1e9
	cfg := stages.Config{Net: o.Net, Train: stages.Train{BatchSize: o.Batch, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, Optimizer: "sgd"}}
	conv := kernels.ConvAuto
	res.Precision = "f32"
	switch o.Precision {
	case "", "f32":
	case "bf16":
		if kernels.HasBF16() {
			conv, res.Precision = kernels.ConvOneDNNBF16, "bf16"
		}
	default:
		return res, fmt.Errorf("cpu: bench: precision %q: want f32 or bf16", o.Precision)
	}
	tr, err := newTrainer(spec, cfg, o.Batch, conv)
	if err != nil {
		return res, err
	}
	params, err := train.InitParams(backend.Request{Config: cfg, Spec: spec, Seed: o.Seed})
	if err == nil {
		err = tr.setParams(params)
	}
	if err != nil {
		tr.Close()
		return res, err
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(o.Seed, 0xbe7c))
	x := make([]float32, o.Batch*tr.inputLen())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, o.Batch)
	for i := range y {
		y[i] = int32(rng.IntN(spec.Classes))
	}
	for range o.Warmup {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("cpu: bench: %w", err)
		}
		if _, err := tr.Step(x, y, 0.1); err != nil {
			return res, err
		}
	}
	tr.ResetOpTimes()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	for range o.Steps {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("cpu: bench: %w", err)
		}
		t0 := time.Now()
		if _, err := tr.Step(x, y, 0.1); err != nil {
			return res, err
		}
		res.StepSeconds = append(res.StepSeconds, time.Since(t0).Seconds())
	}
	res.CPUSeconds = cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	res.AllocsPerStep = float64(m1.Mallocs-m0.Mallocs) / float64(o.Steps)
	res.BytesPerStep = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(o.Steps)
	res.Ops = tr.OpTimes()
	for _, op := range res.Ops {
		res.OpsTotal += op.Total
	}
	res.ImagesPerSec = float64(o.Batch) / median(res.StepSeconds)
	res.PeakRSSBytes = train.PeakRSS()
	res.ArenaBytes = tr.arena.bytes()
	return res, nil
}

// cpuTime is the process's user+sys CPU time in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
