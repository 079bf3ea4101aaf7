package stages

import (
	"math"
	"testing"
)

func TestLRAt(t *testing.T) {
	// p4.s10's schedule, p8.s10's (last value held) and a single knot.
	tri := Config{Train: Train{LR: []Knot{{0, 0}, {5, 0.4}, {24, 0}}}}
	held := Config{Train: Train{LR: []Knot{{0, 0}, {2, 1.0}, {8, 0.1}}}}
	flat := Config{Train: Train{LR: []Knot{{3, 0.2}}}}
	shifted := Config{Train: Train{LR: []Knot{{1, 0.5}, {2, 1.5}}}}
	tests := []struct {
		name  string
		c     Config
		epoch float64
		want  float64
	}{
		{"start", tri, 0, 0},
		{"warm-up", tri, 2.5, 0.2},
		{"peak", tri, 5, 0.4},
		{"decay", tri, 14.5, 0.2},
		{"end", tri, 24, 0},
		{"past end", tri, 30, 0},
		{"before start", tri, -1, 0},
		{"fraction of a step", tri, 1.0 / 97, 0.4 / 5 / 97},
		{"decay to held", held, 5, 0.55},
		{"held after last knot", held, 9.5, 0.1},
		{"single knot before", flat, 0, 0.2},
		{"single knot after", flat, 10, 0.2},
		{"clamped below first knot", shifted, 0.25, 0.5},
		{"between shifted knots", shifted, 1.25, 0.75},
		{"no knots", Config{}, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.LRAt(tt.epoch); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("LRAt(%v) = %v, want %v", tt.epoch, got, tt.want)
			}
		})
	}
}
