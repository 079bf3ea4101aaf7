#!/usr/bin/env bash
# gpu-prepare.sh: build what scripts/gpu-check.sh carries to the GPU
# machine. Run here, from anywhere in the repository.
#   scripts/gpu-prepare.sh        build .device/gpucheck (CGO_ENABLED=0, linux/amd64)
#   scripts/gpu-prepare.sh data   also split CIFAR-10 into .device/chunks (40 MB
#                                 chunks + manifest.json, each chunk xz-compressed
#                                 to about 30 MB) and copy the mini set to
#                                 .device/mini, then print the carry lists
#   scripts/gpu-prepare.sh runner also bundle the runner (cgo) with the shared
#                                 libraries it links beside glibc, xz-compressed
#                                 into .device/runner (about 31 MB), for
#                                 scripts/gpu-check.sh sweep
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .device
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o .device/gpucheck ./cuda/cmd/gpucheck
echo "built .device/gpucheck ($(du -h .device/gpucheck | cut -f1))"
if [ "${1:-}" = "runner" ]; then
  rm -rf .device/runner
  mkdir -p .device/runner/lib
  # The GPU machine's copy of the tree has no git: the runs' provenance
  # comes from the linker, which make build stamps.
  make -s build RUNNER=.device/runner/runner
  for lib in $(ldd .device/runner/runner | awk '/=> \//{print $3}'); do
    case $(basename "$lib") in
    libc.so* | libm.so* | libpthread* | libdl.so* | librt.so* | ld-linux*) continue ;; # the machine's glibc
    esac
    cp -L "$lib" .device/runner/lib/
  done
  xz -6 -T0 .device/runner/runner .device/runner/lib/*
  echo "bundled .device/runner ($(du -sh .device/runner | cut -f1)): carry it with .device/gpucheck"
  echo "and the data (or after it), then run: scripts/gpu-check.sh sweep"
  exit 0
fi
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
echo "with the runner bundled (gpu-prepare.sh runner, 30 MB), call 1 carries .device/runner"
echo "instead of .device/mini, and a call after the last runs: scripts/gpu-check.sh sweep"
echo "or skip the chunks and run the full check on the mini set in one call."
