package data

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultDir(t *testing.T) {
	tests := []struct{ data, xdg, home, want string }{
		{"/d/cifar", "/x", "/h", "/d/cifar"},
		{"", "/x", "/h", "/x/speedrun/cifar-10-batches-bin"},
		{"", "", "/h", "/h/.local/share/speedrun/cifar-10-batches-bin"},
	}
	for _, tt := range tests {
		t.Setenv("SPEEDRUN_DATA", tt.data)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		got, err := DefaultDir()
		if err != nil || got != tt.want {
			t.Errorf("SPEEDRUN_DATA=%q XDG_DATA_HOME=%q HOME=%q: %q, %v; want %q", tt.data, tt.xdg, tt.home, got, err, tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := writeFolder(t, []int{10}, 10)

	s, err := Open(ctx, dir)
	if err != nil || s.Train.Len() != 10 {
		t.Fatalf("Open(folder): %v", err)
	}
	// "" uses the default folder when it holds CIFAR-10 ...
	t.Setenv("SPEEDRUN_DATA", dir)
	s, err = Open(ctx, "")
	if err != nil || !strings.HasPrefix(s.Name, "cifar10") {
		t.Fatalf("Open(\"\") with CIFAR-10 in SPEEDRUN_DATA: %v, %v", s, err)
	}
	// ... else the synthetic set (resolve is Open without generating the
	// 60,000 images, which BenchmarkSynthetic covers).
	t.Setenv("SPEEDRUN_DATA", filepath.Join(dir, "absent"))
	for _, spec := range []string{"", SyntheticSpec} {
		if got, err := resolve(ctx, spec); got != SyntheticSpec || err != nil {
			t.Errorf("resolve(%q) without CIFAR-10: %q, %v; want %q", spec, got, err, SyntheticSpec)
		}
	}
	if _, err := Open(ctx, filepath.Join(dir, "data_batch_1.bin")); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("Open(file): %v", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "no such folder") {
		t.Errorf("Open(missing folder): %v", err)
	}
}
