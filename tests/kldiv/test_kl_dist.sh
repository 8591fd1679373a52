#!/usr/bin/env bash
# test_kl_dist.sh — kl_div under data parallelism: a two-pair bundle scored by
# a group of 2 ranks (mpirun -np 2, runner.ranks_per_job=2: rank r scores
# batches r, r+2, ...) gives statistics bit-identical to one rank (h5cmp,
# config aside), and autoquant.kl_prefix_reuse=false under the same group
# too. Usage: test_kl_dist.sh H5CMP MPIRUN (env: LMSENS_BIN, LMSENS_SOURCE_DIR)
set -u
H5CMP=${1:?h5cmp}
MPIRUN=${2:?mpirun}
BIN=${LMSENS_BIN:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LMS_LOG_LEVEL=warn
cd "$T" || exit 1
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || { echo "mkmodel failed"; exit 1; }
CAP="$LMSENS_SOURCE_DIR/datasets/vlm-quantize-calib/coco2017_captions_small.txt"
A=(autoquant=kl_div_default model.path="$T/model" model.name=tiny dataset.captions_path="$CAP"
	dataset.max_calib_samples=16 dataset.calib_seq_len=48 autoquant.batch_size=4
	autoquant.score_size=12 autoquant.effective_bits=12 -m quant_pair=wfp8_afp8,wint8_afp16)
"$BIN" "${A[@]}" hydra.sweep.dir="$T/ref" 2>"$T/ref.err" || { bad "one rank failed"; cat "$T/ref.err"; }
for v in true false; do
	"$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$BIN" "${A[@]}" runner.ranks_per_job=2 \
		autoquant.kl_prefix_reuse=$v hydra.sweep.dir="$T/np2_$v" 2>"$T/np2_$v.err"
	rc=$?
	[ $rc = 0 ] || { bad "np 2 (prefix reuse $v): rc $rc"; tail -20 "$T/np2_$v.err"; continue; }
	for k in 0 1; do
		a=$(ls "$T/ref/$k/"*_autoquant_state.h5 2>/dev/null | head -1)
		b=$(ls "$T/np2_$v/$k/"*_autoquant_state.h5 2>/dev/null | head -1)
		if [ -n "$a" ] && [ -n "$b" ] && "$H5CMP" --ignore-config "$a" "$b"; then
			ok "job $k: 2-rank group (prefix reuse $v) == one rank"
		else
			bad "job $k: 2-rank group (prefix reuse $v) differs from one rank"
		fi
	done
done
[ $fails = 0 ] && echo "kl_div data-parallel check: passed"
exit $((fails > 0))
