package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// MergeStats counts what Merge did.
type MergeStats struct {
	Added    int // cells new to the target
	Replaced int // unfinished cells in the target replaced by a finished one
	Skipped  int // cells the target already had (finished, or neither finished)
	// Cells are the shard's cells, whichever of the above they were.
	Cells []Cell
}

// Merge copies the runs of the shard database at src into db with their
// epochs, layer statistics, measurements and provenance. A cell missing
// from db is added; a cell db holds unfinished is replaced when the shard
// finished it; every other cell is left alone. Merging the same shard twice
// therefore changes nothing.
func (db *DB) Merge(ctx context.Context, src string) (MergeStats, error) {
	var st MergeStats
	// Open would create a missing file: a mistyped shard must be an error.
	if _, err := os.Stat(src); err != nil {
		return st, fmt.Errorf("results: merge: shard: %w", err)
	}
	sdb, err := Open(ctx, src)
	if err != nil {
		return st, fmt.Errorf("results: merge: %w", err)
	}
	defer sdb.Close()
	runs, err := sdb.Runs(ctx, Filter{})
	if err != nil {
		return st, fmt.Errorf("results: merge %s: %w", src, err)
	}
	type child struct {
		epochs []Epoch
		layers []LayerStat
		meas   []Measurement
	}
	kids := make([]child, len(runs))
	for i, r := range runs {
		if kids[i].epochs, err = sdb.Epochs(ctx, r.ID); err != nil {
			return st, fmt.Errorf("results: merge %s: %w", src, err)
		}
		if kids[i].layers, err = sdb.LayerStats(ctx, r.ID); err != nil {
			return st, fmt.Errorf("results: merge %s: %w", src, err)
		}
		if kids[i].meas, err = sdb.Measurements(ctx, r.ID); err != nil {
			return st, fmt.Errorf("results: merge %s: %w", src, err)
		}
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		st = MergeStats{}
		for i, r := range runs {
			if r.Status == StatusRunning || r.Status == StatusQueued {
				// A shard whose task died mid-run: the cell stays runnable.
				r.Status = StatusInterrupted
				if r.Error == "" {
					r.Error = "unfinished in shard " + src
				}
			}
			c := r.Cell()
			st.Cells = append(st.Cells, c)
			var id int64
			var status string
			err := tx.QueryRowContext(ctx, `SELECT id, status FROM runs
				WHERE stage = ? AND variant = ? AND profile = ? AND repeat = ? AND config_hash = ? AND data_sum = ?`,
				c.Stage, c.Variant, c.Profile, c.Repeat, c.ConfigHash, c.DataSum).Scan(&id, &status)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				st.Added++
			case err != nil:
				return fmt.Errorf("look up %v: %w", c, err)
			case !Status(status).Final() && r.Status.Final():
				if _, err := tx.ExecContext(ctx, "DELETE FROM runs WHERE id = ?", id); err != nil {
					return fmt.Errorf("replace %v: %w", c, err)
				}
				st.Replaced++
			default:
				st.Skipped++
				continue
			}
			if err := insertRun(ctx, tx, r, kids[i].epochs, kids[i].layers, kids[i].meas); err != nil {
				return fmt.Errorf("copy %v: %w", c, err)
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("results: merge %s into %s: %w", src, db.path, err)
	}
	return st, nil
}

// insertRun writes a whole run as it stands, with its children, under a new id.
func insertRun(ctx context.Context, tx *sql.Tx, r Run, epochs []Epoch, layers []LayerStat, meas []Measurement) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (stage, variant, profile, repeat, config_hash, data_sum, seed,
		config_json, dataset, status, error, attempts, preprocess_s, train_s, eval_s, total_s, test_acc, tta_acc, test_loss,
		diverged_epoch, peak_rss, host, backend, device, git_rev, git_dirty, go_version, lib_version, started_ns, finished_ns,
		cpu_s, load_start, precision)
		VALUES (?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?,?, ?,?,NULLIF(?, ''))`,
		r.Stage, r.Variant, r.Profile, r.Repeat, r.ConfigHash, r.DataSum, int64(r.Seed),
		r.ConfigJSON, r.Dataset, string(r.Status), r.Error, r.Attempts,
		nullable(r.PreprocessSeconds), nullable(r.TrainSeconds), nullable(r.EvalSeconds), nullable(r.TotalSeconds),
		nullable(r.TestAcc), nullable(r.TTAAcc), nullable(r.TestLoss),
		r.DivergedEpoch, r.PeakRSSBytes, r.Host, r.Backend, r.Device, r.GitRev, r.GitDirty, r.GoVersion, r.LibVersion,
		unixNano(r.Started), unixNano(r.Finished), nullable(r.CPUSeconds), nullable(r.LoadStart), r.Precision)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for _, e := range epochs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO epochs (run_id, epoch, lr, train_loss, train_acc, test_loss, test_acc, elapsed_s)
			VALUES (?,?,?,?,?,?,?,?)`, id, e.Epoch, nullable(e.LR), nullable(e.TrainLoss), nullable(e.TrainAcc),
			nullable(e.TestLoss), nullable(e.TestAcc), nullable(e.Elapsed)); err != nil {
			return err
		}
	}
	for _, s := range layers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO layer_stats (run_id, step, epoch, layer, weight_norm, grad_norm, update_ratio)
			VALUES (?,?,?,?,?,?,?)`, id, s.Step, nullable(s.Epoch), s.Layer,
			nullable(s.WeightNorm), nullable(s.GradNorm), nullable(s.UpdateRatio)); err != nil {
			return err
		}
	}
	for _, m := range meas {
		if _, err := tx.ExecContext(ctx, `INSERT INTO measurements (run_id, name, value) VALUES (?,?,?)`, id, m.Name, m.JSON); err != nil {
			return err
		}
	}
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
