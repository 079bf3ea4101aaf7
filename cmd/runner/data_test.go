package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataCheckReal checks `runner data check` against the published
// CIFAR-10 numbers on the shared copy of the real set.
func TestDataCheckReal(t *testing.T) {
	root := os.Getenv("SPEEDRUN_SHARED")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared")
	}
	dir := filepath.Join(root, "data", "cifar-10-batches-bin")
	if _, err := os.Stat(filepath.Join(dir, "test_batch.bin")); err != nil {
		t.Skipf("no CIFAR-10 at %s (set SPEEDRUN_SHARED to the shared folder to run this test)", dir)
	}
	var out bytes.Buffer
	if err := runDataCheck(context.Background(), dataCheckOptions{dir: dir, out: &out}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"dataset cifar10: 50000 train, 10000 test images",
		"train mean (R G B, 0-1): 0.4914 0.4822 0.4465\n",
		"train std  (R G B, 0-1): 0.2470 0.2435 0.2616\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, class := range []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"} {
		if !strings.Contains(got, class+"   5000  1000") {
			t.Errorf("output lacks %s with 5000 train and 1000 test images:\n%s", class, got)
		}
	}
}

func TestDataCheckFolder(t *testing.T) {
	dir := t.TempDir()
	rec := func(n int) []byte {
		var b []byte
		for i := range n {
			r := make([]byte, 3073)
			r[0] = byte(i % 10)
			for k := 1; k < len(r); k++ {
				r[k] = byte(k * (i + 1))
			}
			b = append(b, r...)
		}
		return b
	}
	os.WriteFile(filepath.Join(dir, "data_batch_1.bin"), rec(30), 0o644)
	os.WriteFile(filepath.Join(dir, "test_batch.bin"), rec(20), 0o644)
	var out bytes.Buffer
	if err := runDataCheck(context.Background(), dataCheckOptions{dir: dir, out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ": 30 train, 20 test images") || !strings.Contains(out.String(), "truck      3     2") {
		t.Errorf("output:\n%s", out.String())
	}
	err := runDataCheck(context.Background(), dataCheckOptions{dir: filepath.Join(dir, "absent"), out: &out})
	if err == nil || !strings.Contains(err.Error(), "no such folder") {
		t.Errorf("missing folder: %v", err)
	}
}
