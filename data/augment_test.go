package data

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// handPrepared returns a Prepared with n padded images whose value at
// (image i, row y, column x, channel c) is i*1e6 + y*1000 + x*10 + c.
func handPrepared(n, pad int) *Prepared {
	side := Height + 2*pad
	p := &Prepared{Pad: pad, Train: make([]float32, n*side*side*Channels), TrainLabels: make([]int32, n)}
	for i := range n {
		p.TrainLabels[i] = int32(i % Classes)
		for y := range side {
			for x := range side {
				for c := range Channels {
					p.Train[((i*side+y)*side+x)*Channels+c] = float32(i*1e6 + y*1000 + x*10 + c)
				}
			}
		}
	}
	return p
}

func TestApply(t *testing.T) {
	p := handPrepared(1, 4)
	tests := []struct {
		name   string
		c      choice
		cutout int
		want   func(y, x, c int) float32
	}{
		{"centre", choice{cx: 4, cy: 4}, 0, func(y, x, c int) float32 { return float32((y+4)*1000 + (x+4)*10 + c) }},
		{"crop", choice{cx: 0, cy: 8}, 0, func(y, x, c int) float32 { return float32((y+8)*1000 + x*10 + c) }},
		{"crop+flip", choice{cx: 3, cy: 5, flip: true}, 0, func(y, x, c int) float32 { return float32((y+5)*1000 + (3+31-x)*10 + c) }},
		{"cutout", choice{cx: 2, cy: 1, kx: 28, ky: 0}, 4, func(y, x, c int) float32 {
			if y < 4 && x >= 28 {
				return 0
			}
			return float32((y+1)*1000 + (x+2)*10 + c)
		}},
		{"flip+cutout", choice{cx: 8, cy: 8, kx: 0, ky: 30, flip: true}, 2, func(y, x, c int) float32 {
			if y >= 30 && x < 2 {
				return 0
			}
			return float32((y+8)*1000 + (8+31-x)*10 + c)
		}},
	}
	dst := make([]float32, ImageLen)
	for _, tt := range tests {
		apply(dst, p.Train, 40, tt.c, tt.cutout)
		bad := 0
		for y := range Height {
			for x := range Width {
				for c := range Channels {
					if got, want := dst[(y*Width+x)*Channels+c], tt.want(y, x, c); got != want && bad < 3 {
						t.Errorf("%s: (%d,%d,%d) = %v, want %v", tt.name, y, x, c, got, want)
						bad++
					}
				}
			}
		}
	}
}

func TestFlipNHWC(t *testing.T) {
	p := handPrepared(2, 0)
	dst := make([]float32, 2*ImageLen)
	FlipNHWC(dst, p.Train, 2)
	if got, want := dst[((1*32+7)*32+0)*3+2], p.Train[((1*32+7)*32+31)*3+2]; got != want {
		t.Errorf("flipped (7,0) = %v, want source (7,31) = %v", got, want)
	}
	back := make([]float32, 2*ImageLen)
	FlipNHWC(back, dst, 2)
	if !slices.Equal(back, p.Train) {
		t.Error("flipping twice is not the identity")
	}
}

// seeded is a Loader with its own plan, drawn for each epoch from a seed
// as the training loop draws it.
type seeded struct {
	*Loader
	plan *EpochPlan
	seed uint64
}

func newSeeded(p *Prepared, aug Augment, batch int, dropLast bool, seed uint64) (*seeded, error) {
	l, err := NewLoader(p, batch, dropLast)
	if err != nil {
		return nil, err
	}
	plan, err := NewEpochPlan(aug, p.Pad, p.TrainLen())
	if err != nil {
		return nil, err
	}
	return &seeded{Loader: l, plan: plan, seed: seed}, nil
}

// Epoch draws epoch e's plan and yields its batches.
func (s *seeded) Epoch(ctx context.Context, e int) iter.Seq2[*Batch, error] {
	s.plan.Draw(s.seed, e)
	return s.Loader.Epoch(ctx, s.plan)
}

// epochBatches collects a whole epoch's batches as copies.
func epochBatches(t *testing.T, l *seeded, e int) (xs [][]float32, ys [][]int32) {
	t.Helper()
	for b, err := range l.Epoch(context.Background(), e) {
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, slices.Clone(b.X))
		ys = append(ys, slices.Clone(b.Y))
	}
	return xs, ys
}

