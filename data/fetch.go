package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// The official CIFAR-10 binary archive and its published MD5.
const (
	CIFAR10URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	CIFAR10MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
)

// FetchOptions configure Fetch. Zero values mean the defaults.
type FetchOptions struct {
	Dir string // destination (the cifar-10-batches-bin folder itself); default DefaultDir()
	URL string // default CIFAR10URL
	MD5 string // expected hex MD5 of the archive; default CIFAR10MD5
	// ConnectTimeout bounds the TCP and TLS handshakes, so that an offline
	// machine fails fast; default 10 s.
	ConnectTimeout time.Duration
	// Progress receives progress: a bar when Terminal, else a plain line
	// every 10%. nil means none.
	Progress io.Writer
	Terminal bool
}

// Fetch downloads the CIFAR-10 binary archive, checks its MD5 and unpacks
// it into opt.Dir. Everything happens in a temporary folder beside Dir that
// is renamed into place only when complete, so an interrupted or failed
// fetch leaves no half-made Dir. An existing complete Dir is left alone.
func Fetch(ctx context.Context, opt FetchOptions) error {
	if opt.Dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		opt.Dir = d
	}
	if opt.URL == "" {
		opt.URL = CIFAR10URL
	}
	if opt.MD5 == "" {
		opt.MD5 = CIFAR10MD5
	}
	if opt.ConnectTimeout == 0 {
		opt.ConnectTimeout = 10 * time.Second
	}
	if HasCIFAR10(opt.Dir) {
		if _, err := Load(opt.Dir); err != nil {
			return fmt.Errorf("fetch: %s exists but does not load (remove it and fetch again): %w", opt.Dir, err)
		}
		fmt.Fprintf(progressOrDiscard(opt.Progress), "fetch: CIFAR-10 already present in %s\n", opt.Dir)
		return nil
	}
	if _, err := os.Stat(opt.Dir); err == nil {
		return fmt.Errorf("fetch: %s exists but holds no CIFAR-10 (data_batch_1.bin, test_batch.bin); remove it or choose another --dir", opt.Dir)
	}
	parent := filepath.Dir(opt.Dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".cifar10-fetch-")
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer os.RemoveAll(tmp)

	archive := filepath.Join(tmp, "cifar-10-binary.tar.gz")
	if err := download(ctx, opt, archive); err != nil {
		return err
	}
	out := filepath.Join(tmp, "cifar-10-batches-bin")
	if err := extract(archive, out); err != nil {
		return fmt.Errorf("fetch: unpack %s: %w", opt.URL, err)
	}
	if _, err := Load(out); err != nil {
		return fmt.Errorf("fetch: the archive from %s unpacked but does not load: %w", opt.URL, err)
	}
	if err := os.Rename(out, opt.Dir); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	fmt.Fprintf(progressOrDiscard(opt.Progress), "fetch: CIFAR-10 ready in %s\n", opt.Dir)
	return nil
}

func progressOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// manualSteps is appended to download errors.
func manualSteps(opt FetchOptions) string {
	return fmt.Sprintf("to fetch by hand: download %s on a connected machine, check that its MD5 is %s, "+
		"unpack it with 'tar -xzf cifar-10-binary.tar.gz' (it holds cifar-10-batches-bin/), "+
		"and move that folder to %s (or pass its path with --data)", opt.URL, opt.MD5, opt.Dir)
}

// download writes the archive to dst, hashing as it goes.
func download(ctx context.Context, opt FetchOptions, dst string) error {
	dialer := &net.Dialer{Timeout: opt.ConnectTimeout}
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opt.ConnectTimeout,
		ResponseHeaderTimeout: 3 * opt.ConnectTimeout,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, opt.URL, nil)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch: %w", ctx.Err())
		}
		return fmt.Errorf("fetch: %w\n%s", err, manualSteps(opt))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch: GET %s: %s\n%s", opt.URL, resp.Status, manualSteps(opt))
	}
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer f.Close()
	h := md5.New()
	var w io.Writer = io.MultiWriter(f, h)
	if opt.Progress != nil {
		if opt.Terminal {
			bar := progressbar.NewOptions64(resp.ContentLength,
				progressbar.OptionSetWriter(opt.Progress),
				progressbar.OptionSetDescription("cifar-10-binary.tar.gz"),
				progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }),
			)
			w = io.MultiWriter(w, bar)
		} else {
			w = io.MultiWriter(w, &lineProgress{w: opt.Progress, total: resp.ContentLength, next: 0.1})
		}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch: interrupted after %d bytes: %w", n, ctx.Err())
		}
		return fmt.Errorf("fetch: download %s failed after %d bytes: %w\n%s", opt.URL, n, err, manualSteps(opt))
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("fetch: download %s: got %d of %d bytes\n%s", opt.URL, n, resp.ContentLength, manualSteps(opt))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(opt.MD5) {
		return fmt.Errorf("fetch: %s: MD5 %s, expected %s: the download is corrupt; try again", opt.URL, got, opt.MD5)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// lineProgress prints a plain line at every 10% (or every 10 MB when the
// size is unknown), for logs and non-terminal stderr.
type lineProgress struct {
	w     io.Writer
	total int64
	done  int64
	next  float64
}

func (p *lineProgress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	const mb = 1 << 20
	if p.total > 0 {
		for frac := float64(p.done) / float64(p.total); frac >= p.next && p.next <= 1; p.next += 0.1 {
			fmt.Fprintf(p.w, "fetch: %.1f of %.1f MB (%.0f%%)\n", float64(p.done)/mb, float64(p.total)/mb, 100*min(frac, 1))
		}
	} else if float64(p.done) >= p.next*100*mb {
		fmt.Fprintf(p.w, "fetch: %.1f MB\n", float64(p.done)/mb)
		p.next += 0.1
	}
	return len(b), nil
}

// extract unpacks the regular files of the archive's cifar-10-batches-bin/
// folder flat into dir. Other entries are skipped; names that would escape
// dir are refused.
func extract(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(hdr.Name)
		folder, base := path.Split(name)
		if path.Clean(folder) != "cifar-10-batches-bin" {
			continue
		}
		if !fs.ValidPath(base) || strings.Contains(base, "..") {
			return fmt.Errorf("entry %q: unsafe file name", hdr.Name)
		}
		if err := writeFile(filepath.Join(dir, base), tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

func writeFile(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
