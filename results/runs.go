package results

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

const runColumns = `id, stage, variant, profile, repeat, config_hash, data_sum, seed, config_json, dataset,
	status, error, attempts, preprocess_s, train_s, eval_s, total_s, test_acc, tta_acc, test_loss,
	diverged_epoch, peak_rss, host, backend, device, git_rev, git_dirty, go_version, lib_version,
	started_ns, finished_ns, lease_owner, heartbeat_ns, cpu_s, load_start, precision`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var seed, started, finished, heartbeat int64
	var status string
	var pre, train, eval, total, acc, tta, loss, cpu, load sql.NullFloat64
	var prec sql.NullString
	err := sc.Scan(&r.ID, &r.Stage, &r.Variant, &r.Profile, &r.Repeat, &r.ConfigHash, &r.DataSum, &seed,
		&r.ConfigJSON, &r.Dataset, &status, &r.Error, &r.Attempts, &pre, &train, &eval, &total, &acc, &tta, &loss,
		&r.DivergedEpoch, &r.PeakRSSBytes, &r.Host, &r.Backend, &r.Device, &r.GitRev, &r.GitDirty, &r.GoVersion,
		&r.LibVersion, &started, &finished, &r.LeaseOwner, &heartbeat, &cpu, &load, &prec)
	if err != nil {
		return Run{}, err
	}
	r.Seed = uint64(seed)
	r.Precision = prec.String
	r.Status = Status(status)
	r.PreprocessSeconds, r.TrainSeconds, r.EvalSeconds = zeroNull(pre), zeroNull(train), zeroNull(eval)
	r.TotalSeconds = zeroNull(total)
	r.CPUSeconds, r.LoadStart = fromNull(cpu), fromNull(load)
	r.TestAcc, r.TTAAcc, r.TestLoss = fromNull(acc), fromNull(tta), fromNull(loss)
	r.Started, r.Finished, r.Heartbeat = unixTime(started), unixTime(finished), unixTime(heartbeat)
	return r, nil
}

