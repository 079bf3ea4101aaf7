package data

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// SyntheticSpec is the data spec that selects the generated set.
const SyntheticSpec = "synthetic"

// DefaultDir is the user's CIFAR-10 folder: $SPEEDRUN_DATA if set, else
// $XDG_DATA_HOME/speedrun/cifar-10-batches-bin, else
// ~/.local/share/speedrun/cifar-10-batches-bin.
func DefaultDir() (string, error) {
	if d := os.Getenv("SPEEDRUN_DATA"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "speedrun", "cifar-10-batches-bin"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data: no $SPEEDRUN_DATA, $XDG_DATA_HOME or home folder: %w", err)
	}
	return filepath.Join(home, ".local", "share", "speedrun", "cifar-10-batches-bin"), nil
}

// HasCIFAR10 reports whether dir looks like a CIFAR-10 folder (it has
// data_batch_1.bin and test_batch.bin); Load checks the rest.
func HasCIFAR10(dir string) bool {
	for _, f := range []string{"data_batch_1.bin", testFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// Open returns the dataset a --data spec names: "synthetic" is the
// generated set at its default size and seed, a folder path is read with
// Load, and "" is DefaultDir() when it holds CIFAR-10, else the synthetic
// set. It logs which it chose.
func Open(ctx context.Context, spec string) (*Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := resolve(ctx, spec)
	if err != nil {
		return nil, err
	}
	if dir == SyntheticSpec {
		return Synthetic(SyntheticOptions{})
	}
	return Load(dir)
}

// resolve turns a spec into a folder to Load, or SyntheticSpec.
func resolve(ctx context.Context, spec string) (string, error) {
	switch spec {
	case SyntheticSpec:
		return SyntheticSpec, nil
	case "":
		dir, err := DefaultDir()
		if err == nil && HasCIFAR10(dir) {
			slog.InfoContext(ctx, "data: using CIFAR-10 from the default folder", "dir", dir)
			return dir, nil
		}
		if err != nil {
			slog.InfoContext(ctx, "data: using the synthetic set", "reason", err.Error())
		} else {
			slog.InfoContext(ctx, "data: no CIFAR-10 in the default folder; using the synthetic set (run 'runner data fetch' for the real one)", "dir", dir)
		}
		return SyntheticSpec, nil
	}
	st, err := os.Stat(spec)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("data: %s: no such folder; expected a cifar-10-batches-bin folder or %q", spec, SyntheticSpec)
	}
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("data: %s is not a folder; expected a cifar-10-batches-bin folder or %q", spec, SyntheticSpec)
	}
	return spec, nil
}
