package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-sqlite3"
)

// DB is an open results database. It is safe for concurrent use, and several
// processes may share one database file on a local disk (never over NFS:
// SQLite's locks are not reliable there; use shards and Merge instead).
type DB struct {
	sql  *sql.DB
	path string
	// retryFor bounds how long a transaction keeps retrying SQLITE_BUSY.
	retryFor time.Duration
}

// Options tune Open. The zero value is what every command uses.
type Options struct {
	// BusyTimeout is SQLite's own wait for a lock (default 10 s); on top of
	// it each transaction is retried until RetryFor has passed (default 2 min).
	BusyTimeout time.Duration
	RetryFor    time.Duration
	// MaxPages caps the database size in pages (PRAGMA max_page_count). Tests
	// use it to simulate a full disk; 0 means no cap.
	MaxPages int
}

// Open opens (creating it and its folder if needed) the database at path,
// in WAL mode with foreign keys on, and migrates it to the current schema.
// A database written by a newer schema is refused.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("results: open: empty database path")
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 2 * time.Minute
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("results: open %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	// Every transaction takes the write lock up front, so two writers never
	// deadlock upgrading read locks (which SQLite answers with SQLITE_BUSY
	// at once, whatever the busy timeout).
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	// One connection per process: SQLite serialises writers anyway, and a
	// single connection keeps per-connection pragmas in force everywhere.
	sdb.SetMaxOpenConns(1)
	db := &DB{sql: sdb, path: path, retryFor: o.RetryFor}
	if err := db.retry(ctx, func() error { return sdb.PingContext(ctx) }); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	if o.MaxPages > 0 {
		if _, err := sdb.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", o.MaxPages)); err != nil {
			sdb.Close()
			return nil, fmt.Errorf("results: open %s: set max_page_count: %w", path, err)
		}
	}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	return db, nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict ("ok"
// when the file is sound).
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	var s string
	err := db.retry(ctx, func() error {
		return db.sql.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&s)
	})
	if err != nil {
		return "", fmt.Errorf("results: integrity check of %s: %w", db.path, err)
	}
	return s, nil
}

// tx runs fn in one immediate transaction, retrying the whole transaction
// while another process holds the lock, so callers never see "database is
// locked".
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.retry(ctx, func() error {
		tx, err := db.sql.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// retry calls fn until it succeeds, fails with an error other than
// SQLITE_BUSY/SQLITE_LOCKED, ctx ends or db.retryFor has passed.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(db.retryFor)
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		// Jitter keeps competing processes from retrying in lockstep.
		d := wait/2 + time.Duration(rand.Int64N(int64(wait)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting for the database lock: %v)", ctx.Err(), err)
		case <-time.After(d):
		}
		if wait < 500*time.Millisecond {
			wait *= 2
		}
	}
}

func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// IsFull reports whether err is SQLite's "database or disk is full".
func IsFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrFull
}

// PageCount is the database size in pages (for tests that cap it).
func (db *DB) PageCount(ctx context.Context) (int, error) {
	var n int
	err := db.retry(ctx, func() error {
		return db.sql.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("results: page count of %s: %w", db.path, err)
	}
	return n, nil
}
