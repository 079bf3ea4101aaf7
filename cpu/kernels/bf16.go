package kernels

import "math"

// RoundBF16 rounds v to the nearest bfloat16 (ties to even), as oneDNN's
// f32-to-bf16 reorder does, and returns it as a float32. NaNs stay NaN.
func RoundBF16(v float32) float32 {
	b := math.Float32bits(v)
	if v != v {
		return v
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}
