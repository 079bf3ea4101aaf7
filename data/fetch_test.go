package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tinyArchive builds a cifar-10-binary.tar.gz look-alike with 20 training
// and 10 test records, and returns it with its hex MD5.
func tinyArchive(t *testing.T) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/", Mode: 0o755, Typeflag: tar.TypeDir})
	add("cifar-10-batches-bin/data_batch_1.bin", batchBytes(20, 0))
	add("cifar-10-batches-bin/test_batch.bin", batchBytes(10, 50))
	add("cifar-10-batches-bin/batches.meta.txt", []byte(strings.Join(CIFAR10Classes(), "\n")+"\n"))
	add("cifar-10-batches-bin/readme.html", []byte("<p>hi</p>"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:])
}

// serve starts a server that answers every request with h.
func serve(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/cifar-10-binary.tar.gz"
}

// assertClean checks that parent holds nothing but want (if non-empty):
// no half-made folder, no temporary files.
func assertClean(t *testing.T, parent string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %v, want %v", parent, names, want)
	}
}

func TestFetch(t *testing.T) {
	archive, sum := tinyArchive(t)
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
		w.Write(archive)
	})
	parent := t.TempDir()
	dir := filepath.Join(parent, "cifar")
	var progress bytes.Buffer
	opt := FetchOptions{Dir: dir, URL: url, MD5: sum, Progress: &progress}
	if err := Fetch(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.Len() != 20 || s.Test.Len() != 10 {
		t.Errorf("fetched %d/%d records, want 20/10", s.Train.Len(), s.Test.Len())
	}
	assertClean(t, parent, "cifar")
	if !strings.Contains(progress.String(), "(100%)") || !strings.Contains(progress.String(), "ready in "+dir) {
		t.Errorf("progress output:\n%s", progress.String())
	}
	// With a terminal, progress is a bar rather than lines.
	progress.Reset()
	dir2 := filepath.Join(parent, "cifar2")
	if err := Fetch(context.Background(), FetchOptions{Dir: dir2, URL: url, MD5: sum, Progress: &progress, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(progress.String(), "(100%)") || !strings.Contains(progress.String(), "cifar-10-binary.tar.gz") {
		t.Errorf("terminal progress output:\n%q", progress.String())
	}
	assertClean(t, parent, "cifar", "cifar2")
	// A second fetch finds it and does nothing.
	progress.Reset()
	if err := Fetch(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "already present") {
		t.Errorf("second fetch said %q", progress.String())
	}
}

func TestFetchFailures(t *testing.T) {
	archive, sum := tinyArchive(t)
	corrupt := bytes.Clone(archive)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name    string
		handler http.HandlerFunc
		md5     string
		want    string
	}{
		{"corrupt", func(w http.ResponseWriter, r *http.Request) { w.Write(corrupt) }, sum, "the download is corrupt"},
		{"wrong md5", func(w http.ResponseWriter, r *http.Request) { w.Write(archive) }, strings.Repeat("0", 32), "MD5 " + sum + ", expected 000"},
		{"not found", http.NotFound, sum, "404 Not Found"},
		{"dropped connection", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
			w.Write(archive[:len(archive)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, sum, "to fetch by hand"},
		{"not an archive", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }, "5d41402abc4b2a76b9719d911017c592", "unpack"},
	}
	for _, tt := range tests {
		parent := t.TempDir()
		err := Fetch(context.Background(), FetchOptions{Dir: filepath.Join(parent, "cifar"), URL: serve(t, tt.handler), MD5: tt.md5})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
		assertClean(t, parent)
	}
}

func TestFetchOffline(t *testing.T) {
	// A port nobody listens on: the connection is refused at once.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/x.tar.gz"
	srv.Close()
	parent := t.TempDir()
	err := Fetch(context.Background(), FetchOptions{Dir: filepath.Join(parent, "cifar"), URL: url, ConnectTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "to fetch by hand: download "+url) || !strings.Contains(err.Error(), CIFAR10MD5) {
		t.Errorf("offline fetch: %v", err)
	}
	// It fails fast: on the refusal itself, not after a timeout or a
	// retry (a bound on the wall time failed on a loaded machine).
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("offline fetch: %v; want the connection refused error itself", err)
	}
	assertClean(t, parent)
}

func TestFetchCancel(t *testing.T) {
	archive, sum := tinyArchive(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
		w.Write(archive[:100])
		w.(http.Flusher).Flush()
		cancel()
		<-r.Context().Done()
	})
	parent := t.TempDir()
	err := Fetch(ctx, FetchOptions{Dir: filepath.Join(parent, "cifar"), URL: url, MD5: sum})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled fetch: %v, want context.Canceled", err)
	}
	assertClean(t, parent)
}

func TestFetchExistingNonCIFAR(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "cifar")
	os.Mkdir(dir, 0o755)
	err := Fetch(context.Background(), FetchOptions{Dir: dir, URL: "http://127.0.0.1:1/x"})
	if err == nil || !strings.Contains(err.Error(), "holds no CIFAR-10") {
		t.Errorf("fetch into an unrelated folder: %v", err)
	}
}
