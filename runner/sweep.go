package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"speedrun/analysis"
	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/results"
	"speedrun/stages"
)

// DataFunc returns the dataset a config trains on (already subset to the
// config's sizes). Calls with the same sizes should return the same Set.
type DataFunc func(ctx context.Context, cfg stages.Config) (*data.Set, error)

// Runner runs cells through a Backend and records them in a DB.
type Runner struct {
	DB         *results.DB
	Backend    backend.Backend
	Data       DataFunc
	Owner      results.Owner
	Provenance Provenance
	// Seed, when HaveSeed, is the seed base (see Seed).
	Seed     uint64
	HaveSeed bool
	// Lease is how long a claim lives without a heartbeat (default 2 min);
	// Heartbeat is how often it is renewed (default 5 s).
	Lease     time.Duration
	Heartbeat time.Duration
	// Poll is how often a sweep that has run everything else looks again
	// at the cells other processes on this host hold (default 1 s).
	Poll time.Duration
	Log  *slog.Logger
	// Progress receives the progress bar (a terminal) or nothing: without a
	// terminal progress goes to Log as one line per epoch.
	Progress io.Writer
}

// Outcome is how one cell ended.
type Outcome struct {
	Cell    Cell
	RunID   int64
	Skipped bool // finished already, or held by another live process
	// Holder, for a skipped cell that another live process runs, is that
	// process (zero for a finished cell).
	Holder results.Holder
	Run    results.Run
}

// Summary counts what a sweep did.
type Summary struct {
	Planned, Skipped, Done, Diverged, Failed, Interrupted int
	Outcomes                                              []Outcome
}

