package data

import "testing"

func TestSubset(t *testing.T) {
	s, err := Synthetic(SyntheticOptions{Train: 500, Test: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ train, test, wantTrain, wantTest int }{
		{100, 50, 100, 50},
		{103, 0, 103, 200},
		{0, 7, 500, 7},
		{500, 200, 500, 200},
	}
	for _, tt := range tests {
		sub, err := s.Subset(tt.train, tt.test, 3)
		if err != nil {
			t.Fatal(err)
		}
		if sub.Train.Len() != tt.wantTrain || sub.Test.Len() != tt.wantTest {
			t.Errorf("Subset(%d, %d): %d/%d images", tt.train, tt.test, sub.Train.Len(), sub.Test.Len())
		}
		for _, sp := range []Split{sub.Train, sub.Test} {
			var counts [Classes]int
			for _, l := range sp.Labels {
				counts[l]++
			}
			lo, hi := sp.Len(), 0
			for _, n := range counts {
				lo, hi = min(lo, n), max(hi, n)
			}
			if hi-lo > 1 {
				t.Errorf("Subset(%d, %d): class counts %v, want balanced", tt.train, tt.test, counts)
			}
		}
		if sub.Checksum != Checksum(sub) {
			t.Error("checksum not updated")
		}
	}
	a, _ := s.Subset(100, 50, 3)
	b, _ := s.Subset(100, 50, 3)
	c, _ := s.Subset(100, 50, 4)
	if a.Checksum != b.Checksum {
		t.Error("same seed, different subsets")
	}
	if a.Checksum == c.Checksum {
		t.Error("seeds 3 and 4 give the same subset")
	}
	// Every chosen image is an image of the set with its label.
	index := map[string]uint8{}
	for i := range s.Train.Len() {
		index[string(s.Train.Images[i*ImageLen:(i+1)*ImageLen])] = s.Train.Labels[i]
	}
	for i := range a.Train.Len() {
		l, ok := index[string(a.Train.Images[i*ImageLen:(i+1)*ImageLen])]
		if !ok || l != a.Train.Labels[i] {
			t.Fatalf("subset image %d is not a training image with its label", i)
		}
	}
	for _, bad := range [][2]int{{501, 0}, {-1, 0}, {0, 201}} {
		if _, err := s.Subset(bad[0], bad[1], 0); err == nil {
			t.Errorf("Subset(%d, %d) accepted", bad[0], bad[1])
		}
	}
}
