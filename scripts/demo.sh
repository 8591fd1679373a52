#!/usr/bin/env bash
# demo.sh — builds lmsens and runs the main job on the embedded default, the
# `demo` preset: a tiny synthetic checkpoint (made by `lmsens mkmodel` on first
# use) and the shipped synthetic captions. Extra arguments are overrides.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
bash scripts/build.sh build
exec build/lmsens -cn demo "$@"
