package data

import (
	"math"
	"slices"
	"testing"
)

// TestWhiteningFilters applies the filters to the patches they came from:
// the covariance of the outputs must be diag(lambda/(lambda+eps)).
func TestWhiteningFilters(t *testing.T) {
	s, err := Synthetic(SyntheticOptions{Train: 40, Test: 10, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(s, 4)
	if err != nil {
		t.Fatal(err)
	}
	const n, eps = 30, 1e-2
	filters, lambda, err := WhiteningEigen(p, n, eps)
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) != PatchLen*PatchLen || len(lambda) != PatchLen {
		t.Fatalf("%d filter floats, %d eigenvalues", len(filters), len(lambda))
	}
	for o := 1; o < PatchLen; o++ {
		if lambda[o] > lambda[o-1] {
			t.Fatalf("eigenvalues not descending at %d: %v", o, lambda)
		}
	}
	f2, err := WhiteningFilters(p, n, eps)
	if err != nil || len(f2) != len(filters) || f2[5] != filters[5] {
		t.Fatalf("WhiteningFilters differs from WhiteningEigen: %v", err)
	}
	// Covariance of the filter outputs over the same patches, computed
	// directly from the NHWC data so the patch layout is checked too.
	var cov [PatchLen][PatchLen]float64
	side := p.PaddedSide()
	var out [PatchLen]float64
	count := 0
	for i := range n {
		for y := range Height - 2 {
			for x := range Width - 2 {
				for o := range PatchLen {
					v := 0.0
					for c := range Channels {
						for dy := range 3 {
							for dx := range 3 {
								px := p.Train[((i*side+p.Pad+y+dy)*side+p.Pad+x+dx)*Channels+c]
								v += float64(filters[o*PatchLen+c*9+dy*3+dx]) * float64(px)
							}
						}
					}
					out[o] = v
				}
				for a := range PatchLen {
					for b := range PatchLen {
						cov[a][b] += out[a] * out[b]
					}
				}
				count++
			}
		}
	}
	for a := range PatchLen {
		for b := range PatchLen {
			got := cov[a][b] / float64(count-1)
			want := 0.0
			if a == b {
				want = lambda[a] / (lambda[a] + eps)
			}
			if math.Abs(got-want) > 1e-3 {
				t.Errorf("output covariance [%d][%d] = %.5f, want %.5f", a, b, got, want)
			}
		}
	}
	if _, err := WhiteningFilters(p, 0, eps); err == nil {
		t.Error("0 images accepted")
	}
	if _, err := WhiteningFilters(p, 41, eps); err == nil {
		t.Error("41 of 40 images accepted")
	}
}

// 2x2 whitening (airbench94's first layer): the filters whiten their own
// patches, computed directly from the NHWC data.
func TestWhiteningFilters2x2(t *testing.T) {
	s, err := Synthetic(SyntheticOptions{Train: 20, Test: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(s, 2)
	if err != nil {
		t.Fatal(err)
	}
	const n, eps, k, P = 20, 5e-4, 2, 12
	filters, lambda, err := WhiteningEigenK(p, n, k, eps)
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) != P*P || len(lambda) != P || PatchesPerImage(k) != 31*31 {
		t.Fatalf("%d filter floats, %d eigenvalues", len(filters), len(lambda))
	}
	var cov [P][P]float64
	side := p.PaddedSide()
	count := 0
	for i := range n {
		for y := range 31 {
			for x := range 31 {
				var out [P]float64
				for o := range P {
					for c := range Channels {
						for dy := range k {
							for dx := range k {
								px := p.Train[((i*side+p.Pad+y+dy)*side+p.Pad+x+dx)*Channels+c]
								out[o] += float64(filters[o*P+c*4+dy*2+dx]) * float64(px)
							}
						}
					}
				}
				for a := range P {
					for b := range P {
						cov[a][b] += out[a] * out[b]
					}
				}
				count++
			}
		}
	}
	for a := range P {
		for b := range P {
			want := 0.0
			if a == b {
				want = lambda[a] / (lambda[a] + eps)
			}
			if got := cov[a][b] / float64(count-1); math.Abs(got-want) > 1e-3 {
				t.Errorf("output covariance [%d][%d] = %.5f, want %.5f", a, b, got, want)
			}
		}
	}
	f3, err := WhiteningFiltersK(p, n, 3, 1e-2)
	want, err2 := WhiteningFilters(p, n, 1e-2)
	if err != nil || err2 != nil || !slices.Equal(f3, want) {
		t.Errorf("WhiteningFiltersK(3) differs from WhiteningFilters: %v %v", err, err2)
	}
}
