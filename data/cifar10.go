package data

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// RecordLen is the size of one record in the CIFAR-10 binary format: one
// label byte followed by the image's R, G and B planes.
const RecordLen = 1 + ImageLen

// File names of the official cifar-10-batches-bin layout.
const (
	testFile  = "test_batch.bin"
	metaFile  = "batches.meta.txt"
	sumsFile  = "SHA256SUMS"
	maxTrains = 5
)

// CIFAR10Classes are the official class names, label i at index i, used
// when a folder has no batches.meta.txt.
var cifar10Classes = [Classes]string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// CIFAR10Classes returns the official CIFAR-10 class names.
func CIFAR10Classes() []string { return cifar10Classes[:] }

// Load reads a folder in the cifar-10-batches-bin layout: data_batch_1.bin
// up to data_batch_5.bin (consecutive from 1; fewer is fine, as in the mini
// set), test_batch.bin and, when present, batches.meta.txt. Each file may
// hold any whole number of records. When the folder has a SHA256SUMS file,
// every file it lists is verified against it.
func Load(dir string) (*Set, error) {
	var trainFiles []string
	for i := 1; i <= maxTrains; i++ {
		name := fmt.Sprintf("data_batch_%d.bin", i)
		_, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cifar10: %w", err)
		}
		trainFiles = append(trainFiles, name)
	}
	if len(trainFiles) == 0 {
		return nil, fmt.Errorf("cifar10: %s: missing data_batch_1.bin: expected the cifar-10-batches-bin layout (data_batch_1.bin ... data_batch_5.bin, test_batch.bin); run 'runner data fetch'", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, testFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cifar10: %s: missing %s: expected the cifar-10-batches-bin layout (data_batch_1.bin ... data_batch_5.bin, test_batch.bin); run 'runner data fetch'", dir, testFile)
		}
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	if i := len(trainFiles) + 1; i <= maxTrains {
		// A gap (data_batch_3.bin without data_batch_2.bin) means a broken
		// copy rather than a deliberately smaller set.
		for j := i + 1; j <= maxTrains; j++ {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", j))); err == nil {
				return nil, fmt.Errorf("cifar10: %s: missing data_batch_%d.bin while data_batch_%d.bin exists: expected consecutive files from data_batch_1.bin", dir, i, j)
			}
		}
	}

	classes := CIFAR10Classes()
	if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err == nil {
		classes, err = parseMeta(b)
		if err != nil {
			return nil, fmt.Errorf("cifar10: %s: %w", filepath.Join(dir, metaFile), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cifar10: %w", err)
	}

	sums, err := readSums(dir)
	if err != nil {
		return nil, err
	}

	// Sizes first, so that a short or long file fails before any reading
	// and every file can decode straight into its place in the split.
	files := append(trainFiles, testFile)
	counts := make([]int, len(files))
	for i, name := range files {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("cifar10: %w", err)
		}
		if err := checkSize(st.Size(), path); err != nil {
			return nil, fmt.Errorf("cifar10: %w", err)
		}
		counts[i] = int(st.Size() / RecordLen)
	}
	nTrain := 0
	for _, n := range counts[:len(trainFiles)] {
		nTrain += n
	}
	nTest := counts[len(files)-1]
	train := Split{Labels: make([]uint8, nTrain), Images: make([]uint8, nTrain*ImageLen)}
	test := Split{Labels: make([]uint8, nTest), Images: make([]uint8, nTest*ImageLen)}

	// Files are independent: read, verify and decode them concurrently.
	errs := make([]error, len(files))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	first := 0
	for i, name := range files {
		dst, lo := train, first
		if i == len(files)-1 {
			dst, lo = test, 0
		} else {
			first += counts[i]
		}
		part := Split{Labels: dst.Labels[lo : lo+counts[i]], Images: dst.Images[lo*ImageLen : (lo+counts[i])*ImageLen]}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(dir, name)
			want, verify := sums[name]
			if err := readFile(path, part, want, verify); err != nil {
				errs[i] = fmt.Errorf("cifar10: %w", err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	name := "cifar10"
	if train.Len() != 50000 || test.Len() != 10000 {
		name = "cifar10-" + filepath.Base(dir)
		if strings.Contains(filepath.Base(dir), "mini") {
			name = "cifar10-mini"
		}
	}
	s := &Set{Name: name, Classes: classes, Train: train, Test: test}
	s.Checksum = checksum(s)
	return s, nil
}

// ReadBatch decodes one file's bytes in the CIFAR-10 binary format. name
// only labels errors.
func ReadBatch(b []byte, name string) (Split, error) {
	if err := checkSize(int64(len(b)), name); err != nil {
		return Split{}, err
	}
	n := len(b) / RecordLen
	s := Split{Labels: make([]uint8, n), Images: make([]uint8, n*ImageLen)}
	if err := decode(s, b, 0, name); err != nil {
		return Split{}, err
	}
	return s, nil
}

// checkSize checks that a file holds a whole, non-zero number of records.
func checkSize(size int64, name string) error {
	if size == 0 {
		return fmt.Errorf("%s: empty file, expected %d-byte records", name, RecordLen)
	}
	if rem := size % RecordLen; rem != 0 {
		off := size - rem
		return fmt.Errorf("%s: %d bytes is not a whole number of %d-byte records: the record at offset %d (record %d) has %d of %d bytes",
			name, size, RecordLen, off, off/RecordLen, rem, RecordLen)
	}
	return nil
}

// readChunk is the number of records read at a time: small enough to stay
// in cache between reading, hashing and decoding.
const readChunk = 512

// readFile decodes the file at path into dst, which has room for exactly
// its records, and checks its SHA-256 against want when verify is set.
func readFile(path string, dst Split, want string, verify bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, readChunk*RecordLen)
	n := dst.Len()
	for lo := 0; lo < n; lo += readChunk {
		hi := min(lo+readChunk, n)
		b := buf[:(hi-lo)*RecordLen]
		if _, err := io.ReadFull(f, b); err != nil {
			return fmt.Errorf("%s: offset %d: %w (the file changed while reading?)", path, lo*RecordLen, err)
		}
		if verify {
			h.Write(b)
		}
		part := Split{Labels: dst.Labels[lo:hi], Images: dst.Images[lo*ImageLen : hi*ImageLen]}
		if err := decode(part, b, lo, path); err != nil {
			return err
		}
	}
	if verify {
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("%s: SHA-256 %s does not match %s (%s)", path, got, filepath.Join(filepath.Dir(path), sumsFile), want)
		}
	}
	return nil
}

// decode splits the records in b into dst's labels and images, checking
// every label. first is the index of b's first record in its file, for
// error offsets.
func decode(dst Split, b []byte, first int, name string) error {
	for i := range dst.Len() {
		r := b[i*RecordLen : (i+1)*RecordLen]
		if r[0] >= Classes {
			k := first + i
			return fmt.Errorf("%s: offset %d (record %d): label %d, expected 0-%d", name, k*RecordLen, k, r[0], Classes-1)
		}
		dst.Labels[i] = r[0]
		copy(dst.Images[i*ImageLen:(i+1)*ImageLen], r[1:])
	}
	return nil
}

// parseMeta reads batches.meta.txt: one class name per line, label i on
// line i+1; blank trailing lines are ignored.
func parseMeta(b []byte) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		if len(names) == Classes {
			return nil, fmt.Errorf("line %d: %q: more than %d class names", line, t, Classes)
		}
		names = append(names, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(names) != Classes {
		return nil, fmt.Errorf("%d class names, expected %d (one per line)", len(names), Classes)
	}
	return names, nil
}

// readSums reads dir/SHA256SUMS when present ("<hex>  <name>" per line,
// as sha256sum writes it) and returns name -> lowercase hex.
func readSums(dir string) (map[string]string, error) {
	path := filepath.Join(dir, sumsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	return parseSums(b, path)
}

func parseSums(b []byte, path string) (map[string]string, error) {
	sums := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		sum, name, ok := strings.Cut(t, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*") // binary-mode marker
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 2*sha256.Size || name == "" {
			return nil, fmt.Errorf("cifar10: %s:%d: %q: expected \"<64 hex digits>  <file name>\"", path, line, t)
		}
		sums[name] = strings.ToLower(sum)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cifar10: %s: %w", path, err)
	}
	return sums, nil
}

// checksum is the hex SHA-256 over train labels, train images, test labels
// and test images, in that order.
func checksum(s *Set) string {
	h := sha256.New()
	for _, b := range [][]byte{s.Train.Labels, s.Train.Images, s.Test.Labels, s.Test.Images} {
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Checksum recomputes the hex SHA-256 that identifies s's bytes, for sets
// built or modified in memory.
func Checksum(s *Set) string { return checksum(s) }
