package results

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations bring a database from schema version i to i+1 (PRAGMA
// user_version). Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: runs (one row per cell), epochs, layer statistics, measurements.
	`CREATE TABLE runs (
		id             INTEGER PRIMARY KEY,
		stage          INTEGER NOT NULL,
		variant        TEXT    NOT NULL,
		profile        TEXT    NOT NULL,
		repeat         INTEGER NOT NULL,
		config_hash    TEXT    NOT NULL,
		data_sum       TEXT    NOT NULL,
		seed           INTEGER NOT NULL, -- uint64 stored bit for bit (schema 4: seed_unsigned)
		config_json    TEXT    NOT NULL,
		dataset        TEXT    NOT NULL,
		status         TEXT    NOT NULL CHECK (status IN ('queued','running','done','failed','diverged','interrupted')),
		error          TEXT    NOT NULL DEFAULT '',
		attempts       INTEGER NOT NULL DEFAULT 0,
		preprocess_s   REAL,
		train_s        REAL,
		eval_s         REAL,
		total_s        REAL,
		test_acc       REAL,
		tta_acc        REAL,
		test_loss      REAL,
		diverged_epoch INTEGER NOT NULL DEFAULT 0,
		peak_rss       INTEGER NOT NULL DEFAULT 0,
		host           TEXT    NOT NULL DEFAULT '',
		backend        TEXT    NOT NULL DEFAULT '',
		device         TEXT    NOT NULL DEFAULT '',
		git_rev        TEXT    NOT NULL DEFAULT '',
		git_dirty      INTEGER NOT NULL DEFAULT 0,
		go_version     TEXT    NOT NULL DEFAULT '',
		lib_version    TEXT    NOT NULL DEFAULT '',
		started_ns     INTEGER NOT NULL DEFAULT 0, -- unix nanoseconds, UTC
		finished_ns    INTEGER NOT NULL DEFAULT 0,
		lease_owner    TEXT    NOT NULL DEFAULT '',
		lease_host     TEXT    NOT NULL DEFAULT '',
		lease_pid      INTEGER NOT NULL DEFAULT 0,
		heartbeat_ns   INTEGER NOT NULL DEFAULT 0,
		lease_until_ns INTEGER NOT NULL DEFAULT 0,
		UNIQUE (stage, variant, profile, repeat, config_hash, data_sum)
	);
	CREATE INDEX runs_status ON runs (status);
	CREATE TABLE epochs (
		run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		epoch      INTEGER NOT NULL,
		lr         REAL,
		train_loss REAL,
		train_acc  REAL,
		test_loss  REAL,
		test_acc   REAL,
		elapsed_s  REAL,
		PRIMARY KEY (run_id, epoch)
	);
	CREATE TABLE layer_stats (
		run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		step         INTEGER NOT NULL,
		epoch        REAL,
		layer        TEXT    NOT NULL,
		weight_norm  REAL,
		grad_norm    REAL,
		update_ratio REAL,
		PRIMARY KEY (run_id, step, layer)
	);
	CREATE TABLE measurements (
		run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		name   TEXT    NOT NULL,
		value  TEXT    NOT NULL, -- JSON
		PRIMARY KEY (run_id, name)
	);`,
	// 2: what the machine was doing, so that times taken on a shared
	// machine can be read: the run's process CPU seconds (user + system)
	// and the 1-minute load average when it started. NULL when unknown.
	`ALTER TABLE runs ADD COLUMN cpu_s REAL;
	ALTER TABLE runs ADD COLUMN load_start REAL;`,
	// 3: the number format the engine actually trained in ("f32" or
	// "bf16": a run that asked for bf16 on a CPU without it trains in
	// f32). NULL: unknown (runs from before schema 3).
	`ALTER TABLE runs ADD COLUMN precision TEXT;`,
	// 4: the seed as the reports, CSV and JSON write it, an unsigned
	// decimal: SQLite's integers are signed, so seed holds the uint64 bit
	// for bit and a seed above 2^63 reads negative there. A virtual
	// column, computed when read.
	`ALTER TABLE runs ADD COLUMN seed_unsigned TEXT GENERATED ALWAYS AS (printf('%u', seed)) VIRTUAL;`,
}

// SchemaVersion is the schema this code writes.
var SchemaVersion = len(migrations)

// migrate applies the missing migrations in one transaction and refuses a
// database from a newer schema.
func (db *DB) migrate(ctx context.Context) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this runner's %d: it was written by a newer runner; upgrade the runner or use another --db", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migrate schema %d -> %d: %w", i, i+1, err)
			}
		}
		if v < len(migrations) {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
				return fmt.Errorf("set schema version: %w", err)
			}
		}
		return nil
	})
}
