// Package cudnn binds cuDNN 9's legacy convolution API (descriptors,
// algorithm ranking, workspace sizes, forward and both backward
// convolutions) at run time with purego, on top of package driver's
// library search and errors. Batch norm, pooling and activations are the
// engine's own kernels, so nothing else is bound.
package cudnn

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"

	"speedrun/cuda/driver"
)

// DNN is the bound cuDNN 9 library, legacy convolution API only: BN,
// pooling and activations are our own kernels.
type DNN struct {
	Path string

	getVersion, create, destroy, setStream, errString    uintptr
	createTensor, setTensor4d, destroyTensor             uintptr
	createFilter, setFilter4d, destroyFilter             uintptr
	createConv, setConv2d, setConvMath, destroyConv      uintptr
	fwdAlgo, fwdWS, fwd, bwdDataAlgo, bwdDataWS, bwdData uintptr
	bwdFilterAlgo, bwdFilterWS, bwdFilter                uintptr
}

// cuDNN enum values (public cuDNN API reference; checked on the device by
// gpu-check.sh's header probe).
const (
	TensorNCHW = 0 // CUDNN_TENSOR_NCHW
	TensorNHWC = 1 // CUDNN_TENSOR_NHWC

	Float = 0 // CUDNN_DATA_FLOAT
	Half  = 2 // CUDNN_DATA_HALF
	BF16  = 9 // CUDNN_DATA_BFLOAT16

	CrossCorrelation = 1 // CUDNN_CROSS_CORRELATION

	DefaultMath  = 0 // CUDNN_DEFAULT_MATH
	TensorOpMath = 1 // CUDNN_TENSOR_OP_MATH
	FMAMath      = 3 // CUDNN_FMA_MATH: no TF32, for fp32 parity
)

// ConvAlgoPerf is one row of a cudnnGetConvolution*Algorithm_v7 answer.
type ConvAlgoPerf struct {
	Algo      int
	Status    int
	TimeMS    float32
	Workspace int64
	MathType  int
}

// convPerfSize is sizeof(cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t)
// on LP64: algo, status, float time, (pad), size_t memory, determinism,
// mathType, int reserved[3] -> 48 bytes, memory at offset 16.
const convPerfSize = 48

// libcudnnNames is cuDNN's soname: the legacy API this package binds is
// cuDNN 9's.
var libcudnnNames = []string{"libcudnn.so.9"}

var statusNames = map[int32]string{
	0: "CUDNN_STATUS_SUCCESS", 1001: "CUDNN_STATUS_NOT_INITIALIZED", 2000: "CUDNN_STATUS_BAD_PARAM",
	2002: "CUDNN_STATUS_BAD_PARAM_NULL_POINTER", 3000: "CUDNN_STATUS_NOT_SUPPORTED",
	4000: "CUDNN_STATUS_INTERNAL_ERROR", 4001: "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED",
	5000: "CUDNN_STATUS_EXECUTION_FAILED", 1002: "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH",
	1004: "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED", 4002: "CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE",
	4003: "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED", 4004: "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
}

