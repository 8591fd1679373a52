#!/usr/bin/env bash
# bench-gpu.sh — the lmsens benchmark on the GPU machine, in one call
# (docs/BENCHMARKS.md): checks the environment, runs the gpu parity tests,
# makes the Qwen3-VL-4B-shaped checkpoint with `lmsens mkmodel` (8.3 GB,
# never carried; reused when it exists), copies the real Qwen3 tokenizer into
# it, warms the page cache, runs `lmsens bench` (peaks + scenarios), then a
# short per-op profile (LMSENS_CUDA_PROFILE=1, stream serialized) of the
# standard and the T = 2048 scenario for the attention share.
#
# Run from the repository root:
#   scripts/bench-gpu.sh [--bin DIR] [--base DIR] [--ab-env VAR=VALUE]... [--skip-tests]
#                        [-- bench options/overrides]
# --bin DIR: where lmsens, test_ops_cuda and test_engine_cuda are (default
# build-gpu, with the test binaries under build-gpu/tests/gpu/).
# --base DIR: an earlier build's lmsens, benchmarked on the standard scenario
# in the same call (the A/B of docs/BENCHMARKS.md), with the two standard
# jobs' scores compared (scripts/compare-scores.py).
# --ab-env VAR=VALUE (repeatable): the standard scenario once more with that
# variable set (e.g. LMSENS_CUDA_STREAMS=1: one stream), its scores compared
# with the plain run's (identical where the variable changes only scheduling).
# Logs and bench.json go to $OUT (the device tool's folder) or /tmp/lmsens-bench-out.
# Exit code: the bench's (the tests' failures are printed and make it 1 too).
set -uo pipefail
bindir=build-gpu
basedir=
abenv=()
tests=1
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bindir=$2; shift 2 ;;
	--base) basedir=$2; shift 2 ;;
	--ab-env) abenv+=("$2"); shift 2 ;;
	--skip-tests) tests=0; shift ;;
	--) shift; break ;;
	*) break ;;
	esac
done
BIN=$bindir/lmsens
testbin() { if [ -x "$bindir/$1" ]; then echo "$bindir/$1"; else echo "$bindir/tests/gpu/$1"; fi; }
out=${OUT:-/tmp/lmsens-bench-out}
model=${BENCH_MODEL:-/tmp/lmsens-bench/q4b}
mkdir -p "$out"
[ -d .devlibs ] && export LD_LIBRARY_PATH=$PWD/.devlibs:${LD_LIBRARY_PATH:-}
rc=0
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv 2>&1 | tee "$out/gpu.txt"

if [ "$tests" = 1 ]; then
	for t in test_ops_cuda test_engine_cuda; do
		if timeout 300 "$(testbin $t)" >"$out/$t.log" 2>&1; then echo "PASS $t"; else
			echo "FAIL $t (rc $?)"; tail -20 "$out/$t.log"; rc=1; fi
	done
	timeout 200 "$(testbin bench_ops_cuda)" >"$out/bench_ops_cuda.log" 2>&1 || echo "bench_ops_cuda failed"
	if LMSENS_BIN=$PWD/$BIN timeout 300 bash tests/gpu/test_pipeline_cuda.sh >"$out/test_pipeline_cuda.log" 2>&1
	then echo "PASS test_pipeline_cuda"; else echo "FAIL test_pipeline_cuda"; tail -20 "$out/test_pipeline_cuda.log"; rc=1; fi
fi

if [ ! -f "$model/config.json" ]; then
	t0=$(date +%s.%N)
	"$BIN" mkmodel --preset qwen3-vl-4b --out "$model" >"$out/mkmodel.log" 2>&1 || { tail "$out/mkmodel.log"; exit 1; }
	echo "mkmodel qwen3-vl-4b: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
