#!/usr/bin/env bash
# gpu-prepare.sh: build what scripts/gpu-check.sh carries to the GPU
# machine. Run here, from anywhere in the repository.
#   scripts/gpu-prepare.sh        build .device/gpucheck (CGO_ENABLED=0, linux/amd64)
#   scripts/gpu-prepare.sh data   also split CIFAR-10 into .device/chunks (40 MB
#                                 chunks + manifest.json) and copy the mini set
#                                 to .device/mini, then print the carry lists
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
n=$(ls .device/chunks | grep -c '^chunk-')
echo "carry lists, one device call each (chunks stay on the warm machine):"
echo "  call 1: .device/gpucheck .device/mini .device/chunks/manifest.json .device/chunks/chunk-000  (command: scripts/gpu-check.sh stage)"
for i in $(seq 1 $((n - 1))); do
  printf '  call %d: .device/chunks/manifest.json .device/chunks/chunk-%03d  (command: scripts/gpu-check.sh stage)\n' $((i + 1)) "$i"
done
echo "  last:   .device/gpucheck .device/mini .device/chunks/manifest.json  (command: scripts/gpu-check.sh)"
echo "or skip the chunks and run the full check on the mini set in one call."