// Open loads and binds cuDNN 9 from the folders s names.
func Open(s driver.Search) (*DNN, error) {
	lib, err := driver.OpenLibrary(s, libcudnnNames)
	if err != nil {
		return nil, fmt.Errorf("cuDNN: %w", err)
	}
	d := &DNN{Path: lib.Path}
	libs := []*driver.Library{lib}
	// cuDNN 9's libcudnn.so.9 is a front that loads its sub-libraries; if
	// a build does not re-export the legacy API from it, look in the
	// sub-library that holds it (descriptors: graph; convolutions: cnn).
	for _, sub := range []string{"libcudnn_graph.so.9", "libcudnn_cnn.so.9"} {
		beside := s
		beside.LibPaths = append([]string{filepath.Dir(lib.Path)}, s.LibPaths...)
		if l, err := driver.OpenLibrary(beside, []string{sub}); err == nil {
			libs = append(libs, l)
		}
	}
	err = driver.BindAny(libs, []driver.Symbol{
		{Dst: &d.getVersion, Names: []string{"cudnnGetVersion"}},
		{Dst: &d.create, Names: []string{"cudnnCreate"}},
		{Dst: &d.destroy, Names: []string{"cudnnDestroy"}},
		{Dst: &d.setStream, Names: []string{"cudnnSetStream"}},
		{Dst: &d.errString, Names: []string{"cudnnGetErrorString"}, Optional: true},
		{Dst: &d.createTensor, Names: []string{"cudnnCreateTensorDescriptor"}},
		{Dst: &d.setTensor4d, Names: []string{"cudnnSetTensor4dDescriptor"}},
		{Dst: &d.destroyTensor, Names: []string{"cudnnDestroyTensorDescriptor"}},
		{Dst: &d.createFilter, Names: []string{"cudnnCreateFilterDescriptor"}},
		{Dst: &d.setFilter4d, Names: []string{"cudnnSetFilter4dDescriptor"}},
		{Dst: &d.destroyFilter, Names: []string{"cudnnDestroyFilterDescriptor"}},
		{Dst: &d.createConv, Names: []string{"cudnnCreateConvolutionDescriptor"}},
		{Dst: &d.setConv2d, Names: []string{"cudnnSetConvolution2dDescriptor"}},
		{Dst: &d.setConvMath, Names: []string{"cudnnSetConvolutionMathType"}},
		{Dst: &d.destroyConv, Names: []string{"cudnnDestroyConvolutionDescriptor"}},
		{Dst: &d.fwdAlgo, Names: []string{"cudnnGetConvolutionForwardAlgorithm_v7"}},
		{Dst: &d.fwdWS, Names: []string{"cudnnGetConvolutionForwardWorkspaceSize"}},
		{Dst: &d.fwd, Names: []string{"cudnnConvolutionForward"}},
		{Dst: &d.bwdDataAlgo, Names: []string{"cudnnGetConvolutionBackwardDataAlgorithm_v7"}},
		{Dst: &d.bwdDataWS, Names: []string{"cudnnGetConvolutionBackwardDataWorkspaceSize"}},
		{Dst: &d.bwdData, Names: []string{"cudnnConvolutionBackwardData"}},
		{Dst: &d.bwdFilterAlgo, Names: []string{"cudnnGetConvolutionBackwardFilterAlgorithm_v7"}},
		{Dst: &d.bwdFilterWS, Names: []string{"cudnnGetConvolutionBackwardFilterWorkspaceSize"}},
		{Dst: &d.bwdFilter, Names: []string{"cudnnConvolutionBackwardFilter"}},
	})
	if err != nil {
		return nil, fmt.Errorf("cuDNN: %w", err)
	}
	return d, nil
}

func (d *DNN) check(fn string, r uintptr) error {
	e := driver.StatusError(fn, r, statusNames, "cudnnStatus")
	if e == nil {
		return nil
	}
	if d.errString != 0 {
		if p, _, _ := purego.SyscallN(d.errString, uintptr(e.Code)); p != 0 {
			e.Detail = driver.GoString(*(**byte)(unsafe.Pointer(&p)))
		}
	}
	return e
}

// Version is cudnnGetVersion(), e.g. 92400 for 9.24.0.
func (d *DNN) Version() int {
	v, _, _ := purego.SyscallN(d.getVersion)
	return int(v)
}

// Handle, TensorDesc, FilterDesc and ConvDesc are cuDNN handles.
type (
	Handle     uintptr
	TensorDesc uintptr
	FilterDesc uintptr
	ConvDesc   uintptr
)

// Create makes a cuDNN handle in the current context.
func (d *DNN) Create() (Handle, error) {
	var h uintptr
	r, _, _ := purego.SyscallN(d.create, uintptr(unsafe.Pointer(&h)))
	return Handle(h), d.check("cudnnCreate", r)
}

// Destroy releases h.
func (d *DNN) Destroy(h Handle) error {
	r, _, _ := purego.SyscallN(d.destroy, uintptr(h))
	return d.check("cudnnDestroy", r)
}

// SetStream makes h queue its work on s.
func (d *DNN) SetStream(h Handle, s driver.Stream) error {
	r, _, _ := purego.SyscallN(d.setStream, uintptr(h), uintptr(s))
	return d.check("cudnnSetStream", r)
}

