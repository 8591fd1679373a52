#!/bin/bash
# test_dp_gpu.sh — data-parallel GPU groups (label gpu; needs >= 2 GPUs and
# a build with NCCL, else exit 77 = skipped): a 3 pair x 2 size sweep of the
# tiny model on the CUDA backend
#   1. on one GPU (the reference);
#   2. as one group of 2 GPUs (runner.ranks_per_job=2): the leader logs
#      "reductions over NCCL" and that the communicator was set up in the
#      background (MPI_THREAD_MULTIPLE), and the artifacts equal the
#      reference (sweepcmp: statistics exactly, reports byte for byte);
#   3. the same group with LMSENS_REDUCE=mpi: MPI reductions, equal artifacts;
#   4. two ranks on ONE GPU (CUDA_VISIBLE_DEVICES=0): NCCL refuses that, so
#      the group falls back to MPI with a warning naming the shared GPU, and
#      the artifacts are still equal.
#   test_dp_gpu.sh SWEEPCMP MPIRUN
# ok never fails (A && ok || bad is safe); sweep values contain commas:
# shellcheck disable=SC2015,SC2054
set -u
CMP=${1:?sweepcmp}
MPIRUN=${2:?mpirun}
BIN=${LMSENS_BIN:?}
command -v nvidia-smi >/dev/null 2>&1 || { echo "skip: no nvidia-smi"; exit 77; }
ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
[ "$ngpu" -ge 2 ] || { echo "skip: $ngpu GPU(s), need 2"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LMS_LOG_LEVEL=info NCCL_NVLS_ENABLE=0
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
mpi() { "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none -np 2 "$BIN" "$@"; }

"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || { echo "mkmodel failed"; exit 1; }
GRID=(-cn demo "model.path=$T/model" runner.backend=cuda dataset.max_calib_samples=32 autoquant.score_size=32
	-m quant_pair=wfp8_afp8,wint8_afp16,wfp4_afp8 dataset.size=small,medium)
NJ=6
CUDA_VISIBLE_DEVICES=0 "$BIN" "${GRID[@]}" hydra.sweep.dir="$T/ref" 2>"$T/ref.err"
rc=$?
grep -q "no CUDA device\|built without CUDA" "$T/ref.err" && { echo "skip: no CUDA backend"; exit 77; }
[ $rc = 0 ] && ok "one GPU: rc 0" || { bad "one GPU: rc $rc"; tail -20 "$T/ref.err"; }

mpi "${GRID[@]}" runner.ranks_per_job=2 hydra.sweep.dir="$T/nccl" 2>"$T/nccl.err"
rc=$?
[ $rc = 0 ] && ok "group of 2 GPUs: rc 0" || { bad "group of 2 GPUs: rc $rc"; tail -20 "$T/nccl.err"; }
if grep -q "reductions over NCCL" "$T/nccl.err"; then
	ok "group of 2 GPUs: $(grep -m1 -o 'reductions over NCCL.*' "$T/nccl.err")"
elif grep -q "built without NCCL\|reductions over MPI, not NCCL" "$T/nccl.err" && ! grep -q "share the GPU" "$T/nccl.err"; then
	echo "skip: this lmsens has no NCCL ($(grep -m1 'reductions over MPI' "$T/nccl.err"))"
	exit 77
else
	bad "group of 2 GPUs did not use NCCL: $(grep -m1 'reductions over' "$T/nccl.err")"
fi
grep -q "NCCL: communicator set up in .* (in the background" "$T/nccl.err" &&
	ok "$(grep -m1 -o 'NCCL: communicator set up.*' "$T/nccl.err")" ||
	bad "NCCL set-up not in the background: $(grep -m1 'NCCL: communicator' "$T/nccl.err")"
"$CMP" --ignore-config "$T/ref" "$T/nccl" $NJ >"$T/cmp.out" && ok "NCCL group of 2 equals one GPU" ||
	{ bad "NCCL group differs from one GPU"; cat "$T/cmp.out"; }

LMSENS_REDUCE=mpi mpi "${GRID[@]}" runner.ranks_per_job=2 hydra.sweep.dir="$T/mpi" 2>"$T/mpi.err"
rc=$?
[ $rc = 0 ] && ! grep -q "reductions over NCCL" "$T/mpi.err" && ok "LMSENS_REDUCE=mpi: rc 0, no NCCL" ||
	bad "LMSENS_REDUCE=mpi: rc $rc, $(grep -m1 'reductions over' "$T/mpi.err")"
"$CMP" --ignore-config "$T/ref" "$T/mpi" $NJ >"$T/cmp.out" && ok "MPI group of 2 equals one GPU" ||
	{ bad "MPI group differs from one GPU"; cat "$T/cmp.out"; }

CUDA_VISIBLE_DEVICES=0 mpi "${GRID[@]}" runner.ranks_per_job=2 hydra.sweep.dir="$T/shared" 2>"$T/shared.err"
rc=$?
[ $rc = 0 ] && grep -q "reductions over MPI, not NCCL: two ranks of the group share the GPU" "$T/shared.err" &&
	ok "two ranks on one GPU: MPI fallback with a warning" ||
	{ bad "two ranks on one GPU: rc $rc"; grep -m3 "reductions\|error" "$T/shared.err"; }
"$CMP" --ignore-config "$T/ref" "$T/shared" $NJ >"$T/cmp.out" && ok "fallback group equals one GPU" ||
	{ bad "fallback group differs from one GPU"; cat "$T/cmp.out"; }

echo "$fails failed"
[ $fails = 0 ]
