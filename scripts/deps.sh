#!/bin/sh
# deps.sh [build|test]: install the Debian packages that speedrun needs and
# this machine lacks (make deps-build, make deps).
#   build  what the build needs: gcc for cgo, and the CPU engine's kernel
#          libraries (OpenBLAS, oneDNN)
#   test   that, and what the tests need: PyTorch for the cross-checks,
#          clang-16 for the GPU kernels' PTX, Chromium and a font for the
#          report check, xz for the GPU scripts' chunks, Slurm and munge
#          for the real-cluster test (the default)
# Nothing is installed when nothing is missing; the check is one
# dpkg-query call, well under a second. As root the missing packages are
# installed with apt-get; otherwise with sudo, when sudo works without a
# password; failing both, it prints the missing packages and the command
# that installs them, and exits 2 before anything is compiled.
#
# It uses only shell builtins and the commands it names (id, dpkg-query,
# apt-get, sudo), so that its tests can stand in for each of them.
set -eu

build_pkgs="gcc libopenblas-dev libdnnl-dev"
test_pkgs="python3-torch python3-numpy clang-16 chromium fonts-dejavu-core xz-utils slurm-wlm munge"

case "${1:-test}" in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs" ;;
*)
  echo "usage: scripts/deps.sh [build|test]" >&2
  exit 2
  ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: no dpkg-query, so not Debian or Ubuntu: check by hand that you have (Debian's names) $want" >&2
  exit 0
fi

# One query for every package: "ii" is installed; a package dpkg has never
# heard of prints nothing (and an error, dropped).
installed=" "
# shellcheck disable=SC2086 # the package lists are words
while read -r status pkg; do
  if [ "$status" = ii ]; then installed="$installed$pkg "; fi
done <<EOF
$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $want 2>/dev/null || true)
EOF
missing=""
for p in $want; do
  case "$installed" in
  *" $p "*) ;;
  *) missing="${missing:+$missing }$p" ;;
  esac
done
if [ -z "$missing" ]; then exit 0; fi

# install_missing [sudo -n]: apt-get update, then install the missing
# packages, without questions (sudo drops the caller's environment, so
# DEBIAN_FRONTEND goes in through env).
install_missing() {
  echo "deps: installing $missing" >&2
  apt="env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q"
  # shellcheck disable=SC2086 # $apt and $missing are lists of words
  "$@" $apt update && "$@" $apt install --no-install-recommends $missing
}
if [ "$(id -u)" = 0 ]; then
  install_missing
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  install_missing sudo -n
else
  as="sudo "
  command -v sudo >/dev/null 2>&1 || as="su -c '"
  end=""
  [ "$as" = "sudo " ] || end="'"
  printf '%s\n' "speedrun needs Debian packages that this machine lacks: $missing" \
    "Install them with this command (as a user who may use sudo, or as root), then run make again:" "" \
    "    ${as}apt-get install -y --no-install-recommends $missing$end" "" >&2
  exit 2
fi