// Tensor4d makes an n,c,h,w descriptor in the given format and data type.
func (d *DNN) Tensor4d(format, dtype, n, c, h, w int) (TensorDesc, error) {
	var t uintptr
	r, _, _ := purego.SyscallN(d.createTensor, uintptr(unsafe.Pointer(&t)))
	if err := d.check("cudnnCreateTensorDescriptor", r); err != nil {
		return 0, err
	}
	r, _, _ = purego.SyscallN(d.setTensor4d, t, uintptr(format), uintptr(dtype), uintptr(n), uintptr(c), uintptr(h), uintptr(w))
	if err := d.check("cudnnSetTensor4dDescriptor", r); err != nil {
		return 0, fmt.Errorf("tensor %dx%dx%dx%d: %w", n, c, h, w, err)
	}
	return TensorDesc(t), nil
}

// DestroyTensor releases t.
func (d *DNN) DestroyTensor(t TensorDesc) error {
	r, _, _ := purego.SyscallN(d.destroyTensor, uintptr(t))
	return d.check("cudnnDestroyTensorDescriptor", r)
}

// Filter4d makes a k,c,h,w filter descriptor. Format NCHW means KCRS
// (PyTorch's OIHW); NHWC means KRSC.
func (d *DNN) Filter4d(dtype, format, k, c, h, w int) (FilterDesc, error) {
	var f uintptr
	r, _, _ := purego.SyscallN(d.createFilter, uintptr(unsafe.Pointer(&f)))
	if err := d.check("cudnnCreateFilterDescriptor", r); err != nil {
		return 0, err
	}
	r, _, _ = purego.SyscallN(d.setFilter4d, f, uintptr(dtype), uintptr(format), uintptr(k), uintptr(c), uintptr(h), uintptr(w))
	if err := d.check("cudnnSetFilter4dDescriptor", r); err != nil {
		return 0, fmt.Errorf("filter %dx%dx%dx%d: %w", k, c, h, w, err)
	}
	return FilterDesc(f), nil
}

// DestroyFilter releases f.
func (d *DNN) DestroyFilter(f FilterDesc) error {
	r, _, _ := purego.SyscallN(d.destroyFilter, uintptr(f))
	return d.check("cudnnDestroyFilterDescriptor", r)
}

// Conv2d makes a cross-correlation descriptor with the given padding and
// stride (dilation 1), compute type and math type.
func (d *DNN) Conv2d(pad, stride, compute, math int) (ConvDesc, error) {
	var c uintptr
	r, _, _ := purego.SyscallN(d.createConv, uintptr(unsafe.Pointer(&c)))
	if err := d.check("cudnnCreateConvolutionDescriptor", r); err != nil {
		return 0, err
	}
	r, _, _ = purego.SyscallN(d.setConv2d, c, uintptr(pad), uintptr(pad), uintptr(stride), uintptr(stride), 1, 1,
		CrossCorrelation, uintptr(compute))
	if err := d.check("cudnnSetConvolution2dDescriptor", r); err != nil {
		return 0, err
	}
	r, _, _ = purego.SyscallN(d.setConvMath, c, uintptr(math))
	return ConvDesc(c), d.check("cudnnSetConvolutionMathType", r)
}

// DestroyConv releases c.
func (d *DNN) DestroyConv(c ConvDesc) error {
	r, _, _ := purego.SyscallN(d.destroyConv, uintptr(c))
	return d.check("cudnnDestroyConvolutionDescriptor", r)
}

// decodePerf reads n perf rows from their C layout.
func decodePerf(buf []byte, n int) []ConvAlgoPerf {
	out := make([]ConvAlgoPerf, 0, n)
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		b := buf[i*convPerfSize:]
		out = append(out, ConvAlgoPerf{
			Algo:      int(int32(le.Uint32(b[0:]))),
			Status:    int(int32(le.Uint32(b[4:]))),
			TimeMS:    math.Float32frombits(le.Uint32(b[8:])),
			Workspace: int64(le.Uint64(b[16:])),
			MathType:  int(int32(le.Uint32(b[28:]))),
		})
	}
	return out
}

