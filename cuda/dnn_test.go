package cuda

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
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
	b := fakeBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	N, C, H, W, K, R := 2, 3, 5, 5, 4, 3
	x, w := randSlice(rng, N*C*H*W), randSlice(rng, K*C*R*R)
	want, P, Q := convNCHW(x, N, C, H, W, w, K, R, 1, 1)
	err := b.Do(context.Background(), func() error {
		d, dnn := b.Driver, b.DNN
		h, err := dnn.Create()
		if err != nil {
			return err
		}
		defer dnn.Destroy(h)
		if err := dnn.SetStream(h, 0); err != nil {
			return err
		}
		xd, err := dnn.Tensor4d(DNNTensorNCHW, DNNFloat, N, C, H, W)
		if err != nil {
			return err
		}
		wd, err := dnn.Filter4d(DNNFloat, DNNTensorNCHW, K, C, R, R)
		if err != nil {
			return err
		}
		yd, err := dnn.Tensor4d(DNNTensorNCHW, DNNFloat, N, K, P, Q)
		if err != nil {
			return err
		}
		cd, err := dnn.Conv2d(1, 1, DNNFloat, DNNFMAMath)
		if err != nil {
			return err
		}
		if _, err := dnn.Tensor4d(DNNTensorNCHW, DNNFloat, 0, C, H, W); err == nil ||
			!strings.Contains(err.Error(), "tensor 0x3x5x5: cudnnSetTensor4dDescriptor: CUDNN_STATUS_BAD_PARAM (2000): fake: bad param") {
			t.Errorf("bad tensor: got %v", err)
		}
		perf, err := dnn.ForwardAlgos(h, xd, wd, cd, yd)
		if err != nil {
			return err
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
		CopyHtoD(d, px, x)
		CopyHtoD(d, pw, w)
		work := ConvWork{Algo: perf[0].Algo, Space: pws, Bytes: ws}
		if err := dnn.Forward(h, 1, xd, px, wd, pw, cd, work, 0, yd, py); err != nil {
			return err
		}
		got := make([]float32, len(want))
		CopyDtoH(d, got, py)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4 {
				t.Fatalf("conv y[%d] = %v, want %v", i, got[i], want[i])
			}
		}
		// Backward data with dy = y and beta 0 must equal conv^T; check one
		// known identity instead: <dx, x> == <y, y> (adjointness).
		pdx, _ := d.Alloc(4 * len(x))
		if err := dnn.BackwardData(h, 1, wd, pw, yd, py, cd, work, 0, xd, pdx); err != nil {
			return err
		}
		dx := make([]float32, len(x))
		CopyDtoH(d, dx, pdx)
		if a, b := dot(dx, x), dot(want, want); math.Abs(a-b) > 1e-3*math.Abs(b) {
			t.Errorf("adjoint: <conv^T y, x> = %v, <y, y> = %v", a, b)
		}
		pdw, _ := d.Alloc(4 * len(w))
		if err := dnn.BackwardFilter(h, 1, xd, px, yd, py, cd, work, 0, wd, pdw); err != nil {
			return err
		}
		dw := make([]float32, len(w))
		CopyDtoH(d, dw, pdw)
		if a, b := dot(dw, w), dot(want, want); math.Abs(a-b) > 1e-3*math.Abs(b) {
			t.Errorf("filter adjoint: <dw, w> = %v, <y, y> = %v", a, b)
		}
		bf, _ := dnn.Tensor4d(DNNTensorNHWC, DNNBF16, N, C, H, W)
		err = dnn.Forward(h, 1, bf, px, wd, pw, cd, work, 0, yd, py)
		if err == nil || err.Error() != "cudnnConvolutionForward: CUDNN_STATUS_NOT_SUPPORTED (3000): fake: only float or bfloat16 throughout is implemented" {
			t.Errorf("bf16 input with fp32 filter on fake: got %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
