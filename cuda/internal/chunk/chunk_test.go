package chunk

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, sizes ...int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var paths []string
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		p := filepath.Join(dir, "f"+string(rune('a'+i))+".bin")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestSplitJoin(t *testing.T) {
	tests := []struct {
		name   string
		sizes  []int
		chunk  int64
		chunks int
	}{
		{"spanning", []int{1000, 2500, 1}, 700, 6},
		{"exact", []int{600, 600}, 600, 2},
		{"one", []int{10}, 1 << 20, 1},
		{"empty file", []int{0, 5}, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dir, out := t.TempDir(), t.TempDir(), t.TempDir()
			files := writeFiles(t, src, tt.sizes...)
			m, err := Split(files, dir, tt.chunk)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Chunks) != tt.chunks {
				t.Errorf("%d chunks, want %d", len(m.Chunks), tt.chunks)
			}
			for _, c := range m.Chunks {
				if c.Size > tt.chunk {
					t.Errorf("%s has %d bytes > %d", c.Name, c.Size, tt.chunk)
				}
			}
			if _, err := Join(dir, out); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				a, _ := os.ReadFile(f)
				b, err := os.ReadFile(filepath.Join(out, filepath.Base(f)))
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("%s not rebuilt exactly (%v)", f, err)
				}
			}
		})
	}
}

func TestJoinDetects(t *testing.T) {
	src := t.TempDir()
	files := writeFiles(t, src, 3000, 1200)
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		if _, err := Split(files, dir, 1000); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("flipped byte", func(t *testing.T) {
		dir := setup(t)
		p := filepath.Join(dir, "chunk-002")
		b, _ := os.ReadFile(p)
		b[17] ^= 1
		os.WriteFile(p, b, 0o644)
		_, err := Join(dir, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "chunk-002 is corrupt") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		dir := setup(t)
		os.Truncate(filepath.Join(dir, "chunk-004"), 10)
		if _, err := Join(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "chunk-004 is corrupt: 10 bytes") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir := setup(t)
		os.Remove(filepath.Join(dir, "chunk-001"))
		os.Remove(filepath.Join(dir, "chunk-003"))
		_, err := Join(dir, t.TempDir())
		if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "chunk-001, chunk-003 (of 5)") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad manifest", func(t *testing.T) {
		dir := setup(t)
		os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"files":[{"name":"../x","size":1,"sha256":"00"}]}`), 0o644)
		if _, err := Join(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), `bad name "../x"`) {
			t.Fatalf("got %v", err)
		}
	})
}

func FuzzReadManifest(f *testing.F) {
	f.Add([]byte(`{"files":[{"name":"a","size":3,"sha256":"` + strings.Repeat("ab", 32) + `"}],"chunks":[{"name":"chunk-000","size":3,"sha256":"` + strings.Repeat("cd", 32) + `"}]}`))
	f.Add([]byte(`{"files":[],"chunks":[]}`))
	f.Add([]byte(`{"files":[{"name":"..","size":-1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadManifest(b)
		if err != nil {
			return
		}
		var fs, cs int64
		for _, p := range m.Files {
			fs += p.Size
			if p.Name == "" || strings.Contains(p.Name, "/") {
				t.Fatalf("accepted bad name %q", p.Name)
			}
		}
		for _, p := range m.Chunks {
			cs += p.Size
		}
		if fs != cs {
			t.Fatalf("accepted totals %d != %d", fs, cs)
		}
	})
}
