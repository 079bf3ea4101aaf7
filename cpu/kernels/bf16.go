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

// bf16Bits is v as a bfloat16 the way VCVTNEPS2BF16 (and so oneDNN's
// f32-to-bf16 reorder on a CPU with avx512_bf16) converts it: rounded to
// nearest even, a denormal to a zero of its sign, a NaN kept quiet.
func bf16Bits(v float32) uint16 {
	b := math.Float32bits(v)
	switch e, m := b&0x7f800000, b&0x007fffff; {
	case e == 0:
		return uint16(b>>16) & 0x8000
	case e == 0x7f800000 && m != 0:
		return uint16(b>>16) | 0x40
	case e == 0x7f800000:
		return uint16(b >> 16)
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// ToBF16 writes src as bf16 values into dst (bf16Bits), a conversion
// oneDNN's bf16 convolutions would otherwise make of a float32 input.
func ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = bf16Bits(v)
	}
}
