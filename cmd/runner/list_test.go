package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestList compares `runner list` on the repo's experiments.toml with the
// golden files in testdata (rewritten by go test -update).
func TestList(t *testing.T) {
	config := filepath.Join("..", "..", "experiments.toml")
	tests := []struct {
		name, stage, golden string
	}{
		{"all", "", "list.golden"},
		{"by id", "9", "list_fenwicks.golden"},
		{"by name", "fenwicks", "list_fenwicks.golden"},
		{"stage 4", "4", "list_4.golden"},
		{"stage 10", "10", "list_10.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			o := listOptions{global: globalOptions{config: config}, stage: tt.stage}
			if err := runList(context.Background(), &cmdEnv{stdout: &out, stderr: io.Discard}, o); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestList -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("runner list --stage %q differs from %s:\n%s", tt.stage, golden, out.String())
			}
		})
	}
}

func TestListErrors(t *testing.T) {
	config := filepath.Join("..", "..", "experiments.toml")
	tests := []struct {
		o    listOptions
		want string
	}{
		{listOptions{global: globalOptions{config: config}, stage: "11"}, `no stage "11"`},
		{listOptions{global: globalOptions{config: filepath.Join("testdata", "nonexistent.toml")}}, "nonexistent.toml"},
	}
	for _, tt := range tests {
		err := runList(context.Background(), &cmdEnv{stdout: io.Discard, stderr: io.Discard}, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runList(%+v) error = %v, want it to contain %q", tt.o, err, tt.want)
		}
	}
}