fi
cp tests/data/tokenizer/qwen3-tokenizer.json "$model/tokenizer.json"
cat "$model"/*.safetensors >/dev/null   # page cache warm: load is timed from memory

"$BIN" bench --model "$model" --work /tmp/lmsens-bench/work --json "$out/bench.json" \
	--scenarios standard,bundle7,seq2048,lowmem "$@" >"$out/bench.log" 2>"$out/bench.err"
brc=$?
[ $brc -ne 0 ] && { echo "bench exit $brc"; tail -20 "$out/bench.err"; rc=1; }

if [ -n "$basedir" ]; then
	"$basedir/lmsens" bench --model "$model" --work /tmp/lmsens-bench/base --no-peak \
		--scenarios standard "$@" >"$out/bench-base.log" 2>"$out/bench-base.err" || echo "base bench failed"
	grep -A8 "^| scenario" "$out/bench-base.log" | sed 's/^/BASE /'
	a=$(find /tmp/lmsens-bench/base/standard -name "*.h5" 2>/dev/null | sort | head -n 1)
	b=$(find /tmp/lmsens-bench/work/standard -name "*.h5" 2>/dev/null | sort | head -n 1)
	[ -n "$a" ] && [ -n "$b" ] && python3 scripts/compare-scores.py "$a" "$b" | sed 's/^/scores base vs bin: /'
fi

for ab in "${abenv[@]}"; do
	tag=${ab//[^A-Za-z0-9_=]/_}
	env "$ab" "$BIN" bench --model "$model" --work "/tmp/lmsens-bench/ab-$tag" --no-peak \
		--scenarios standard "$@" >"$out/bench-$tag.log" 2>"$out/bench-$tag.err" || echo "$ab bench failed"
	grep -A8 "^| scenario" "$out/bench-$tag.log" | sed "s/^/$ab /"
	a=$(find /tmp/lmsens-bench/work/standard -name "*.h5" 2>/dev/null | sort | head -n 1)
	b=$(find "/tmp/lmsens-bench/ab-$tag/standard" -name "*.h5" 2>/dev/null | sort | head -n 1)
	[ -n "$a" ] && [ -n "$b" ] && python3 scripts/compare-scores.py "$a" "$b" | sed "s/^/scores bin vs $ab: /"
done

# kl_div: one forward per (group, format) per batch, so 32 steps take minutes;
# 4 scoring steps with the prefix reuse (the per-step time extrapolated in
# docs/BENCHMARKS.md), one from the embedding (the reuse's ratio)
for reuse in true false; do
	n=16
	[ $reuse = false ] && n=4
	timeout 200 "$BIN" bench --model "$model" --work /tmp/lmsens-bench/kl --no-peak --repeat 1 \
		--scenarios kl_div autoquant.calib_steps=2 autoquant.score_size=$n \
		autoquant.kl_prefix_reuse=$reuse "$@" >"$out/kl-$reuse.log" 2>&1 || echo "kl_div ($reuse) failed"
	grep -A8 "^| scenario" "$out/kl-$reuse.log" | sed "s/^| kl_div /| kl_div prefix_reuse=$reuse steps=$((n / 4)) /"
done

# BENCH_OCC_AB=1: also the D = 128 attention kernels built for 2 blocks per SM (255 registers)
if [ "${BENCH_OCC_AB:-0}" = 1 ]; then
	LMSENS_CUDA_ATTN_OCC=1 timeout 200 "$(testbin bench_ops_cuda)" 2>&1 | grep attention | sed 's/^/OCC=1 /'
	LMSENS_CUDA_ATTN_OCC=1 timeout 300 "$(testbin test_ops_cuda)" >"$out/test_ops_occ1.log" 2>&1 \
		&& echo "PASS test_ops_cuda OCC=1" || { echo "FAIL test_ops_cuda OCC=1"; rc=1; }
	LMSENS_CUDA_ATTN_OCC=1 "$BIN" bench --model "$model" --work /tmp/lmsens-bench/occ --no-peak \
		--scenarios standard "$@" 2>/dev/null | grep -A8 "^| scenario" | sed 's/^/OCC=1 /'
fi

# BENCH_ATTN_AB=1: also the standard scenario with the eager-exact attention
# kernels (LMSENS_CUDA_ATTN=eager: v2's kernels), for the flash-vs-eager ratio in the same run
if [ "${BENCH_ATTN_AB:-0}" = 1 ]; then
	LMSENS_CUDA_ATTN=eager "$BIN" bench --model "$model" --work /tmp/lmsens-bench/eager --no-peak \
		--scenarios standard "$@" 2>/dev/null | grep -A8 "^| scenario" | sed 's/^/ATTN=eager /'
fi

# per-op profiles (serialized stream: shares, not speeds)
prof() { # name overrides...
	local name=$1; shift
	LMSENS_CUDA_PROFILE=1 timeout 200 "$BIN" bench --model "$model" --work /tmp/lmsens-bench/prof \
		--no-peak --repeat 1 --scenarios "$name" autoquant.calib_steps=4 "$@" \
		>"$out/prof-$name.log" 2>&1 || echo "profile $name failed"
}
prof standard autoquant.score_size=32
prof seq2048 autoquant.score_size=4
grep -h "attention" "$out/bench_ops_cuda.log" 2>/dev/null
grep -h -A40 -i "profile" "$out/prof-standard.log" | head -45 > "$out/prof-tables.txt"
grep -h -A40 -i "profile" "$out/prof-seq2048.log" | head -45 >> "$out/prof-tables.txt"
# the attention share (docs/BENCHMARKS.md targets): attention forward +
# backward over all op time without the weight upload (memcpy_h2d)
for name in standard seq2048; do
	awk -v n="$name" '/profile \(GPU time/ {p = 1} p && / ms / {
		ms = 0
		for (i = 1; i <= NF; i++) if ($i == "ms") { ms = $(i - 1); break }
		tot += ms; if ($0 ~ /memcpy_h2d/) up = ms; if ($0 ~ /attention_/) att += ms }
		END { if (tot > up) printf "%s: attention %.1f ms of %.1f ms op time without the weight upload: %.2f %%\n", n, att, tot - up, 100 * att / (tot - up) }' \
		"$out/prof-$name.log" >>"$out/prof-tables.txt"
done
cat "$out/prof-tables.txt"
cat "$out/bench.log"
exit $rc
