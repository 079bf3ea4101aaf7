package cpu

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/data"
	"speedrun/model"
)

// TestTrainPrecision trains the smoke net in f32 and in bf16, and in bf16
// on a CPU treated as lacking avx512_bf16: the run records what it trained
// in, the fallback says so once, and bf16 steps track the f32 ones to
// bf16's rounding (the first step's loss to 1%: rounding the operands to
// 8 significant bits moves a layer's outputs by ~0.3%).
func TestTrainPrecision(t *testing.T) {
	cfg := smokeConfig()
	cfg.Train.Epochs = 1
	set, err := data.Synthetic(data.SyntheticOptions{Train: 256, Test: 64, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := model.Build(cfg.Net)
	if err != nil {
		t.Fatal(err)
	}
	run := func(o Options, precision string) (backend.Result, *recorder) {
		t.Helper()
		b, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Train.Precision = precision
		rec := &recorder{}
		res, err := b.Train(context.Background(), backend.Request{Config: c, Spec: spec, Data: set, Seed: 3, Observer: rec})
		if err != nil {
			t.Fatal(err)
		}
		return res, rec
	}
	f32, rf := run(Options{}, "fp32")
	if f32.Precision != "f32" {
		t.Errorf("fp32 run trained in %q", f32.Precision)
	}
	if !kernels.HasBF16() {
		t.Log("this CPU has no avx512_bf16: only the fallback is tested")
	} else {
		bf, rb := run(Options{}, "fp16")
		if bf.Precision != "bf16" {
			t.Errorf("the blog's fp16 trained in %q on a CPU with avx512_bf16, want bf16", bf.Precision)
		}
		if d := math.Abs(rb.losses[0]-rf.losses[0]) / rf.losses[0]; d > 1e-2 || d == 0 {
			t.Errorf("first step loss bf16 %v, f32 %v (rel %.2g): want a bf16 rounding difference, under 1%%", rb.losses[0], rf.losses[0], d)
		}
		forced, _ := run(Options{Precision: "bf16"}, "fp32")
		if forced.Precision != "bf16" {
			t.Errorf("Options.Precision bf16 trained in %q", forced.Precision)
		}
	}
	var log bytes.Buffer
	b, err := New(Options{NoBF16: true, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c := cfg
		c.Train.Precision = "bf16"
		res, err := b.Train(context.Background(), backend.Request{Config: c, Spec: spec, Data: set, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if res.Precision != "f32" || res.Epochs[0].TrainLoss != f32.Epochs[0].TrainLoss {
			t.Errorf("fallback: precision %q, loss %v; want f32 and the f32 run's %v", res.Precision, res.Epochs[0].TrainLoss, f32.Epochs[0].TrainLoss)
		}
	}
	if n := strings.Count(log.String(), "no avx512_bf16"); n != 1 {
		t.Errorf("the fallback was logged %d times, want once:\n%s", n, log.String())
	}
	if _, err := New(Options{Precision: "fp8"}); err == nil {
		t.Error("precision fp8 accepted")
	}
}
