package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/results"
	"speedrun/stages"
)

// fakeRegistry resolves any variant into a tiny config; the variant name
// tells fakeBackend how to behave.
type fakeRegistry struct{}

func (fakeRegistry) Resolve(stage int, variant, profile string) (stages.Config, error) {
	if variant == "missing" {
		return stages.Config{}, fmt.Errorf("stage %d has no variant %q", stage, variant)
	}
	if variant == "badnet" {
		return stages.Config{Stage: stage, Variant: variant, Profile: profile, Net: model.Net{Name: "nosuch"}}, nil
	}
	return stages.Config{Stage: stage, Variant: variant, Profile: profile, Kind: "train",
		Net:   model.Net{Name: "resnet9", Width: 0.125, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 1},
		Train: stages.Train{Epochs: 3, BatchSize: 8}}, nil
}

// fakeBackend is a test double: deterministic metrics from the seed, and
// behaviour chosen by the variant name ("nan", "fail", "panic", "block").
type fakeBackend struct {
	trained atomic.Int64
	started chan struct{} // closed... signalled when a "block" run starts
}

func (*fakeBackend) Name() string   { return "fake" }
func (*fakeBackend) Device() string { return "test double" }

func (f *fakeBackend) Train(ctx context.Context, req backend.Request) (backend.Result, error) {
	f.trained.Add(1)
	res := backend.Result{TTAAcc: math.NaN()}
	for e := 1; e <= int(req.Config.Train.Epochs); e++ {
		loss := 2 / float64(e)
		if req.Config.Variant == "nan" && e == 2 {
			loss = math.NaN()
		}
		switch req.Config.Variant {
		case "fail":
			return res, errors.New("kernel exploded")
		case "panic":
			panic("bad kernel")
		case "big":
			stats := make([]backend.LayerStat, 200)
			for i := range stats {
				stats[i] = backend.LayerStat{Step: e, Layer: fmt.Sprintf("%0400d", i)}
			}
			req.Observer.Layers(stats)
		case "block":
			if f.started != nil {
				f.started <- struct{}{}
			}
			<-ctx.Done()
			return res, fmt.Errorf("train: %w", ctx.Err())
		}
		req.Observer.Step(e, int(req.Config.Train.Epochs), loss)
		req.Observer.Epoch(backend.Epoch{Epoch: e, LR: 0.1, TrainLoss: loss, TrainAcc: 0.5, TestLoss: loss, TestAcc: float64(req.Seed%100) / 100, Elapsed: float64(e)})
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if math.IsNaN(loss) {
			res.Diverged, res.DivergedEpoch = true, e
			return res, nil
		}
	}
	res.TrainSeconds, res.EvalSeconds, res.PreprocessSeconds = 3, 1, 0.5
	res.TestAcc = float64(req.Seed%100) / 100
	return res, nil
}

func tinySet(ctx context.Context, cfg stages.Config) (*data.Set, error) {
	return &data.Set{Name: "tiny", Checksum: "tinysum"}, nil
}

func newTestRunner(t *testing.T, path string, b backend.Backend) *Runner {
	t.Helper()
	db, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	owner, err := results.NewOwner()
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{DB: db, Backend: b, Data: tinySet, Owner: owner, Provenance: Provenance{Host: "h", GitRev: "unknown"},
		Heartbeat: 20 * time.Millisecond}
}

func plan(t *testing.T, repeats int, variants ...string) []Cell {
	t.Helper()
	var picks []Pick
	for _, v := range variants {
		picks = append(picks, Pick{Stage: 4, Variant: v})
	}
	cells, err := Plan(fakeRegistry{}, picks, "smoke", repeats)
	if err != nil {
		t.Fatal(err)
	}
	return cells
}

