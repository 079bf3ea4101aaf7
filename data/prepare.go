package data

import (
	"fmt"
	"math"
)

// Prepared is a dataset preprocessed once before training, as in the blog:
// normalised with the training set's per-channel mean and std, laid out
// NHWC float32, and the training images reflect-padded by Pad pixels.
type Prepared struct {
	Train       []float32 // N x (32+2Pad) x (32+2Pad) x 3
	TrainLabels []int32
	Test        []float32 // M x 32 x 32 x 3
	TestLabels  []int32
	Mean, Std   [Channels]float32 // 0-1 scale, from the training set
	Pad         int
}

// TrainLen and TestLen are the numbers of images.
func (p *Prepared) TrainLen() int { return len(p.TrainLabels) }
func (p *Prepared) TestLen() int  { return len(p.TestLabels) }

// PaddedSide is the side of a padded training image, 32+2*Pad.
func (p *Prepared) PaddedSide() int { return Height + 2*p.Pad }

// ChannelStats returns the per-channel mean and population standard
// deviation of a split's pixels on the 0-1 scale. It counts a histogram
// per channel, so the result is exact and independent of order.
func ChannelStats(s Split) (mean, std [Channels]float64) {
	var hist [Channels][256]int64
	const plane = Height * Width
	for i := range s.Len() {
		img := s.Images[i*ImageLen : (i+1)*ImageLen]
		for c := range Channels {
			h := &hist[c]
			for _, v := range img[c*plane : (c+1)*plane] {
				h[v]++
			}
		}
	}
	for c := range Channels {
		var n, sum, sq float64
		for v, k := range hist[c] {
			x := float64(v) / 255
			n += float64(k)
			sum += float64(k) * x
			sq += float64(k) * x * x
		}
		if n == 0 {
			continue
		}
		mean[c] = sum / n
		std[c] = math.Sqrt(max(sq/n-mean[c]*mean[c], 0))
	}
	return mean, std
}

// Prepare normalises s with its training set's per-channel statistics,
// converts both splits to NHWC float32 and reflect-pads the training
// images by pad pixels on every side (mode "reflect", which mirrors about
// the edge pixel without repeating it, like numpy.pad).
func Prepare(s *Set, pad int) (*Prepared, error) {
	if s.Train.Len() == 0 {
		return nil, fmt.Errorf("prepare %s: empty training split", s.Name)
	}
	if pad < 0 || pad >= Height {
		return nil, fmt.Errorf("prepare %s: pad %d, expected 0-%d", s.Name, pad, Height-1)
	}
	if err := checkSplit(s.Train, "train"); err != nil {
		return nil, fmt.Errorf("prepare %s: %w", s.Name, err)
	}
	if err := checkSplit(s.Test, "test"); err != nil {
		return nil, fmt.Errorf("prepare %s: %w", s.Name, err)
	}
	mean, std := ChannelStats(s.Train)
	p := &Prepared{Pad: pad}
	// A lookup table per channel turns normalisation into one load per
	// pixel.
	var lut [Channels][256]float32
	for c := range Channels {
		if std[c] == 0 {
			return nil, fmt.Errorf("prepare %s: channel %d of the training set is constant", s.Name, c)
		}
		p.Mean[c], p.Std[c] = float32(mean[c]), float32(std[c])
		for v := range 256 {
			lut[c][v] = float32((float64(v)/255 - mean[c]) / std[c])
		}
	}
	side := Height + 2*pad
	p.Train = make([]float32, s.Train.Len()*side*side*Channels)
	p.TrainLabels = labels32(s.Train.Labels)
	for i := range s.Train.Len() {
		dst := p.Train[i*side*side*Channels : (i+1)*side*side*Channels]
		toNHWC(dst, s.Train.Images[i*ImageLen:(i+1)*ImageLen], &lut, pad)
	}
	p.Test = make([]float32, s.Test.Len()*ImageLen)
	p.TestLabels = labels32(s.Test.Labels)
	for i := range s.Test.Len() {
		toNHWC(p.Test[i*ImageLen:(i+1)*ImageLen], s.Test.Images[i*ImageLen:(i+1)*ImageLen], &lut, 0)
	}
	return p, nil
}

func checkSplit(s Split, name string) error {
	if len(s.Images) != s.Len()*ImageLen {
		return fmt.Errorf("%s split: %d image bytes for %d labels, expected %d", name, len(s.Images), s.Len(), s.Len()*ImageLen)
	}
	for i, l := range s.Labels {
		if l >= Classes {
			return fmt.Errorf("%s split: image %d: label %d, expected 0-%d", name, i, l, Classes-1)
		}
	}
	return nil
}

func labels32(b []uint8) []int32 {
	out := make([]int32, len(b))
	for i, l := range b {
		out[i] = int32(l)
	}
	return out
}

// toNHWC writes one CHW uint8 image into dst as a (32+2pad)^2 x 3 NHWC
// float32 image, normalised through lut and reflect-padded.
func toNHWC(dst []float32, src []uint8, lut *[Channels][256]float32, pad int) {
	const plane = Height * Width
	side := Width + 2*pad
	for y := range side {
		sy := reflect(y-pad, Height)
		for x := range side {
			sx := reflect(x-pad, Width)
			o := (y*side + x) * Channels
			s := sy*Width + sx
			dst[o] = lut[0][src[s]]
			dst[o+1] = lut[1][src[plane+s]]
			dst[o+2] = lut[2][src[2*plane+s]]
		}
	}
}

// reflect maps i into [0, n) by mirroring about the edges without
// repeating them: -1 -> 1, n -> n-2.
func reflect(i, n int) int {
	if i < 0 {
		return -i
	}
	if i >= n {
		return 2*(n-1) - i
	}
	return i
}