// convAlgos calls one of the Get*Algorithm_v7 functions; a, b, c, e are
// its four descriptors in C order.
func (d *DNN) convAlgos(fn uintptr, name string, h Handle, a, b, c, e uintptr) ([]ConvAlgoPerf, error) {
	const want = 8
	buf := make([]byte, want*convPerfSize)
	var got int32
	r, _, _ := purego.SyscallN(fn, uintptr(h), a, b, c, e, want, uintptr(unsafe.Pointer(&got)), uintptr(unsafe.Pointer(&buf[0])))
	runtime.KeepAlive(buf)
	if err := d.check(name, r); err != nil {
		return nil, err
	}
	return decodePerf(buf, int(min(got, want))), nil
}

// ForwardAlgos ranks forward algorithms by cuDNN's heuristics.
func (d *DNN) ForwardAlgos(h Handle, x TensorDesc, w FilterDesc, c ConvDesc, y TensorDesc) ([]ConvAlgoPerf, error) {
	return d.convAlgos(d.fwdAlgo, "cudnnGetConvolutionForwardAlgorithm_v7", h, uintptr(x), uintptr(w), uintptr(c), uintptr(y))
}

// BackwardDataAlgos ranks backward-data algorithms.
func (d *DNN) BackwardDataAlgos(h Handle, w FilterDesc, dy TensorDesc, c ConvDesc, dx TensorDesc) ([]ConvAlgoPerf, error) {
	return d.convAlgos(d.bwdDataAlgo, "cudnnGetConvolutionBackwardDataAlgorithm_v7", h, uintptr(w), uintptr(dy), uintptr(c), uintptr(dx))
}

