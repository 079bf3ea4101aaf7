package kernels

import "math"

// expNeg returns e^t for t <= 0 in float32 (Cephes expf: round to
// t = n*ln2 + r, |r| <= ln2/2, degree-6 polynomial, scale by 2^n through
// the exponent bits), about 1 ulp, without branches. CELU calls it once per
// non-positive element, where math.Exp's float64 path costs several times
// more. Inputs below -87.3 return e^-87.3 (about 1e-38); positive inputs
// are clamped to 0.
func expNeg(t float32) float32 {
	t = max(min(t, 0), -87.3)
	n := int32(t*math.Log2E - 0.5) // round to nearest for t <= 0
	fn := float32(n)
	r := t - fn*0.693359375 - fn*(-2.12194440e-4)
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// celu returns z for z > 0 and alpha*(e^(z/alpha)-1) otherwise, computing
// both sides and selecting without a branch; ia is 1/alpha.
func celu(z, alpha, ia float32) float32 {
	zb := math.Float32bits(z)
	nb := math.Float32bits(alpha * (expNeg(z*ia) - 1))
	if int32(zb) <= 0 {
		zb = nb
	}
	return math.Float32frombits(zb)
}

// celuGrad returns CELU's derivative: 1 for z > 0, e^(z/alpha) otherwise.
func celuGrad(z, ia float32) float32 {
	eb := math.Float32bits(expNeg(z * ia))
	if int32(math.Float32bits(z)) > 0 {
		eb = 0x3f800000 // 1.0
	}
	return math.Float32frombits(eb)
}

// GELU's constants: Abramowitz and Stegun 7.1.26, erfc(a) = t(a1 + t(a2 +
// t(a3 + t(a4 + t a5)))) e^(-a^2) with t = 1/(1 + p a), |error| < 1.5e-7
// (PyTorch's vectorised erf uses the same), and 1/sqrt(2), 1/sqrt(2 pi).
const (
	geluP      = 0.3275911
	geluA1     = 0.254829592
	geluA2     = -0.284496736
	geluA3     = 1.421413741
	geluA4     = -1.453152027
	geluA5     = 1.061405429
	invSqrt2   = 0.7071067811865476
	invSqrt2Pi = 0.3989422804014327
)

// geluParts returns Phi(x), the standard normal CDF, and e^(-x^2/2),
// without a branch: Phi = 1 - erfc(z)/2 for z = x/sqrt(2) > 0 and
// erfc(-z)/2 otherwise, erfc of |z| by geluA*. bn_simd.h's gelu_parts is
// this, operation for operation.
func geluParts(x float32) (phi, e float32) {
	z := x * invSqrt2
	a := math.Float32frombits(math.Float32bits(z) &^ (1 << 31))
	t := 1 / (1 + geluP*a)
	p := t * (geluA1 + t*(geluA2+t*(geluA3+t*(geluA4+t*geluA5))))
	e = expNeg(-(a * a))
	c := 0.5 * p * e
	pb := math.Float32bits(c)
	if int32(math.Float32bits(z)) > 0 {
		pb = math.Float32bits(1 - c)
	}
	return math.Float32frombits(pb), e
}

// gelu returns x Phi(x).
func gelu(x float32) float32 {
	phi, _ := geluParts(x)
	return x * phi
}

// geluGrad returns GELU's derivative Phi(x) + x phi(x), phi(x) =
// e^(-x^2/2)/sqrt(2 pi).
func geluGrad(x float32) float32 {
	phi, e := geluParts(x)
	return phi + x*e*invSqrt2Pi
}
