#!/usr/bin/env bash
# bench-sweep-gpu.sh — the multi-GPU measurements of docs/BENCHMARKS.md
# ("Sweeps on several GPUs") in one call on a machine with N >= 2 GPUs (the
# device tool's nvidia-h200-x2):
#   0. makes the Qwen3-VL-4B-shaped checkpoint (timed; the real Qwen3 tokenizer
#      is copied in) and, with --hf, loads mkmodel's 4B output in HF
#      transformers (tests/model/hf_load.py --big);
#   S. start-up: medians of 5 runs of `lmsens --version` alone, under
#      `mpirun -np 1` and under `mpirun -np N` with each single-node MCA set
#      of MCA_SETS (MPI_Init + MPI_Finalize, nothing else); the fastest set
#      whose runs all succeeded is used for every mpirun below (printed);
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
# Usage (repository root): scripts/bench-sweep-gpu.sh [--bin DIR] [--base BIN] [--quick] [--hf]
#                                                     [--skip-unbundled] [--preempt]
#   --bin DIR: holds lmsens and sweepcmp (default build-gpu, sweepcmp under tests/dist/).
#   --base BIN: an older lmsens to A/B against in the same call: the long
#      bundle on N GPUs with it, under the old and the chosen MCA settings.
#   --quick: the headline runs only (long bundle 1 vs N GPUs twice each, the
#      sweep 1 vs N GPUs, groups of 1, 2 and 3 times), no MPI-reduction and
#      repeat runs (a device call with little time).
# BENCH_DEADLINE=SECONDS: optional runs are skipped once the script has run
# that long (the device call's limit; the headline runs come first).
# Prints one table line per measurement (name, seconds, exit code); logs,
# ledgers and the comparison outputs go to $OUT (or /tmp/lmsens-sweep-out).
set -uo pipefail
bindir=build-gpu
hf=0
unbundled=1
preempt=0
base=
quick=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bindir=$2; shift 2 ;;
	--base) base=$2; shift 2 ;;
	--quick) quick=1; shift ;;
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
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Single-node MCA sets for the start-up comparison (env assignments):
#   old: what this script ran with before (only btl restricted: Open MPI
#        still initialises the UCX pml, which probes every transport);
#   auto: nothing set, lmsens picks pml ob1 + btl self,vader itself on one
#        node (src/dist/dist_mpi.c; older binaries do not);
#   ob1: the same settings given explicitly (works for older binaries too);
#   ob1+hwloc: and hwloc's GPU/OpenCL discovery plugins off.
# On several nodes keep the site's defaults (UCX/InfiniBand): docs/sweeps.md.
MCA_OLD="OMPI_MCA_btl=self,vader LMSENS_MPI_TUNE=0"
MCA_OB1="OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_osc=^ucx"
MCA_HWL="$MCA_OB1 HWLOC_COMPONENTS=-gl,-cuda,-nvml,-opencl,-rsmi,-levelzero"
MCA_SETS=${MCA_SETS:-"old auto ob1 ob1+hwloc"}
mca_env() {
	case "$1" in
	old) echo "$MCA_OLD" ;; auto) echo "LMSENS_MPI_TUNE=1" ;; ob1) echo "$MCA_OB1" ;;
	ob1+hwloc) echo "$MCA_HWL" ;; *) echo "$1" ;;
	esac
}
t_start=$(date +%s)
late() { [ -n "${BENCH_DEADLINE:-}" ] && [ $(($(date +%s) - t_start)) -ge "$BENCH_DEADLINE" ]; }
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
ONE="env CUDA_VISIBLE_DEVICES=0"
# median of 5 wall times (ms) of a command, and whether every run exited 0
med5() {
	local a ok=0 ts=()
	for _ in 1 2 3 4 5; do
		a=$(date +%s%N)
		"$@" > /dev/null 2>> "$out/startup.err" && ok=$((ok + 1))
		ts+=($((($(date +%s%N) - a) / 1000000)))
	done
	printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p | tr -d '\n'
	echo " ms (runs: $(printf '%s ' "${ts[@]}")ms; $ok/5 rc 0)"
}
# S. start-up: which single-node MCA settings make mpirun + MPI_Init + MPI_Finalize cheapest
echo "plain lmsens --version: $(med5 "$B" --version)" | tee -a "$out/table.txt"
best="" bestms=""
for set in $MCA_SETS; do
	# shellcheck disable=SC2046
	r=$(med5 env $(mca_env "$set") mpirun -np "$n" --bind-to none "$B" --version)
	echo "mpirun -np $n lmsens --version, MCA $set: $r" | tee -a "$out/table.txt"
	ms=${r%% *}
	if [ "${r##*; }" = "5/5 rc 0)" ] && { [ -z "$bestms" ] || [ "$ms" -lt "$bestms" ]; }; then
		best=$set bestms=$ms
	fi
