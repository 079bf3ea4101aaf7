// Package runner plans cells (stage x variant x repeat for a profile),
// claims them in the results database, trains each through a Backend and
// records how it ended. Sweeps are resumable and crash-safe: a finished
// cell is never rerun, and a cell whose process died returns to the queue.
package runner

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"speedrun/stages"
)

// Resolver resolves a (stage, variant, profile) into a full Config;
// *stages.Registry is one.
type Resolver interface {
	Resolve(stage int, variant, profile string) (stages.Config, error)
}

// Pick names one variant of one stage.
type Pick struct {
	Stage   int
	Variant string
}

// Cell is one planned run: a resolved config and a repeat index.
type Cell struct {
	Config stages.Config
	Hash   string // Config's hash, part of the results key
	Repeat int
}

func (c Cell) String() string {
	return fmt.Sprintf("stage %d %s/%s #%d", c.Config.Stage, c.Config.Variant, c.Config.Profile, c.Repeat)
}

// Plan resolves every pick under profile and crosses it with repeats
// 0..repeats-1, in pick order then repeat order. The order is stable, so a
// cell index (a Slurm array task) names the same cell every time.
func Plan(reg Resolver, picks []Pick, profile string, repeats int) ([]Cell, error) {
	if repeats < 1 {
		return nil, fmt.Errorf("plan: repeats is %d, want at least 1", repeats)
	}
	var cells []Cell
	for _, p := range picks {
		cfg, err := reg.Resolve(p.Stage, p.Variant, profile)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		h := cfg.Hash()
		for r := range repeats {
			cells = append(cells, Cell{Config: cfg, Hash: h, Repeat: r})
		}
	}
	return cells, nil
}

// Seed is the run's seed. Without a base it is derived from the config
// hash and the repeat, so repeats differ and a rerun of the same cell gets
// the same seed; with a base it is base + repeat.
func Seed(configHash string, repeat int, base uint64, haveBase bool) uint64 {
	if haveBase {
		return base + uint64(repeat)
	}
	h := sha256.New()
	h.Write([]byte(configHash))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(repeat))
	h.Write(b[:])
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

// shortHash is for messages.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
