package data

import (
	"math"
	"testing"
)

// tinySet builds a set whose pixel values encode their position, so that
// layout mistakes show: channel c, row y, column x of image i has value
// (i*7 + c*50 + y*3 + x) % 256.
func tinySet(nTrain, nTest int) *Set {
	mk := func(n, off int) Split {
		s := Split{Images: make([]uint8, n*ImageLen), Labels: make([]uint8, n)}
		for i := range n {
			s.Labels[i] = uint8(i % Classes)
			for c := range Channels {
				for y := range Height {
					for x := range Width {
						s.Images[i*ImageLen+(c*Height+y)*Width+x] = uint8((i+off)*7 + c*50 + y*3 + x)
					}
				}
			}
		}
		return s
	}
	s := &Set{Name: "tiny", Classes: CIFAR10Classes(), Train: mk(nTrain, 0), Test: mk(nTest, 1000)}
	s.Checksum = Checksum(s)
	return s
}

func TestPrepare(t *testing.T) {
	s := tinySet(3, 2)
	p, err := Prepare(s, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Train) != 3*40*40*3 || len(p.Test) != 2*32*32*3 || p.PaddedSide() != 40 {
		t.Fatalf("sizes %d, %d", len(p.Train), len(p.Test))
	}
	mean, std := ChannelStats(s.Train)
	norm := func(v uint8, c int) float32 { return float32((float64(v)/255 - mean[c]) / std[c]) }
	raw := func(sp Split, i, c, y, x int) uint8 { return sp.Images[i*ImageLen+(c*Height+y)*Width+x] }
	tests := []struct{ py, px, sy, sx int }{
		{4, 4, 0, 0},     // top-left pixel
		{35, 35, 31, 31}, // bottom-right pixel
		{3, 4, 1, 0},     // one above the top reflects row 1
		{0, 0, 4, 4},     // corner of the padding
		{39, 36, 27, 30},
		{20, 36, 16, 30}, // one right of the edge reflects column 30
	}
	for _, tt := range tests {
		for c := range Channels {
			got := p.Train[((2*40+tt.py)*40+tt.px)*3+c]
			if want := norm(raw(s.Train, 2, c, tt.sy, tt.sx), c); got != want {
				t.Errorf("padded (%d,%d) c%d = %v, want source (%d,%d) = %v", tt.py, tt.px, c, got, tt.sy, tt.sx, want)
			}
		}
	}
	if got, want := p.Test[((1*32+5)*32+6)*3+2], norm(raw(s.Test, 1, 2, 5, 6), 2); got != want {
		t.Errorf("test (5,6) c2 = %v, want %v", got, want)
	}
	// Normalised training pixels (the unpadded centre) have mean 0, std 1.
	for c := range Channels {
		var sum, sq float64
		n := 0
		for i := range 3 {
			for y := 4; y < 36; y++ {
				for x := 4; x < 36; x++ {
					v := float64(p.Train[((i*40+y)*40+x)*3+c])
					sum += v
					sq += v * v
					n++
				}
			}
		}
		m := sum / float64(n)
		sd := math.Sqrt(sq/float64(n) - m*m)
		if math.Abs(m) > 1e-5 || math.Abs(sd-1) > 1e-5 {
			t.Errorf("channel %d: mean %v std %v after normalising", c, m, sd)
		}
	}
	if p.TrainLabels[2] != 2 || p.TestLabels[1] != 1 {
		t.Errorf("labels %v %v", p.TrainLabels, p.TestLabels)
	}
}

func TestPrepareErrors(t *testing.T) {
	s := tinySet(2, 1)
	if _, err := Prepare(s, 32); err == nil {
		t.Error("pad 32 accepted")
	}
	s.Train.Labels[0] = 12
	if _, err := Prepare(s, 4); err == nil {
		t.Error("label 12 accepted")
	}
	if _, err := Prepare(&Set{Name: "empty"}, 4); err == nil {
		t.Error("empty set accepted")
	}
}