func zeroNull(f sql.NullFloat64) float64 {
	if !f.Valid {
		return 0
	}
	return f.Float64
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// Runs returns the runs f selects, ordered by stage, variant, profile,
// repeat and id.
func (db *DB) Runs(ctx context.Context, f Filter) ([]Run, error) {
	var where []string
	var args []any
	in := func(col string, n int, arg func(i int) any) {
		if n == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", n), ",")+")")
		for i := range n {
			args = append(args, arg(i))
		}
	}
	in("stage", len(f.Stages), func(i int) any { return f.Stages[i] })
	in("variant", len(f.Variants), func(i int) any { return f.Variants[i] })
	in("status", len(f.Statuses), func(i int) any { return string(f.Statuses[i]) })
	if f.Profile != "" {
		where = append(where, "profile = ?")
		args = append(args, f.Profile)
	}
	q := "SELECT " + runColumns + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY stage, variant, profile, repeat, id"
	var out []Run
	err := db.retry(ctx, func() error {
		out = out[:0]
		rows, err := db.sql.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("results: query runs: %w", err)
	}
	return out, nil
}

// Run returns one run by id.
func (db *DB) Run(ctx context.Context, id int64) (Run, error) {
	var r Run
	err := db.retry(ctx, func() error {
		var err error
		r, err = scanRun(db.sql.QueryRowContext(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ?", id))
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("results: run %d: %w", id, err)
	}
	return r, nil
}

// AddEpoch records (or replaces) one epoch of run e.RunID.
func (db *DB) AddEpoch(ctx context.Context, e Epoch) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO epochs (run_id, epoch, lr, train_loss, train_acc, test_loss, test_acc, elapsed_s)
			VALUES (?,?,?,?,?,?,?,?)`, e.RunID, e.Epoch, nullable(e.LR), nullable(e.TrainLoss), nullable(e.TrainAcc),
			nullable(e.TestLoss), nullable(e.TestAcc), nullable(e.Elapsed))
		return err
	})
	if err != nil {
		return fmt.Errorf("results: add epoch %d of run %d: %w", e.Epoch, e.RunID, err)
	}
	return nil
}

// Epochs returns the epochs of a run in order.
func (db *DB) Epochs(ctx context.Context, runID int64) ([]Epoch, error) {
	var out []Epoch
	err := db.retry(ctx, func() error {
		out = out[:0]
		rows, err := db.sql.QueryContext(ctx, `SELECT run_id, epoch, lr, train_loss, train_acc, test_loss, test_acc, elapsed_s
			FROM epochs WHERE run_id = ? ORDER BY epoch`, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e Epoch
			var lr, tl, ta, vl, va, el sql.NullFloat64
			if err := rows.Scan(&e.RunID, &e.Epoch, &lr, &tl, &ta, &vl, &va, &el); err != nil {
				return err
			}
			e.LR, e.TrainLoss, e.TrainAcc = fromNull(lr), fromNull(tl), fromNull(ta)
			e.TestLoss, e.TestAcc, e.Elapsed = fromNull(vl), fromNull(va), fromNull(el)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("results: epochs of run %d: %w", runID, err)
	}
	return out, nil
}

// AddLayerStats records per-layer statistics in one transaction.
func (db *DB) AddLayerStats(ctx context.Context, stats []LayerStat) error {
	if len(stats) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO layer_stats (run_id, step, epoch, layer, weight_norm, grad_norm, update_ratio)
			VALUES (?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, s := range stats {
			if _, err := st.ExecContext(ctx, s.RunID, s.Step, nullable(s.Epoch), s.Layer,
				nullable(s.WeightNorm), nullable(s.GradNorm), nullable(s.UpdateRatio)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("results: add %d layer stats of run %d: %w", len(stats), stats[0].RunID, err)
	}
	return nil
}

// LayerStats returns the per-layer statistics of a run ordered by step and
// layer.
func (db *DB) LayerStats(ctx context.Context, runID int64) ([]LayerStat, error) {
	var out []LayerStat
	err := db.retry(ctx, func() error {
		out = out[:0]
		rows, err := db.sql.QueryContext(ctx, `SELECT run_id, step, epoch, layer, weight_norm, grad_norm, update_ratio
			FROM layer_stats WHERE run_id = ? ORDER BY step, layer`, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s LayerStat
			var ep, w, g, u sql.NullFloat64
			if err := rows.Scan(&s.RunID, &s.Step, &ep, &s.Layer, &w, &g, &u); err != nil {
				return err
			}
			s.Epoch, s.WeightNorm, s.GradNorm, s.UpdateRatio = fromNull(ep), fromNull(w), fromNull(g), fromNull(u)
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("results: layer stats of run %d: %w", runID, err)
	}
	return out, nil
}

// PutMeasurement stores (or replaces) a named JSON value of a run.
func (db *DB) PutMeasurement(ctx context.Context, m Measurement) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO measurements (run_id, name, value) VALUES (?,?,?)`,
			m.RunID, m.Name, m.JSON)
		return err
	})
	if err != nil {
		return fmt.Errorf("results: put measurement %q of run %d: %w", m.Name, m.RunID, err)
	}
	return nil
}

// Measurements returns the measurements of a run ordered by name.
func (db *DB) Measurements(ctx context.Context, runID int64) ([]Measurement, error) {
	var out []Measurement
	err := db.retry(ctx, func() error {
		out = out[:0]
		rows, err := db.sql.QueryContext(ctx, `SELECT run_id, name, value FROM measurements WHERE run_id = ? ORDER BY name`, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Measurement
			if err := rows.Scan(&m.RunID, &m.Name, &m.JSON); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("results: measurements of run %d: %w", runID, err)
	}
	return out, nil
}

// MeasurementsByName returns a run's measurements as JSON by name.
func (db *DB) MeasurementsByName(ctx context.Context, runID int64) (map[string]string, error) {
	ms, err := db.Measurements(ctx, runID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.Name] = m.JSON
	}
	return out, nil
}
