package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
)

// checker runs device-vs-reference comparisons and writes one JSON line
// per comparison. It must be used on the device thread (inside Do).
type checker struct {
	d      *driver.Driver
	rng    *rand.Rand
	out    io.Writer
	allocs []driver.DevicePtr
	failed int
	total  int
	err    error // the first allocation or copy error of the current check
	small  bool  // shrink the tensors (tests on the fake libraries)
}

// size returns full, or small when c.small.
func (c *checker) size(full, small int) int {
	if c.small {
		return small
	}
	return full
}

// note keeps the first error.
func (c *checker) note(err error) error {
	if err != nil && c.err == nil {
		c.err = err
	}
	return err
}

// Line is one result.
type Line struct {
	Check  string  `json:"check"` // kernel, blas, conv
	Name   string  `json:"name"`
	Prec   string  `json:"prec,omitempty"`
	Shape  string  `json:"shape,omitempty"`
	MaxRel float64 `json:"max_rel_err"`
	Tol    float64 `json:"tol"`
	Pass   bool    `json:"pass"`
	MS     float64 `json:"gpu_ms,omitempty"`
	Err    string  `json:"error,omitempty"`
	Note   string  `json:"note,omitempty"`
	Worst  string  `json:"worst,omitempty"` // the worst element of a failed comparison
}

func (c *checker) emit(l Line) {
	c.total++
	if !l.Pass {
		c.failed++
	}
	c.write(l)
}

// write prints l without counting it: probes of alternatives that the
// engine may not use (each cuDNN algorithm) are reported, not judged.
func (c *checker) write(l Line) {
	enc := json.NewEncoder(c.out)
	enc.SetEscapeHTML(false) // names hold "->"
	enc.Encode(l)
}

// compare emits a line for got against want.
func (c *checker) compare(l Line, got, want []float32) {
	if len(got) != len(want) {
		l.Err = fmt.Sprintf("length %d, want %d", len(got), len(want))
		c.emit(l)
		return
	}
	c.emit(judge(l, got, want))
}

// judge fills l's error (maxRel), verdict and, when it fails, its worst
// element.
func judge(l Line, got, want []float32) Line { return judgeBy(maxRel, l, got, want) }

// judgeBy is judge with another error measure.
func judgeBy(metric func(a, b []float32) (float64, int), l Line, got, want []float32) Line {
	var i int
	l.MaxRel, i = metric(got, want)
	l.Pass = l.MaxRel <= l.Tol
	if !l.Pass && i >= 0 {
		l.Worst = fmt.Sprintf("[%d] got %g want %g", i, got[i], want[i])
	}
	if math.IsInf(l.MaxRel, 0) {
		// JSON has no Inf; keep the line parseable.
		l.MaxRel, l.Err = math.MaxFloat64, "non-finite output"
	}
	return l
}

// fail emits a failed line for err.
func (c *checker) fail(l Line, err error) {
	l.Err = err.Error()
	c.emit(l)
}

// maxRel is max |a-b| / max(1, |b|) and where it is (-1 when every
// element is equal); NaN anywhere makes it +Inf. Equal values count as no
// error, infinities too: a cast of 3.4e38 to bf16 rounds to +Inf on both
// sides, and Inf-Inf would otherwise read as NaN.
func maxRel(a, b []float32) (float64, int) { return relErr(a, b, 1) }

// scaleRel is max |a-b| / max(|b|, rms(b)) and where it is: relative
// error, but never against less than the result's scale. A
// reduced-precision sum of n terms (cuDNN's bf16 backward filter keeps
// bf16 partial sums) is off by a fraction of the result's scale, so an
// element near zero from cancellation has an error that maxRel's
// max(1, |b|) would charge in full.
func scaleRel(a, b []float32) (float64, int) {
	var ss float64
	for _, v := range b {
		ss += float64(v) * float64(v)
	}
	rms := math.Sqrt(ss / float64(max(len(b), 1)))
	if rms == 0 {
		rms = 1
	}
	return relErr(a, b, rms)
}

// relErr is max |a-b| / max(floor, |b|) and where it is, as maxRel says.
func relErr(a, b []float32, floor float64) (float64, int) {
	m, at := 0.0, -1
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		d := math.Abs(float64(a[i])-float64(b[i])) / math.Max(floor, math.Abs(float64(b[i])))
		if math.IsNaN(d) {
			return math.Inf(1), i
		}
		if d > m || at < 0 {
			m, at = d, i
		}
	}
	return m, at
}

func (c *checker) randn(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(c.rng.NormFloat64())
	}
	return s
}

// round returns x as precision p can hold it.
func round(x []float32, p launch.Prec) []float32 {
	if p == launch.F32 {
		return x
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = kernels.BF16ToF32(kernels.F32ToBF16(v))
	}
	return out
}

func (c *checker) alloc(bytes int) (driver.DevicePtr, error) {
	p, err := c.d.Alloc(max(bytes, 4))
	if c.note(err) != nil {
		return 0, err
	}
	c.allocs = append(c.allocs, p)
	return p, nil
}

// up uploads x in precision p (x must already be rounded for bf16).
func (c *checker) up(x []float32, p launch.Prec) (driver.DevicePtr, error) {
	ptr, err := c.alloc(len(x) * p.Bytes())
	if err != nil {
		return 0, err
	}
	if p == launch.F32 {
		return ptr, c.note(driver.CopyHtoD(c.d, ptr, x))
	}
	b := make([]uint16, len(x))
	for i, v := range x {
		b[i] = kernels.F32ToBF16(v)
	}
	return ptr, c.note(driver.CopyHtoD(c.d, ptr, b))
}

func (c *checker) upI(x []int32) (driver.DevicePtr, error) {
	ptr, err := c.alloc(4 * len(x))
	if err != nil {
		return 0, err
	}
	return ptr, c.note(driver.CopyHtoD(c.d, ptr, x))
}

// zeros allocates n elements of p, filled with NaN bits so that a kernel
// that skips an element is caught.
func (c *checker) zeros(n int, p launch.Prec) (driver.DevicePtr, error) {
	ptr, err := c.alloc(n * p.Bytes())
	if err != nil {
		return 0, err
	}
	return ptr, c.note(c.d.MemsetD8(ptr, 0xff, n*p.Bytes()))
}

func (c *checker) down(ptr driver.DevicePtr, n int, p launch.Prec) ([]float32, error) {
	out := make([]float32, n)
	if p == launch.F32 {
		return out, c.note(driver.CopyDtoH(c.d, out, ptr))
	}
	b := make([]uint16, n)
	if err := c.note(driver.CopyDtoH(c.d, b, ptr)); err != nil {
		return out, err
	}
	for i, v := range b {
		out[i] = kernels.BF16ToF32(v)
	}
	return out, nil
}

// freeAll releases everything allocated so far.
func (c *checker) freeAll() {
	for _, p := range c.allocs {
		c.d.Free(p)
	}
	c.allocs = c.allocs[:0]
}

// timed runs f between two events on the default stream and returns ms.
func (c *checker) timed(f func() error) (float64, error) {
	e0, err := c.d.NewEvent()
	if err != nil {
		return 0, err
	}
	defer c.d.DestroyEvent(e0)
	e1, err := c.d.NewEvent()
	if err != nil {
		return 0, err
	}
	defer c.d.DestroyEvent(e1)
	if err := c.d.Record(e0, 0); err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	if err := c.d.Record(e1, 0); err != nil {
		return 0, err
	}
	if err := c.d.SyncEvent(e1); err != nil {
		return 0, err
	}
	ms, err := c.d.Elapsed(e0, e1)
	return float64(ms), err
}