func TestLoaderDeterminism(t *testing.T) {
	p := handPrepared(50, 4)
	aug := Augment{Crop: true, Flip: true, Cutout: 8}
	for _, grouped := range []bool{false, true} {
		aug.Grouped = grouped
		mk := func(seed uint64) *seeded {
			l, err := newSeeded(p, aug, 16, false, seed)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		a, b, c := mk(1), mk(1), mk(2)
		xa, ya := epochBatches(t, a, 1)
		xb, yb := epochBatches(t, b, 1)
		xc, _ := epochBatches(t, c, 1)
		xa2, _ := epochBatches(t, a, 2)
		if len(xa) != 4 || len(xa[3]) != 2*ImageLen {
			t.Fatalf("grouped=%v: %d batches, last %d floats; want 4, last 2 images", grouped, len(xa), len(xa[len(xa)-1]))
		}
		for k := range xa {
			if !slices.Equal(xa[k], xb[k]) || !slices.Equal(ya[k], yb[k]) {
				t.Errorf("grouped=%v: same seed, batch %d differs", grouped, k)
			}
		}
		if slices.Equal(xa[0], xc[0]) {
			t.Errorf("grouped=%v: seeds 1 and 2 give the same first batch", grouped)
		}
		if slices.Equal(xa[0], xa2[0]) {
			t.Errorf("grouped=%v: epochs 1 and 2 give the same first batch", grouped)
		}
		// Replaying epoch 1 after epoch 2 gives epoch 1 again.
		xa1, _ := epochBatches(t, a, 1)
		if !slices.Equal(xa1[0], xa[0]) {
			t.Errorf("grouped=%v: epoch 1 is not reproducible on its own", grouped)
		}
	}
}

// TestLoaderCoversEpoch checks that every image appears exactly once per
// epoch, with its own label, and that drop-last drops the remainder.
func TestLoaderCoversEpoch(t *testing.T) {
	p := handPrepared(37, 4)
	for _, dropLast := range []bool{false, true} {
		l, err := newSeeded(p, Augment{Crop: true, Flip: true}, 8, dropLast, 3)
		if err != nil {
			t.Fatal(err)
		}
		xs, ys := epochBatches(t, l, 0)
		want := 37
		if dropLast {
			want = 32
		}
		if len(xs) != l.Steps() {
			t.Errorf("dropLast=%v: %d batches, Steps() = %d", dropLast, len(xs), l.Steps())
		}
		seen := map[int]bool{}
		for k := range xs {
			for j := range len(ys[k]) {
				// Pixel (0,0,0) is i*1e6 + small: recover the image index.
				i := int(xs[k][j*ImageLen] / 1e6)
				if seen[i] {
					t.Errorf("image %d twice", i)
				}
				seen[i] = true
				if ys[k][j] != p.TrainLabels[i] {
					t.Errorf("image %d has label %d, want %d", i, ys[k][j], p.TrainLabels[i])
				}
			}
		}
		if len(seen) != want {
			t.Errorf("dropLast=%v: %d distinct images, want %d", dropLast, len(seen), want)
		}
	}
}

// TestPlanStats checks the independent choices' ranges and balance.
func TestPlanStats(t *testing.T) {
	const n = 20000
	pl := newPlanner(Augment{Crop: true, Flip: true, Cutout: 8}, 4, n)
	pl.plan(rand.New(rand.NewPCG(1, 2)))
	flips := 0
	var cx, kx [33]int
	for _, c := range pl.choice {
		if c.flip {
			flips++
		}
		cx[c.cx]++
		kx[c.kx]++
		if c.cx > 8 || c.cy > 8 || c.kx > 24 || c.ky > 24 {
			t.Fatalf("choice out of range: %+v", c)
		}
	}
	if flips < n/2-400 || flips > n/2+400 {
		t.Errorf("%d of %d flipped, want about half", flips, n)
	}
	for o := range 9 {
		if cx[o] < n/9-400 || cx[o] > n/9+400 {
			t.Errorf("crop x offset %d drawn %d times, want about %d", o, cx[o], n/9)
		}
	}
	for o := range 25 {
		if kx[o] < n/25-250 || kx[o] > n/25+250 {
			t.Errorf("cutout x %d drawn %d times, want about %d", o, kx[o], n/25)
		}
	}
}

func TestGroupedPlan(t *testing.T) {
	tests := []struct {
		n, maxGroups, cutout           int
		wantCrops, wantFlips, wantCuts int
	}{
		{5000, 0, 8, 81, 2, 200},
		{5000, 50, 8, 50, 2, 50},
		{5000, 1, 5, 1, 1, 1},
		{100, 0, 8, 81, 2, 100}, // fewer images than groups
	}
	for _, tt := range tests {
		pl := newPlanner(Augment{Crop: true, Flip: true, Cutout: tt.cutout, Grouped: true, MaxGroups: tt.maxGroups}, 4, tt.n)
		pl.plan(rand.New(rand.NewPCG(7, 0)))
		crops, flips, cuts := map[[2]uint8]int{}, map[bool]int{}, map[[2]uint8]int{}
		for _, c := range pl.choice {
			crops[[2]uint8{c.cx, c.cy}]++
			flips[c.flip]++
			cuts[[2]uint8{c.kx, c.ky}]++
			if int(c.kx)+tt.cutout > Width || int(c.ky)+tt.cutout > Height {
				t.Fatalf("cutout at (%d,%d) size %d leaves the image", c.kx, c.ky, tt.cutout)
			}
		}
		if len(crops) != tt.wantCrops || len(flips) != tt.wantFlips || len(cuts) != tt.wantCuts {
			t.Errorf("n=%d max=%d: %d crop, %d flip, %d cutout choices; want %d, %d, %d",
				tt.n, tt.maxGroups, len(crops), len(flips), len(cuts), tt.wantCrops, tt.wantFlips, tt.wantCuts)
		}
		// Groups are even: sizes differ by at most one.
		lo, hi := tt.n, 0
		for _, k := range cuts {
			lo, hi = min(lo, k), max(hi, k)
		}
		if hi-lo > 1 {
			t.Errorf("n=%d max=%d: cutout group sizes from %d to %d, want even", tt.n, tt.maxGroups, lo, hi)
		}
	}
}

func TestLoaderCancelAndBreak(t *testing.T) {
	p := handPrepared(64, 4)
	l, err := newSeeded(p, Augment{Crop: true, Flip: true, Cutout: 4}, 4, true, 9)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var gotErr error
	n := 0
	for b, err := range l.Epoch(ctx, 1) {
		if err != nil {
			gotErr = err
			break
		}
		if b.N != 4 {
			t.Fatalf("batch of %d", b.N)
		}
		if n++; n == 3 {
			cancel()
		}
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", gotErr)
	}
	if n >= l.Steps() {
		t.Errorf("got all %d batches despite the cancel", n)
	}
	for range l.Epoch(context.Background(), 2) {
		break
	}
	if len(l.free) != ringSize {
		t.Errorf("%d of %d buffers back after break", len(l.free), ringSize)
	}
	xs, _ := epochBatches(t, l, 3)
	if len(xs) != 16 {
		t.Errorf("%d batches after a cancel and a break, want 16", len(xs))
	}
}

func TestNewLoaderErrors(t *testing.T) {
	p := handPrepared(4, 0)
	tests := []struct {
		aug   Augment
		batch int
		drop  bool
	}{
		{Augment{Crop: true}, 2, false}, // crop without padding
		{Augment{Cutout: 33}, 2, false},
		{Augment{}, 0, false},
		{Augment{}, 5, true},
		{Augment{MaxGroups: -1}, 2, false},
	}
	for _, tt := range tests {
		if _, err := newSeeded(p, tt.aug, tt.batch, tt.drop, 0); err == nil {
			t.Errorf("newSeeded(%+v, batch %d, drop %v) accepted", tt.aug, tt.batch, tt.drop)
		}
	}
}

func TestTestBatches(t *testing.T) {
	p := handPrepared(1, 0)
	p.Test, p.TestLabels = make([]float32, 5*ImageLen), []int32{0, 1, 2, 3, 4}
	for i := range p.Test {
		p.Test[i] = float32(i)
	}
	var plain, flipped []float32
	var sizes []int
	for b := range p.TestBatches(2, false) {
		plain = append(plain, b.X...)
		sizes = append(sizes, b.N)
	}
	for b := range p.TestBatches(2, true) {
		flipped = append(flipped, b.X...)
	}
	if !slices.Equal(sizes, []int{2, 2, 1}) || !slices.Equal(plain, p.Test) {
		t.Errorf("plain batches: sizes %v, equal %v", sizes, slices.Equal(plain, p.Test))
	}
	want := make([]float32, len(p.Test))
	FlipNHWC(want, p.Test, 5)
	if !slices.Equal(flipped, want) {
		t.Error("flipped batches differ from FlipNHWC")
	}
}

// BenchmarkAugment measures the loader's throughput for crop, flip and
// cutout 8, consuming every batch.
func BenchmarkAugment(b *testing.B) {
	for _, grouped := range []bool{false, true} {
		name := "independent"
		if grouped {
			name = "grouped"
		}
		b.Run(name, func(b *testing.B) {
			const n = 5000
			p := handPrepared(n, 4)
			l, err := newSeeded(p, Augment{Crop: true, Flip: true, Cutout: 8, Grouped: grouped}, 512, false, 1)
			if err != nil {
				b.Fatal(err)
			}
			images := 0
			e := 0
			for b.Loop() {
				for batch, err := range l.Epoch(context.Background(), e) {
					if err != nil {
						b.Fatal(err)
					}
					images += batch.N
				}
				e++
			}
			b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// TestLoaderPrefetch checks that batches are prepared ahead: while the
// consumer holds the first batch, the producer takes every other buffer.
func TestLoaderPrefetch(t *testing.T) {
	p := handPrepared(40, 4)
	l, err := newSeeded(p, Augment{Crop: true}, 4, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	for b := range l.Epoch(context.Background(), 1) {
		if b.Index != 0 {
			t.Fatalf("first batch has index %d", b.Index)
		}
		// The producer fills the free buffers in its own time: wait for it
		// as long as the test may run (go test -timeout), not for a guess
		// at how soon a loaded machine schedules it.
		deadline, ok := t.Deadline()
		for len(l.free) > 0 && (!ok || time.Until(deadline) > 5*time.Second) {
			time.Sleep(time.Millisecond)
		}
		if n := len(l.free); n != 0 {
			t.Errorf("%d buffers still free while the consumer holds batch 0 until the test's deadline; want the producer to fill them all", n)
		}
		break
	}
}

// RenderView against airbench's views written out: reflect-pad the image
// by 1, cut [0:32, 0:32] (DY = DX = -1) or [2:34, 2:34] (+1), mirror.
func TestRenderView(t *testing.T) {
	p := handPrepared(2, 0)
	// The copy reflect-padded by 1, as numpy.pad(mode="reflect") makes it.
	padded := make([]float32, 2*34*34*Channels)
	for i := range 2 {
		for y := range 34 {
			for x := range 34 {
				for c := range Channels {
					padded[((i*34+y)*34+x)*Channels+c] = p.Train[((i*32+reflect(y-1, 32))*32+reflect(x-1, 32))*Channels+c]
				}
			}
		}
	}
	for _, v := range []View{{}, {Flip: true}, {DY: -1, DX: -1}, {DY: 1, DX: 1}, {Flip: true, DY: -1, DX: -1}, {Flip: true, DY: 1, DX: 1}} {
		got := make([]float32, 2*ImageLen)
		RenderView(got, p.Train, 2, v)
		o := 1 + v.DY // the crop's corner in the padded image
		for i := range 2 {
			for y := range Height {
				for x := range Width {
					sx := x
					if v.Flip { // airbench mirrors the cut view
						sx = Width - 1 - x
					}
					for c := range Channels {
						want := padded[((i*34+o+y)*34+o+sx)*Channels+c]
						if g := got[((i*32+y)*32+x)*Channels+c]; g != want {
							t.Fatalf("view %+v: image %d (%d,%d,%d) = %v, want %v", v, i, y, x, c, g, want)
						}
					}
				}
			}
		}
	}
	if !(View{}).Plain() || (View{DX: 1}).Plain() {
		t.Error("Plain")
	}
}

// Alternating flip: each image's flip is the same in epochs 1 and 3 and
// the opposite in epoch 2, about half are mirrored, and the crops and
// order still change every epoch.
func TestAltFlip(t *testing.T) {
	const n = 1000
	plan, err := NewEpochPlan(Augment{Crop: true, Flip: true, AltFlip: true}, 2, n)
	if err != nil {
		t.Fatal(err)
	}
	flips := func(e int) ([]bool, []int32) {
		plan.Draw(7, e)
		f := make([]bool, n)
		offs := make([]int32, n)
		for i := range n {
			cx, cy, _, _, fl := plan.Choice(int32(i))
			f[i], offs[i] = fl, int32(cy*5+cx)
			if cx > 4 || cy > 4 {
				t.Fatalf("translate 2: crop offset (%d, %d) outside 0..4", cx, cy)
			}
		}
		return f, offs
	}
	f1, o1 := flips(1)
	f2, o2 := flips(2)
	f3, _ := flips(3)
	mirrored := 0
	for i := range n {
		if f1[i] == f2[i] || f1[i] != f3[i] {
			t.Fatalf("image %d: flips %v %v %v over epochs 1-3", i, f1[i], f2[i], f3[i])
		}
		if f1[i] {
			mirrored++
		}
	}
	if mirrored < 430 || mirrored > 570 {
		t.Errorf("%d of %d mirrored in epoch 1", mirrored, n)
	}
	if slices.Equal(o1, o2) {
		t.Error("crops repeat between epochs")
	}
	if _, err := NewEpochPlan(Augment{AltFlip: true}, 0, n); err == nil {
		t.Error("alternating flip without flip accepted")
	}
}
