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
#   SECTIONS=step BATCHES="128 512" STEPS=5 WARMUP=4 bench/compare.sh
#   SECTIONS=step NET=final WIDTH=0.25 PRECISION=bf16 BATCHES=512 bench/compare.sh
#
# SECTIONS picks "conv" (per-layer conv kernels) and/or "step" (the whole
# training step: images/s, ratios and peak RSS, ours against PyTorch in
# fp32 and in bf16 autocast). NET (resnet9, or final: N3), WIDTH and
# PRECISION (our convolutions: f32 or bf16) set the step's network.
#
# The machine is shared: note `uptime` (printed) when reading the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP_BATCHES=${BATCHES:-128 512}
BATCHES=${BATCHES:-128}
LIBS=${LIBS:-onednn}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
PY=${PY:-/usr/bin/python3}
SECTIONS=${SECTIONS:-conv step}
NET=${NET:-resnet9}
WIDTH=${WIDTH:-1}
PRECISION=${PRECISION:-f32}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-4} # PyTorch still speeds up over its first steps
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "# $(date -u +%FT%TZ) $(uptime)"
echo "# threads=$THREADS reps=$REPS batches=$BATCHES libs=$LIBS sections=$SECTIONS"
if [[ " $SECTIONS " == *" conv "* ]]; then
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
fi

# --- Training step comparison -------------------------------------------------
# Our ResNet-9 training step (cpu backend) and PyTorch's (cpu/torch/
# resnet9_step.py: THREADS threads, channels_last, same batch, warm-up steps
# untimed) in one `runner bench --torch` process per batch, so both see the
# same load. Peak RSS: ours is the runner's getrusage (its python child is
# not counted); PyTorch's is recorded by bench/pyrss.py around the script.
if [[ " $SECTIONS " == *" step "* ]]; then
  go build -o bin/runner ./cmd/runner
  rss=$(mktemp)
  trap 'rm -f "$out" "$out.test" "$rss"' EXIT
  echo
  echo "# training step: net=$NET width=$WIDTH precision=$PRECISION batches=$STEP_BATCHES steps=$STEPS warmup=$WARMUP threads=$THREADS"
  summary=()
  for n in $STEP_BATCHES; do
    echo "# $(date -u +%FT%TZ) batch $n: $(uptime)"
    : >"$rss"
    log=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS PYRSS_OUT=$rss \
      bin/runner bench --net "$NET" --width "$WIDTH" --precision "$PRECISION" --batch "$n" --steps "$STEPS" --warmup "$WARMUP" \
      --threads "$THREADS" --torch --python bench/pyrss.py)
    echo "$log"
    ours=$(sed -n 's/^training: \([0-9.]*\) images\/s.*/\1/p' <<<"$log")
    t32=$(sed -n 's/^pytorch .* fp32 (.*: \([0-9.]*\) images\/s.*/\1/p' <<<"$log")
    t16=$(sed -n 's/^pytorch .* bf16 autocast (.*: \([0-9.]*\) images\/s.*/\1/p' <<<"$log")
    ours_rss=$(sed -n 's/^memory: peak RSS \([0-9.]*\) GiB.*/\1/p' <<<"$log")
    torch_rss=$(awk '{if ($1 > m) m = $1} END {printf "%.2f", m/1073741824}' "$rss")
    summary+=("$(awk -v n="$n" -v o="$ours" -v a="$t32" -v b="$t16" -v orss="$ours_rss" -v trss="$torch_rss" \
      'BEGIN{printf "%5d %10.2f %10.2f %10.2f %8.2f %8.2f %12.2f %12.2f", n, o, a, b, o/a, o/b, orss, trss}')")
  done
  echo
  echo "# $NET width $WIDTH training step, speedrun cpu ($PRECISION convolutions) vs pytorch fp32 and bf16 autocast (images/s from the median step)"
  printf '%5s %10s %10s %10s %8s %8s %12s %12s\n' batch ours_img/s torch_fp32 torch_bf16 vs_fp32 vs_bf16 ours_rss_GiB torch_rss_GiB
  printf '%s\n' "${summary[@]}"
fi
