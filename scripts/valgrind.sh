#!/usr/bin/env bash
# valgrind.sh — runs the C unit tests under valgrind memcheck
# (docs/RELIABILITY.md). Builds a plain (unsanitized) CPU-only tree in
# build-valgrind/ (ASan binaries cannot run under valgrind), lists the CTest
# tests with label `unit` whose command is a compiled test binary, and runs
# each under memcheck with the test's own arguments and environment. A test
# fails when memcheck reports an error (invalid read/write, use of
# uninitialised memory, invalid free) in any of its processes, a definite
# leak in the test process, or when the test itself fails.
#
#   bash scripts/valgrind.sh [-j N] [-t SECONDS] [-R REGEX] [-E REGEX]
#     -j  tests run at once (default: nproc)
#     -t  time limit per test (default 1800 s; valgrind is ~20-50x slower)
#     -R  only tests matching REGEX; -E  skip tests matching REGEX
# Logs: build-valgrind/valgrind/<test>.log. Exit code 0 when all are clean.
#
# OpenMP's worker threads are limited to one (OMP_NUM_THREADS=1): libgomp's
# thread pool is never joined and would show up as "possibly lost", and one
# thread keeps the run time predictable. Only definite leaks count. PCRE2's
# JIT is off (LMSENS_PCRE2_JIT=0): memcheck cannot follow JIT code and flags
# its reads as uninitialised. Forked children (test_h5stats reads corrupt
# files in a child) are checked for memory errors but not for leaks: they
# _exit holding their parent's memory, and libhdf5 leaks inside them on
# corrupt object headers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
limit=1800
only=""
skip=""
while getopts "j:t:R:E:" opt; do
  case $opt in
  j) jobs=$OPTARG ;;
  t) limit=$OPTARG ;;
  R) only=$OPTARG ;;
  E) skip=$OPTARG ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)"; exit 2; }

build=build-valgrind
gen=()
command -v ninja >/dev/null 2>&1 && [ ! -f $build/CMakeCache.txt ] && gen=(-G Ninja)
cmake -S "$root" -B $build "${gen[@]}" -DLMSENS_CUDA=OFF -DLMSENS_MPI=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build $build -j"$jobs" >/dev/null
mkdir -p $build/valgrind

# One line per test: name <TAB> working dir <TAB> env (k=v;...) <TAB> command (\x1f-separated).
ctest --test-dir $build -L unit -N --show-only=json-v1 | python3 -c '
import json, os, re, sys
only, skip = sys.argv[1], sys.argv[2]
for t in json.load(sys.stdin)["tests"]:
    cmd = t.get("command") or []
    if not cmd or not os.path.isfile(cmd[0]) or open(cmd[0], "rb").read(4) != b"\x7fELF":
        continue  # script tests: their programs are covered by their own C tests
    name = t["name"]
    if (only and not re.search(only, name)) or (skip and re.search(skip, name)):
        continue
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    env = props.get("ENVIRONMENT", [])
    wd = props.get("WORKING_DIRECTORY", os.getcwd())
    print("\t".join([name, wd, ";".join(env), "\x1f".join(cmd)]))
' "$only" "$skip" > $build/valgrind/tests.tsv

run_one() {
  local name=$1 wd=$2 envs=$3 cmd=$4
  local log=$root/build-valgrind/valgrind/$name.log
  local -a argv env_args=()
  IFS=$'\x1f' read -r -a argv <<<"$cmd"
  IFS=';' read -r -a env_args <<<"$envs"
  rm -f "$log".vg.*
  local t0=$SECONDS rc=0
  # Memory errors give exit code 99 in any process; leaks are judged from the
  # log of the test process itself (below), not of the children it forks.
  (cd "$wd" && env "${env_args[@]}" OMP_NUM_THREADS=1 LMSENS_PCRE2_JIT=0 timeout "$limit" \
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=none --show-leak-kinds=definite --track-origins=no \
    --log-file="$log.vg.%p" "${argv[@]}" >"$log" 2>&1) || rc=$?
  # The test process's log: the one whose parent is not another logged process.
  local f main="" pids
  pids=$(for f in "$log".vg.*; do echo "${f##*.}"; done)
  for f in "$log".vg.*; do
    local ppid
    ppid=$(grep -m1 -o 'Parent PID: [0-9]*' "$f" | grep -o '[0-9]*$')
    grep -qx "$ppid" <<<"$pids" || main=$f
  done
  local lost=0
  [ -n "$main" ] && lost=$(grep -o 'definitely lost: [0-9,]* bytes' "$main" | grep -o '[0-9,]*' | tr -d , | head -1)
  cat "$main" >>"$log" 2>/dev/null
  local n_children=$(($(ls "$log".vg.* 2>/dev/null | wc -l) - 1))
  rm -f "$log".vg.*
  local verdict=clean
  if [ $rc -eq 99 ]; then verdict="MEMCHECK ERRORS"
  elif [ $rc -eq 124 ]; then verdict="TIMEOUT (${limit}s)"
  elif [ $rc -eq 77 ]; then verdict=skipped
  elif [ $rc -ne 0 ]; then verdict="TEST FAILED (rc $rc)"
  elif [ "${lost:-0}" != 0 ]; then verdict="LEAK (${lost} bytes)"; fi
  printf '%-32s %-18s %5ds  %s%s\n' "$name" "$verdict" $((SECONDS - t0)) \
    "$(grep -m1 'ERROR SUMMARY' "$log" | sed 's/^==[0-9]*== //')" \
    "$([ $n_children -gt 0 ] && echo " (+$n_children forked children, errors only)")"
  [ "$verdict" = clean ] || [ "$verdict" = skipped ]
}
export -f run_one
export root limit

echo "== valgrind memcheck: $(wc -l <$build/valgrind/tests.tsv) unit test binaries, $jobs at a time"
fail=0
tr '\n' '\0' <$build/valgrind/tests.tsv |
  xargs -0 -P "$jobs" -I{} bash -c 'IFS=$'"'"'\t'"'"' read -r n w e c <<<"$1"; run_one "$n" "$w" "$e" "$c"' _ {} ||
  fail=1
if [ $fail -ne 0 ]; then
  echo "valgrind: some tests are not clean (logs in $build/valgrind/)"
  exit 1
fi
echo "valgrind: all clean"
