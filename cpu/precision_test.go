package cpu

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/data"
	"speedrun/model"
	"speedrun/train"
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

// TestBF16Operands trains ResNet-9 (whose convs feed BNs) and N3 with
// bf16 convolutions twice: with the convs' bf16 operands made in the
// graph (each conv's input converted by its conv.in_bf16 op and kept for
// the backward in bf16, and BN writing its input gradient in bf16 for the
// conv before it: compile's gradBF16), and with every operand float32 and
// the convs converting their own. The rounding is the same either way:
// the losses, the parameters after several steps and the eval logits
// must be the same bits.
func TestBF16Operands(t *testing.T) {
	if !kernels.HasBF16() {
		t.Skip("this CPU has no avx512_bf16: no bf16 convolutions, so no bf16 gradients")
	}
	for _, name := range []string{"resnet9", "final"} {
		spec, err := model.Build(testNet(name, 1.0/16))
		if err != nil {
			t.Fatal(err)
		}
		init, err := train.InitParams(backend.Request{Config: testConfig(8), Spec: spec, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		run := func(f32IO bool) ([]float64, [][]float32, map[string]int, []float32) {
			tr, err := newTrainerIO(spec, testConfig(8), 8, kernels.ConvOneDNNBF16, f32IO)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if err := tr.setParams(init); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			var losses []float64
			for range 4 {
				x, y := randBatch(rng, 8, 3*32*32, 10)
				loss, err := tr.Step(x, y, 0.4)
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, loss)
			}
			kinds := map[string]int{}
			for _, st := range tr.train[8].tape.steps {
				if b, ok := st.op.(interface{ isIn16(int) bool }); ok && (b.isIn16(0) || b.isIn16(1)) {
					kinds[fmt.Sprint(st.op)[:strings.Index(fmt.Sprint(st.op), "#")]]++
				}
			}
			var ps [][]float32
			for _, p := range tr.Params() {
				ps = append(ps, append([]float32(nil), p.Data...))
			}
			x, _ := randBatch(rng, 8, 3*32*32, 10)
			logits, err := tr.Eval(x, 8)
			if err != nil {
				t.Fatal(err)
			}
			return losses, ps, kinds, logits
		}
		l16, p16, k16, e16 := run(false)
		l32, p32, k32, e32 := run(true)
		if len(k32) != 0 || k16["conv"] == 0 || k16["conv.bwd_data"]+k16["conv.bwd_weights"] == 0 {
			t.Errorf("%s: ops reading bf16 operands: %v with them, %v without; want convs and their backward, and none", name, k16, k32)
		}
		t.Logf("%s: ops reading bf16 operands: %v", name, k16)
		for i := range e32 {
			if math.Float32bits(e16[i]) != math.Float32bits(e32[i]) {
				t.Fatalf("%s: eval logit %d = %v with bf16 operands, %v without", name, i, e16[i], e32[i])
			}
		}
		for i := range l32 {
			if l16[i] != l32[i] {
				t.Errorf("%s: step %d loss %v with bf16 operands, %v without", name, i, l16[i], l32[i])
			}
		}
		for i := range p32 {
			for j := range p32[i] {
				if math.Float32bits(p16[i][j]) != math.Float32bits(p32[i][j]) {
					t.Fatalf("%s: parameter %s[%d] = %v with bf16 operands, %v without", name, spec.Params[i].Name, j, p16[i][j], p32[i][j])
				}
			}
		}
	}
}

// TestBF16StepAllocs: a step with bf16 operands allocates as little as a
// float32 one (TestTrainerStepRuns' bound): the bf16 passes' checks and
// conversions allocate nothing.
func TestBF16StepAllocs(t *testing.T) {
	if !kernels.HasBF16() {
		t.Skip("this CPU has no avx512_bf16: no bf16 convolutions")
	}
	spec, err := model.Build(testNet("resnet9", 1.0/16))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTrainer(spec, testConfig(8), 8, kernels.ConvOneDNNBF16)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, y := randBatch(rand.New(rand.NewPCG(1, 2)), 8, 3*32*32, 10)
	var stepErr error
	step := func() {
		if _, err := tr.Step(x, y, 0.4); err != nil {
			stepErr = err
		}
	}
	step()
	allocs := testing.AllocsPerRun(5, step)
	if stepErr != nil {
		t.Fatal(stepErr)
	}
	if allocs > 8 {
		t.Errorf("%.0f heap allocations per bf16 step, want at most 8", allocs)
	}
}