func (r *Runner) defaults() {
	if r.Lease <= 0 {
		r.Lease = 2 * time.Minute
	}
	if r.Heartbeat <= 0 {
		r.Heartbeat = 5 * time.Second
	}
	if r.Poll <= 0 {
		r.Poll = time.Second
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
}

// Sweep runs every cell not yet finished. First it returns to the queue
// the cells of dead processes. A cell another live process holds is
// skipped; one held by a process on this host is looked at again every
// Poll once the rest are done, until it is finished or its holder dies,
// when this sweep takes it over at once (Claim sees the dead pid; the
// lease need not expire). A diverged or failed run does not stop the
// sweep; a cancelled ctx does: the current run is marked interrupted and
// Sweep returns ctx's error. The error is nil even when runs failed:
// callers read Summary.Failed.
func (r *Runner) Sweep(ctx context.Context, cells []Cell) (Summary, error) {
	r.defaults()
	sum := Summary{Planned: len(cells)}
	if err := r.checkEngines(cells); err != nil {
		return sum, err
	}
	rq, err := r.DB.RequeueDead(ctx, r.Owner.Host)
	if err != nil {
		return sum, err
	}
	for _, q := range rq {
		r.Log.Warn("requeued a cell whose owner is gone", "cell", q.Cell.String(), "run", q.RunID, "reason", q.Reason)
	}
	start := time.Now()
	ran := 0
	todo := make([]int, len(cells))
	for i := range todo {
		todo[i] = i
	}
	for pass := 0; len(todo) > 0; pass++ {
		if pass > 0 {
			if pass == 1 {
				r.Log.Info("waiting for cells that other processes on this host run; a dead one's cell is taken over at once",
					"cells", len(todo))
			}
			select {
			case <-ctx.Done():
				return sum, ctx.Err()
			case <-time.After(r.Poll):
			}
		}
		var held []int
		for _, i := range todo {
			c := cells[i]
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			label := fmt.Sprintf("[%d/%d] %v", i+1, len(cells), c)
			if ran > 0 {
				per := time.Since(start) / time.Duration(ran)
				label += fmt.Sprintf(" (sweep ETA %v)", (per * time.Duration(len(cells)-i)).Round(time.Second))
			}
			o, err := r.run(ctx, c, label)
			switch {
			case o.Skipped && err == nil && o.Holder.Host == r.Owner.Host && o.Holder.Owner != "":
				held = append(held, i)
				continue
			case o.Skipped:
				sum.Outcomes = append(sum.Outcomes, o)
				sum.Skipped++
				if err != nil {
					return sum, err
				}
				continue
			}
			sum.Outcomes = append(sum.Outcomes, o)
			switch {
			case err != nil && ctx.Err() != nil:
				sum.Interrupted++
				return sum, err
			case err != nil:
				// The run could not even be recorded (e.g. the disk is full):
				// stop, since every later run would fail the same way.
				sum.Failed++
				return sum, err
			}
			ran++
			switch o.Run.Status {
			case results.StatusDone:
				sum.Done++
			case results.StatusDiverged:
				sum.Diverged++
			default:
				sum.Failed++
			}
		}
		todo = held
	}
	return sum, nil
}

// Run runs one cell (unless it is finished or held elsewhere) and returns
// how it ended.
func (r *Runner) Run(ctx context.Context, c Cell) (Outcome, error) {
	r.defaults()
	if _, err := r.DB.RequeueDead(ctx, r.Owner.Host); err != nil {
		return Outcome{Cell: c}, err
	}
	return r.run(ctx, c, c.String())
}

func (r *Runner) run(ctx context.Context, c Cell, label string) (Outcome, error) {
	out := Outcome{Cell: c}
	ds, err := r.Data(ctx, c.Config)
	if err != nil {
		return out, fmt.Errorf("%v: dataset: %w", c, err)
	}
	cfgJSON, err := json.Marshal(c.Config)
	if err != nil {
		return out, fmt.Errorf("%v: config: %w", c, err)
	}
	seed := Seed(c.Hash, c.Repeat, r.Seed, r.HaveSeed)
	p := r.Provenance
	// The engine that trains this cell: under --backend auto, the GPU for
	// the configs it supports and the CPU for the rest.
	be := r.Backend
	if ch, ok := be.(backend.Chooser); ok {
		be = ch.For(c.Config)
	}
	st := results.Start{
		Cell: results.Cell{Stage: c.Config.Stage, Variant: c.Config.Variant, Profile: c.Config.Profile,
			Repeat: c.Repeat, ConfigHash: c.Hash, DataSum: ds.Checksum},
		Seed: seed, ConfigJSON: string(cfgJSON), Dataset: ds.Name,
		Host: p.Host, Backend: be.Name(), Device: be.Device(),
		GitRev: p.GitRev, GitDirty: p.GitDirty, GoVersion: p.GoVersion, LibVersion: p.LibVersion,
	}
	claim, err := r.DB.Claim(ctx, st, r.Owner, r.Lease)
	if err != nil {
		return out, err
	}
	id := claim.RunID
	out.RunID = id
	if !claim.OK {
		out.Skipped, out.Holder = true, claim.Holder
		r.Log.Debug("skip: finished or running elsewhere", "cell", c.String(), "status", claim.Status, "holder", claim.Holder.Owner)
		return out, nil
	}
	if claim.TookOver != "" && claim.TookOver != string(results.StatusQueued) {
		r.Log.Warn("took the cell over", "cell", c.String(), "run_id", id, "previous", claim.TookOver)
	}
	r.Log.Info("run", "cell", label, "run_id", id, "seed", seed, "config", shortHash(c.Hash), "data", ds.Name, "backend", be.Name())

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	prog := newRunProgress(r.Log, r.Progress, isTerminal(r.Progress), c.String(), int(math.Ceil(c.Config.Train.Epochs)))
	rec := &recorder{ctx: runCtx, db: r.DB, runID: id, cancel: cancel, prog: prog}
	hbCtx, hbStop := context.WithCancel(runCtx)
	go heartbeat(hbCtx, r.DB, id, r.Owner, r.Lease, r.Heartbeat, cancel)

	load, cpu0 := loadAverage("/proc/loadavg"), processCPU()
	var res backend.Result
	var trainErr error
	if k := c.Config.Kind; k != "" && k != "train" {
		res, trainErr = analyse(runCtx, r, c.Config, ds, seed, id, rec)
	} else if spec, err := model.Build(c.Config.Net); err != nil {
		// A network that does not build fails its own run, not the sweep.
		trainErr = fmt.Errorf("network: %w", err)
	} else {
		res, trainErr = train(runCtx, be, backend.Request{Config: c.Config, Spec: spec, Data: ds, Seed: seed, Observer: rec})
	}
	hbStop()
	prog.done()

	o := results.Outcome{
		PreprocessSeconds: res.PreprocessSeconds, TrainSeconds: res.TrainSeconds, EvalSeconds: res.EvalSeconds,
		TestAcc: res.TestAcc, TTAAcc: res.TTAAcc, TestLoss: res.TestLoss, PeakRSSBytes: res.PeakRSSBytes,
		Device: be.Device(), CPUSeconds: processCPU() - cpu0, LoadStart: load, Precision: res.Precision,
	}
	cause := context.Cause(runCtx)
	switch {
	case ctx.Err() != nil:
		o.Status = results.StatusInterrupted
		o.Error = fmt.Sprintf("interrupted: %v", context.Cause(ctx))
		o.TestAcc, o.TTAAcc, o.TestLoss = math.NaN(), math.NaN(), math.NaN()
	case rec.firstErr() != nil || (trainErr != nil && cause != nil && !errors.Is(cause, context.Canceled)):
		o.Status = results.StatusFailed
		o.Error = cause.Error()
		o.TestAcc, o.TTAAcc, o.TestLoss = math.NaN(), math.NaN(), math.NaN()
	case trainErr != nil:
		o.Status = results.StatusFailed
		o.Error = trainErr.Error()
		o.TestAcc, o.TTAAcc, o.TestLoss = math.NaN(), math.NaN(), math.NaN()
	case res.Diverged || rec.divergedEpoch > 0:
		o.Status = results.StatusDiverged
		o.DivergedEpoch = res.DivergedEpoch
		if o.DivergedEpoch == 0 {
			o.DivergedEpoch = rec.divergedEpoch
		}
		o.Error = fmt.Sprintf("loss became NaN or Inf at epoch %d", o.DivergedEpoch)
		if res.DivergedWhy != "" {
			o.Error = res.DivergedWhy
		}
	default:
		o.Status = results.StatusDone
	}
	// Record the end even when ctx is cancelled (that is the interrupted
	// case), but do not wait for ever on a wedged database.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	if err := r.DB.Finish(fctx, id, r.Owner, o); err != nil {
		if errors.Is(err, results.ErrLeaseLost) {
			// This process stalled past its lease and another took the
			// cell over: that one's result counts, not ours.
			r.Log.Warn("lost the cell to another process; its result counts", "cell", c.String(), "run_id", id)
			out.Skipped = true
			return out, ctx.Err()
		}
		return out, fmt.Errorf("%v: %s, and recording that failed: %w", c, o.Status, err)
	}
	run, err := r.DB.Run(fctx, id)
	if err != nil {
		return out, err
	}
	out.Run = run
	switch o.Status {
	case results.StatusDone:
		r.Log.Info("done", "cell", c.String(), "test_acc", round(run.TestAcc), "tta_acc", round(run.TTAAcc),
			"train+eval_s", round(run.TrainEvalSeconds()), "dawn_s", round(run.DawnSeconds()))
	case results.StatusDiverged:
		r.Log.Warn("diverged", "cell", c.String(), "epoch", o.DivergedEpoch)
	case results.StatusFailed:
		r.Log.Error("failed", "cell", c.String(), "err", o.Error)
	case results.StatusInterrupted:
		r.Log.Warn("interrupted", "cell", c.String())
		return out, ctx.Err()
	}
	return out, nil
}

