package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// subsetSalt separates the subset stream from other users of a seed.
const subsetSalt = 0x7375627365742121 // "subset!!"

// Subset returns a class-balanced subset of s with trainN training and
// testN test images (0 keeps a split whole), chosen deterministically by
// seed. Each class gets n/10 images; the n%10 left over go one each to
// classes drawn by seed. The chosen images keep their original order.
func (s *Set) Subset(trainN, testN int, seed uint64) (*Set, error) {
	rng := rand.New(rand.NewPCG(seed^subsetSalt, 0))
	train, err := balanced(s.Train, trainN, rng)
	if err != nil {
		return nil, fmt.Errorf("subset of %s: train: %w", s.Name, err)
	}
	test, err := balanced(s.Test, testN, rng)
	if err != nil {
		return nil, fmt.Errorf("subset of %s: test: %w", s.Name, err)
	}
	out := &Set{
		Name:    fmt.Sprintf("%s[%d/%d]", s.Name, train.Len(), test.Len()),
		Classes: s.Classes,
		Train:   train,
		Test:    test,
	}
	out.Checksum = checksum(out)
	return out, nil
}

// Sized is the subset a run of a config trains on: at most trainN
// training and testN test images (0 keeps a split whole), drawn by Subset
// with seed 0 so that every run of a cell sees the same images. It is s
// itself when no split is larger than asked.
func (s *Set) Sized(trainN, testN int) (*Set, error) {
	if (trainN <= 0 || s.Train.Len() <= trainN) && (testN <= 0 || s.Test.Len() <= testN) {
		return s, nil
	}
	return s.Subset(min(trainN, s.Train.Len()), min(testN, s.Test.Len()), 0)
}

func balanced(sp Split, n int, rng *rand.Rand) (Split, error) {
	if n == 0 || n == sp.Len() {
		return sp, nil
	}
	if n < 0 || n > sp.Len() {
		return Split{}, fmt.Errorf("%d images requested, expected 0-%d", n, sp.Len())
	}
	var byClass [Classes][]int32
	for i, l := range sp.Labels {
		byClass[l] = append(byClass[l], int32(i))
	}
	var want [Classes]int
	for c := range want {
		want[c] = n / Classes
	}
	extra := make([]int32, Classes)
	ShuffledOrder(extra, rng)
	for _, c := range extra[:n%Classes] {
		want[c]++
	}
	var pick []int32
	for c, idx := range byClass {
		if want[c] > len(idx) {
			return Split{}, fmt.Errorf("class %d has %d images, %d needed for a balanced subset of %d", c, len(idx), want[c], n)
		}
		// A partial Fisher-Yates shuffle picks want[c] of them uniformly.
		for k := range want[c] {
			j := k + rng.IntN(len(idx)-k)
			idx[k], idx[j] = idx[j], idx[k]
		}
		pick = append(pick, idx[:want[c]]...)
	}
	slices.Sort(pick)
	out := Split{Images: make([]uint8, 0, len(pick)*ImageLen), Labels: make([]uint8, 0, len(pick))}
	for _, i := range pick {
		out.Labels = append(out.Labels, sp.Labels[i])
		out.Images = append(out.Images, sp.Images[int(i)*ImageLen:(int(i)+1)*ImageLen]...)
	}
	return out, nil
}
