package runner

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadAverage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          float64 // NaN: unknown
	}{
		{"linux", "1.52 0.98 0.40 2/311 12345\n", 1.52},
		{"empty", "", math.NaN()},
		{"garbage", "busy 1 2", math.NaN()},
		{"negative", "-1 0 0", math.NaN()},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got := loadAverage(p)
		if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tt.want) {
			t.Errorf("%s: loadAverage = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := loadAverage(filepath.Join(dir, "missing")); !math.IsNaN(got) {
		t.Errorf("missing file: %v, want NaN", got)
	}
}

// TestProcessCPU: burning CPU in this process moves the counter forward.
func TestProcessCPU(t *testing.T) {
	before := processCPU()
	if math.IsNaN(before) {
		t.Skip("getrusage is not available here")
	}
	x := 0.0
	for i := range 50_000_000 {
		x += math.Sqrt(float64(i))
	}
	if after := processCPU(); !(after > before) {
		t.Errorf("CPU time did not advance: %v then %v (x=%v)", before, after, x)
	}
}
