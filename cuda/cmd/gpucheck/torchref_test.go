package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const python = "/usr/bin/python3"

// torchPython skips unless Debian's python3 can import torch.
func torchPython(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the PyTorch reference smoke test (python3 with torch)")
	}
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		t.Skipf("%s cannot import torch (%v): skipping the PyTorch reference smoke test", python, err)
	}
}

var script = filepath.Join("..", "..", "..", "bench", "torch_p8_reference.py")

// runPython runs python with args and returns its stdout; a failure
// prints its stderr.
func runPython(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(python, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("smoke run: %v\n%s", err, stderr.String())
	}
	return out
}

func TestTorchReferenceSmoke(t *testing.T) {
	torchPython(t)
	args := []string{script, "--smoke", "--seeds", "3"}
	shared := os.Getenv("SPEEDRUN_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "..", "shared")
	}
	mini := filepath.Join(shared, "data", "cifar-10-mini")
	if _, err := os.Stat(filepath.Join(mini, "test_batch.bin")); err == nil {
		args = append(args, "--data", mini)
	} else {
		t.Logf("no %s: smoke run on synthetic data", mini)
	}
	out := runPython(t, args...)
	var r struct {
		Seed          int                             `json:"seed"`
		StepsPerEpoch int                             `json:"steps_per_epoch"`
		Epochs        int                             `json:"epochs"`
		TrainSeconds  float64                         `json:"train_seconds"`
		TestAcc       float64                         `json:"test_acc_ema"`
		TTAAcc        float64                         `json:"tta_acc_ema"`
		TestLoss      float64                         `json:"test_loss_ema"`
		Params        struct{ Trainable, Frozen int } `json:"full_width_params"`
		Log           []struct {
			Epoch     int     `json:"epoch"`
			LR        float64 `json:"lr"`
			TrainLoss float64 `json:"train_loss"`
		} `json:"epochs_log"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if r.Seed != 3 || r.Epochs != 3 || r.StepsPerEpoch != 2 || len(r.Log) != 3 {
		t.Errorf("run shape: %+v", r)
	}
	// The N3 net must have the blog's parameter count (blog-stages.md §1
	// N3: 6,570,880 trainable; the 729 whitening weights and the 2,240
	// frozen BN scales are not).
	if r.Params.Trainable != 6570880 || r.Params.Frozen != 729+2240 {
		t.Errorf("N3 params %+v, want 6570880 trainable and 2969 frozen", r.Params)
	}
	for _, e := range r.Log {
		// Summed label-smoothed CE per example starts near ln 10.
		if math.IsNaN(e.TrainLoss) || e.TrainLoss < 0.5 || e.TrainLoss > 5 {
			t.Errorf("epoch %d train loss %v", e.Epoch, e.TrainLoss)
		}
	}
	// Knots (0,0)(0.6,1)(1,0.1) for 3 epochs: held at 0.1 after epoch 1.
	if last := r.Log[len(r.Log)-1].LR; math.Abs(last-0.1) > 1e-9 {
		t.Errorf("final lr %v, want 0.1", last)
	}
	for _, a := range []float64{r.TestAcc, r.TTAAcc} {
		if a < 0 || a > 1 {
			t.Errorf("accuracy %v outside [0, 1]", a)
		}
	}
	if math.IsNaN(r.TestLoss) || r.TrainSeconds <= 0 {
		t.Errorf("test loss %v, train seconds %v", r.TestLoss, r.TrainSeconds)
	}
}

// bench/torch_airbench_reference.py, stage 10's PyTorch peer, runs both
// recipes end to end on the CPU at smoke scale (width 1/16, 256 images, 2
// epochs of batch 64): its output has the run's shape, and its steps
// follow the fractional-epoch rule, ceil(steps per epoch x epochs).
func TestTorchAirbenchReferenceSmoke(t *testing.T) {
	torchPython(t)
	for _, recipe := range []string{"airbench94", "muon"} {
		t.Run(recipe, func(t *testing.T) {
			script := filepath.Join("..", "..", "..", "bench", "torch_airbench_reference.py")
			out := runPython(t, script, "--smoke", "--recipe", recipe, "--seeds", "2", "--dtype", "fp32")
			var r struct {
				Recipe      string  `json:"recipe"`
				Seed        int     `json:"seed"`
				TrainImages int     `json:"train_images"`
				TestImages  int     `json:"test_images"`
				Batch       int     `json:"batch"`
				Epochs      float64 `json:"epochs"`
				Steps       int     `json:"steps"`
				TestAcc     float64 `json:"test_acc"`
				TTAAcc      float64 `json:"tta_acc"`
				Airbench    float64 `json:"airbench_seconds"`
				Log         []struct {
					TrainLoss float64 `json:"train_loss"`
				} `json:"epochs_log"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%q: %v", out, err)
			}
			if r.Recipe != recipe || r.Seed != 2 || r.TrainImages != 256 || r.TestImages != 100 || r.Batch != 64 || r.Epochs != 2 {
				t.Errorf("run shape: %+v", r)
			}
			if want := int(math.Ceil(float64(r.TrainImages/r.Batch) * r.Epochs)); r.Steps != want || len(r.Log) != 2 {
				t.Errorf("%d steps over %d epochs logged, want %d steps over 2", r.Steps, len(r.Log), want)
			}
			for _, e := range r.Log {
				if math.IsNaN(e.TrainLoss) || e.TrainLoss <= 0 || e.TrainLoss > 5 {
					t.Errorf("train loss %v", e.TrainLoss)
				}
			}
			if !(r.TestAcc >= 0 && r.TestAcc <= 1 && r.TTAAcc >= 0 && r.TTAAcc <= 1 && r.Airbench > 0) {
				t.Errorf("accuracies %v, %v and time %v", r.TestAcc, r.TTAAcc, r.Airbench)
			}
		})
	}
}
