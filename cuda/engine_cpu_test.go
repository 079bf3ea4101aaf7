//go:build cgo

// The CPU engine needs cgo (oneDNN, OpenBLAS); the CGO_ENABLED=0 vet of
// this package (TestBuildsWithoutCgo) leaves these comparisons out.

package cuda

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/cuda/driver"
	"speedrun/cuda/internal/fakecuda"
	"speedrun/cuda/launch"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// hostBackend is a Backend on the fake libraries whose engines run the
// kernels' host build, with BN reductions split into chunks of 5 rows
// (minChunk 5; 0: the engine's chunking, whole at these batch sizes).
func hostBackend(t *testing.T, prec string, minChunk int) (*Backend, *hostRun) {
	t.Helper()
	h := loadHostRun(t)
	o := fakeOpts(fakecuda.Dir(t))
	o.Precision = prec
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.hook = h.hook(t, minChunk)
	return b, h
}

// The engine's training steps match the CPU engine's on the same batches:
// loss, correct count, every parameter and every BN running statistic,
// in fp32 (tight) and bf16 (loose: activations rounded to 8 bits).
func TestEngineStepsMatchCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the engine emulation takes a few seconds")
	}
	for _, tc := range []struct {
		stage   int
		variant string
		prec    launch.Prec
		trainN  int
		tol     float64
		chunk   int // BN reductions' least chunk (hostBackend)
	}{
		{8, "p8.s10", launch.F32, 24, 1e-5, 0},
		// The same with BN sums over chunks of rows, as at full scale.
		{8, "p8.s10", launch.F32, 24, 1e-5, 5},
		// 28 = 3 x 8 + 4: a short last batch. Its layer1.pool has 44
		// windows within 1e-5 of a tie; chunked sums round differently
		// from the CPU's, which flips some and moves early weights by
		// 1e-2 (seen with 28 examples, not 20, 36 or 44): unchunked here.
		{4, "p4.s10", launch.F32, 28, 1e-5, 0},
		{8, "p8.s10", launch.BF16, 24, 1e-2, 0},
		// The other networks: DAWNBench's ResNet-18 (global mean and max
		// pools, concat, linear bias), p8.s2a (ReLU after the pool, not
		// fused), post 7's simple net with and without BN (4x4 pool, an
		// input scale, a conv head).
		{1, "p1.s0", launch.F32, 20, 1e-5, 5},
		{1, "p1.s2", launch.F32, 20, 1e-5, 5},
		{4, "p4.s5", launch.F32, 20, 1e-5, 5},
		{8, "p8.s2a", launch.F32, 20, 1e-5, 5},
		{7, "p7.e1.bn", launch.F32, 20, 1e-5, 5},
		{7, "p7.e1.nobn", launch.F32, 20, 1e-5, 5},
		// At the test's boosted LR this net's loss climbs to ~11 by step
		// 3 on both engines, which magnifies bf16 rounding (4% seen).
		{1, "p1.s2", launch.BF16, 20, 5e-2, 5},
		{7, "p7.e1.bn", launch.BF16, 20, 1e-2, 5},
		// Stage 10: the airbench94 net (2x2 whitening conv with a bias,
		// GELU, floored pools, BN eps 1e-12), without its whitening (a
		// learnable first conv and its BN), and Muon on the filters (fp32
		// Newton-Schulz on both sides in f32, whose cubic iterations
		// magnify the GEMMs' different summation orders: 1.1e-3 seen on a
		// running mean after 3 steps; bf16 GEMMs in bf16, where the loss
		// of the boosted-LR third step differed by 4.9%).
		{10, "airbench94", launch.F32, 24, 1e-5, 5},
		{10, "ab.s0", launch.F32, 24, 1e-5, 5},
		{10, "airbench94_muon", launch.F32, 24, 3e-5, 5},
		{10, "airbench94", launch.BF16, 24, 8e-2, 5},
		{10, "airbench94_muon", launch.BF16, 24, 8e-2, 5},
	} {
		t.Run(fmt.Sprintf("%s/%s/chunk%d", tc.variant, tc.prec, tc.chunk), func(t *testing.T) {
			cfg, spec := tinyConfig(t, tc.stage, tc.variant, tc.trainN, 8)
			set := synthetic(t, tc.trainN, 8)
			b, _ := hostBackend(t, tc.prec.String(), tc.chunk)
			req := backend.Request{Config: cfg, Spec: spec, Data: set, Seed: 7}
			su, err := train.NewSetup(cfg, spec, set)
			if err != nil {
				t.Fatal(err)
			}
			prep, err := data.Prepare(set, su.Pad)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := cpu.NewTrainer(spec, cfg, req.Seed, cfg.Train.BatchSize)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			loader, err := data.NewLoader(prep, su.Batch, cfg.Train.DropLast)
			if err != nil {
				t.Fatal(err)
			}
			params, err := train.InitParams(req)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Do(context.Background(), func() error {
				e, err := openEngine(b, su, tc.prec)
				if err != nil {
					return err
				}
				defer e.close()
				if err := e.Load(set); err != nil {
					return err
				}
				// The device's preprocessing is data.Prepare's, bit for bit
				// (test images padded for shifted TTA views are left to
				// TestAirbenchTrainMatchesCPU's TTA accuracy).
				for _, c := range []struct {
					name      string
					got, want []float32
				}{{"training images", make([]float32, len(prep.Train)), prep.Train}, {"test images", make([]float32, len(prep.Test)), prep.Test}} {
					src := e.trainImages
					if c.name == "test images" {
						if e.testPad > 0 {
							continue
						}
						src = e.testImages
					}
					if err := driver.CopyDtoH(e.drv, c.got, src); err != nil {
						return err
					}
					if d := relDiff(c.got, c.want); d != 0 {
						t.Errorf("prepared %s differ from data.Prepare's by %g", c.name, d)
					}
				}
				// The whitening filters come from the data: the device's
				// must equal the host's; both engines then start from them.
				for _, p := range spec.Params {
					if p.Init != model.InitWhiten {
						continue
					}
					n, k := min(cfg.Net.WhitenImages, prep.TrainLen()), p.Shape[3]
					want, err := data.WhiteningFiltersK(prep, n, k, cfg.Net.WhitenEps)
					if err != nil {
						return err
					}
					got, err := e.Whitening(n, k, cfg.Net.WhitenEps)
					if err != nil {
						return err
					}
					if d := relDiff(got, want); d > 1e-5 {
						t.Errorf("%dx%d whitening filters differ from the host's by %g", k, k, d)
					}
				}
				if err := train.Whiten(e, spec, cfg.Net, su.TrainN, params); err != nil {
					return err
				}
				for i, p := range tr.Params() {
					if spec.Params[i].Init == model.InitWhiten {
						copy(p.Data, params[i])
					}
				}
				if err := e.Start(params); err != nil {
					return err
				}
				// Start leaves the initial parameters, in PyTorch layouts.
				start, err := e.downloadParams()
				if err != nil {
					return err
				}
				for i, p := range tr.Params() {
					if d := relDiff(start[i], p.Data); d != 0 {
						t.Errorf("after Start, %s differs from the CPU engine's by %g", p.Name, d)
					}
				}
				plan, err := data.NewEpochPlan(su.Augment, su.Pad, su.TrainN)
				if err != nil {
					return err
				}
				plan.Draw(req.Seed, 1)
				if err := e.Epoch(context.Background(), plan); err != nil {
					return err
				}
				rates := make([]train.Rate, len(su.Optimizer.Groups))
				var res []train.StepResult
				for batch, err := range loader.Epoch(context.Background(), plan) {
					if err != nil {
						return err
					}
					lr := stages.InterpLR(cfg.Train.LR, stages.StepEpoch(cfg.Train.Schedule, 1, batch.Index, su.Steps)) + 0.2
					loss, err := tr.Step(batch.X, batch.Y, lr)
					if err != nil {
						return err
					}
					su.Optimizer.Rates(lr, rates)
					if err := e.Step(batch.Index, batch.N, rates); err != nil {
						return err
					}
					if res, err = e.Results(res[:0]); err != nil {
						return err
					}
					got := res[0].Loss
					if d := math.Abs(got-loss) / math.Abs(loss); d > tc.tol {
						t.Errorf("step %d (batch %d): loss %v, CPU %v (rel %.2g)", batch.Index, batch.N, got, loss, d)
					}
				}
				nSteps := su.Steps
				got, err := e.downloadParams()
				if err != nil {
					return err
				}
				if tc.prec == launch.BF16 {
					// bf16 storage perturbs these tiny nets' gradients by
					// tens of percent (rounding only the input images to
					// bf16 in the CPU engine gives per-parameter update
					// cosines from -0.2 to 0.97), so compare the direction
					// of the whole update, which a layout, offset or sign
					// error would scramble, and the losses above.
					var all, cpuAll, init []float32
					for i, p := range tr.Params() {
						all, cpuAll, init = append(all, got[i]...), append(cpuAll, p.Data...), append(init, start[i]...)
					}
					c := cosine(all, cpuAll, init)
					t.Logf("bf16: cosine of the whole update with the CPU engine's: %.3f", c)
					// Observed 0.5-0.78 here; a scrambled layout gives ~0.
					if c < 0.3 {
						t.Errorf("after %d steps, the bf16 update has cosine %.3f with the CPU engine's", nSteps, c)
					}
					return nil
				}
				for i, p := range tr.Params() {
					if d := relDiff(got[i], p.Data); d > tc.tol*100 || math.IsNaN(d) {
						t.Errorf("after %d steps, %s differs from the CPU engine's by %.3g (relative to its max)", nSteps, p.Name, d)
					}
				}
				stats, err := e.downloadStats()
				if err != nil {
					return err
				}
				for i, s := range tr.BNStats() {
					if d := relDiff(stats[i], s.Data); d > tc.tol*100 || math.IsNaN(d) {
						t.Errorf("after %d steps, %s differs from the CPU engine's by %.3g", nSteps, s.Name, d)
					}
				}
				// Every test view (airbench's six: the device crops them
				// from the test images padded by 1) gives the eval-mode
				// logits of the CPU engine on data.RenderView's images, to
				// the drift of the weights and running stats above (2e-3
				// seen; a wrong crop or mirror is off by O(1)).
				k := spec.Classes
				for _, v := range su.Views {
					got := make([]float32, su.TestN*k)
					if err := e.Logits(false, v, got); err != nil {
						return err
					}
					x := make([]float32, len(prep.Test))
					data.RenderView(x, prep.Test, su.TestN, v)
					want, err := tr.Eval(x, su.TestN)
					if err != nil {
						return err
					}
					if d := relDiff(got, want); d > 1e-2 || math.IsNaN(d) {
						t.Errorf("view %+v: logits differ from the CPU engine's by %.3g", v, d)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// cosine is the cosine between the updates a-w0 and b-w0 (1 when both
// are zero: a frozen parameter).
func cosine(a, b, w0 []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]-w0[i]), float64(b[i]-w0[i])
		ab, aa, bb = ab+x*y, aa+x*x, bb+y*y
	}
	if aa == 0 && bb == 0 {
		return 1
	}
	return ab / math.Sqrt(aa*bb)
}

// recorder is an Observer that keeps everything.
type recorder struct {
	steps  []int
	losses []float64
	epochs []backend.Epoch
}

func (r *recorder) Step(k, total int, loss float64) {
	r.steps = append(r.steps, k)
	r.losses = append(r.losses, loss)
}
func (r *recorder) Epoch(e backend.Epoch)      { r.epochs = append(r.epochs, e) }
func (r *recorder) Layers([]backend.LayerStat) {}

// A whole run through Backend.Train (EMA, TTA, per-epoch evaluation)
// against the CPU engine's run of the same request.
func TestTrainMatchesCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the engine emulation takes a few seconds")
	}
	cfg, spec := tinyConfig(t, 8, "p8.s10", 32, 20) // 20 = 2 x 8 + 4: a short eval batch
	cfg.Train.Epochs = 2
	cfg.Train.EMAEvery = 2
	set := synthetic(t, 32, 20)
	req := backend.Request{Config: cfg, Spec: spec, Data: set, Seed: 9}
	b, h := hostBackend(t, "f32", 5)
	var logged bytes.Buffer
	b.log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var rg recorder
	req.Observer = &rg
	got, err := b.Train(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// Every conv's chosen algorithms are logged, at the training batch.
	for _, l := range spec.Layers {
		if l.Conv != nil && !strings.Contains(logged.String(), fmt.Sprintf("layer=%s batch=8 fwd=", l.Name)) {
			t.Errorf("no algorithm line for conv %s in the log:\n%s", l.Name, logged.String())
		}
	}
	cb, err := cpu.New(cpu.Options{Precision: "f32"}) // as the GPU side (hostBackend "f32")
	if err != nil {
		t.Fatal(err)
	}
	var rc recorder
	req.Observer = &rc
	want, err := cb.Train(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Epochs) != 2 || len(rg.epochs) != 2 || len(rg.steps) != 2*4 || rg.steps[7] != 8 {
		t.Fatalf("epochs %d, observed %d epochs and steps %v", len(got.Epochs), len(rg.epochs), rg.steps)
	}
	// The steps agree to float rounding at first; at this tiny net's peak
	// LR (lambda 1, BN biases x64) differences then grow about tenfold a
	// step (maxpool near-ties flip), so later steps are compared loosely.
	for i := range rg.losses {
		tol := 1e-5
		if i >= 4 {
			tol = 1e-2
		}
		if d := math.Abs(rg.losses[i]-rc.losses[i]) / rc.losses[i]; d > tol {
			t.Errorf("step %d: loss %.6f, CPU %.6f", rg.steps[i], rg.losses[i], rc.losses[i])
		}
	}
	for i, g := range got.Epochs {
		w := want.Epochs[i]
		t.Logf("epoch %d: GPU loss %.5f acc %.3f test %.5f/%.3f; CPU %.5f %.3f %.5f/%.3f", g.Epoch, g.TrainLoss, g.TrainAcc, g.TestLoss, g.TestAcc, w.TrainLoss, w.TrainAcc, w.TestLoss, w.TestAcc)
		tol := 1e-5
		if i > 0 {
			tol = 1e-2
		}
		if math.Abs(g.TrainLoss-w.TrainLoss) > tol*w.TrainLoss || math.Abs(g.TestLoss-w.TestLoss) > tol*w.TestLoss ||
			g.LR != w.LR || math.Abs(g.TestAcc-w.TestAcc) > 1.5/20 || (i == 0 && (g.TestAcc != w.TestAcc || g.TrainAcc != w.TrainAcc)) {
			t.Errorf("epoch %d: GPU %+v, CPU %+v", g.Epoch, g, w)
		}
	}
	if math.IsNaN(got.TTAAcc) || math.Abs(got.TTAAcc-want.TTAAcc) > 1.5/20 || got.Diverged {
		t.Errorf("TTA %v (CPU %v), diverged %v", got.TTAAcc, want.TTAAcc, got.Diverged)
	}
	// The fake events advance 1.5 ms per record: a time was measured.
	if got.TrainSeconds <= 0 || got.EvalSeconds <= 0 || got.PreprocessSeconds <= 0 {
		t.Errorf("times %v %v %v", got.PreprocessSeconds, got.TrainSeconds, got.EvalSeconds)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range []string{"augment_f32", "sgd_f32", "ema_f32", "bn_split_average", "xent_ls_f32",
		"bn_stats_part_f32/chunked", "bn_act_bwd_part_f32/chunked"} {
		if h.launches[k] == 0 {
			t.Errorf("kernel %s never launched", k)
		}
	}
}

// One epoch of the other networks through Backend.Train: training and the
// eval-mode pass (running stats, TTA) agree with the CPU engine's.
func TestTrainOtherNetsMatchCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the engine emulation takes a few seconds")
	}
	cb, err := cpu.New(cpu.Options{Precision: "f32"}) // as the GPU side (hostBackend "f32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stage   int
		variant string
	}{{1, "p1.s2"}, {8, "p8.s2a"}, {7, "p7.e1.nobn"}} {
		t.Run(tc.variant, func(t *testing.T) {
			cfg, spec := tinyConfig(t, tc.stage, tc.variant, 24, 12)
			cfg.Train.Epochs = 1
			cfg.Train.TTA = true
			req := backend.Request{Config: cfg, Spec: spec, Data: synthetic(t, 24, 12), Seed: 5, Observer: backend.NopObserver{}}
			b, _ := hostBackend(t, "f32", 5)
			got, err := b.Train(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := cb.Train(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			g, w := got.Epochs[0], want.Epochs[0]
			t.Logf("GPU loss %.6f test %.6f/%.3f TTA %.3f; CPU %.6f %.6f/%.3f TTA %.3f", g.TrainLoss, g.TestLoss, g.TestAcc, got.TTAAcc, w.TrainLoss, w.TestLoss, w.TestAcc, want.TTAAcc)
			if math.Abs(g.TrainLoss-w.TrainLoss) > 1e-5*w.TrainLoss || math.Abs(g.TestLoss-w.TestLoss) > 1e-5*w.TestLoss ||
				g.TestAcc != w.TestAcc || g.TrainAcc != w.TrainAcc || got.TTAAcc != want.TTAAcc {
				t.Errorf("GPU %+v TTA %v; CPU %+v TTA %v", g, got.TTAAcc, w, want.TTAAcc)
			}
		})
	}
}

// Stage 10 through Backend.Train against the CPU engine's run: the
// airbench94 recipe (airbench units and groups, the whitening bias
// stopped after its epoch, lookahead, a fractional last epoch, six-view
// TTA, alternating flip, translation) and airbench94_muon (Muon, per-group
// schedules); f32 on the GPU side, as the CPU's.
func TestAirbenchTrainMatchesCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the engine emulation takes a few seconds")
	}
	cb, err := cpu.New(cpu.Options{Precision: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"airbench94", "airbench94_muon"} {
		t.Run(variant, func(t *testing.T) {
			cfg, spec := tinyConfig(t, 10, variant, 32, 20)
			cfg.Train.Epochs = 2.5 // 4 steps an epoch: 10 steps, the last epoch half
			if len(cfg.Train.Groups) > 0 && cfg.Train.Groups[0].Params == "whiten_bias" {
				cfg.Train.Groups[0].Epochs = 1
			}
			req := backend.Request{Config: cfg, Spec: spec, Data: synthetic(t, 32, 20), Seed: 9}
			b, h := hostBackend(t, "f32", 5)
			var rg, rc recorder
			got, want := trainBoth(t, b, cb, req, &rg, &rc)
			if len(got.Epochs) != 3 || len(rg.steps) != 10 || len(rc.steps) != 10 {
				t.Fatalf("%d epochs, %d steps (CPU %d): want 3 epochs, 10 steps", len(got.Epochs), len(rg.steps), len(rc.steps))
			}
			for i := range rg.losses {
				tol := 1e-4
				if i >= 4 {
					tol = 2e-2 // max-pool near-ties flip as the weights drift apart
				}
				if d := math.Abs(rg.losses[i]-rc.losses[i]) / rc.losses[i]; d > tol {
					t.Errorf("step %d: loss %.6f, CPU %.6f", rg.steps[i], rg.losses[i], rc.losses[i])
				}
			}
			g, w := got.Epochs[2], want.Epochs[2]
			t.Logf("last epoch: GPU %+v TTA %v; CPU %+v TTA %v", g, got.TTAAcc, w, want.TTAAcc)
			if g.LR != w.LR || math.Abs(g.TestLoss-w.TestLoss) > 2e-2*w.TestLoss || math.IsNaN(got.TTAAcc) ||
				math.Abs(got.TTAAcc-want.TTAAcc) > 1.5/20 || math.Abs(got.TestAcc-want.TestAcc) > 1.5/20 {
				t.Errorf("GPU %+v TTA %v; CPU %+v TTA %v", g, got.TTAAcc, w, want.TTAAcc)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			kernels := []string{"bias_rows_f32", "act_fwd_f32", "act_bwd_f32", "maxpool_bwd_f32"}
			if variant == "airbench94_muon" {
				kernels = append(kernels, "muon_momentum_f32", "muon_norms", "muon_scale_f32", "muon_update_f32")
			}
			for _, k := range kernels {
				if h.launches[k] == 0 {
					t.Errorf("kernel %s never launched", k)
				}
			}
		})
	}
}

// trainBoth trains req on the GPU engine b, observed by og, then on the
// CPU engine cb, observed by oc.
func trainBoth(t *testing.T, b *Backend, cb *cpu.Backend, req backend.Request, og, oc backend.Observer) (got, want backend.Result) {
	t.Helper()
	var err error
	req.Observer = og
	if got, err = b.Train(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Observer = oc
	if want, err = cb.Train(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	return got, want
}

// layerRecorder keeps every per-layer statistic reported.
type layerRecorder struct {
	backend.NopObserver
	stats []backend.LayerStat
}

func (r *layerRecorder) Layers(s []backend.LayerStat) { r.stats = append(r.stats, s...) }

// Post 6 through Backend.Train: per-filter LARS (p6.e2) and the per-layer
// statistics of analysis.log_every agree with the CPU engine's.
func TestLARSAndLayerStatsMatchCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the engine emulation takes a few seconds")
	}
	cb, err := cpu.New(cpu.Options{Precision: "f32"}) // as the GPU side (hostBackend "f32")
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"p6.e1", "p6.e2"} {
		t.Run(variant, func(t *testing.T) {
			cfg, spec := tinyConfig(t, 6, variant, 32, 8)
			cfg.Train.Epochs = 1
			cfg.Analysis = &stages.Analysis{LogEvery: 2}
			req := backend.Request{Config: cfg, Spec: spec, Data: synthetic(t, 32, 8), Seed: 3}
			b, h := hostBackend(t, "f32", 5)
			h.mu.Lock()
			lars0 := h.launches["sgd_lars_f32"]
			h.mu.Unlock()
			var rg, rc layerRecorder
			got, want := trainBoth(t, b, cb, req, &rg, &rc)
			g, w := got.Epochs[0], want.Epochs[0]
			if math.Abs(g.TrainLoss-w.TrainLoss) > 1e-5*w.TrainLoss || math.Abs(g.TestLoss-w.TestLoss) > 1e-4*w.TestLoss {
				t.Errorf("epoch: GPU %+v, CPU %+v", g, w)
			}
			// 4 steps of 8, logged at steps 0 and 2, 9 weights each.
			if len(rg.stats) != len(rc.stats) || len(rc.stats) != 2*9 {
				t.Fatalf("%d layer stats, CPU %d", len(rg.stats), len(rc.stats))
			}
			for i, s := range rg.stats {
				c := rc.stats[i]
				if s.Step != c.Step || s.Epoch != c.Epoch || s.Layer != c.Layer ||
					math.Abs(s.WeightNorm-c.WeightNorm) > 1e-5*c.WeightNorm || math.Abs(s.GradNorm-c.GradNorm) > 1e-3*c.GradNorm ||
					math.Abs(s.Update-c.Update) > 1e-3*c.Update {
					t.Errorf("stat %d: GPU %+v, CPU %+v", i, s, c)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if lars := h.launches["sgd_lars_f32"] > lars0; lars != (variant == "p6.e2") {
				t.Errorf("%s: sgd_lars_f32 launched: %v", variant, lars)
			}
		})
	}
}

// The device's whitening filters (patches and their fp64 covariance sum on
// the device, the eigendecomposition on the host) are data's, from the
// activation arena as scratch and from a buffer of their own, each over
// several chunks with a short last one.
func TestWhiteningFiltersMatchData(t *testing.T) {
	const n = 150
	cfg, spec := tinyConfig(t, 8, "p8.s10", n, 10)
	set := synthetic(t, n, 10)
	prep, err := data.Prepare(set, 4)
	if err != nil {
		t.Fatal(err)
	}
	want, err := data.WhiteningFilters(prep, n, cfg.Net.WhitenEps)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hostBackend(t, "f32", 0)
	err = b.Do(context.Background(), func() error {
		su, err := train.NewSetup(cfg, spec, set)
		if err != nil {
			return err
		}
		e, err := openEngine(b, su, launch.F32)
		if err != nil {
			return err
		}
		defer e.close()
		if err := e.Load(set); err != nil {
			return err
		}
		arena := e.plan.ActBytes
		for _, c := range []struct {
			name  string
			arena int64
		}{{"arena scratch", arena}, {"own scratch", 0}} {
			e.plan.ActBytes = c.arena
			got, err := e.whiteningFilters(n, 3, 4, cfg.Net.WhitenEps)
			if err != nil {
				return err
			}
			if d := relDiff(got, want); d > 1e-5 {
				t.Errorf("%s: filters differ from data's by %.3g", c.name, d)
			}
		}
		e.plan.ActBytes = arena
		if _, err := e.whiteningFilters(n+1, 3, 4, cfg.Net.WhitenEps); err == nil {
			t.Error("151 images from 150: no error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
