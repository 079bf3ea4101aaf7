#!/usr/bin/env bash
# gpu-prepare.sh: build what scripts/gpu-check.sh carries to the GPU
# machine. Run here, from anywhere in the repository.
#   scripts/gpu-prepare.sh        build .device/gpucheck (CGO_ENABLED=0, linux/amd64)
#   scripts/gpu-prepare.sh data   also split CIFAR-10 into .device/chunks (40 MB
#                                 chunks + manifest.json, each chunk xz-compressed
#                                 to about 30 MB) and copy the mini set to
#                                 .device/mini, then print the carry lists
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .device
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o .device/gpucheck ./cuda/cmd/gpucheck
echo "built .device/gpucheck ($(du -h .device/gpucheck | cut -f1))"
[ "${1:-}" = "data" ] || exit 0
shared=${SPEEDRUN_SHARED:-../shared}
full=$shared/data/cifar-10-batches-bin
mini=$shared/data/cifar-10-mini
rm -rf .device/chunks .device/mini
mkdir -p .device/mini
cp "$mini"/*.bin "$mini"/batches.meta.txt .device/mini/
.device/gpucheck split -out .device/chunks -size 40000000 \
  "$full"/data_batch_1.bin "$full"/data_batch_2.bin "$full"/data_batch_3.bin \
  "$full"/data_batch_4.bin "$full"/data_batch_5.bin "$full"/test_batch.bin
# xz: CIFAR-10 compresses to about 76%, so two chunks fit one call's 64 MiB
# and three calls move the set instead of five (about 2 minutes here).
xz -6 -T0 .device/chunks/chunk-*
n=$(ls .device/chunks | grep -c '^chunk-')
last=$(printf 'chunk-%03d.xz' $((n - 1)))
echo "carry lists, one device call each (chunks stay on the warm machine, which"
echo "goes back after 30 s idle: make the calls back to back):"
echo "  call 1: .device/gpucheck .device/mini .device/chunks/manifest.json .device/chunks/$last  (command: scripts/gpu-check.sh smoke)"
c=2
for i in $(seq 0 2 $((n - 2))); do
  files=".device/chunks/$(printf 'chunk-%03d.xz' "$i")"
  [ $((i + 1)) -lt $((n - 1)) ] && files="$files .device/chunks/$(printf 'chunk-%03d.xz' $((i + 1)))"
  cmd="scripts/gpu-check.sh checks"
  [ $((i + 2)) -ge $((n - 1)) ] && cmd="CHECKS=0 scripts/gpu-check.sh"
  printf '  call %d: %s  (command: %s)\n' "$c" "$files" "$cmd"
  c=$((c + 1))
done
echo "or skip the chunks and run the full check on the mini set in one call."
