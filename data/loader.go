package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
)

// ringSize is the number of batch buffers a Loader cycles through: one
// held by the training step and the rest prepared ahead of it.
const ringSize = 3

// Batch is one batch of images and labels. X holds N 32x32x3 NHWC images.
type Batch struct {
	X     []float32
	Y     []int32
	N     int
	Index int // batch number within the epoch, from 0

	xbuf []float32
	ybuf []int32
}

func newBatch(size int) *Batch {
	return &Batch{xbuf: make([]float32, size*ImageLen), ybuf: make([]int32, size)}
}

func (b *Batch) setLen(n int) {
	b.N = n
	b.X = b.xbuf[:n*ImageLen]
	b.Y = b.ybuf[:n]
}

// Loader produces the augmented training batches of one epoch at a time.
// A background goroutine fills a small ring of reusable buffers ahead of
// the consumer, so augmentation overlaps the training step and no batch
// allocates.
type Loader struct {
	p        *Prepared
	batch    int
	dropLast bool

	plan *EpochPlan // the running epoch's
	free chan *Batch
	busy atomic.Bool
}

// NewLoader returns a loader over p's training images in batches of
// batch. Each epoch's order and augmentation come from an EpochPlan.
func NewLoader(p *Prepared, batch int, dropLast bool) (*Loader, error) {
	n := p.TrainLen()
	if n == 0 {
		return nil, errors.New("loader: no training images")
	}
	if batch <= 0 {
		return nil, fmt.Errorf("loader: batch size %d, expected > 0", batch)
	}
	if dropLast && batch > n {
		return nil, fmt.Errorf("loader: batch size %d with drop-last leaves no batch of %d training images", batch, n)
	}
	side := p.PaddedSide()
	if len(p.Train) != n*side*side*Channels {
		return nil, fmt.Errorf("loader: %d training floats for %d images of %dx%dx%d", len(p.Train), n, side, side, Channels)
	}
	l := &Loader{p: p, batch: batch, dropLast: dropLast, free: make(chan *Batch, ringSize)}
	for range ringSize {
		l.free <- newBatch(batch)
	}
	return l, nil
}

// Steps is the number of batches per epoch.
func (l *Loader) Steps() int {
	n := l.p.TrainLen()
	if l.dropLast {
		return n / l.batch
	}
	return (n + l.batch - 1) / l.batch
}

// Epoch yields the batches of the epoch that plan describes (drawn for
// p's training images and padding; it must not change while the epoch
// runs). A yielded batch is valid until the loop body returns;
// the loader then reuses its buffer, so copy what must outlive the step.
// Breaking out of the loop or cancelling ctx stops the background
// goroutine; a cancellation is yielded once as (nil, ctx.Err()). Only one
// epoch of a Loader may run at a time.
func (l *Loader) Epoch(ctx context.Context, plan *EpochPlan) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		if len(plan.Order) != l.p.TrainLen() || plan.pad != l.p.Pad {
			yield(nil, fmt.Errorf("loader: a plan of %d images padded by %d for %d images padded by %d", len(plan.Order), plan.pad, l.p.TrainLen(), l.p.Pad))
			return
		}
		if !l.busy.CompareAndSwap(false, true) {
			yield(nil, errors.New("loader: an epoch is already running on this loader"))
			return
		}
		defer l.busy.Store(false)
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		l.plan = plan

		ctx, cancel := context.WithCancel(ctx)
		ready := make(chan *Batch, ringSize)
		done := make(chan struct{})
		go l.produce(ctx, ready, done)
		defer func() {
			cancel()
			<-done
			for b := range ready {
				l.free <- b
			}
		}()
		for b := range ready {
			ok := yield(b, nil)
			l.free <- b
			if !ok {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// produce fills the epoch's batches in order and closes ready.
func (l *Loader) produce(ctx context.Context, ready chan<- *Batch, done chan<- struct{}) {
	defer close(done)
	defer close(ready)
	side := l.p.PaddedSide()
	img := side * side * Channels
	n := len(l.plan.Order)
	for k := range l.Steps() {
		var b *Batch
		select {
		case b = <-l.free:
		case <-ctx.Done():
			return
		}
		lo := k * l.batch
		hi := min(lo+l.batch, n)
		b.setLen(hi - lo)
		b.Index = k
		for j, i := range l.plan.Order[lo:hi] {
			apply(b.X[j*ImageLen:(j+1)*ImageLen], l.p.Train[int(i)*img:(int(i)+1)*img], side, l.plan.choice[i], l.plan.aug.Cutout)
			b.Y[j] = l.p.TrainLabels[i]
		}
		select {
		case ready <- b:
		case <-ctx.Done():
			l.free <- b
			return
		}
	}
}

// TestBatches yields p's test images in order in batches of at most size,
// without augmentation. With flip set the images are horizontally
// mirrored, for flip test-time augmentation. Unflipped batches alias
// p.Test and must not be modified; a flipped batch reuses one buffer and
// is valid until the loop body returns.
func (p *Prepared) TestBatches(size int, flip bool) iter.Seq[*Batch] {
	return func(yield func(*Batch) bool) {
		if size <= 0 {
			return
		}
		n := p.TestLen()
		// One Batch for the whole pass, so evaluation allocates nothing
		// per batch.
		b := &Batch{}
		if flip {
			b = newBatch(min(size, n))
		}
		for k, lo := 0, 0; lo < n; k, lo = k+1, lo+size {
			hi := min(lo+size, n)
			src := p.Test[lo*ImageLen : hi*ImageLen]
			if flip {
				b.setLen(hi - lo)
				FlipNHWC(b.X, src, hi-lo)
				copy(b.Y, p.TestLabels[lo:hi])
			} else {
				b.X, b.Y, b.N = src, p.TestLabels[lo:hi], hi-lo
			}
			b.Index = k
			if !yield(b) {
				return
			}
		}
	}
}
