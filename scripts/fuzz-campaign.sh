#!/usr/bin/env bash
# fuzz-campaign.sh — a longer libFuzzer campaign than CI's 20 s per target
# (docs/RELIABILITY.md records the figures). Builds the fuzz targets in
# build-fuzz/ (clang, ASan + UBSan) unless FUZZ_BUILD names another tree,
# runs each target for SECONDS on a persistent corpus (FUZZ_BUILD/campaign/<target>,
# seeded from tests/fuzz/corpus/), JOBS targets at a time, and prints one
# line per target: executions, coverage, corpus size, crashes.
#
#   bash scripts/fuzz-campaign.sh [SECONDS=300] [JOBS=1] [target...]
# Crash inputs land in FUZZ_BUILD/campaign/<target>-artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
jobs=${2:-1}
shift $(($# > 2 ? 2 : $#)) || true
build=${FUZZ_BUILD:-$root/build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_yaml fuzz_override fuzz_compose fuzz_safetensors
  fuzz_st_index fuzz_model_config fuzz_tokenizer_json fuzz_tokenize fuzz_captions fuzz_ledger
  fuzz_h5stats)
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$root" -B "$build" -DLMSENS_FUZZ=ON -DLMSENS_CUDA=OFF -DLMSENS_MPI=OFF >/dev/null
fi
cmake --build "$build" --target fuzz_all -j"$(nproc)" >/dev/null
mkdir -p "$build/campaign"

run_target() {
  local t=$1 secs=$2 build=$3 root=$4
  local dir=$build/campaign/$t art=$build/campaign/$t-artifacts log=$build/campaign/$t.log
  mkdir -p "$dir" "$art"
  # Read-only seed directories go after the writable corpus (libFuzzer writes
  # new inputs into the first directory only).
  local seeds=() flags=() asan=detect_leaks=1
  case $t in
  fuzz_model_config) seeds=("$root/tests/data/model/config") ;;
  fuzz_tokenizer_json) seeds=("$root/tests/data/tokenizer/bad"); flags=(-max_len=32768) ;;
  fuzz_captions) seeds=("$root/tests/data/captions") ;;
  fuzz_h5stats) flags=(-detect_leaks=0); asan=detect_leaks=0 ;; # libhdf5's own leaks
  esac
  local rc=0
  ASAN_OPTIONS=$asan UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "${flags[@]}" "$dir" \
    "$root/tests/fuzz/corpus/$t" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  local execs cov corp crashes
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' | awk '{print $2}')
  corp=$(ls "$dir" | wc -l)
  crashes=$(ls "$art" | wc -l)
  printf '%-20s %6ss  execs %-10s cov %-6s corpus %-6s artifacts %s  rc %s\n' "$t" "$secs" \
    "${execs:-?}" "${cov:-?}" "$corp" "$crashes" "$rc"
}
export -f run_target
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_target "$@"' _ {} "$secs" "$build" "$root"
