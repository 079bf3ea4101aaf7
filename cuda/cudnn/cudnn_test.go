package cudnn

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"speedrun/cuda/driver"
	"speedrun/cuda/internal/fakecuda"
)

// convNCHW is a float64 reference: y[n,k,p,q] = sum w[k,c,r,s] x[n,c,p*st-pad+r,q*st-pad+s].
func convNCHW(x []float32, N, C, H, W int, w []float32, K, R, pad, st int) ([]float32, int, int) {
	P, Q := (H+2*pad-R)/st+1, (W+2*pad-R)/st+1
	y := make([]float32, N*K*P*Q)
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			for p := 0; p < P; p++ {
				for q := 0; q < Q; q++ {
					var s float64
					for c := 0; c < C; c++ {
						for r := 0; r < R; r++ {
							for t := 0; t < R; t++ {
								ih, iw := p*st-pad+r, q*st-pad+t
								if ih < 0 || ih >= H || iw < 0 || iw >= W {
									continue
								}
								s += float64(x[((n*C+c)*H+ih)*W+iw]) * float64(w[((k*C+c)*R+r)*R+t])
							}
						}
					}
					y[((n*K+k)*P+p)*Q+q] = float32(s)
				}
			}
		}
	}
	return y, P, Q
}

func TestDNNFake(t *testing.T) {
	d := fakecuda.Context(t)
	dnn, err := Open(fakecuda.Search(fakecuda.Dir(t)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	N, C, H, W, K, R := 2, 3, 5, 5, 4, 3
	x, w := randn(rng, N*C*H*W), randn(rng, K*C*R*R)
	want, P, Q := convNCHW(x, N, C, H, W, w, K, R, 1, 1)
	h, err := dnn.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer dnn.Destroy(h)
	if err := dnn.SetStream(h, 0); err != nil {
		t.Fatal(err)
	}
	xd, err := dnn.Tensor4d(TensorNCHW, Float, N, C, H, W)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := dnn.Filter4d(Float, TensorNCHW, K, C, R, R)
	if err != nil {
		t.Fatal(err)
	}
	yd, err := dnn.Tensor4d(TensorNCHW, Float, N, K, P, Q)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := dnn.Conv2d(1, 1, Float, FMAMath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dnn.Tensor4d(TensorNCHW, Float, 0, C, H, W); err == nil ||
		!strings.Contains(err.Error(), "tensor 0x3x5x5: cudnnSetTensor4dDescriptor: CUDNN_STATUS_BAD_PARAM (2000): fake: bad param") {
		t.Errorf("bad tensor: got %v", err)
	}
	perf, err := dnn.ForwardAlgos(h, xd, wd, cd, yd)
	if err != nil {
		t.Fatal(err)
	}
	if len(perf) != 2 || perf[0] != (ConvAlgoPerf{Algo: 1, TimeMS: 0.25, Workspace: 4096, MathType: 3}) || perf[1].Algo != 0 || perf[1].TimeMS != 0.5 {
		t.Errorf("perf rows %+v", perf)
	}
	ws, err := dnn.ForwardWorkspace(h, xd, wd, cd, yd, perf[0].Algo)
	if err != nil || ws != 4096 {
		t.Errorf("workspace %d %v", ws, err)
	}
	px, _ := d.Alloc(4 * len(x))
	pw, _ := d.Alloc(4 * len(w))
	py, _ := d.Alloc(4 * len(want))
	pws, _ := d.Alloc(ws)
	driver.CopyHtoD(d, px, x)
	driver.CopyHtoD(d, pw, w)
	work := ConvWork{Algo: perf[0].Algo, Space: pws, Bytes: ws}
	if err := dnn.Forward(h, 1, xd, px, wd, pw, cd, work, 0, yd, py); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(want))
	driver.CopyDtoH(d, got, py)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("conv y[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// Backward data with dy = y and beta 0 must equal conv^T; check one
	// known identity instead: <dx, x> == <y, y> (adjointness).
	pdx, _ := d.Alloc(4 * len(x))
	if err := dnn.BackwardData(h, 1, wd, pw, yd, py, cd, work, 0, xd, pdx); err != nil {
		t.Fatal(err)
	}
	dx := make([]float32, len(x))
	driver.CopyDtoH(d, dx, pdx)
	if a, b := dot(dx, x), dot(want, want); math.Abs(a-b) > 1e-3*math.Abs(b) {
		t.Errorf("adjoint: <conv^T y, x> = %v, <y, y> = %v", a, b)
	}
	pdw, _ := d.Alloc(4 * len(w))
	if err := dnn.BackwardFilter(h, 1, xd, px, yd, py, cd, work, 0, wd, pdw); err != nil {
		t.Fatal(err)
	}
	dw := make([]float32, len(w))
	driver.CopyDtoH(d, dw, pdw)
	if a, b := dot(dw, w), dot(want, want); math.Abs(a-b) > 1e-3*math.Abs(b) {
		t.Errorf("filter adjoint: <dw, w> = %v, <y, y> = %v", a, b)
	}
	bf, _ := dnn.Tensor4d(TensorNHWC, BF16, N, C, H, W)
	err = dnn.Forward(h, 1, bf, px, wd, pw, cd, work, 0, yd, py)
	if err == nil || err.Error() != "cudnnConvolutionForward: CUDNN_STATUS_NOT_SUPPORTED (3000): fake: only float or bfloat16 throughout is implemented" {
		t.Errorf("bf16 input with fp32 filter on fake: got %v", err)
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func randn(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// A cuDNN front library without the convolution API is completed from
// libcudnn_cnn.so.9 beside it; without that, the error names the symbols.
func TestSubLibraries(t *testing.T) {
	dir := filepath.Join(fakecuda.Dir(t), "split")
	d, err := Open(fakecuda.Search(dir))
	if err != nil {
		t.Fatal(err)
	}
	if d.fwd == 0 || d.bwdFilter == 0 || d.Version() != 92400 {
		t.Errorf("convolutions not bound from libcudnn_cnn.so.9")
	}
	alone := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "libcudnn.so.9"), filepath.Join(alone, "libcudnn.so.9")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(fakecuda.Search(alone))
	if err == nil || !strings.Contains(err.Error(), "missing symbols") || !strings.Contains(err.Error(), "cudnnConvolutionForward") {
		t.Errorf("front library alone: got %v", err)
	}
}

// PyTorch's wheels put cuDNN in nvidia/cudnn/lib.
func TestPipDiscovery(t *testing.T) {
	site, lib := fakecuda.PipSite(t, "cudnn", "libcudnn.so.9")
	d, err := Open(driver.Search{NoEnv: true, NoSystem: true, SitePackages: []string{site}})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lib, "libcudnn.so.9"); d.Path != want {
		t.Errorf("cuDNN from %s, want %s", d.Path, want)
	}
	if v := d.Version(); v != 92400 {
		t.Errorf("cuDNN version %d, want 92400", v)
	}
}
