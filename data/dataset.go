// Package data holds datasets (the CIFAR-10 binary reader and downloader,
// the generated synthetic set), preprocessing and seeded augmentation.
package data

// Image geometry shared by every dataset here.
const (
	Channels = 3
	Height   = 32
	Width    = 32
	ImageLen = Channels * Height * Width // bytes per image, CHW order
	Classes  = 10
)

// Split is one part of a dataset as raw bytes: image i occupies
// Images[i*ImageLen:(i+1)*ImageLen] in CHW order (R plane, G plane, B
// plane, each row-major), with label Labels[i] in 0..9.
type Split struct {
	Images []uint8
	Labels []uint8
}

// Len is the number of images in the split.
func (s Split) Len() int { return len(s.Labels) }

// Set is a whole dataset.
type Set struct {
	Name     string   // "cifar10", "cifar10-mini", "synthetic"
	Checksum string   // identifies the exact bytes (hex SHA-256 over both splits)
	Classes  []string // class names, label i at index i
	Train    Split
	Test     Split
}
