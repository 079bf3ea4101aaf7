package plottest

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// GoldenFile returns the golden file at path to compare got with; with
// update it writes got there instead and returns nil, nothing to compare.
func GoldenFile(t testing.TB, path string, got []byte, update bool) []byte {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	return want
}

// Golden compares the PNG got with the golden file at path, allowing a
// small per-channel difference on a few pixels (anti-aliasing may move by
// a bit across platforms); with update it rewrites the golden file.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	want := GoldenFile(t, path, got, update)
	if want == nil || bytes.Equal(got, want) {
		return
	}
	gi, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	wi, err := png.Decode(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if n, frac := pixelDiff(gi, wi); frac > 0.002 {
		t.Errorf("%d pixels (%.2f%%) differ from %s by more than the tolerance (run go test -update if intended)", n, 100*frac, path)
	}
}

// pixelDiff counts pixels whose channels differ by more than 24/255.
func pixelDiff(a, b image.Image) (int, float64) {
	if a.Bounds() != b.Bounds() {
		return a.Bounds().Dx() * a.Bounds().Dy(), 1
	}
	r := a.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if absDiff(r1, r2) > 24<<8 || absDiff(g1, g2) > 24<<8 || absDiff(b1, b2) > 24<<8 || absDiff(a1, a2) > 24<<8 {
				n++
			}
		}
	}
	return n, float64(n) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
