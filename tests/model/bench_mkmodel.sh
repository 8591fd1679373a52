#!/usr/bin/env bash
# bench_mkmodel.sh — times `lmsens mkmodel --preset qwen3-vl-4b` (8.9 GB of
# random bf16) and `lmsens inspect` on the result; with LMSENS_BENCH_HF=1 and
# LMSENS_PYTHON, also loads the 4B checkpoint in HF transformers
# (hf_load.py --big, ~20 GB of memory). Needs ~9 GB free under the work
# directory ($LMSENS_BENCH_DIR, else $TMPDIR or /tmp). Label: bench.
set -eu
BIN=${LMSENS_BIN:?LMSENS_BIN not set}
W=$(mktemp -d "${LMSENS_BENCH_DIR:-${TMPDIR:-/tmp}}/lmsens-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
cpus=$(getconf _NPROCESSORS_ONLN)
t0=$(date +%s.%N)
"$BIN" mkmodel --preset qwen3-vl-4b --out "$W/q4b"
t1=$(date +%s.%N)
"$BIN" inspect "$W/q4b" >/dev/null
t2=$(date +%s.%N)
rm -rf "$W/q4b"
printf '%-40s %10s\n' "what" "seconds"
printf '%-40s %10.2f\n' "mkmodel qwen3-vl-4b ($cpus CPUs)" "$(awk "BEGIN{print $t1 - $t0}")"
printf '%-40s %10.2f\n' "inspect qwen3-vl-4b" "$(awk "BEGIN{print $t2 - $t1}")"
if [ "${LMSENS_BENCH_HF:-0}" = 1 ] && [ -n "${LMSENS_PYTHON:-}" ]; then
	"$LMSENS_PYTHON" "$(dirname "$0")/hf_load.py" --lmsens "$BIN" --workdir "$W" --big
fi
