// Package cuda is the GPU engine: it trains a model.Spec on one NVIDIA GPU
// for train.Run. A machine without a driver builds and runs the binary;
// New then fails with an error that wraps ErrNoDriver, and the runner can
// fall back to the CPU engine.
//
// # Layers
//
// Nothing here needs cgo or NVIDIA headers at build time: the libraries
// are loaded at run time with purego, one package each.
//
//   - driver: libcuda (devices, the primary context, memory, modules,
//     launches, events), the search for NVIDIA's libraries
//     (Options.Search: $SPEEDRUN_CUDA_LIB_PATH, PyTorch's pip wheels, the
//     system loader) and the *driver.Error every binding returns;
//   - cublas and cudnn: the GEMMs and cuDNN 9's legacy convolution API;
//   - kernels: our CUDA C, its PTX (clang-16, embedded), the table of
//     kernel signatures and a Go reference of every kernel;
//   - launch: the typed launchers of those kernels, each checked against
//     its signature;
//   - cuda (this package): Backend, the worker goroutine that holds the
//     device's context; Plan, the model lowered onto flat buffers; and the
//     engine that train.Run drives.
//
// # Training engine
//
// Backend.Train checks Supports, then runs train.Run on the device thread
// with the engine of train.go as its train.Engine. train.Run owns the run,
// as it does for the CPU engine: the data subset, the initial weights, the
// epoch plans, the learning rate of each step and optimizer group, the EMA
// cadence, evaluation and TTA views, divergence, epoch records and
// observer calls. The engine owns the device:
//
//   - NewPlan (plan.go) renders model.Lower's lowering (fusions, activations,
//     shared buffers) as one flat fp32 buffer of parameters by optimizer
//     group, one of BN running stats and one activation arena, and newEngine
//     (engine.go) allocates them, makes the cuDNN descriptors of every
//     convolution at every batch size and picks each one's algorithms by
//     timed trials;
//   - Load uploads the dataset once, as its raw bytes; prep_nhwc normalises,
//     transposes and reflect-pads it on the device, bit for bit as
//     data.Prepare does. The host keeps the channel statistics (an exact
//     byte histogram) and the whitening filters' eigendecomposition (27x27
//     for 3x3 patches, 12x12 for airbench94's 2x2); Whitening sums their
//     patch covariance on the device (whiten_patches_f64 and an fp64 Dgemm,
//     whiten.go). The test images are padded by the TTA views' largest
//     shift, each view a crop of them;
//   - Epoch uploads only an epoch's plan (image order, crop/flip/cutout
//     choices, labels: train's draws, augplan.go), and augment_* builds
//     every batch on the device;
//   - Step queues one training step (pass.go): activations are NHWC bf16
//     (Options.Precision "f32" for fp32); cuDNN convolutions (KRSC filters,
//     fp32 accumulation, tensor-op math in bf16, FMA math in fp32) read a
//     bf16 copy of the weights cast each step; BN (plain and ghost) with
//     fp32 statistics (each group's rows reduced in chunks, then combined
//     in order: deterministic) fused with its ReLU/CELU/GELU (or a standalone
//     activation where a pool sits between), K x K max (floored) and global
//     max/mean pooling, channel concat, residual adds, scales, conv biases,
//     the smoothed loss, SGD (PyTorch's form, per group and momentum) or
//     per-filter LARS are our kernels; a conv bias's gradient is one GEMM
//     with a column of ones; Muon's Newton-Schulz iterations are cuBLAS
//     GemmEx calls in bf16 (Sgemm in fp32 runs) between our kernels; the
//     linear head is an fp32 cuBLAS Sgemm with our bias kernels, and
//     logits are fp32;
//   - Results reads the steps' loss and accuracy sums back in one copy, once
//     an epoch (SyncEvery 0) or after a step whose layer statistics are
//     logged, so Observer.Step calls and divergence detection come then;
//   - Average blends parameters and running stats into their EMA copies,
//     LoadAverage copies them back (lookahead);
//   - Logits runs the test set in eval mode in one of the run's views
//     (augment_* crops, mirrored or not), with the live or the averaged
//     state, and returns its fp32 logits, which train scores;
//   - SaveWeights and LayerNorms give the per-layer statistics of
//     Observer.Layers (LayerNorms waits for the device).
//
// Everything is queued in order on the legacy default stream, so the host
// waits only where it reads: Load's end, Whitening's sum, Results and
// Logits. train.Run's times are wall-clock and end after such a read, so
// they count the device's work and the host's planning; building the
// engine (PTX JIT, cuDNN's algorithm trials, allocation) and Start's
// warm-up step and evaluation are untimed, as the CPU engine's graph
// compilation is.
//
// Supports lists what the engine covers (every image network of the
// registry: DAWNBench's ResNet-18 and its variants, the stage-4 family,
// ResNet-9, N3, post 7's simple net with and without BN, airbench94; SGD,
// per-filter LARS or Muon on banks no taller than wide; per-layer
// statistics); anything else (K x K average pools, the deep linear net's
// non-image input) fails with ErrTrainUnsupported, which the runner can
// take as "use the CPU engine".
//
// # Testing without a GPU
//
// The tests run on fake libcuda, cuBLAS and cuDNN libraries (host memory,
// host GEMMs and NHWC convolutions; internal/fakecuda) with every kernel
// launch executed by the kernels' own CUDA C compiled for the host
// (hostrun_test.go). They hold the engine's steps, weights, running stats
// and whole runs to the CPU engine's (1e-5 in fp32; bf16 only loosely,
// since rounding alone moves these tiny nets' gradients by tens of
// percent) and every launch's pointers to the engine's allocations.
// scripts/gpu-check.sh and cmd/gpucheck check the same code on a GPU;
// what they measured is in bench/results.
package cuda
