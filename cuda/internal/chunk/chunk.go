// Package chunk moves a set of files through a channel that carries only
// so many bytes per trip (the GPU machine's 64 MiB per call): Split cuts
// their concatenation into numbered chunks with a manifest of SHA-256
// sums; Join checks every chunk and rebuilds and checks every file.
package chunk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ManifestName is the manifest's file name beside the chunks.
const ManifestName = "manifest.json"

// Manifest describes one split.
type Manifest struct {
	Files  []Part `json:"files"`  // in stream order
	Chunks []Part `json:"chunks"` // chunk-000, chunk-001, ...
}

// Part is one file or chunk.
type Part struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Split writes the concatenation of files as chunks of at most size bytes,
// plus the manifest, into out.
func Split(files []string, out string, size int64) (*Manifest, error) {
	if size <= 0 {
		return nil, fmt.Errorf("chunk: size %d: want > 0", size)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	m := &Manifest{}
	w := &chunkWriter{dir: out, size: size, m: m}
	for _, f := range files {
		p, err := copyFile(f, w)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, p)
	}
	if err := w.close(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(out, ManifestName), append(b, '\n'), 0o644)
}

func copyFile(path string, w io.Writer) (Part, error) {
	f, err := os.Open(path)
	if err != nil {
		return Part{}, fmt.Errorf("chunk: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), f)
	if err != nil {
		return Part{}, fmt.Errorf("chunk: %s: %w", path, err)
	}
	return Part{Name: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// chunkWriter spreads a stream over chunk files.
type chunkWriter struct {
	dir  string
	size int64
	m    *Manifest
	f    *os.File
	n    int64
	h    hashWriter
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func chunkName(i int) string { return fmt.Sprintf("chunk-%03d", i) }

func (w *chunkWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if w.f == nil {
			f, err := os.Create(filepath.Join(w.dir, chunkName(len(w.m.Chunks))))
			if err != nil {
				return written, err
			}
			w.f, w.n, w.h = f, 0, sha256.New()
			w.m.Chunks = append(w.m.Chunks, Part{Name: chunkName(len(w.m.Chunks))})
		}
		k := min(int64(len(b)), w.size-w.n)
		if _, err := w.f.Write(b[:k]); err != nil {
			return written, err
		}
		w.h.Write(b[:k])
		w.n += k
		written += int(k)
		b = b[k:]
		if w.n == w.size {
			if err := w.close(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *chunkWriter) close() error {
	if w.f == nil {
		return nil
	}
	c := &w.m.Chunks[len(w.m.Chunks)-1]
	c.Size, c.SHA256 = w.n, hex.EncodeToString(w.h.Sum(nil))
	err := w.f.Close()
	w.f = nil
	return err
}

// ReadManifest parses and checks a manifest.
func ReadManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("chunk: manifest: %w", err)
	}
	var files, chunks int64
	for i, p := range append(append([]Part(nil), m.Files...), m.Chunks...) {
		if p.Name == "" || strings.ContainsAny(p.Name, `/\`) || p.Name == "." || p.Name == ".." {
			return nil, fmt.Errorf("chunk: manifest entry %d: bad name %q", i, p.Name)
		}
		if p.Size < 0 {
			return nil, fmt.Errorf("chunk: manifest entry %s: negative size %d", p.Name, p.Size)
		}
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("chunk: manifest entry %s: sha256 %q is not 64 hex digits", p.Name, p.SHA256)
		}
		if i < len(m.Files) {
			files += p.Size
		} else {
			chunks += p.Size
		}
	}
	if files != chunks {
		return nil, fmt.Errorf("chunk: manifest: files total %d bytes, chunks %d", files, chunks)
	}
	return &m, nil
}

// Missing lists the manifest's chunks absent from dir.
func (m *Manifest) Missing(dir string) []string {
	var out []string
	for _, c := range m.Chunks {
		if _, err := os.Stat(filepath.Join(dir, c.Name)); err != nil {
			out = append(out, c.Name)
		}
	}
	return out
}

// ErrMissing is wrapped by Join when chunks have not arrived yet.
var ErrMissing = errors.New("chunks missing")

// Join checks every chunk in dir against the manifest there and rebuilds
// the files into out, checking each file's sum.
func Join(dir, out string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	m, err := ReadManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	if miss := m.Missing(dir); len(miss) > 0 {
		return m, fmt.Errorf("chunk: %s: %w: %s (of %d)", dir, ErrMissing, strings.Join(miss, ", "), len(m.Chunks))
	}
	for _, c := range m.Chunks {
		if err := checkFile(filepath.Join(dir, c.Name), c); err != nil {
			return m, err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return m, err
	}
	r := &chunkReader{dir: dir, chunks: m.Chunks}
	defer r.close()
	for _, f := range m.Files {
		dst := filepath.Join(out, f.Name)
		w, err := os.Create(dst)
		if err != nil {
			return m, err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, f.Size))
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return m, fmt.Errorf("chunk: writing %s: %w", dst, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.SHA256 {
			return m, fmt.Errorf("chunk: rebuilt %s: %d bytes sha256 %s, manifest says %d bytes sha256 %s", dst, n, got, f.Size, f.SHA256)
		}
	}
	return m, nil
}

func checkFile(path string, p Part) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("chunk: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("chunk: %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != p.Size || got != p.SHA256 {
		return fmt.Errorf("chunk: %s is corrupt: %d bytes sha256 %s, manifest says %d bytes sha256 %s", path, n, got, p.Size, p.SHA256)
	}
	return nil
}

// chunkReader reads the chunks back as one stream.
type chunkReader struct {
	dir    string
	chunks []Part
	i      int
	f      *os.File
}

func (r *chunkReader) Read(b []byte) (int, error) {
	for {
		if r.f == nil {
			if r.i >= len(r.chunks) {
				return 0, io.EOF
			}
			f, err := os.Open(filepath.Join(r.dir, r.chunks[r.i].Name))
			if err != nil {
				return 0, err
			}
			r.f = f
			r.i++
		}
		n, err := r.f.Read(b)
		if err == io.EOF {
			r.f.Close()
			r.f = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *chunkReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}