// BackwardFilterAlgos ranks backward-filter algorithms.
func (d *DNN) BackwardFilterAlgos(h Handle, x, dy TensorDesc, c ConvDesc, dw FilterDesc) ([]ConvAlgoPerf, error) {
	return d.convAlgos(d.bwdFilterAlgo, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", h, uintptr(x), uintptr(dy), uintptr(c), uintptr(dw))
}

func (d *DNN) workspace(fn uintptr, name string, h Handle, a, b, c, e uintptr, algo int) (int, error) {
	var n uint64
	r, _, _ := purego.SyscallN(fn, uintptr(h), a, b, c, e, uintptr(algo), uintptr(unsafe.Pointer(&n)))
	return int(n), d.check(name, r)
}

// ForwardWorkspace is the workspace size algo needs.
func (d *DNN) ForwardWorkspace(h Handle, x TensorDesc, w FilterDesc, c ConvDesc, y TensorDesc, algo int) (int, error) {
	return d.workspace(d.fwdWS, "cudnnGetConvolutionForwardWorkspaceSize", h, uintptr(x), uintptr(w), uintptr(c), uintptr(y), algo)
}

// BackwardDataWorkspace is the workspace size algo needs.
func (d *DNN) BackwardDataWorkspace(h Handle, w FilterDesc, dy TensorDesc, c ConvDesc, dx TensorDesc, algo int) (int, error) {
	return d.workspace(d.bwdDataWS, "cudnnGetConvolutionBackwardDataWorkspaceSize", h, uintptr(w), uintptr(dy), uintptr(c), uintptr(dx), algo)
}

// BackwardFilterWorkspace is the workspace size algo needs.
func (d *DNN) BackwardFilterWorkspace(h Handle, x, dy TensorDesc, c ConvDesc, dw FilterDesc, algo int) (int, error) {
	return d.workspace(d.bwdFilterWS, "cudnnGetConvolutionBackwardFilterWorkspaceSize", h, uintptr(x), uintptr(dy), uintptr(c), uintptr(dw), algo)
}

// ConvWork is the workspace a convolution call may use.
type ConvWork struct {
	Algo  int
	Space driver.DevicePtr
	Bytes int
}

// Forward computes y = alpha*conv(x, w) + beta*y.
func (d *DNN) Forward(h Handle, alpha float32, xd TensorDesc, x driver.DevicePtr, wd FilterDesc, w driver.DevicePtr,
	cd ConvDesc, work ConvWork, beta float32, yd TensorDesc, y driver.DevicePtr) error {
	r, _, _ := purego.SyscallN(d.fwd, uintptr(h), uintptr(unsafe.Pointer(&alpha)), uintptr(xd), uintptr(x),
		uintptr(wd), uintptr(w), uintptr(cd), uintptr(work.Algo), uintptr(work.Space), uintptr(work.Bytes),
		uintptr(unsafe.Pointer(&beta)), uintptr(yd), uintptr(y))
	return d.check("cudnnConvolutionForward", r)
}

// BackwardData computes dx = alpha*conv^T(dy, w) + beta*dx.
func (d *DNN) BackwardData(h Handle, alpha float32, wd FilterDesc, w driver.DevicePtr, dyd TensorDesc, dy driver.DevicePtr,
	cd ConvDesc, work ConvWork, beta float32, dxd TensorDesc, dx driver.DevicePtr) error {
	r, _, _ := purego.SyscallN(d.bwdData, uintptr(h), uintptr(unsafe.Pointer(&alpha)), uintptr(wd), uintptr(w),
		uintptr(dyd), uintptr(dy), uintptr(cd), uintptr(work.Algo), uintptr(work.Space), uintptr(work.Bytes),
		uintptr(unsafe.Pointer(&beta)), uintptr(dxd), uintptr(dx))
	return d.check("cudnnConvolutionBackwardData", r)
}

// BackwardFilter computes dw = alpha*corr(x, dy) + beta*dw.
func (d *DNN) BackwardFilter(h Handle, alpha float32, xd TensorDesc, x driver.DevicePtr, dyd TensorDesc, dy driver.DevicePtr,
	cd ConvDesc, work ConvWork, beta float32, dwd FilterDesc, dw driver.DevicePtr) error {
	r, _, _ := purego.SyscallN(d.bwdFilter, uintptr(h), uintptr(unsafe.Pointer(&alpha)), uintptr(xd), uintptr(x),
		uintptr(dyd), uintptr(dy), uintptr(cd), uintptr(work.Algo), uintptr(work.Space), uintptr(work.Bytes),
		uintptr(unsafe.Pointer(&beta)), uintptr(dwd), uintptr(dw))
	return d.check("cudnnConvolutionBackwardFilter", r)
}

// Constants lists the cuDNN values and struct layouts this package
// assumes, in the header probe's order (see driver.Constant).
func Constants() []driver.Constant {
	return []driver.Constant{
		{Name: "CUDNN_TENSOR_NCHW", Value: TensorNCHW},
		{Name: "CUDNN_TENSOR_NHWC", Value: TensorNHWC},
		{Name: "CUDNN_DATA_FLOAT", Value: Float},
		{Name: "CUDNN_DATA_HALF", Value: Half},
		{Name: "CUDNN_DATA_BFLOAT16", Value: BF16},
		{Name: "CUDNN_CROSS_CORRELATION", Value: CrossCorrelation},
		{Name: "CUDNN_DEFAULT_MATH", Value: DefaultMath},
		{Name: "CUDNN_TENSOR_OP_MATH", Value: TensorOpMath},
		{Name: "CUDNN_FMA_MATH", Value: FMAMath},
		{Name: "CUDNN_STATUS_BAD_PARAM", Value: 2000},
		{Name: "CUDNN_STATUS_NOT_SUPPORTED", Value: 3000},
		{Name: "CUDNN_STATUS_EXECUTION_FAILED", Value: 5000},
		{Name: "sizeof(cudnnConvolutionFwdAlgoPerf_t)", Value: convPerfSize},
		{Name: "sizeof(cudnnConvolutionBwdDataAlgoPerf_t)", Value: convPerfSize},
		{Name: "sizeof(cudnnConvolutionBwdFilterAlgoPerf_t)", Value: convPerfSize},
		{Name: "offsetof(cudnnConvolutionFwdAlgoPerf_t,time)", Value: 8},
		{Name: "offsetof(cudnnConvolutionFwdAlgoPerf_t,memory)", Value: 16},
		{Name: "offsetof(cudnnConvolutionFwdAlgoPerf_t,mathType)", Value: 28},
	}
}
