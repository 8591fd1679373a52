#!/usr/bin/env bash
# bench-sweep-gpu.sh — the multi-GPU measurements of docs/BENCHMARKS.md in one
# call on a machine with N >= 2 GPUs (the device tool's nvidia-h200-x2):
#   0. makes the Qwen3-VL-4B-shaped checkpoint (timed; the real Qwen3 tokenizer
#      is copied in) and, with --hf, loads mkmodel's 4B output in HF
#      transformers (tests/model/hf_load.py --big);
#   1. the 7-pair x 3-size sweep on 1 GPU and on N GPUs, bundled and unbundled;
#   2. one bundle (7 pairs, dataset.size=large) on 1 GPU and data parallel on N;
#   3. sweepcmp: the N-GPU artifacts equal the 1-GPU ones.
# Usage (repository root): scripts/bench-sweep-gpu.sh [--bin DIR] [--hf]
#   --bin DIR: holds lmsens and sweepcmp (default build-gpu, sweepcmp under tests/dist/).
# Prints one table line per measurement; logs go to $OUT (or /tmp/lmsens-sweep-out).
set -uo pipefail
bindir=build-gpu
hf=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bindir=$2; shift 2 ;;
	--hf) hf=1; shift ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
B=$PWD/$bindir/lmsens
CMP=$PWD/$bindir/sweepcmp
[ -x "$CMP" ] || CMP=$PWD/$bindir/tests/dist/sweepcmp
out=${OUT:-/tmp/lmsens-sweep-out}
work=${BENCH_WORK:-/tmp/lmsens-sweep}
model=$work/q4b
mkdir -p "$out" "$work"
[ -d .devlibs ] && export LD_LIBRARY_PATH=$PWD/.devlibs:${LD_LIBRARY_PATH:-}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
n=$(nvidia-smi -L | wc -l)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
echo "GPUs: $n"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$hf" = 1 ] && [ -n "${LMSENS_PYTHON:-python3}" ]; then
	timeout 300 "${LMSENS_PYTHON:-python3}" tests/model/hf_load.py --lmsens "$B" --workdir "$work/hf" --big \
		> "$out/hf_load.log" 2>&1
	echo "hf_load --big: rc $?"; grep -E "qwen3-vl-4b|FAIL|ok|passed|failed" "$out/hf_load.log" | head -12
	rm -rf "$work/hf"
fi

t0=$(now)
"$B" mkmodel --preset qwen3-vl-4b --out "$model" > "$out/mkmodel.log" 2>&1 || { tail "$out/mkmodel.log"; exit 1; }
echo "mkmodel qwen3-vl-4b: $(secs "$t0" "$(now)") s ($(nproc) CPUs)"
cp tests/data/tokenizer/qwen3-tokenizer.json "$model/tokenizer.json"
cat "$model"/*.safetensors > /dev/null

PAIRS=wfp4_afp16,wfp4_afp8,wfp8_afp16,wfp8_afp8,wint8_afp16,wint8_afp8,wint8_aint8
G="model.path=$model model.synthetic=null runner.backend=cuda"
# run NAME SECONDS_LIMIT command... : prints "NAME seconds rc"
run() {
	local name=$1 lim=$2
	shift 2
	local a
	a=$(now)
	timeout "$lim" "$@" > "$out/$name.log" 2>&1
	local rc=$?
	local s
	s=$(secs "$a" "$(now)")
	printf '%-28s %8s s  rc %s\n' "$name" "$s" "$rc" | tee -a "$out/table.txt"
}
MPI="mpirun -np $n --bind-to none"
# shellcheck disable=SC2086
{
	run bundled-1gpu 150 env CUDA_VISIBLE_DEVICES=0 "$B" $G -m quant_pair=$PAIRS dataset.size=small,medium,large hydra.sweep.dir="$work/b-1"
	run bundled-${n}gpu 150 $MPI "$B" $G -m quant_pair=$PAIRS dataset.size=small,medium,large hydra.sweep.dir="$work/b-N"
	run unbundled-1gpu 240 env CUDA_VISIBLE_DEVICES=0 LMSENS_BUNDLES=off "$B" $G -m quant_pair=$PAIRS dataset.size=small,medium,large hydra.sweep.dir="$work/u-1"
	run unbundled-${n}gpu 150 $MPI -x LMSENS_BUNDLES=off "$B" $G -m quant_pair=$PAIRS dataset.size=small,medium,large hydra.sweep.dir="$work/u-N"
	run dp-large-1gpu 120 env CUDA_VISIBLE_DEVICES=0 "$B" $G -m quant_pair=$PAIRS dataset.size=large hydra.sweep.dir="$work/d-1"
	run dp-large-${n}gpu 120 $MPI "$B" $G -m quant_pair=$PAIRS dataset.size=large runner.ranks_per_job=$n hydra.sweep.dir="$work/d-N"
}
for p in b u; do "$CMP" "$work/$p-1" "$work/$p-N" 21 > "$out/cmp-$p.log" 2>&1; echo "sweepcmp $p-1 vs $p-N: rc $?"; done
"$CMP" --ignore-config "$work/d-1" "$work/d-N" 7 > "$out/cmp-d.log" 2>&1; echo "sweepcmp d-1 vs d-N: rc $?"
grep -h '"seconds"' "$work"/b-N/ledger.jsonl 2>/dev/null | head -3 > "$out/ledger-sample.txt"
for f in "$work"/b-1/ledger.jsonl "$work"/d-N/ledger.jsonl; do [ -f "$f" ] && cp "$f" "$out/$(basename "$(dirname "$f")")-ledger.jsonl"; done
cat "$out/table.txt"
