// Package results stores runs in SQLite: one row per run written when it
// starts and completed when it ends, per-epoch metrics, provenance and the
// leases that let several sweeps share one database.
package results

import "time"

// Status of a run.
type Status string

const (
	StatusQueued      Status = "queued"
	StatusRunning     Status = "running"
	StatusDone        Status = "done"
	StatusFailed      Status = "failed"
	StatusDiverged    Status = "diverged"
	StatusInterrupted Status = "interrupted"
)

// Run is one row of the runs table, as plots and reports read it.
type Run struct {
	ID         int64
	Stage      int
	Variant    string
	Profile    string
	Repeat     int
	Seed       uint64
	ConfigHash string
	ConfigJSON string // the full resolved config
	Dataset    string // dataset name
	DataSum    string // dataset checksum
	Status     Status
	Error      string

	PreprocessSeconds float64
	TrainSeconds      float64
	EvalSeconds       float64
	TotalSeconds      float64
	TestAcc           float64 // NaN until done
	TTAAcc            float64 // NaN when TTA is off
	DivergedEpoch     int

	Host       string
	Backend    string
	Device     string // CPU or GPU model
	GitRev     string
	GitDirty   bool
	GoVersion  string
	LibVersion string // kernel libraries and their versions
	Started    time.Time
	Finished   time.Time
}

// Epoch is one row of the epochs table.
type Epoch struct {
	RunID     int64
	Epoch     int
	LR        float64
	TrainLoss float64
	TrainAcc  float64
	TestLoss  float64 // NaN when not evaluated
	TestAcc   float64 // NaN when not evaluated
	Elapsed   float64
}
