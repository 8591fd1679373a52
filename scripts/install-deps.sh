#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages that building and testing
# lmsens need, when they are missing. As root it runs apt-get; otherwise it
# prints exactly what to install and exits 1.
#
# CUDA (nvcc, cuBLAS) and NCCL are not Debian packages here: the build uses
# them when they are found (see CMakeLists.txt) and works without them.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libyaml-dev libjansson-dev libhdf5-dev hdf5-tools libpcre2-dev libutf8proc-dev
  libopenmpi-dev openmpi-bin
  python3 python3-venv python3-numpy
  clang llvm valgrind shellcheck
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages are present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
