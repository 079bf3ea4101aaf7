package data

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// sharedDir returns the shared data folder's subfolder name, skipping the
// test when it is absent.
func sharedDir(t testing.TB, name string) string {
	t.Helper()
	root := os.Getenv("SPEEDRUN_SHARED")
	if root == "" {
		root = filepath.Join("..", "..", "shared")
	}
	dir := filepath.Join(root, "data", name)
	if !HasCIFAR10(dir) {
		t.Skipf("no CIFAR-10 at %s (set SPEEDRUN_SHARED to the shared folder to run this test)", dir)
	}
	return dir
}

// record returns one record with the given label and pixels derived from
// seed, so tests can tell records apart.
func record(label uint8, seed int) []byte {
	r := make([]byte, RecordLen)
	r[0] = label
	for i := 1; i < RecordLen; i++ {
		r[i] = byte(i*7 + seed*13)
	}
	return r
}

// batchBytes returns n records with labels cycling 0..9.
func batchBytes(n, seed int) []byte {
	var b []byte
	for i := range n {
		b = append(b, record(uint8(i%Classes), seed+i)...)
	}
	return b
}

// writeFolder writes a small CIFAR-10 folder with the given records per
// training file and test records.
func writeFolder(t *testing.T, train []int, test int) string {
	t.Helper()
	dir := t.TempDir()
	for i, n := range train {
		write(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i+1)), batchBytes(n, 100*i))
	}
	write(t, filepath.Join(dir, "test_batch.bin"), batchBytes(test, 1000))
	write(t, filepath.Join(dir, "batches.meta.txt"), []byte(strings.Join(CIFAR10Classes(), "\n")+"\n\n"))
	return dir
}

func write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := writeFolder(t, []int{20, 10}, 7)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.Len() != 30 || s.Test.Len() != 7 {
		t.Fatalf("lengths %d/%d, want 30/7", s.Train.Len(), s.Test.Len())
	}
	if len(s.Train.Images) != 30*ImageLen || len(s.Test.Images) != 7*ImageLen {
		t.Fatalf("image bytes %d/%d", len(s.Train.Images), len(s.Test.Images))
	}
	// Record 25 is record 5 of the second file.
	want := record(5, 105)
	if s.Train.Labels[25] != want[0] || !bytes.Equal(s.Train.Images[25*ImageLen:26*ImageLen], want[1:]) {
		t.Errorf("train record 25 does not match record 5 of data_batch_2.bin")
	}
	if got := strings.Join(s.Classes, " "); got != "airplane automobile bird cat deer dog frog horse ship truck" {
		t.Errorf("classes %q", got)
	}
	h := sha256.New()
	h.Write(s.Train.Labels)
	h.Write(s.Train.Images)
	h.Write(s.Test.Labels)
	h.Write(s.Test.Images)
	if want := fmt.Sprintf("%x", h.Sum(nil)); s.Checksum != want {
		t.Errorf("checksum %s, want %s", s.Checksum, want)
	}
	// Another set differs.
	s2, err := Load(writeFolder(t, []int{20, 10}, 8))
	if err != nil {
		t.Fatal(err)
	}
	if s2.Checksum == s.Checksum {
		t.Error("different data, same checksum")
	}
}

func TestLoadSHA256SUMS(t *testing.T) {
	dir := writeFolder(t, []int{10}, 10)
	b, _ := os.ReadFile(filepath.Join(dir, "data_batch_1.bin"))
	sum := sha256.Sum256(b)
	write(t, filepath.Join(dir, "SHA256SUMS"), fmt.Appendf(nil, "%x  data_batch_1.bin\n", sum))
	if _, err := Load(dir); err != nil {
		t.Fatalf("matching SHA256SUMS: %v", err)
	}
	sum[0] ^= 1
	write(t, filepath.Join(dir, "SHA256SUMS"), fmt.Appendf(nil, "%x  data_batch_1.bin\n", sum))
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatching SHA256SUMS: got %v", err)
	}
}

