#!/usr/bin/env bash
# bench-sweep-gpu.sh — the multi-GPU measurements of docs/BENCHMARKS.md
# ("Sweeps on several GPUs") in one call on a machine with N >= 2 GPUs (the
# device tool's nvidia-h200-x2):
#   0. makes the Qwen3-VL-4B-shaped checkpoint (timed; the real Qwen3 tokenizer
#      is copied in) and, with --hf, loads mkmodel's 4B output in HF
#      transformers (tests/model/hf_load.py --big);
#   1. NCCL check: a data-parallel group of N on a small bundle (3 pairs,
#      dataset.size=small) must log "reductions over NCCL"; if it does not,
#      the rest runs anyway and the table says so;
#   2. the 7-pair x 3-size sweep on 1 GPU and on N GPUs: bundled (3 bundles,
#      groups of 1), bundled with runner.ranks_per_job=N (each bundle data
#      parallel over all GPUs, NCCL), and (last) unbundled
#      (LMSENS_BUNDLES=off, 21 jobs);
#   3. data-parallel efficiency of one long bundle: the 7 pairs as one bundle
#      on 512-token packed rows (dataset.packing=true, calib_seq_len=512,
#      batch 4, the 8192 captions of the large file = 93,696 tokens = 46
#      batches: 46 calibration batches and score_size=184 = 46 scoring
#      steps), on 1 GPU and on a group of N with NCCL, and with
#      LMSENS_REDUCE=mpi for comparison (1 GPU and NCCL twice each);
#   4. with --preempt: SIGTERM to mpirun itself during the bundled N-GPU sweep
#      once its first bundle started (OMPI_MCA_odls_base_sigkill_timeout=3:
#      the ranks get SIGTERM 3 s later; docs/sweeps.md §3), then
#      runner.resume=true; the ledger must end with sweep_end 143 and the
#      resumed artifacts must equal the 1-GPU sweep;
#   5. equality: sweepcmp (statistics exactly, reports byte for byte) and
#      scripts/compare-scores.py (worst relative score difference) of every
#      N-GPU result against its 1-GPU run, and NCCL against MPI reductions.
# Order of the calls: the long bundle (1 GPU, NCCL group), the bundled sweeps,
# the MPI-reduction and repeat runs, --preempt, the unbundled sweeps; each
# comparison right after its runs, so a time limit keeps what was done.
# Usage (repository root): scripts/bench-sweep-gpu.sh [--bin DIR] [--hf] [--skip-unbundled] [--preempt]
#   --bin DIR: holds lmsens and sweepcmp (default build-gpu, sweepcmp under tests/dist/).
# Prints one table line per measurement (name, seconds, exit code); logs,
# ledgers and the comparison outputs go to $OUT (or /tmp/lmsens-sweep-out).
set -uo pipefail
bindir=build-gpu
hf=0
unbundled=1
preempt=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bindir=$2; shift 2 ;;
	--hf) hf=1; shift ;;
	--skip-unbundled) unbundled=0; shift ;;
	--preempt) preempt=1; shift ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
B=$PWD/$bindir/lmsens
CMP=$PWD/$bindir/sweepcmp
[ -x "$CMP" ] || CMP=$PWD/$bindir/tests/dist/sweepcmp
PY=${LMSENS_PYTHON:-python3}
out=${OUT:-/tmp/lmsens-sweep-out}
work=${BENCH_WORK:-/tmp/lmsens-sweep}
model=$work/q4b
mkdir -p "$out" "$work"
[ -d .devlibs ] && export LD_LIBRARY_PATH=$PWD/.devlibs:${LD_LIBRARY_PATH:-}
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
# BENCH_NGPU, BENCH_PRESET, BENCH_BACKEND: a smoke run of this script without
# GPUs (e.g. BENCH_NGPU=2 BENCH_PRESET=tiny BENCH_BACKEND=cpu)
n=${BENCH_NGPU:-$(nvidia-smi -L | wc -l)}
{
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
	nvidia-smi topo -m
} > "$out/gpu.txt" 2>&1
head -n "$n" "$out/gpu.txt"
echo "GPUs: $n; $(nproc) CPUs; commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$hf" = 1 ]; then
	timeout 300 "$PY" tests/model/hf_load.py --lmsens "$B" --workdir "$work/hf" --big \
		> "$out/hf_load.log" 2>&1
	echo "hf_load --big: rc $?"; grep -E "qwen3-vl-4b|FAIL|ok|passed|failed" "$out/hf_load.log" | head -12
	rm -rf "$work/hf"
