package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/train"
)

// fakeBackend is a TEST DOUBLE, selected only by --backend fake and
// absent from the help. It trains nothing: it reports deterministic,
// made-up metrics derived from the seed, so the runner's own script tests
// (kill -9, concurrent sweeps, SIGINT, divergence, a full disk) run in
// milliseconds and do not depend on the real engines' speed. Results it
// writes are marked with backend "fake" and device "test double".
//
// Its behaviour comes from the environment:
//
//	SPEEDRUN_FAKE_EPOCH_MS  sleep per epoch (default 0)
//	SPEEDRUN_FAKE_NAN       comma-separated variants whose loss becomes NaN at epoch 2
//	SPEEDRUN_FAKE_FAIL      comma-separated variants that fail with an error
//	SPEEDRUN_FAKE_LAYERS    layer statistics rows to report per epoch (default 0)
//	SPEEDRUN_FAKE_LOG       a file to which each training start appends one line
//	SPEEDRUN_FAKE_BLOCK     the training that writes line N of SPEEDRUN_FAKE_LOG
//	                        blocks until its context ends, so that a script
//	                        kills or interrupts it while it runs, however slow
//	                        the machine, instead of within a guessed time
//
// Its probes (post 7's forward-only analyses) are the CPU engine's: those
// measure real activations, as they do under every backend.
type fakeBackend struct {
	backend.Prober
	epoch  time.Duration
	nan    []string
	fail   []string
	layers int
	log    string
	block  int
}

func newFakeBackend() (backend.Backend, error) {
	probes, err := cpu.New(cpu.Options{})
	if err != nil {
		return nil, err
	}
	f := &fakeBackend{
		Prober: probes,
		nan:    splitList(os.Getenv("SPEEDRUN_FAKE_NAN")),
		fail:   splitList(os.Getenv("SPEEDRUN_FAKE_FAIL")),
		log:    os.Getenv("SPEEDRUN_FAKE_LOG"),
	}
	ms, err := envCount("SPEEDRUN_FAKE_EPOCH_MS")
	if err != nil {
		return nil, err
	}
	f.epoch = time.Duration(ms) * time.Millisecond
	if f.layers, err = envCount("SPEEDRUN_FAKE_LAYERS"); err != nil {
		return nil, err
	}
	if f.block, err = envCount("SPEEDRUN_FAKE_BLOCK"); err != nil {
		return nil, err
	}
	if f.block > 0 && f.log == "" {
		return nil, fmt.Errorf("fake backend: SPEEDRUN_FAKE_BLOCK counts the lines of SPEEDRUN_FAKE_LOG, which is not set")
	}
	return f, nil
}

func envCount(name string) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("fake backend: %s=%q: want a count >= 0", name, s)
	}
	return n, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (*fakeBackend) Name() string   { return "fake" }
func (*fakeBackend) Device() string { return "test double" }

func (f *fakeBackend) Train(ctx context.Context, req backend.Request) (backend.Result, error) {
	cfg := req.Config
	if f.log != "" {
		fl, err := os.OpenFile(f.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return backend.Result{}, fmt.Errorf("fake backend: %w", err)
		}
		fmt.Fprintf(fl, "%d %s %d %d\n", cfg.Stage, cfg.Variant, req.Seed, os.Getpid())
		fl.Close()
		if f.block > 0 && countLines(f.log) == f.block {
			<-ctx.Done()
			return backend.Result{}, fmt.Errorf("fake backend: blocked training (SPEEDRUN_FAKE_BLOCK): %w", ctx.Err())
		}
	}
	for _, v := range f.fail {
		if v == cfg.Variant {
			return backend.Result{}, fmt.Errorf("fake backend: variant %s fails on request (SPEEDRUN_FAKE_FAIL)", v)
		}
	}
	nan := false
	for _, v := range f.nan {
		nan = nan || v == cfg.Variant
	}
	res := backend.Result{TTAAcc: math.NaN(), TestLoss: math.NaN()}
	start := time.Now()
	// Metrics differ by config as well as by seed, so that the charts of
	// a sweep (a grid of learning rates, sub-runs with other weight
	// decays) draw distinct cells and lines rather than one on another.
	u := unitOf(cfg.Hash())
	acc := 0.5 + float64(req.Seed%1000)/10000 + 0.2*u
	epochs := max(int(math.Ceil(cfg.Train.Epochs)), 1)
	for e := 1; e <= epochs; e++ {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("fake backend: epoch %d: %w", e, ctx.Err())
		case <-time.After(f.epoch):
		}
		loss := 2.3 / float64(e)
		if nan && e >= 2 {
			loss = math.NaN()
		}
		req.Observer.Step(e, epochs, loss)
		if f.layers > 0 {
			// Logged mid-epoch, as the engines log every few steps: at
			// the end of the last epoch the LR schedule reaches 0, which
			// the post-6 charts' log axes cannot show.
			stats := make([]backend.LayerStat, f.layers)
			for i := range stats {
				stats[i] = backend.LayerStat{Step: e, Epoch: float64(e) - 0.5, Layer: fmt.Sprintf("layer%03d", i),
					WeightNorm: (1 + 0.5*float64(i)) * (1 + u) * (1 + 0.1*float64(e)), GradNorm: 0.1 * (1 + u), Update: 0.01 * (1 + u) / float64(e)}
			}
			req.Observer.Layers(stats)
		}
		elapsed := time.Since(start).Seconds()
		req.Observer.Epoch(backend.Epoch{Epoch: e, LR: 0.1, TrainLoss: loss, TrainAcc: acc * float64(e) / float64(epochs),
			TestLoss: loss, TestAcc: acc * float64(e) / float64(epochs), Elapsed: elapsed})
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("fake backend: epoch %d: %w", e, err)
		}
		if nan && e >= 2 {
			res.Diverged, res.DivergedEpoch = true, e
			return res, nil
		}
	}
	res.TrainSeconds = time.Since(start).Seconds()
	res.TestAcc, res.TestLoss = acc, 2.3/float64(epochs)
	if req.Keep != nil {
		// backend.Request's contract: a run that did not diverge hands
		// over its parameters; the double's are the seed's initial ones.
		params, err := train.InitParams(req)
		if err != nil {
			return res, fmt.Errorf("fake backend: %w", err)
		}
		if err := req.Keep(params); err != nil {
			return res, fmt.Errorf("fake backend: %w", err)
		}
	}
	return res, nil
}

// unitOf maps s to [0, 1), the same for the same s.
func unitOf(s string) float64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return float64(h.Sum64()>>11) / (1 << 53)
}
