// Package kernels holds the CPU compute kernels of the speedrun CPU backend:
// convolution forward and backward, fused batch norm (with ghost splits) plus
// activation, pooling, softmax cross-entropy with label smoothing and SGEMM.
//
// Layout: activations are float32 NHWC, conv weights OIHW (K x C x R x S),
// linear weights Out x In. Callers provide every output buffer; workspaces
// are allocated once in constructors, so the hot calls allocate nothing
// (TestZeroAllocs). Every function checks its slice lengths and returns an
// error instead of panicking. A Conv or BNAct serves one caller at a time.
//
// ref.go holds plain, obviously correct reference implementations, generic
// over float32 and float64 (ConvForwardRef, BNActBackwardTrainRef, ...).
// They are the oracle for the fast kernels, for finite-difference gradient
// checks (ref_test.go checks their backward functions that way) and for the
// GPU backend's kernel checks.
//
// # Convolution: oneDNN, not im2col + OpenBLAS
//
// Conv runs oneDNN's direct convolution (Debian's libdnnl 2.6.3 through a C
// shim, dnnl_shim.c) on nhwc activations with the weight layout left to
// oneDNN (format_tag any); OIHW weights are reordered into it on every call,
// since the optimiser changes them each step (the reorder is a few MB,
// negligible next to the conv). oneDNN picks the same kernels PyTorch 1.13
// uses here: brgconv:avx512_core forward, jit:avx512_core backward. Its
// OpenMP pool sizes itself from OMP_NUM_THREADS (default: all cores).
// Winograd (dnnl_convolution_winograd) is unimplemented in this oneDNN for
// nhwc (status 3), so it was not pursued.
//
// The alternative, im2col (Go, (r,s,c) columns so each tap copies C
// contiguous channels) plus OpenBLAS cblas_sgemm, is kept as ConvGEMM for
// the benchmark and as a cross-check in tests. BenchmarkConv measures both
// (and reports GFLOP/s by wall time and per CPU-second); bench/compare.sh
// adds PyTorch side by side. Measured 2026-11-25 on this 2-vCPU machine
// (Zen-class, AVX-512), 2 threads, n = 3 timed calls per shape and pass at
// batch 128 (n = 2 at 512) after a warm-up call, raw output in
// bench/results/. The machine was shared and loaded (load average 19 to 24
// on 2 cores in run 1, 5 to 7 in run 2), so wall times swing; the process
// CPU time per call (cpu-ms/op, GFLOP/cpu-s) is the steadier figure (run 1
// and run 2 agree within 1% for oneDNN and OpenBLAS, 7% for torch). All
// libraries ran in the same run, one after another:
//
//	conv work of one ResNet-9 training step (fwd + bwd data + bwd weights,
//	res convs twice), CPU seconds (wall seconds):
//	b128 run 1: oneDNN 2.08 (8.3), OpenBLAS 5.93 (22.5), PyTorch 1.13 3.26 (16.0)
//	b128 run 2: oneDNN 2.06 (4.2), OpenBLAS 5.95 (8.1),  PyTorch 1.13 3.04 (5.4)
//	b512 run 1: oneDNN 8.32 (35.6),                      PyTorch 1.13 14.87 (60.4)
//
// So oneDNN needs 2.9x less CPU than im2col + OpenBLAS (1.9x to 2.7x by
// wall time) and wins almost every shape and pass: 120 to 185 nominal
// GFLOP/cpu-s on the 16x16 to 32x32 layers (80 to 120 on 4x4 res3 and on
// the 3-channel prep conv), against 31 to 82 for OpenBLAS. Against
// PyTorch's own calls (which also allocate a fresh output per call) it
// needs 0.64x to 0.68x (b128) and 0.56x (b512) of torch's CPU time. Repeat
// on a quiet machine before quoting absolute GFLOP/s.
//
// # Batch norm: vectorised C by default, the Go loops as its reference
//
// BNAct fuses (ghost) batch norm with the activation. By default its
// passes run bn_simd.c: the Go loops below, operation for operation,
// compiled as C for AVX-512 and for AVX2 (GCC target pragmas, the
// instruction set picked at run time; BNAuto). It builds in ISO C mode,
// whose default leaves a*b+c unfused, as Go does on amd64, so its results
// are the Go loops' bit for bit (TestBNActSIMDMatchesGo, both instruction
// sets) and a CPU without either runs the Go loops with the same
// numbers. BenchmarkBNAct compares the three; on a loaded Zen 5 (load 10,
// 2 threads, batch 128) the C loops needed 2-4x less CPU than the Go ones
// (layer1 32x32x128: 21 vs 53 CPU ms forward, 34 vs 69 backward).
//
// Beside bf16 convolutions, BN writes its input gradient in bf16 when the
// conv before it is its only reader (BackwardBF16; the cpu package's
// compile decides): the conv's backward passes read it as the bf16 dy they
// would otherwise convert themselves (Conv.BackwardDataBF16), rounded the
// same way (VCVTNEPS2BF16), so training takes the same bits (the cpu
// package's TestBF16Operands). Peak RSS falls 11-15%; speed is unchanged
// within noise on Zen 5. Likewise Conv.InputBF16 writes the bf16 x that
// Conv.ForwardBF16 and Conv.BackwardWeightsBF16 read, so that a graph
// can keep x in bf16 for the backward. BN still reads the convs' outputs in float32: reading them in
// bf16 was built four ways and never made the step faster
// (bench/results/bn-bf16-io-zen5-2026-12-04.md; branch exp/bn-bf16-rows).
//
// NewBNActLib with BNOneDNN runs the training passes for identity and ReLU
// on oneDNN's batch-norm primitive (bnorm_jit, ReLU fused, one call per
// ghost split, user scratchpads; ForwardTrain keeps a copy of x because
// oneDNN's backward recomputes from it). BenchmarkBNAct, batch 128, ReLU,
// OMP_NUM_THREADS=1, CPU ms forward + backward, oneDNN vs Go: 16x16x128
// 10.1 vs 30.4 (6.4 vs 33.3 in 32-image ghost splits), 8x8x512 8.1 vs 37.6
// (6.5 vs 39.7); raw output in bench/results/bn_onednn_vs_go_b128.txt.
// With 2 OpenMP threads (load average 3) it won on the un-split layers
// (32x32x128: 50 vs 160 CPU ms; 8x8x512: 10 vs 39) but its forward lost in
// ghost splits (16x16x128 in 32-image splits: 51 vs 16 CPU ms), so ghost
// BN wants OMP_NUM_THREADS=1 or the Go loops. It is not
// the default: its float32 reductions round to about 1e-6 against the
// float64 reference where the Go loops reach 1e-7, and the cpu package's
// PyTorch cross-check of the badly conditioned width-1/16 DAWN net moved
// from within its 1% tolerance to 1.8% with it.
//
// The Go loops (and so the C ones) serve every activation and eval mode: ForwardTrain makes two
// passes (float32 partial sums, shifted by the split's first row to avoid
// cancellation, over 32-row blocks, flushed to float64; then
// normalise+activate, saving only mean and 1/std), Backward two (dz and its
// sums with dz kept in dx; then dx), each recomputing xhat from the forward
// input, which the caller keeps anyway, rather than reading a saved copy:
// one activation-sized buffer less per layer. The Go loops split the work
// by 16-channel blocks over a fixed pool of Threads() goroutines created
// on first use, so every worker owns its outputs. The C loops split rows
// instead (bn_split.go): each pass runs as blocks of 32 rows, then the
// reduction by channels, then the blocks again, with every block's
// partial sums in their own slot, added in block order. Both splits give
// the Go loops' bits whatever the thread count (a caller that finds the
// pool busy runs the channel split serially; the test runs both). Rows
// beat channels by 1.4x to 3x per pass on Zen 5 (BenchmarkBNAct,
// BenchmarkBNActQuarter; bench/results/bn-row-split-zen5-2026-12-04.md):
// a channel share is a slice of every row, 16 to 64 channels at a time,
// and a 16-channel layer ran on one worker. The loops are
// bounds-check free and branch-free (ReLU selects and max-pool compares go
// through integer bit patterns, which compile to conditional moves; CELU
// uses a float32 exp, exp.go). They cost 3.4 to 4.3 ns of CPU per element
// forward and 5.2 to 5.6 backward (32x32x128, ReLU, loads 3 to 20; measured
// while Backward still read a saved xhat).
//
// # Pools and loss
//
// MaxPoolForward and MaxPoolBackward are parallel over output rows on the
// same pool, in C where the CPU has AVX2 (bn_simd.h) and in Go
// otherwise, with the same bits. The argmax is a byte per output, the
// maximum's place in its window, a quarter of a flat int32 index's
// memory. The backward writes each window's rows once, while they are in
// cache: each window position selects its dy where the argmax points at
// it and zero elsewhere, which vectorises, where routing dy to computed
// addresses did not. The other pools and the loss are cheap and serial.
// Loaded machine, batch 128: max pool 2x2 on 32x32x128 took 40 cpu-ms
// forward, 11 backward; the loss at batch 512 0.13. Zen 5, load 1.2, wall
// ms: 3.8-4.5 forward, backward 7.5-11.8 serial and 4.1-4.5 parallel
// (bench/results/maxpool-bwd-zen5-2026-12-04.md); with the byte argmax
// and the select, 2.9-3.3 backward against 3.3-3.5 for the int32 routing
// (BenchmarkPoolLoss, n = 3 alternating, load about 1).
//
// Threads: SetThreads before the first kernel call sets the Go pool and
// oneDNN's OpenMP thread count (oneDNN fixes its work split when a Conv or
// BNAct is created); without it both use all cores (or OMP_NUM_THREADS).
// OpenBLAS (Sgemm, used by linear layers) follows OPENBLAS_NUM_THREADS, to
// be set before the process starts: idle OpenBLAS threads spin, and so do
// OpenMP barriers when the machine is oversubscribed.
package kernels
