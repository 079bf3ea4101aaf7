package cpu

import _ "embed"

// TorchResNet9Script is a PyTorch script that times ResNet-9 training steps
// the way Bench does, for side-by-side comparisons (runner bench --torch).
// Arguments: BATCH STEPS WARMUP WIDTH THREADS SEED; it prints one JSON
// object with images_per_sec and step_seconds.
//
//go:embed torch/resnet9_step.py
var TorchResNet9Script string
