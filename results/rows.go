// Package results stores runs in SQLite: one row per run written when it
// starts and completed when it ends, per-epoch metrics, provenance and the
// leases that let several sweeps share one database.
package results

import (
	"fmt"
	"time"
)

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

	// Added by the results package (additive to the shared contract).
	TestLoss     float64 // NaN until done
	PeakRSSBytes int64
	Attempts     int       // how many times the cell was claimed
	LeaseOwner   string    // the process holding the cell while it runs
	Heartbeat    time.Time // the owner's last sign of life
	// CPUSeconds is the run's process CPU time (user + system, all
	// threads) and LoadStart the 1-minute load average when it started:
	// wall times from a shared machine are read against them. NaN when
	// unknown (runs from schema 1, or a platform without them).
	CPUSeconds float64
	LoadStart  float64
	// Precision is the number format the engine trained in ("f32",
	// "bf16"); empty when unknown (runs from before schema 3).
	Precision string
}

// Cell is what identifies a run: the same cell is never run twice.
func (r Run) Cell() Cell {
	return Cell{Stage: r.Stage, Variant: r.Variant, Profile: r.Profile, Repeat: r.Repeat, ConfigHash: r.ConfigHash, DataSum: r.DataSum}
}

// TrainEvalSeconds is the posts 1-4 timing: training plus per-epoch
// evaluation, preprocessing excluded.
func (r Run) TrainEvalSeconds() float64 { return r.TrainSeconds + r.EvalSeconds }

// DawnSeconds is the DAWNBench / post 8 timing: preprocessing plus
// training, evaluation excluded.
func (r Run) DawnSeconds() float64 { return r.PreprocessSeconds + r.TrainSeconds }

// AirbenchSeconds is airbench's timing (stage 10): preprocessing (the
// whitening filters included), training and evaluation, which stage 10
// runs once, at the end, with its TTA.
func (r Run) AirbenchSeconds() float64 { return r.PreprocessSeconds + r.TrainSeconds + r.EvalSeconds }

// Final reports whether the status is a finished result that a sweep never
// reruns (done or diverged; a divergence is a deterministic outcome).
func (s Status) Final() bool { return s == StatusDone || s == StatusDiverged }

// Cell is the unique key of a run.
type Cell struct {
	Stage      int
	Variant    string
	Profile    string
	Repeat     int
	ConfigHash string
	DataSum    string
}

func (c Cell) String() string {
	return fmt.Sprintf("stage %d %s/%s repeat %d", c.Stage, c.Variant, c.Profile, c.Repeat)
}

// LayerStat is one row of the layer_stats table (post-6 experiments).
type LayerStat struct {
	RunID       int64
	Step        int
	Epoch       float64
	Layer       string
	WeightNorm  float64
	GradNorm    float64
	UpdateRatio float64
}

// Measurement is one named JSON value of an analysis experiment.
type Measurement struct {
	RunID int64
	Name  string
	JSON  string
}

// Filter selects runs; zero fields match everything.
type Filter struct {
	Stages   []int
	Variants []string
	Profile  string
	Statuses []Status
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
