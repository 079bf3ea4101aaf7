package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func start(stage, repeat int) Start {
	return Start{
		Cell:       Cell{Stage: stage, Variant: "v", Profile: "smoke", Repeat: repeat, ConfigHash: "h", DataSum: "d"},
		Seed:       math.MaxUint64 - uint64(repeat),
		ConfigJSON: `{"stage":1}`, Dataset: "synthetic", Host: "host", Backend: "fake",
	}
}

func mustOwner(t *testing.T) Owner {
	o, err := NewOwner()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "r.sqlite")
	db := openTest(t, path)
	if _, err := db.sql.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer than this runner's") {
		t.Fatalf("Open of a newer schema: got %v, want a refusal", err)
	}
}

func TestClaimLifecycle(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "r.sqlite"))
	a, b := mustOwner(t), mustOwner(t)
	b.ID += "-other"
	s := start(4, 0)

	c, err := db.Claim(ctx, s, a, time.Minute)
	id, ok := c.RunID, c.OK
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if c, _ := db.Claim(ctx, s, b, time.Minute); c.OK || c.Status != StatusRunning || c.Holder.Owner != a.ID {
		t.Fatalf("second owner under a live lease: %+v, want the cell held by %s", c, a.ID)
	}
	if err := db.Heartbeat(ctx, id, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.Heartbeat(ctx, id, b, time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("heartbeat by a non-owner: %v, want ErrLeaseLost", err)
	}
	if err := db.AddEpoch(ctx, Epoch{RunID: id, Epoch: 1, LR: 0.1, TrainLoss: 2, TestLoss: math.NaN(), TestAcc: math.NaN()}); err != nil {
		t.Fatal(err)
	}
	o := Outcome{Status: StatusDone, PreprocessSeconds: 1, TrainSeconds: 10, EvalSeconds: 2, TestAcc: 0.9, TTAAcc: math.NaN(), TestLoss: 0.3}
	if err := db.Finish(ctx, id, b, o); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("finish by a non-owner: %v", err)
	}
	if err := db.Finish(ctx, id, a, o); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Claim(ctx, s, b, time.Minute); c.OK || c.Status != StatusDone {
		t.Fatalf("claim of a done cell: %+v", c)
	}
	r, err := db.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusDone || r.Seed != s.Seed || r.TestAcc != 0.9 || !math.IsNaN(r.TTAAcc) ||
		r.TrainEvalSeconds() != 12 || r.DawnSeconds() != 11 || r.TotalSeconds != 13 || r.Attempts != 1 || r.LeaseOwner != "" {
		t.Fatalf("run read back wrong: %+v", r)
	}
	eps, err := db.Epochs(ctx, id)
	if err != nil || len(eps) != 1 || !math.IsNaN(eps[0].TestAcc) || eps[0].LR != 0.1 {
		t.Fatalf("epochs: %+v %v", eps, err)
	}
}

