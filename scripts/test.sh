#!/usr/bin/env bash
# test.sh — the project's test command (README.md; CI runs it via .ci/run).
#  1. installs missing Debian packages (scripts/install-deps.sh) and the
#     Python reference environment (scripts/setup-python.sh, .venv/);
#  2. builds with warnings as errors and runs every CTest test except the
#     `bench` label (GPU tests skip themselves with exit 77 without a GPU);
#  3. builds the CPU-only code with AddressSanitizer + UBSan and runs the
#     whole CPU suite (unit + e2e) once more (≈ 3 min; docs/RELIABILITY.md);
#  4. builds the libFuzzer targets (clang) and runs each for 20 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

bash scripts/install-deps.sh
if [ -f scripts/setup-python.sh ]; then
  bash scripts/setup-python.sh
fi

echo "== build (warnings are errors)"
bash scripts/build.sh build-ci -DLMSENS_WERROR=ON
echo "== tests"
ctest --test-dir build-ci -LE bench --output-on-failure -j"$jobs" --timeout 1800 | tee build-ci/ctest.log

echo "== CPU tests (unit + e2e) under ASan + UBSan"
bash scripts/build.sh build-asan -DLMSENS_WERROR=ON -DLMSENS_SANITIZE=ON -DLMSENS_CUDA=OFF -DLMSENS_MPI=OFF -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -LE bench --output-on-failure -j"$jobs" --timeout 1800 | tee build-asan/ctest.log

echo "== fuzz: every parser (libFuzzer + ASan + UBSan, 20 s per target; docs/RELIABILITY.md)"
if command -v clang >/dev/null 2>&1; then
  gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  [ -f build-fuzz/CMakeCache.txt ] && gen=()
  CC=clang cmake -S "$root" -B build-fuzz "${gen[@]}" -DLMSENS_FUZZ=ON -DLMSENS_CUDA=OFF \
    -DLMSENS_MPI=OFF -DLMSENS_FUZZ_SECONDS=20 >/dev/null
  cmake --build build-fuzz --target fuzz_all -j"$jobs"
  # Every corpus input (seeds + regressions of fixed bugs) must pass: this fails CI.
  ctest --test-dir build-fuzz -L '^fuzz_replay$' --output-on-failure | tee build-fuzz/ctest.log
  # Then 20 s of exploration per target. libFuzzer's exploration is not
  # reproducible across machines (corpus read order, timing), so a new finding
  # here is reported loudly with its input, to become a corpus file and a fix
  # (docs/RELIABILITY.md), without failing this run.
  if ! ctest --test-dir build-fuzz -L '^fuzz$' --output-on-failure > build-fuzz/explore.log 2>&1; then
    grep -E "Test +#|Base64|SUMMARY|runtime error|Test unit written" build-fuzz/explore.log || true
    echo "FUZZ EXPLORATION FOUND NEW INPUTS (see above and build-fuzz/explore.log): add each to"
    echo "tests/fuzz/corpus/<target>/ and fix the bug; the corpus replay above passed."
  else
    grep -E "tests passed" build-fuzz/explore.log
  fi
else
  echo "clang not found: fuzz targets skipped"
fi

# One closing line for the whole run. Every step above that can fail stops the
# script (set -e, pipefail), so reaching here means all of their tests passed.
total=0
for log in build-ci/ctest.log build-asan/ctest.log build-fuzz/ctest.log; do
  [ -f "$log" ] || continue
  n=$(sed -n 's/.*tests failed out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  total=$((total + ${n:-0}))
done
echo "== summary (normal build, ASan + UBSan build, fuzz corpus replay)"
echo "lmsens: $total passed, 0 failed"
