// Command dumpsubset writes the exact training inputs a runner profile
// sees, so that bench/torch_quick.py trains PyTorch on the same images: the
// balanced subset (data.(*Set).Subset with seed 0, as cmd/runner does),
// normalised and reflect-padded by data.Prepare, plus the post-8
// whitening filters computed by data.WhiteningFilters.
//
//	go run ./bench/dumpsubset -data DIR -train 5000 -test 2000 -out DIR
//
// Files (raw little-endian, shapes in meta.json): train_x.f32 (N x 40 x
// 40 x 3 NHWC, pad 4), train_y.i32, test_x.f32 (M x 32 x 32 x 3), test_y.i32,
// whiten.f32 (27 x 3 x 3 x 3 OIHW).
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"speedrun/data"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dumpsubset:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("data", "", "CIFAR-10 folder")
	trainN := flag.Int("train", 5000, "training images (0: all)")
	testN := flag.Int("test", 2000, "test images (0: all)")
	pad := flag.Int("pad", 4, "reflect padding of the training images")
	whitenImages := flag.Int("whiten-images", 10000, "images for the whitening filters")
	whitenEps := flag.Float64("whiten-eps", 1e-2, "eps of the whitening filters")
	out := flag.String("out", "", "output folder")
	flag.Parse()
	if *dir == "" || *out == "" {
		return fmt.Errorf("-data and -out are required")
	}
	set, err := data.Open(context.Background(), *dir)
	if err != nil {
		return err
	}
	n, m := *trainN, *testN
	if n == 0 {
		n = set.Train.Len()
	}
	if m == 0 {
		m = set.Test.Len()
	}
	// The subset the engines train on (data.Set.Sized).
	if set, err = set.Sized(n, m); err != nil {
		return err
	}
	p, err := data.Prepare(set, *pad)
	if err != nil {
		return err
	}
	w, err := data.WhiteningFilters(p, min(*whitenImages, p.TrainLen()), *whitenEps)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files := []struct {
		name string
		v    any
	}{{"train_x.f32", p.Train}, {"train_y.i32", p.TrainLabels}, {"test_x.f32", p.Test}, {"test_y.i32", p.TestLabels}, {"whiten.f32", w}}
	for _, f := range files {
		if err := write(filepath.Join(*out, f.name), f.v); err != nil {
			return err
		}
	}
	meta, err := json.MarshalIndent(map[string]any{
		"name": set.Name, "checksum": data.Checksum(set), "train": p.TrainLen(), "test": p.TestLen(),
		"pad": p.Pad, "side": p.PaddedSide(), "mean": p.Mean, "std": p.Std,
		"whiten_images": min(*whitenImages, p.TrainLen()), "whiten_eps": *whitenEps,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "meta.json"), append(meta, '\n'), 0o644)
}

func write(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.LittleEndian, v); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