func TestClaimRetakesFailedAndExpired(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "r.sqlite"))
	a, b := mustOwner(t), mustOwner(t)
	b.ID += "-other"
	// Failed: retaken, old epochs dropped.
	c, _ := db.Claim(ctx, start(1, 0), a, time.Minute)
	id := c.RunID
	db.AddEpoch(ctx, Epoch{RunID: id, Epoch: 1})
	if err := db.Finish(ctx, id, a, Outcome{Status: StatusFailed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	c, err := db.Claim(ctx, start(1, 0), b, time.Minute)
	if err != nil || !c.OK || c.RunID != id || c.TookOver != "failed" {
		t.Fatalf("retake failed cell: %+v, err %v", c, err)
	}
	if eps, _ := db.Epochs(ctx, id); len(eps) != 0 {
		t.Fatalf("old epochs survived a retake: %v", eps)
	}
	if r, _ := db.Run(ctx, id); r.Attempts != 2 || r.Error != "" {
		t.Fatalf("retaken run: %+v", r)
	}
	// Expired lease: requeued by RequeueDead, then claimable.
	c, _ = db.Claim(ctx, start(2, 0), a, -time.Second)
	id3 := c.RunID
	rq, err := db.RequeueDead(ctx, "elsewhere")
	if err != nil || len(rq) != 1 || rq[0].RunID != id3 || !strings.Contains(rq[0].Reason, "expired") {
		t.Fatalf("requeue expired: %+v %v", rq, err)
	}
	// A dead pid on this host: requeued although the lease is live.
	dead := Owner{ID: "h:999999999:x", Host: "thishost", PID: 999999999}
	c, _ = db.Claim(ctx, start(3, 0), dead, time.Hour)
	id4 := c.RunID
	live := Owner{ID: "h:1:x", Host: "thishost", PID: 1}
	db.Claim(ctx, start(3, 1), live, time.Hour)
	rq, err = db.RequeueDead(ctx, "thishost")
	if err != nil || len(rq) != 1 || rq[0].RunID != id4 {
		t.Fatalf("requeue dead pid: %+v %v", rq, err)
	}
	if r, _ := db.Run(ctx, id4); r.Status != StatusQueued || !strings.Contains(r.Error, "died") {
		t.Fatalf("requeued run: %+v", r)
	}
}

// TestClaimHeldCell: a running cell is taken over at once when its holder
// ran on the claimant's host and its process is gone, whatever its lease
// says; otherwise only once the lease has expired.
func TestClaimHeldCell(t *testing.T) {
	const deadPID = 999999999
	tests := []struct {
		name     string
		holder   Owner
		lease    time.Duration
		wantOK   bool
		tookOver string
	}{
		{"live process on this host", Owner{ID: "h:self:x", Host: "thishost", PID: os.Getpid()}, time.Hour, false, ""},
		{"dead process on this host", Owner{ID: "h:dead:x", Host: "thishost", PID: deadPID}, time.Hour, true, "owner h:dead:x died"},
		{"dead pid on another host, live lease", Owner{ID: "o:dead:x", Host: "otherhost", PID: deadPID}, time.Hour, false, ""},
		{"expired lease on another host", Owner{ID: "o:1:x", Host: "otherhost", PID: 1}, -time.Second, true, "lease of o:1:x expired"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t, filepath.Join(t.TempDir(), "r.sqlite"))
			first, err := db.Claim(ctx, start(1, i), tt.holder, tt.lease)
			if err != nil || !first.OK {
				t.Fatalf("holder's claim: %+v %v", first, err)
			}
			me := Owner{ID: "h:me:x", Host: "thishost", PID: os.Getpid()}
			c, err := db.Claim(ctx, start(1, i), me, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if c.OK != tt.wantOK || c.TookOver != tt.tookOver || c.RunID != first.RunID {
				t.Fatalf("claim: %+v, want OK %v, TookOver %q, run %d", c, tt.wantOK, tt.tookOver, first.RunID)
			}
			if !c.OK && (c.Status != StatusRunning || c.Holder.Owner != tt.holder.ID || c.Holder.Host != tt.holder.Host) {
				t.Fatalf("held cell: %+v, want running under %s", c, tt.holder.ID)
			}
			if r, _ := db.Run(ctx, c.RunID); tt.wantOK && (r.Attempts != 2 || r.LeaseOwner != me.ID) {
				t.Fatalf("taken-over run: attempts %d owner %q", r.Attempts, r.LeaseOwner)
			}
		})
	}
}

