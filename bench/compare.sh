#!/usr/bin/env bash
# compare.sh: our conv kernels against PyTorch's, side by side in one run.
#
# Measures the ResNet-9 conv layer shapes (forward, backward data, backward
# weights) with `go test -bench BenchmarkConv` (package cpu/kernels) and with
# PyTorch 1.13 (channels_last, torch.set_num_threads(THREADS)), alternating
# per batch size so both see the same machine load, and prints per-shape
# GFLOP/s and the ratio ours/torch.
#
#   bench/compare.sh                      # batch 128, oneDNN vs torch
#   BATCHES="128 512" LIBS="onednn|openblas" REPS=5 bench/compare.sh
#
# The machine is shared: note `uptime` (printed) when reading the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCHES=${BATCHES:-128}
LIBS=${LIBS:-onednn}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
PY=${PY:-/usr/bin/python3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "# $(date -u +%FT%TZ) $(uptime)"
echo "# threads=$THREADS reps=$REPS batches=$BATCHES libs=$LIBS"
go test -c -o "$out.test" ./cpu/kernels
trap 'rm -f "$out" "$out.test"' EXIT
for n in $BATCHES; do
  OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS GOMAXPROCS=$THREADS \
    "$out.test" -test.run '^$' -test.bench "BenchmarkConv/($LIBS)/.*_b$n/" -test.benchtime "${REPS}x" | tee -a "$out" | grep --line-buffered '^Benchmark'
  "$PY" bench/torch_conv.py --batch "$n" --reps "$REPS" --threads "$THREADS" | tee -a "$out"
done
echo
echo "# per-layer conv comparison (nominal GFLOP/s, padding taps counted)"
"$PY" bench/compare.py <"$out"

# --- Training step comparison -------------------------------------------------
# The full ResNet-9 training-step comparison (our cpu backend vs PyTorch,
# img/s and ratio) goes here; it is added by the cpu engine owner.