// TestLoadErrors checks each broken input's message against
// testdata/load_errors.golden (regenerate with -update). The temporary
// folder's path is written as $DIR.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string)
	}{
		{"missing test file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "test_batch.bin")) }},
		{"missing first train file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "data_batch_1.bin")) }},
		{"gap in train files", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "data_batch_2.bin")) }},
		{"short file", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "data_batch_2.bin"), batchBytes(4, 0)[:4*RecordLen-100])
		}},
		{"long file", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "test_batch.bin"), append(batchBytes(4, 0), 1, 2, 3))
		}},
		{"empty file", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "data_batch_1.bin"), nil) }},
		{"bad label", func(t *testing.T, dir string) {
			b := batchBytes(5, 0)
			b[3*RecordLen] = 10
			write(t, filepath.Join(dir, "data_batch_3.bin"), b)
		}},
		{"bad meta", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "batches.meta.txt"), []byte("cat\ndog\n"))
		}},
		{"bad SHA256SUMS line", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "SHA256SUMS"), []byte("abc data_batch_1.bin\n"))
		}},
	}
	var out strings.Builder
	for _, tt := range tests {
		dir := writeFolder(t, []int{5, 5, 5}, 5)
		tt.break_(t, dir)
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		fmt.Fprintf(&out, "# %s\n%s\n", tt.name, strings.ReplaceAll(err.Error(), dir, "$DIR"))
	}
	golden(t, "load_errors.golden", out.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		write(t, path, []byte(got))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestLoadMini(t *testing.T) {
	dir := sharedDir(t, "cifar-10-mini")
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.Len() != 2000 || s.Test.Len() != 1000 || s.Name != "cifar10-mini" {
		t.Fatalf("%s: %d/%d images, want cifar10-mini 2000/1000", s.Name, s.Train.Len(), s.Test.Len())
	}
	var counts [Classes]int
	for _, l := range s.Train.Labels {
		counts[l]++
	}
	for c, n := range counts {
		if n != 200 {
			t.Errorf("class %d: %d train images, want 200", c, n)
		}
	}
}

func FuzzReadBatch(f *testing.F) {
	f.Add(batchBytes(2, 0))
	f.Add(batchBytes(1, 3)[:RecordLen-1])
	f.Add([]byte{})
	f.Add(append([]byte{11}, make([]byte, ImageLen)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ReadBatch(b, "fuzz.bin")
		if err != nil {
			if s.Len() != 0 {
				t.Fatalf("error %v with %d records", err, s.Len())
			}
			if !strings.HasPrefix(err.Error(), "fuzz.bin: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(b)%RecordLen != 0 || len(b) == 0 {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if s.Len() != len(b)/RecordLen || len(s.Images) != s.Len()*ImageLen {
			t.Fatalf("%d bytes gave %d labels, %d image bytes", len(b), s.Len(), len(s.Images))
		}
		for i, l := range s.Labels {
			if l >= Classes || l != b[i*RecordLen] {
				t.Fatalf("record %d: label %d from byte %d", i, l, b[i*RecordLen])
			}
			if !bytes.Equal(s.Images[i*ImageLen:(i+1)*ImageLen], b[i*RecordLen+1:(i+1)*RecordLen]) {
				t.Fatalf("record %d: pixels differ", i)
			}
		}
	})
}

func BenchmarkLoadCIFAR10(b *testing.B) {
	dir := sharedDir(b, "cifar-10-batches-bin")
	b.SetBytes(6 * 10000 * RecordLen)
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseMeta(f *testing.F) {
	f.Add([]byte(strings.Join(CIFAR10Classes(), "\n") + "\n"))
	f.Add([]byte("a\nb\n"))
	f.Add([]byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := parseMeta(b)
		if err != nil {
			return
		}
		if len(names) != Classes {
			t.Fatalf("%d names accepted", len(names))
		}
		for _, n := range names {
			if n == "" || n != strings.TrimSpace(n) {
				t.Fatalf("name %q", n)
			}
		}
	})
}

func FuzzParseSums(f *testing.F) {
	f.Add([]byte("377b517cf76445a7097d10fd64b323b16a13ad176eaa4ceba34f9db60abc6bba  data_batch_1.bin\n"))
	f.Add([]byte("# comment\n\nABCDEF  x\n"))
	f.Add([]byte("377b517cf76445a7097d10fd64b323b16a13ad176eaa4ceba34f9db60abc6bba *test_batch.bin\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := parseSums(b, "SHA256SUMS")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cifar10: SHA256SUMS:") {
				t.Fatalf("error %q does not name the file and line", err)
			}
			return
		}
		for name, sum := range sums {
			if name == "" || len(sum) != 64 || sum != strings.ToLower(sum) {
				t.Fatalf("accepted %q -> %q", name, sum)
			}
		}
	})
}