// TestConcurrentClaims has several handles (separate connections, like
// separate processes) race for the same cells: each is claimed exactly once
// and nobody sees "database is locked".
func TestConcurrentClaims(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.sqlite")
	openTest(t, path)
	const workers, cells = 4, 20
	var mu sync.Mutex
	claimed := map[int]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(ctx, path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			o := mustOwner(t)
			o.ID += fmt.Sprint(w)
			for c := range cells {
				cl, err := db.Claim(ctx, start(c, 0), o, time.Minute)
				id, ok := cl.RunID, cl.OK
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					continue
				}
				mu.Lock()
				claimed[c]++
				mu.Unlock()
				if err := db.AddEpoch(ctx, Epoch{RunID: id, Epoch: 1}); err != nil {
					errs <- err
					return
				}
				if err := db.Finish(ctx, id, o, Outcome{Status: StatusDone}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for c := range cells {
		if claimed[c] != 1 {
			t.Errorf("cell %d claimed %d times", c, claimed[c])
		}
	}
}

func TestMergeIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := mustOwner(t)
	var shards []string
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("shard%d.sqlite", i))
		s := openTest(t, p)
		c, _ := s.Claim(ctx, start(4, i), o, time.Minute)
		id := c.RunID
		s.AddEpoch(ctx, Epoch{RunID: id, Epoch: 1, TrainLoss: 1})
		s.AddLayerStats(ctx, []LayerStat{{RunID: id, Step: 1, Layer: "conv", WeightNorm: 2}})
		s.PutMeasurement(ctx, Measurement{RunID: id, Name: "m", JSON: `[1]`})
		if err := s.Finish(ctx, id, o, Outcome{Status: StatusDone, TestAcc: 0.5 + float64(i)/10}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		shards = append(shards, p)
	}
	out := openTest(t, filepath.Join(dir, "out.sqlite"))
	for pass := range 2 {
		for _, p := range shards {
			st, err := out.Merge(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			want := MergeStats{Added: 1}
			if pass == 1 {
				want = MergeStats{Skipped: 1}
			}
			if len(st.Cells) != 1 || st.Cells[0].Stage != 4 {
				t.Fatalf("pass %d merge %s: cells %+v, want the shard's one stage-4 cell", pass, p, st.Cells)
			}
			st.Cells = nil
			if !reflect.DeepEqual(st, want) {
				t.Fatalf("pass %d merge %s: %+v, want %+v", pass, p, st, want)
			}
		}
	}
	runs, err := out.Runs(ctx, Filter{Stages: []int{4}, Statuses: []Status{StatusDone}})
	if err != nil || len(runs) != 2 {
		t.Fatalf("merged runs: %d %v", len(runs), err)
	}
	for _, r := range runs {
		eps, _ := out.Epochs(ctx, r.ID)
		ls, _ := out.LayerStats(ctx, r.ID)
		ms, _ := out.Measurements(ctx, r.ID)
		if len(eps) != 1 || len(ls) != 1 || len(ms) != 1 || r.Host != "host" || r.Started.IsZero() {
			t.Fatalf("merged run %+v lost children or provenance: %d %d %d", r, len(eps), len(ls), len(ms))
		}
	}
}

// TestDiskFull fills a size-capped database: the write fails with
// SQLITE_FULL, the run can still be marked failed, earlier rows survive and
// the file stays sound.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.sqlite")
	db0 := openTest(t, path)
	o := mustOwner(t)
	c, _ := db0.Claim(ctx, start(1, 0), o, time.Minute)
	id := c.RunID
	if err := db0.Finish(ctx, id, o, Outcome{Status: StatusDone, TestAcc: 0.7}); err != nil {
		t.Fatal(err)
	}
	var pages int
	db0.sql.QueryRow("PRAGMA page_count").Scan(&pages)
	db0.Close()

	db, err := OpenWith(ctx, path, Options{MaxPages: pages + 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err = db.Claim(ctx, start(1, 1), o, time.Minute)
	id2 := c.RunID
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	var full error
	for i := range 100 {
		if err := db.PutMeasurement(ctx, Measurement{RunID: id2, Name: fmt.Sprint(i), JSON: `"` + big + `"`}); err != nil {
			full = err
			break
		}
	}
	if !IsFull(full) {
		t.Fatalf("writing past max_page_count: %v, want SQLITE_FULL", full)
	}
	if err := db.Finish(ctx, id2, o, Outcome{Status: StatusFailed, Error: full.Error()}); err != nil {
		t.Fatalf("marking the run failed on a full disk: %v", err)
	}
	if s, err := db.IntegrityCheck(ctx); err != nil || s != "ok" {
		t.Fatalf("integrity: %q %v", s, err)
	}
	runs, _ := db.Runs(ctx, Filter{})
	if len(runs) != 2 || runs[0].Status != StatusDone || runs[0].TestAcc != 0.7 || runs[1].Status != StatusFailed {
		t.Fatalf("runs after disk full: %+v", runs)
	}
}

// TestMigrateFromSchema1: a database written before cpu_s, load_start and
// precision existed opens, keeps its runs (with those fields unknown), and
// records them for new runs.
func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.sqlite")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], "PRAGMA user_version = 1",
		`INSERT INTO runs (stage, variant, profile, repeat, config_hash, data_sum, seed, config_json, dataset, status, total_s)
		 VALUES (4, 'old', 'smoke', 0, 'h', 'd', 1, '{}', 'synthetic', 'done', 12.5)`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := openTest(t, path)
	var v int
	if err := db.sql.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("user_version %d (%v), want %d", v, err, SchemaVersion)
	}
	a := mustOwner(t)
	c, err := db.Claim(ctx, start(4, 1), a, time.Minute)
	id, ok := c.RunID, c.OK
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := db.Finish(ctx, id, a, Outcome{Status: StatusDone, CPUSeconds: 3.25, LoadStart: 1.5, Precision: "bf16"}); err != nil {
		t.Fatal(err)
	}
	runs, err := db.Runs(ctx, Filter{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	for _, r := range runs {
		switch r.Variant {
		case "old":
			if r.TotalSeconds != 12.5 || !math.IsNaN(r.CPUSeconds) || !math.IsNaN(r.LoadStart) || r.Precision != "" {
				t.Errorf("old run: total %v cpu %v load %v precision %q; want 12.5, NaN, NaN, unknown", r.TotalSeconds, r.CPUSeconds, r.LoadStart, r.Precision)
			}
		default:
			if r.CPUSeconds != 3.25 || r.LoadStart != 1.5 || r.Precision != "bf16" {
				t.Errorf("new run: cpu %v load %v precision %q; want 3.25, 1.5, bf16", r.CPUSeconds, r.LoadStart, r.Precision)
			}
		}
	}
}

// TestSeedUnsigned: a seed above 2^63 reads back as itself, and the
// database's seed_unsigned column shows it as the unsigned decimal the
// reports write.
func TestSeedUnsigned(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "seed.sqlite"))
	const seed uint64 = 10194869907676980233
	s := start(8, 0)
	s.Seed = seed
	c, err := db.Claim(ctx, s, mustOwner(t), time.Minute)
	if err != nil || !c.OK {
		t.Fatalf("claim: %v %v", c.OK, err)
	}
	r, err := db.Run(ctx, c.RunID)
	if err != nil || r.Seed != seed {
		t.Fatalf("seed %d (%v), want %d", r.Seed, err, seed)
	}
	var signed int64
	var unsigned string
	if err := db.sql.QueryRow("SELECT seed, seed_unsigned FROM runs WHERE id = ?", c.RunID).Scan(&signed, &unsigned); err != nil {
		t.Fatal(err)
	}
	if signed != -8251874166032571383 || unsigned != "10194869907676980233" {
		t.Errorf("seed %d, seed_unsigned %q; want -8251874166032571383 and 10194869907676980233", signed, unsigned)
	}
}
