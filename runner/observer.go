package runner

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"speedrun/backend"
	"speedrun/results"
)

// recorder is the Observer of one run: it writes epochs and layer
// statistics to the database and drives the run's progress display. A
// write error cancels the run (with the error as the cause) so that a full
// disk fails the run instead of training on without a record.
type recorder struct {
	ctx    context.Context
	db     *results.DB
	runID  int64
	cancel context.CancelCauseFunc
	prog   *runProgress

	mu            sync.Mutex
	err           error
	divergedEpoch int
}

var _ backend.Observer = (*recorder)(nil)

func (r *recorder) Step(k, total int, loss float64) { r.prog.step(k, total, loss) }

func (r *recorder) Epoch(e backend.Epoch) {
	if (math.IsNaN(e.TrainLoss) || math.IsInf(e.TrainLoss, 0)) && r.divergedEpoch == 0 {
		r.mu.Lock()
		r.divergedEpoch = e.Epoch
		r.mu.Unlock()
	}
	r.prog.epoch(e)
	err := r.db.AddEpoch(r.ctx, results.Epoch{RunID: r.runID, Epoch: e.Epoch, LR: e.LR, TrainLoss: e.TrainLoss,
		TrainAcc: e.TrainAcc, TestLoss: e.TestLoss, TestAcc: e.TestAcc, Elapsed: e.Elapsed})
	r.fail(err)
}

func (r *recorder) Layers(stats []backend.LayerStat) {
	rows := make([]results.LayerStat, len(stats))
	for i, s := range stats {
		rows[i] = results.LayerStat{RunID: r.runID, Step: s.Step, Epoch: s.Epoch, Layer: s.Layer,
			WeightNorm: s.WeightNorm, GradNorm: s.GradNorm, UpdateRatio: s.Update}
	}
	r.fail(r.db.AddLayerStats(r.ctx, rows))
}

func (r *recorder) fail(err error) {
	if err == nil || r.ctx.Err() != nil && r.err != nil {
		return
	}
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cancel(fmt.Errorf("recording results: %w", err))
}

func (r *recorder) firstErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// heartbeat extends the lease every interval until ctx ends. Losing the
// lease (another sweep took the cell over after a long stall) cancels the
// run, so the cell is never finished twice.
func heartbeat(ctx context.Context, db *results.DB, id int64, owner results.Owner, lease, every time.Duration, cancel context.CancelCauseFunc) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := db.Heartbeat(ctx, id, owner, lease); err != nil && ctx.Err() == nil {
				cancel(err)
				return
			}
		}
	}
}