// train calls the backend, turning a panic into an error so one broken
// run fails alone instead of taking the sweep down.
func train(ctx context.Context, b backend.Backend, req backend.Request) (res backend.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("backend %s panicked: %v", b.Name(), p)
		}
	}()
	return b.Train(ctx, req)
}

// checkEngines refuses, before anything runs, a sweep with a cell its
// engine would refuse (backend.Check): under --backend auto the chooser
// sends each cell where it runs; under --backend cuda, post 7's
// forward-only analyses (and any config the GPU engine does not cover)
// cannot run.
func (r *Runner) checkEngines(cells []Cell) error {
	return CheckEngines(r.Backend.Name(), cells, func(c Cell) backend.Caps {
		be := r.Backend
		if ch, ok := be.(backend.Chooser); ok {
			be = ch.For(c.Config)
		}
		return backend.CapsOf(be)
	})
}

// CheckEngines refuses cells that their engine (caps(c), under the
// backend named name) would refuse, by backend.Check, naming each such
// variant once: what a sweep checks before it runs, and what --emit
// checks before it writes a job whose tasks would fail.
func CheckEngines(name string, cells []Cell, caps func(Cell) backend.Caps) error {
	var bad []string
	var why error
	for _, c := range cells {
		spec, err := model.Build(c.Config.Net)
		if err != nil {
			continue // the run reports its network's error
		}
		if err := backend.Check(caps(c), c.Config, spec); err != nil && !slices.Contains(bad, c.Config.Variant) {
			bad = append(bad, c.Config.Variant)
			why = err
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: the %s backend cannot run these (%v): use --backend cpu or auto", strings.Join(bad, ", "), name, why)
	}
	return nil
}

// analyse runs a post 5-7 analysis cell (every Kind but "train"). Its
// measurements go to the database under the cell's run id; its headline
// accuracy and divergence fill the run row like a training run's.
func analyse(ctx context.Context, r *Runner, cfg stages.Config, ds *data.Set, seed uint64, runID int64, obs backend.Observer) (res backend.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("analysis %s panicked: %v", cfg.Kind, p)
		}
	}()
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out, err := analysis.Run(ctx, analysis.Request{
		Config: cfg, Data: ds, Seed: seed, Backend: r.Backend,
		DB: r.DB, RunID: runID, Observer: obs, Log: log,
	})
	if err != nil {
		return res, fmt.Errorf("analysis %s: %w", cfg.Kind, err)
	}
	if out.Train != nil {
		res = *out.Train
	} else {
		res.TestAcc, res.TTAAcc, res.TestLoss = math.NaN(), math.NaN(), math.NaN()
	}
	if !math.IsNaN(out.Accuracy) {
		res.TestAcc = out.Accuracy
	}
	res.Diverged, res.DivergedEpoch, res.DivergedWhy = out.Diverged, out.DivergedEpoch, out.DivergedWhy
	return res, nil
}
