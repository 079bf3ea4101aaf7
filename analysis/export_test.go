package analysis

import (
	"testing"

	"speedrun/data"
	"speedrun/results"
)

// For the external tests (package analysis_test), which draw the smoke
// runs' charts through plots/analysisplot, an importer of this package.

// SmokeEnv is the smoke tests' registry, data, CPU engine and database.
type SmokeEnv = smokeEnv

// NewSmokeEnv is newSmokeEnv.
func NewSmokeEnv(t *testing.T) *SmokeEnv { return newSmokeEnv(t) }

// RunStage runs every variant of a stage at smoke.
func (e *smokeEnv) RunStage(t *testing.T, stage int) map[string]Outcome { return e.runStage(t, stage) }

// RunStageProfile runs every variant of a stage at a profile.
func (e *smokeEnv) RunStageProfile(t *testing.T, stage int, profile string) map[string]Outcome {
	return e.runStageProfile(t, stage, profile)
}

// DB is the environment's results database.
func (e *smokeEnv) DB() *results.DB { return e.db }

// SetData replaces the dataset.
func (e *smokeEnv) SetData(set *data.Set) { e.set = set }