func TestSweepOutcomes(t *testing.T) {
	ctx := context.Background()
	fb := &fakeBackend{}
	r := newTestRunner(t, filepath.Join(t.TempDir(), "r.sqlite"), fb)
	cells := plan(t, 2, "ok", "nan", "fail", "panic", "badnet", "ok2")
	sum, err := r.Sweep(ctx, cells)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 4 || sum.Diverged != 2 || sum.Failed != 6 || sum.Skipped != 0 {
		t.Fatalf("summary %+v", sum)
	}
	runs, err := r.DB.Runs(ctx, results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[uint64]bool{}
	for _, run := range runs {
		seeds[run.Seed] = true
		switch run.Variant {
		case "nan":
			if run.Status != results.StatusDiverged || run.DivergedEpoch != 2 {
				t.Errorf("nan run: %+v", run)
			}
		case "fail", "panic", "badnet":
			if run.Status != results.StatusFailed || !strings.Contains(run.Error, map[string]string{"fail": "exploded", "panic": "panicked", "badnet": "unknown network"}[run.Variant]) {
				t.Errorf("%s run: status %s error %q", run.Variant, run.Status, run.Error)
			}
		default:
			eps, _ := r.DB.Epochs(ctx, run.ID)
			if run.Status != results.StatusDone || len(eps) != 3 || run.TrainEvalSeconds() != 4 || run.DawnSeconds() != 3.5 || run.Backend != "fake" {
				t.Errorf("ok run: %+v with %d epochs", run, len(eps))
			}
			if math.IsNaN(run.CPUSeconds) || run.CPUSeconds < 0 || (runtime.GOOS == "linux" && math.IsNaN(run.LoadStart)) {
				t.Errorf("ok run: cpu %v s, load %v; want both recorded", run.CPUSeconds, run.LoadStart)
			}
		}
	}
	if len(seeds) != len(runs) {
		t.Errorf("seeds are not distinct per cell: %v", seeds)
	}
	// A second sweep reruns only the failed cells.
	before := fb.trained.Load()
	sum, err = r.Sweep(ctx, cells)
	if err != nil {
		t.Fatal(err)
	}
	if got := fb.trained.Load() - before; got != 4 || sum.Failed != 6 || sum.Skipped != 6 {
		t.Fatalf("second sweep trained %d (want the 4 failed with a network), failed %d (want 6) and skipped %d (want 6)", got, sum.Failed, sum.Skipped)
	}
}

func TestSweepInterrupted(t *testing.T) {
	fb := &fakeBackend{started: make(chan struct{}, 1)}
	r := newTestRunner(t, filepath.Join(t.TempDir(), "r.sqlite"), fb)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-fb.started; cancel() }()
	sum, err := r.Sweep(ctx, plan(t, 1, "ok", "block", "ok2"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("sweep error %v, want context.Canceled", err)
	}
	if sum.Done != 1 || sum.Interrupted != 1 {
		t.Fatalf("summary %+v", sum)
	}
	runs, _ := r.DB.Runs(context.Background(), results.Filter{})
	if len(runs) != 2 || runs[0].Status != results.StatusInterrupted || runs[1].Status != results.StatusDone {
		t.Fatalf("runs %+v", runs)
	}
}

// TestConcurrentSweeps runs three sweeps on one database, each with its
// own connection and owner, like three processes: every cell runs once.
func TestConcurrentSweeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.sqlite")
	cells := plan(t, 5, "a", "b", "c", "d")
	fb := &fakeBackend{}
	var wg sync.WaitGroup
	sums := make([]Summary, 3)
	for i := range sums {
		r := newTestRunner(t, path, fb)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if sums[i], err = r.Sweep(context.Background(), cells); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	done := 0
	for _, s := range sums {
		done += s.Done
	}
	if done != len(cells) || fb.trained.Load() != int64(len(cells)) {
		t.Fatalf("%d cells, %d done, %d trained", len(cells), done, fb.trained.Load())
	}
	r := newTestRunner(t, path, fb)
	runs, _ := r.DB.Runs(context.Background(), results.Filter{})
	for _, run := range runs {
		if run.Attempts != 1 || run.Status != results.StatusDone {
			t.Errorf("run %d: %d attempts, %s", run.ID, run.Attempts, run.Status)
		}
	}
}

// TestSweepHeldCell: a cell that another process holds when the sweep
// reaches it is waited for when that process is on this host, and taken
// over the moment it dies (its lease is an hour); a holder on another
// host is left to its lease.
func TestSweepHeldCell(t *testing.T) {
	tests := []struct {
		name        string
		otherHost   bool
		end         string // what becomes of the holder: "finish" its cell, or "die"
		wantTrained int64
		wantSkipped int
	}{
		{"holder on this host finishes", false, "finish", 2, 1},
		{"holder on this host dies", false, "die", 3, 0},
		{"holder on another host", true, "", 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			fb := &fakeBackend{}
			r := newTestRunner(t, filepath.Join(t.TempDir(), "r.sqlite"), fb)
			r.Poll = 10 * time.Millisecond
			cells := plan(t, 3, "ok")
			// The holder: a live child process of this test.
			proc := exec.Command("sleep", "60")
			if err := proc.Start(); err != nil {
				t.Skipf("no sleep to stand for the holder: %v", err)
			}
			t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })
			holder := results.Owner{ID: "holder", Host: r.Owner.Host, PID: proc.Process.Pid}
			if tt.otherHost {
				holder.Host = "elsewhere"
			}
			c := cells[0]
			cl, err := r.DB.Claim(ctx, results.Start{Cell: results.Cell{Stage: c.Config.Stage, Variant: c.Config.Variant,
				Profile: c.Config.Profile, Repeat: c.Repeat, ConfigHash: c.Hash, DataSum: "tinysum"}}, holder, time.Hour)
			if err != nil || !cl.OK {
				t.Fatalf("holder's claim: %+v %v", cl, err)
			}
			go func() {
				time.Sleep(100 * time.Millisecond)
				switch tt.end {
				case "finish":
					if err := r.DB.Finish(ctx, cl.RunID, holder, results.Outcome{Status: results.StatusDone}); err != nil {
						t.Error(err)
					}
				case "die":
					proc.Process.Kill()
					proc.Wait()
				}
			}()
			start := time.Now()
			sum, err := r.Sweep(ctx, cells)
			if err != nil {
				t.Fatal(err)
			}
			if fb.trained.Load() != tt.wantTrained || sum.Skipped != tt.wantSkipped || sum.Done != int(tt.wantTrained) {
				t.Fatalf("trained %d, summary %+v; want %d trained, %d skipped", fb.trained.Load(), sum, tt.wantTrained, tt.wantSkipped)
			}
			if tt.end != "" && time.Since(start) < 100*time.Millisecond {
				t.Fatalf("the sweep ended after %v, before the holder did", time.Since(start))
			}
		})
	}
}

