#!/usr/bin/python3
"""Times PyTorch's CPU convolutions on the ResNet-9 layer shapes.

Prints one line per (shape, pass) in Go benchmark format, so compare.sh can
join it with `go test -bench` output:

  BenchmarkConv/torch/res1_b128/fwd  5  56439418 ns/op  171.2 GFLOP/s

Layout is channels_last (NHWC), as in the Go kernels; torch uses oneDNN for
these convs. Threads: torch.set_num_threads(THREADS) (default 2).
"""
import argparse
import time

import torch

LAYERS = [  # name, H=W, C, K; every conv 3x3 pad 1
    ("prep", 32, 3, 64),
    ("layer1", 32, 64, 128),
    ("res1", 16, 128, 128),
    ("layer2", 16, 128, 256),
    ("layer3", 8, 256, 512),
    ("res3", 4, 512, 512),
]


def bench(f, reps):
    """Returns wall and process CPU seconds per call."""
    f()  # warm-up: page faults, oneDNN kernel generation
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[128])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", default="", help="comma-separated layer names (default all)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    want = set(a.layers.split(",")) if a.layers else None
    cl = torch.channels_last
    with torch.no_grad():
        for n in a.batch:
            for name, h, c, k in LAYERS:
                if want and name not in want:
                    continue
                x = torch.randn(n, c, h, h).contiguous(memory_format=cl)
                w = torch.randn(k, c, 3, 3).contiguous(memory_format=cl)
                y = torch.nn.functional.conv2d(x, w, padding=1)
                dy = torch.randn_like(y).contiguous(memory_format=cl)
                flops = 2.0 * n * h * h * k * c * 9
                passes = [("fwd", lambda: torch.nn.functional.conv2d(x, w, padding=1))]
                cb = torch.ops.aten.convolution_backward
                args = (dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
                if c != 3:  # the network never needs the image gradient
                    passes.append(("bwd_data", lambda: cb(*args, [True, False, False])))
                passes.append(("bwd_weights", lambda: cb(*args, [False, True, False])))
                for pname, f in passes:
                    s, cpu = bench(f, a.reps)
                    print(f"BenchmarkConv/torch/{name}_b{n}/{pname}-{a.threads}\t{a.reps}\t{s*1e9:.0f} ns/op"
                          f"\t{flops/s/1e9:.2f} GFLOP/s\t{cpu*1e3:.2f} cpu-ms/op\t{flops/cpu/1e9:.2f} GFLOP/cpu-s", flush=True)


if __name__ == "__main__":
    main()
