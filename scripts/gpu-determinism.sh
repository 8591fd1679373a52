#!/usr/bin/env bash
# gpu-determinism.sh [BIN_DIR] — on a machine with 2 GPUs: the same 3-pair sweep twice on GPU 0,
# once on GPU 1 and once as a data-parallel group of 2, then compares every group score with
# scripts/compare-scores.py (docs/BENCHMARKS.md, "Equality of results across GPUs").
set -uo pipefail
export LD_LIBRARY_PATH=$PWD/.devlibs:${LD_LIBRARY_PATH:-} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader NCCL_NVLS_ENABLE=0
BIN=${1:-build-gpu}; B=$PWD/$BIN/lmsens; W=/tmp/det; M=$W/q4b; mkdir -p $W
$B mkmodel --preset qwen3-vl-4b --out $M > /dev/null && cp tests/data/tokenizer/qwen3-tokenizer.json $M/tokenizer.json
P=wfp8_afp8,wint8_aint8,wfp4_afp8
G="model.path=$M model.synthetic=null runner.backend=cuda -m quant_pair=$P dataset.size=medium"
CUDA_VISIBLE_DEVICES=0 $B $G hydra.sweep.dir=$W/g0a > $W/l1 2>&1; echo rc $?
CUDA_VISIBLE_DEVICES=0 $B $G hydra.sweep.dir=$W/g0b > $W/l2 2>&1; echo rc $?
CUDA_VISIBLE_DEVICES=1 $B $G hydra.sweep.dir=$W/g1 > $W/l3 2>&1; echo rc $?
mpirun -np 2 --bind-to none $B $G runner.ranks_per_job=2 hydra.sweep.dir=$W/dp2 > $W/l4 2>&1; echo rc $?
CUDA_VISIBLE_DEVICES=0 LMSENS_CUDA_DEBUG=0 $B $G autoquant.loss_reduction=sum hydra.sweep.dir=$W/s0 > $W/l5 2>&1; echo rc $?
for x in g0b g1 dp2; do python3 scripts/compare-scores.py $W/g0a $W/$x; done
"$PWD/$BIN/sweepcmp" $W/g0a $W/g0b 3 | head -3
grep -h "calibrate\|score:" $W/l1 | head -4