// TestDiskFull caps the database so a run's layer statistics no longer
// fit: the run is marked failed with the disk error, the sweep goes on, and
// earlier results stay intact.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.sqlite")
	r := newTestRunner(t, path, &fakeBackend{})
	if _, err := r.Sweep(ctx, plan(t, 1, "ok")); err != nil {
		t.Fatal(err)
	}
	pages, err := r.DB.PageCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.DB.Close()
	db, err := results.OpenWith(ctx, path, results.Options{MaxPages: pages + 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r.DB = db
	sum, err := r.Sweep(ctx, plan(t, 1, "big", "ok2"))
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if sum.Failed != 1 || sum.Done != 1 {
		t.Fatalf("summary %+v, want big failed and ok2 done", sum)
	}
	if s, err := db.IntegrityCheck(ctx); err != nil || s != "ok" {
		t.Fatalf("integrity %q %v", s, err)
	}
	runs, _ := db.Runs(ctx, results.Filter{})
	st := map[string]results.Run{}
	for _, r := range runs {
		st[r.Variant] = r
	}
	if st["ok"].Status != results.StatusDone || st["ok2"].Status != results.StatusDone {
		t.Fatalf("earlier or later result lost: %+v", runs)
	}
	if b := st["big"]; b.Status != results.StatusFailed || !strings.Contains(b.Error, "full") {
		t.Fatalf("big run: status %s error %q, want failed with a full-disk error", b.Status, b.Error)
	}
}

func TestPlan(t *testing.T) {
	if _, err := Plan(fakeRegistry{}, []Pick{{4, "missing"}}, "smoke", 1); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing variant: %v", err)
	}
	if _, err := Plan(fakeRegistry{}, []Pick{{4, "a"}}, "smoke", 0); err == nil {
		t.Fatal("repeats 0 accepted")
	}
	cells := plan(t, 2, "a", "b")
	want := []string{"a#0", "a#1", "b#0", "b#1"}
	for i, c := range cells {
		if got := fmt.Sprintf("%s#%d", c.Config.Variant, c.Repeat); got != want[i] {
			t.Errorf("cell %d = %s, want %s", i, got, want[i])
		}
	}
	if Seed("h", 0, 0, false) == Seed("h", 1, 0, false) || Seed("h", 3, 10, true) != 13 {
		t.Error("seeds")
	}
}

