package results

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"
)

// Owner identifies the process that holds a cell's lease.
type Owner struct {
	ID   string // unique per process: host:pid:random
	Host string
	PID  int
}

// NewOwner returns an Owner for the calling process.
func NewOwner() (Owner, error) {
	host, err := os.Hostname()
	if err != nil {
		return Owner{}, fmt.Errorf("results: owner: hostname: %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Owner{}, fmt.Errorf("results: owner: %w", err)
	}
	pid := os.Getpid()
	return Owner{ID: fmt.Sprintf("%s:%d:%s", host, pid, hex.EncodeToString(b[:])), Host: host, PID: pid}, nil
}

// Start is everything written into a run row when its cell is claimed.
type Start struct {
	Cell
	Seed       uint64
	ConfigJSON string
	Dataset    string
	Host       string
	Backend    string
	Device     string
	GitRev     string
	GitDirty   bool
	GoVersion  string
	LibVersion string
}

// ErrLeaseLost is returned when another process has taken over a cell
// (its lease expired while this one still ran).
var ErrLeaseLost = errors.New("lease lost: another process took over the cell")

// Claimed is what Claim found.
type Claimed struct {
	RunID int64
	// OK: the cell is now the caller's to run.
	OK bool
	// Status is the cell's status when OK is false: finished (done or
	// diverged), or running under Holder.
	Status Status
	Holder Holder
	// TookOver, when OK, says why an earlier attempt's row was taken over
	// (queued, failed, interrupted, a dead owner or an expired lease); it
	// is empty for a new cell.
	TookOver string
}

// Holder is the owner of a running cell's lease.
type Holder struct {
	Owner string
	Host  string
	PID   int
	Until time.Time
}

// Dead reports whether the holder is gone for a process on host: its
// lease has expired, or it ran on host and its pid no longer exists (a
// holder on another host is judged by its lease alone).
func (h Holder) Dead(host string, now time.Time) bool {
	return !h.Until.After(now) || (h.Host == host && !processAlive(h.PID))
}

// Claim takes the cell in s for owner in one immediate transaction. The
// cell is the owner's (Claimed.OK, its row written with status running, so
// a crash leaves it visible) unless it is finished (done or diverged) or
// another live process holds it. A queued, failed or interrupted cell, or
// a running one whose holder is dead (Holder.Dead: its lease expired, or
// it ran on this host and its process is gone, which is seen at once) is
// taken over: its old epochs are dropped and its attempt count goes up.
func (db *DB) Claim(ctx context.Context, s Start, owner Owner, lease time.Duration) (Claimed, error) {
	var c Claimed
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c = Claimed{}
		now := time.Now()
		var status string
		var until int64
		err := tx.QueryRowContext(ctx, `SELECT id, status, lease_owner, lease_host, lease_pid, lease_until_ns FROM runs
			WHERE stage = ? AND variant = ? AND profile = ? AND repeat = ? AND config_hash = ? AND data_sum = ?`,
			s.Stage, s.Variant, s.Profile, s.Repeat, s.ConfigHash, s.DataSum).Scan(&c.RunID, &status,
			&c.Holder.Owner, &c.Holder.Host, &c.Holder.PID, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res, err := tx.ExecContext(ctx, `INSERT INTO runs (stage, variant, profile, repeat, config_hash, data_sum,
				seed, config_json, dataset, status, attempts, host, backend, device, git_rev, git_dirty, go_version, lib_version,
				started_ns, lease_owner, lease_host, lease_pid, heartbeat_ns, lease_until_ns)
				VALUES (?,?,?,?,?,?, ?,?,?,'running',1, ?,?,?,?,?,?,?, ?,?,?,?,?,?)`,
				s.Stage, s.Variant, s.Profile, s.Repeat, s.ConfigHash, s.DataSum,
				int64(s.Seed), s.ConfigJSON, s.Dataset, s.Host, s.Backend, s.Device, s.GitRev, s.GitDirty, s.GoVersion, s.LibVersion,
				now.UnixNano(), owner.ID, owner.Host, owner.PID, now.UnixNano(), now.Add(lease).UnixNano())
			if err != nil {
				return fmt.Errorf("insert run: %w", err)
			}
			c = Claimed{OK: true, Status: StatusRunning}
			c.RunID, err = res.LastInsertId()
			return err
		case err != nil:
			return fmt.Errorf("look up cell: %w", err)
		}
		c.Status = Status(status)
		c.Holder.Until = time.Unix(0, until)
		switch {
		case c.Status.Final():
			c.Holder = Holder{}
			return nil
		case c.Status != StatusRunning:
			c.TookOver = string(c.Status)
		case !c.Holder.Dead(owner.Host, now):
			return nil
		case c.Holder.Until.After(now):
			c.TookOver = fmt.Sprintf("owner %s died", c.Holder.Owner)
		default:
			c.TookOver = fmt.Sprintf("lease of %s expired", c.Holder.Owner)
		}
		for _, t := range []string{"epochs", "layer_stats", "measurements"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE run_id = ?", c.RunID); err != nil {
				return fmt.Errorf("clear %s of run %d: %w", t, c.RunID, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET seed = ?, config_json = ?, dataset = ?, status = 'running', error = '',
			attempts = attempts + 1, preprocess_s = NULL, train_s = NULL, eval_s = NULL, total_s = NULL,
			test_acc = NULL, tta_acc = NULL, test_loss = NULL, diverged_epoch = 0, peak_rss = 0, cpu_s = NULL, load_start = NULL, precision = NULL,
			host = ?, backend = ?, device = ?, git_rev = ?, git_dirty = ?, go_version = ?, lib_version = ?,
			started_ns = ?, finished_ns = 0, lease_owner = ?, lease_host = ?, lease_pid = ?, heartbeat_ns = ?, lease_until_ns = ?
			WHERE id = ?`,
			int64(s.Seed), s.ConfigJSON, s.Dataset, s.Host, s.Backend, s.Device, s.GitRev, s.GitDirty, s.GoVersion, s.LibVersion,
			now.UnixNano(), owner.ID, owner.Host, owner.PID, now.UnixNano(), now.Add(lease).UnixNano(), c.RunID)
		if err != nil {
			return fmt.Errorf("take over run %d: %w", c.RunID, err)
		}
		c.OK, c.Status, c.Holder = true, StatusRunning, Holder{}
		return nil
	})
	if err != nil {
		return Claimed{}, fmt.Errorf("results: claim %v: %w", s.Cell, err)
	}
	return c, nil
}

// Heartbeat extends owner's lease on run id. It returns ErrLeaseLost when
// the run is no longer this owner's.
func (db *DB) Heartbeat(ctx context.Context, id int64, owner Owner, lease time.Duration) error {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx, `UPDATE runs SET heartbeat_ns = ?, lease_until_ns = ?
			WHERE id = ? AND lease_owner = ? AND status = 'running'`,
			now.UnixNano(), now.Add(lease).UnixNano(), id, owner.ID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("results: heartbeat of run %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("results: heartbeat of run %d: %w", id, ErrLeaseLost)
	}
	return nil
}

// Requeued is a running cell returned to the queue.
type Requeued struct {
	RunID  int64
	Cell   Cell
	Reason string
}

// RequeueDead returns to the queue every running cell whose owner is dead:
// its lease has expired, or it was held by a process on this host
// (host) whose pid no longer exists.
func (db *DB) RequeueDead(ctx context.Context, host string) ([]Requeued, error) {
	var out []Requeued
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		now := time.Now()
		rows, err := tx.QueryContext(ctx, `SELECT id, stage, variant, profile, repeat, config_hash, data_sum,
			lease_owner, lease_host, lease_pid, lease_until_ns FROM runs WHERE status = 'running'`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r Requeued
			var h Holder
			var until int64
			if err := rows.Scan(&r.RunID, &r.Cell.Stage, &r.Cell.Variant, &r.Cell.Profile, &r.Cell.Repeat,
				&r.Cell.ConfigHash, &r.Cell.DataSum, &h.Owner, &h.Host, &h.PID, &until); err != nil {
				rows.Close()
				return err
			}
			h.Until = time.Unix(0, until)
			switch {
			case !h.Until.After(now):
				r.Reason = fmt.Sprintf("lease of %s expired", h.Owner)
			case h.Dead(host, now):
				r.Reason = fmt.Sprintf("owner %s died", h.Owner)
			default:
				continue
			}
			out = append(out, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, r := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'queued', error = ?, lease_owner = '',
				lease_until_ns = 0 WHERE id = ?`, "requeued: "+r.Reason, r.RunID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("results: requeue dead cells: %w", err)
	}
	return out, nil
}

// processAlive reports whether pid exists. A pid reused by another process
// reads as alive; the lease expiry catches that case.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Outcome is how a run ended.
type Outcome struct {
	Status            Status
	Error             string
	PreprocessSeconds float64
	TrainSeconds      float64
	EvalSeconds       float64
	TestAcc           float64
	TTAAcc            float64
	TestLoss          float64
	DivergedEpoch     int
	PeakRSSBytes      int64
	CPUSeconds        float64 // NaN: unknown
	LoadStart         float64 // NaN: unknown
	// Precision is the number format the engine trained in ("" unknown).
	Precision string
	// Device and LibVersion, when set, replace what Claim wrote (a backend
	// may learn them only once it has started).
	Device     string
	LibVersion string
}

// Finish completes owner's run id with o and releases the lease. It
// returns ErrLeaseLost when another process has taken the cell over.
func (db *DB) Finish(ctx context.Context, id int64, owner Owner, o Outcome) error {
	if o.Status == StatusRunning || o.Status == StatusQueued || o.Status == "" {
		return fmt.Errorf("results: finish run %d: status %q is not an end state", id, o.Status)
	}
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?,
			preprocess_s = ?, train_s = ?, eval_s = ?, total_s = ?, test_acc = ?, tta_acc = ?, test_loss = ?,
			diverged_epoch = ?, peak_rss = ?, cpu_s = ?, load_start = ?, precision = NULLIF(?, ''),
			device = CASE WHEN ? = '' THEN device ELSE ? END,
			lib_version = CASE WHEN ? = '' THEN lib_version ELSE ? END,
			finished_ns = ?, lease_owner = '', lease_until_ns = 0
			WHERE id = ? AND lease_owner = ?`,
			string(o.Status), o.Error,
			nullable(o.PreprocessSeconds), nullable(o.TrainSeconds), nullable(o.EvalSeconds),
			nullable(o.PreprocessSeconds+o.TrainSeconds+o.EvalSeconds),
			nullable(o.TestAcc), nullable(o.TTAAcc), nullable(o.TestLoss),
			o.DivergedEpoch, o.PeakRSSBytes, nullable(o.CPUSeconds), nullable(o.LoadStart), o.Precision, o.Device, o.Device, o.LibVersion, o.LibVersion, now, id, owner.ID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("results: finish run %d as %s: %w", id, o.Status, err)
	}
	if n == 0 {
		return fmt.Errorf("results: finish run %d as %s: %w", id, o.Status, ErrLeaseLost)
	}
	return nil
}

// nullable stores NaN and Inf as NULL (SQLite has no NaN).
func nullable(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func fromNull(f sql.NullFloat64) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.Float64
}
