// Package cuda is the GPU backend: the CUDA driver API, cuBLAS and cuDNN
// bound at run time with purego (no cgo, no NVIDIA headers at build time),
// our own kernels compiled from CUDA C to PTX by clang (package
// speedrun/cuda/kernels), and the training engine that runs a model.Spec
// on them. A machine without a driver builds and runs the binary; New
// then fails with an error that wraps ErrNoDriver.
//
// # Training engine
//
// Backend.Train (train.go) compiles the Spec with NewPlan (plan.go: one
// flat fp32 buffer of parameters by optimizer group, one of BN running
// stats, one activation arena) and runs it (engine.go, pass.go):
//
//   - the dataset is uploaded once, as its raw bytes; prep_nhwc normalises,
//     transposes and reflect-pads it on the device, bit for bit as
//     data.Prepare does. The host keeps two small parts of preprocessing:
//     the channel statistics (an exact byte histogram) and the whitening
//     filters' 27x27 eigendecomposition; their patch covariance is summed
//     on the device (whiten_patches_f64 and an fp64 Dgemm over the first
//     WhitenImages prepared images, whiten.go). Each epoch uploads only its plan (image order,
//     crop/flip/cutout choices, labels: the CPU loader's exact draws,
//     augplan.go) and augment_* builds every batch on the device;
//   - activations are NHWC bf16 (Options.Precision "f32" for fp32): cuDNN
//     convolutions (KRSC filters, fp32 accumulation, tensor-op math in
//     bf16, FMA math in fp32) from a bf16 copy of the weights cast each
//     step; BN (plain and ghost) with fp32 statistics (each group's rows
//     reduced in chunks, then combined in order: deterministic) fused with its
//     ReLU/CELU (or a standalone activation where a pool sits between),
//     K x K max and global max/mean pooling, channel concat, residual
//     adds, scales, loss, SGD and EMA are our kernels; the linear head is
//     an fp32 cuBLAS Sgemm with our bias kernels, logits are fp32;
//   - the CPU engine's semantics: same init stream, same subset, LR read
//     every step at stages.StepEpoch, PyTorch-form SGD (sgd_f32) with
//     lambda/N, WD*N and the BN-bias group, EMA of parameters and running
//     stats every EMAEvery steps, label smoothing, flip TTA on the EMA
//     model (the mirrored test batch is augment_* with flip set);
//   - times come from CUDA events around each epoch's steps (host planning
//     included) and each evaluation; set-up (PTX JIT, cuDNN algorithm
//     choice, allocation) and one warm-up step are untimed, as the CPU
//     engine's graph compilation is; per-step losses are read back once
//     per epoch, so Observer.Step calls and divergence detection come at
//     the end of each epoch.
//
// Supports lists what the engine covers (every image network of the
// registry: DAWNBench's ResNet-18 and its variants, the stage-4 family,
// ResNet-9, N3, post 7's simple net with and without BN; SGD or
// per-filter LARS; per-layer statistics through Observer.Layers, which
// wait for the device at each logged step); anything else (conv biases,
// K x K average pools, the deep linear net's non-image input) fails with
// ErrTrainUnsupported, which the runner can take as "use the CPU engine".
//
// # What is tested here, without a GPU
//
// The engine tests run Train end to end on the fake libcuda, cuBLAS and
// cuDNN of testdata/ (host memory, host convolutions in NHWC and bf16) with
// every kernel launch executed by the kernels' own CUDA C compiled for the
// CPU (hostrun_test.go): fp32 steps match the CPU engine's loss, weights
// and running stats to 1e-5 for N3 (p8.s10), ResNet-9 (p4.s10, short
// last batch), DAWNBench's nets (p1.s0, p1.s2, p4.s5), p8.s2a and post 7's
// nets; LARS and the per-layer statistics match through Backend.Train
// (p6.e1, p6.e2); a whole run's per-epoch losses and accuracies match, and
// every launch's pointers lie inside the engine's allocations. bf16 is
// checked only loosely (loss to 1%, update direction), because rounding
// alone moves these tiny nets' gradients by tens of percent.
//
// # Unverified on hardware (run scripts/gpu-check.sh on a GPU)
//
//   - the PTX itself under the driver's JIT, and every kernel on the GPU
//     (gpucheck kernels compares each with its Go reference);
//   - real cuDNN on these descriptors: that the legacy API offers an NHWC
//     bf16 algorithm for every layer (the 3-channel whitening conv and the
//     27-channel 1x1 conv included), the algorithms the set-up's timed
//     trials choose among cuDNN's ranked candidates, and bf16 accuracy end
//     to end;
//   - cuBLAS Sgemm for the linear head on the device;
//   - whether splitting BN reductions into row chunks (so that a layer with
//     64 channels and 16 ghost groups runs ~1000 blocks, not 32) pays:
//     gpucheck bench times both and prints the ratio;
//   - the legacy-default-stream ordering of cuDNN, cuBLAS, our launches
//     and cuMemcpyDtoD, and the CUDA-event timing;
//   - speed: whether p8.s10 reaches 94% mean TTA accuracy within 26 s on
//     an H100, and how it compares with bench/torch_p8_reference.py. The
//     host's share of preprocessing (the histogram and a 27x27
//     eigendecomposition) is in that time; the whitening covariance, which
//     took 6-7 s for 10,000 images on the loaded 2-core build machine when
//     the host summed it, is now one fp64 Dgemm per 1,024 images (921,600
//     patch rows) on the device (unmeasured there).
package cuda