// TestLeaseLost: a process that stalls past its lease loses the cell to
// another; its own result is dropped, the other's stands.
func TestLeaseLost(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.sqlite")
	fb := &fakeBackend{started: make(chan struct{}, 1)}
	slow := newTestRunner(t, path, fb)
	// A lease of a nanosecond has expired by the time anyone reads it, the
	// renewed ones too: whenever the other process looks, the cell is
	// free, and the first heartbeat after its takeover finds it lost,
	// however the two are scheduled (a sleep until the lease ran out, and
	// a take-over before a one-second heartbeat, raced on a loaded machine).
	slow.Lease = time.Nanosecond
	cells := plan(t, 1, "block")
	done := make(chan Summary)
	go func() {
		sum, err := slow.Sweep(ctx, cells)
		if err != nil {
			t.Error(err)
		}
		done <- sum
	}()
	<-fb.started
	// The other process runs the same cell with a backend that finishes.
	other := newTestRunner(t, path, finishing{&fakeBackend{}})
	sum2, err := other.Sweep(ctx, cells)
	if err != nil || sum2.Done != 1 {
		t.Fatalf("take over: %+v %v", sum2, err)
	}
	sum := <-done
	if sum.Skipped != 1 || sum.Done+sum.Failed != 0 {
		t.Fatalf("stalled sweep: %+v, want the cell skipped", sum)
	}
	runs, _ := other.DB.Runs(ctx, results.Filter{})
	if len(runs) != 1 || runs[0].Status != results.StatusDone || runs[0].Attempts != 2 {
		t.Fatalf("runs %+v", runs)
	}
}

// finishing trains any variant as "ok".
type finishing struct{ *fakeBackend }

func (f finishing) Train(ctx context.Context, req backend.Request) (backend.Result, error) {
	req.Config.Variant = "ok"
	return f.fakeBackend.Train(ctx, req)
}

// namedFake is a fakeBackend under another name.
type namedFake struct {
	fakeBackend
	name string
}

func (n *namedFake) Name() string   { return n.name }
func (n *namedFake) Device() string { return n.name + " device" }

// capsFake is a namedFake that says what it runs (backend.Capable).
type capsFake struct {
	namedFake
	probes   bool
	supports func(stages.Config, *model.Spec) error
}

func (c *capsFake) Caps() backend.Caps {
	return backend.Caps{Name: c.name, Probes: c.probes, Supports: c.supports}
}

// TestSweepChooser: under a backend.Chooser (--backend auto) each run is
// trained by, and records, the engine chosen for its config.
func TestSweepChooser(t *testing.T) {
	ctx := context.Background()
	gpu := &capsFake{namedFake: namedFake{name: "cuda"}, supports: func(cfg stages.Config, _ *model.Spec) error {
		if cfg.Variant == "ok2" {
			return errors.New("unsupported here")
		}
		return nil
	}}
	cpu := &namedFake{name: "cpu"}
	fb := &backend.Fallback{Primary: gpu, Secondary: cpu}
	r := newTestRunner(t, filepath.Join(t.TempDir(), "r.sqlite"), fb)
	if _, err := r.Sweep(ctx, plan(t, 1, "ok", "ok2")); err != nil {
		t.Fatal(err)
	}
	runs, err := r.DB.Runs(ctx, results.Filter{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	for _, run := range runs {
		want := map[string]string{"ok": "cuda", "ok2": "cpu"}[run.Variant]
		if run.Status != results.StatusDone || run.Backend != want || run.Device != want+" device" {
			t.Errorf("%s: status %s backend %q device %q, want done on %s", run.Variant, run.Status, run.Backend, run.Device, want)
		}
	}
	if gpu.trained.Load() != 1 || cpu.trained.Load() != 1 {
		t.Errorf("trained: cuda %d, cpu %d; want 1 each", gpu.trained.Load(), cpu.trained.Load())
	}
}

// A sweep under an engine without probes refuses, before it runs or
// records anything, the analyses that read forward passes; under a
// chooser that sends them to an engine with probes it runs them there.
func TestSweepCPUDrivenAnalysisOnCUDA(t *testing.T) {
	ctx := context.Background()
	cells := plan(t, 1, "ok")
	hist := cells[0]
	hist.Config.Kind, hist.Config.Variant = "bn_histograms", "p7.e2"
	cells = append(cells, hist)
	r := newTestRunner(t, filepath.Join(t.TempDir(), "r.sqlite"), &capsFake{namedFake: namedFake{name: "cuda"}})
	_, err := r.Sweep(ctx, cells)
	if err == nil || !strings.Contains(err.Error(), "p7.e2: the cuda backend cannot run these") || !strings.Contains(err.Error(), "--backend cpu or auto") {
		t.Fatalf("got %v", err)
	}
	if runs, err := r.DB.Runs(ctx, results.Filter{}); err != nil || len(runs) != 0 {
		t.Errorf("refused sweep recorded %d runs (%v)", len(runs), err)
	}
	fb := &backend.Fallback{Primary: &capsFake{namedFake: namedFake{name: "cuda"}}, Secondary: &capsFake{namedFake: namedFake{name: "cpu"}, probes: true}}
	r = newTestRunner(t, filepath.Join(t.TempDir(), "r2.sqlite"), fb)
	if err := r.checkEngines(cells); err != nil {
		t.Errorf("auto: %v", err)
	}
}