fi

t0=$(now)
"$B" mkmodel --preset "${BENCH_PRESET:-qwen3-vl-4b}" --out "$model" > "$out/mkmodel.log" 2>&1 || { tail "$out/mkmodel.log"; exit 1; }
echo "mkmodel ${BENCH_PRESET:-qwen3-vl-4b}: $(secs "$t0" "$(now)") s"
[ "${BENCH_PRESET:-qwen3-vl-4b}" = qwen3-vl-4b ] && cp tests/data/tokenizer/qwen3-tokenizer.json "$model/tokenizer.json"
cat "$model"/*.safetensors > /dev/null

PAIRS=wfp4_afp16,wfp4_afp8,wfp8_afp16,wfp8_afp8,wint8_afp16,wint8_afp8,wint8_aint8
G="model.path=$model model.synthetic=null runner.backend=${BENCH_BACKEND:-cuda}"
SIZES="dataset.size=small,medium,large"
LONG=${BENCH_LONG:-"dataset.size=large dataset.max_calib_samples=8192 dataset.packing=true dataset.calib_seq_len=512 autoquant.batch_size=4 autoquant.score_size=184"}
# run NAME SECONDS_LIMIT command... : prints "NAME seconds rc"
run() {
	local name=$1 lim=$2
	shift 2
	local a rc s
	a=$(now)
	timeout "$lim" "$@" > "$out/$name.log" 2>&1
	rc=$?
	s=$(secs "$a" "$(now)")
	printf '%-30s %8s s  rc %s\n' "$name" "$s" "$rc" | tee -a "$out/table.txt"
}
MPI="mpirun -np $n --bind-to none"
ONE="env CUDA_VISIBLE_DEVICES=0"
# equality: sweepcmp exit 0 = statistics exactly equal, reports byte for byte
cmpd() { # name A B N [--ignore-config]
	local name=$1 a=$2 b=$3 nj=$4
	shift 4
	if [ ! -d "$a" ] || [ ! -d "$b" ]; then
		echo "$name: missing"
		return
	fi
	"$CMP" "$@" "$a" "$b" "$nj" > "$out/cmp-$name.log" 2>&1
	echo "sweepcmp $name: rc $? ($(tail -n 1 "$out/cmp-$name.log"))" | tee -a "$out/table.txt"
	"$PY" scripts/compare-scores.py "$a" "$b" 2>&1 | tail -n 1 | tee -a "$out/table.txt"
}
# the phase times of every rank of a run, and which reductions it used
phases() {
	{
		echo "== $1"
		grep -h -E "\] info: (load|calibrate|score):|manifest and reports written|reductions over|NCCL: communicator|MPI reductions|rank 0 coordinates" "$out/$1.log" | head -40
	} >> "$out/phases.txt"
}
keep() { for d in "$@"; do [ -f "$work/$d/ledger.jsonl" ] && cp "$work/$d/ledger.jsonl" "$out/ledger-$d.jsonl"; done; }
# In order of priority (a time limit that cuts the call short keeps what is done):
# shellcheck disable=SC2086
{
	run nccl-check-${n}gpu 90 $MPI "$B" $G -m quant_pair=wfp8_afp8,wint8_afp16,wfp4_afp8 dataset.size=small runner.ranks_per_job=$n hydra.sweep.dir="$work/nc"
	grep -h "reductions over" "$out/nccl-check-${n}gpu.log" | head -2
	# (b) data-parallel efficiency of one long bundle, and (a) equality
	run dp-long-1gpu 180 $ONE "$B" $G -m quant_pair=$PAIRS $LONG hydra.sweep.dir="$work/d-1"
	run dp-long-${n}gpu-nccl 120 $MPI "$B" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/d-N"
	phases dp-long-1gpu; phases dp-long-${n}gpu-nccl; keep d-1 d-N
	cmpd dp-long-nccl "$work/d-1" "$work/d-N" 7 --ignore-config
	# (c) the sweep's throughput
	run bundled-1gpu 150 $ONE "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/b-1"
	run bundled-${n}gpu 150 $MPI "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/b-N"
	run bundled-${n}gpu-dp 150 $MPI "$B" $G -m quant_pair=$PAIRS $SIZES runner.ranks_per_job=$n hydra.sweep.dir="$work/bd-N"
	keep b-1 b-N bd-N; phases bundled-${n}gpu-dp
	cmpd bundled "$work/b-1" "$work/b-N" 21
	cmpd bundled-dp "$work/b-1" "$work/bd-N" 21 --ignore-config
	# NCCL against MPI reductions, and the same runs again (timings, determinism)
	run dp-long-${n}gpu-mpi 120 $MPI -x LMSENS_REDUCE=mpi "$B" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/d-M"
	phases dp-long-${n}gpu-mpi; keep d-M
	cmpd nccl-vs-mpi "$work/d-M" "$work/d-N" 7 --ignore-config
	run dp-long-${n}gpu-nccl-again 120 $MPI "$B" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/d-Nb"
	cmpd nccl-twice "$work/d-N" "$work/d-Nb" 7 --ignore-config
	run dp-long-1gpu-again 180 $ONE "$B" $G -m quant_pair=$PAIRS $LONG hydra.sweep.dir="$work/d-1b"
	cmpd 1gpu-twice "$work/d-1" "$work/d-1b" 7 --ignore-config
	phases dp-long-${n}gpu-nccl-again; phases dp-long-1gpu-again; keep d-Nb d-1b
}
if [ "$preempt" = 1 ]; then
	P=$work/p-N
	a=$(now)
	# shellcheck disable=SC2086
	OMPI_MCA_odls_base_sigkill_timeout=3 $MPI "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$P" > "$out/preempt.log" 2>&1 &
	mpid=$!
	for _ in $(seq 1 1500); do
		grep -q '"event":"start"' "$P/ledger.jsonl" 2>/dev/null && break
		sleep 0.1
	done
	t=$(now)
	kill -TERM $mpid
	wait $mpid
	rc=$?
	printf '%-30s %8s s  rc %s; SIGTERM to mpirun after %s s; ledger: %s\n' "preempt-${n}gpu" "$(secs "$a" "$(now)")" "$rc" \
		"$(secs "$a" "$t")" "$(grep -c '"event":"done"' "$P/ledger.jsonl") done, $(grep -c '"event":"interrupted"' "$P/ledger.jsonl") interrupted, last: $(tail -n 1 "$P/ledger.jsonl" | grep -o '"event":"[a-z_]*".*"exit_code":[0-9]*' | sed 's/,"time.*exit_code"/ exit_code/')" |
		tee -a "$out/table.txt"
	# shellcheck disable=SC2086
	run preempt-resume-${n}gpu 150 $MPI "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$P" runner.resume=true
	cp "$P/ledger.jsonl" "$out/ledger-p-N.jsonl"
	cmpd preempted-resumed "$work/b-1" "$work/p-N" 21 --ignore-config
fi
if [ "$unbundled" = 1 ]; then
	# shellcheck disable=SC2086
	run unbundled-1gpu 240 $ONE LMSENS_BUNDLES=off "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/u-1"
	# shellcheck disable=SC2086
	run unbundled-${n}gpu 150 $MPI -x LMSENS_BUNDLES=off "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/u-N"
	keep u-1 u-N
	cmpd unbundled "$work/u-1" "$work/u-N" 21
fi
grep -h "reductions over\|NCCL: communicator\|MPI reductions" "$out/phases.txt" | sort | uniq -c | head -8
cat "$out/table.txt"