done
[ -n "$best" ] || best=old
# shellcheck disable=SC2046
echo "mpirun -np 1 lmsens --version, MCA $best: $(med5 env $(mca_env "$best") mpirun -np 1 --bind-to none "$B" --version)" | tee -a "$out/table.txt"
echo "MCA settings used below: $best ($(mca_env "$best"))" | tee -a "$out/table.txt"
MPI="env $(mca_env "$best") mpirun -np $n --bind-to none"
MPI_OLD="env $MCA_OLD mpirun -np $n --bind-to none"
# an older binary does not set the MCA parameters itself: give them explicitly
[ "$best" = auto ] && MPI_BASE="env $MCA_OB1 mpirun -np $n --bind-to none" || MPI_BASE=$MPI
# equality: sweepcmp exit 0 = statistics exactly equal, reports byte for byte
cmpd() { # name A B N [--ignore-config]
	local name=$1 a=$2 b=$3 nj=$4
	shift 4
	if [ ! -d "$a" ] || [ ! -d "$b" ]; then
		return # a run skipped (BENCH_DEADLINE) or failed: its line says so
	fi
	"$CMP" "$@" "$a" "$b" "$nj" > "$out/cmp-$name.log" 2>&1
	echo "sweepcmp $name: rc $? ($(tail -n 1 "$out/cmp-$name.log"))" | tee -a "$out/table.txt"
	"$PY" scripts/compare-scores.py "$a" "$b" 2>&1 | tail -n 1 | tee -a "$out/table.txt"
}
# the phase times of every rank of a run, and which reductions it used
phases() {
	[ -f "$out/$1.log" ] || return 0 # skipped (BENCH_DEADLINE)
	{
		echo "== $1"
		grep -h -E "\] info: (load|calibrate|score):|manifest and reports written|reductions over|NCCL: communicator|MPI reductions|rank 0 coordinates|one node:" "$out/$1.log" | head -40
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
	keep b-1 b-N; phases bundled-1gpu; phases bundled-${n}gpu
	cmpd bundled "$work/b-1" "$work/b-N" 21
	# the A/B against the older binary: as it ran before (its MCA settings), and
	# this binary with those settings (what the NCCL overlap alone gives)
	if [ -n "$base" ]; then
		case $base in /*) BASE=$base ;; *) BASE=$PWD/$base ;; esac
		run base-dp-long-${n}gpu-oldmca 120 $MPI_OLD "$BASE" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/x-o"
		run base-bundled-${n}gpu-oldmca 150 $MPI_OLD "$BASE" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/xb-o"
		late || run new-dp-long-${n}gpu-oldmca 120 $MPI_OLD "$B" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/x-b"
		late || run base-dp-long-${n}gpu-newmca 120 $MPI_BASE "$BASE" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/x-n"
		phases base-dp-long-${n}gpu-oldmca; phases new-dp-long-${n}gpu-oldmca
		cmpd base-vs-new "$work/x-o" "$work/d-N" 7 --ignore-config
		cmpd base-vs-new-sweep "$work/xb-o" "$work/b-N" 21
	fi
	# repeats (medians)
	late || run dp-long-${n}gpu-nccl-again 120 $MPI "$B" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/d-Nb"
	cmpd nccl-twice "$work/d-N" "$work/d-Nb" 7 --ignore-config
	phases dp-long-${n}gpu-nccl-again
	for k in 2 3; do
		late || run bundled-${n}gpu-$k 150 $MPI "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/b-N$k"
	done
	late || run bundled-1gpu-again 150 $ONE "$B" $G -m quant_pair=$PAIRS $SIZES hydra.sweep.dir="$work/b-1b"
	if ! late; then
		run dp-long-1gpu-again 180 $ONE "$B" $G -m quant_pair=$PAIRS $LONG hydra.sweep.dir="$work/d-1b"
		cmpd 1gpu-twice "$work/d-1" "$work/d-1b" 7 --ignore-config
	fi
	if [ "$quick" = 0 ] && ! late; then
		run bundled-${n}gpu-dp 150 $MPI "$B" $G -m quant_pair=$PAIRS $SIZES runner.ranks_per_job=$n hydra.sweep.dir="$work/bd-N"
		keep bd-N; phases bundled-${n}gpu-dp
		cmpd bundled-dp "$work/b-1" "$work/bd-N" 21 --ignore-config
		run dp-long-${n}gpu-mpi 120 $MPI -x LMSENS_REDUCE=mpi "$B" $G -m quant_pair=$PAIRS $LONG runner.ranks_per_job=$n hydra.sweep.dir="$work/d-M"
		phases dp-long-${n}gpu-mpi; keep d-M
		cmpd nccl-vs-mpi "$work/d-M" "$work/d-N" 7 --ignore-config
	fi
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
