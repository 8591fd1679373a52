#!/usr/bin/env bash
# test_debug_nan.sh BACKEND H5CMP — debug mode names the place of a NaN/Inf.
# On the demo's tiny model (lmsens -cn demo), with runner.backend=BACKEND
# (cpu: label e2e, CI; cuda: label gpu, exits 77 without a GPU):
#   1. an unmodified model: runner.debug=true succeeds and gives the same
#      statistics file as runner.debug=false (the checks change nothing);
#   2. a NaN planted in layers.1.mlp.down_proj's weight: with debug mode the
#      job fails naming the backend, that module, the op (gemm) and its
#      output, with a hint; without debug mode calibration fails naming the
#      module (non-finite amax);
#   3. lm_head rows of 1e38 (tied embeddings, rows no caption uses): the
#      logits overflow, so without debug mode scoring fails on the
#      non-finite loss and says to rerun with runner.debug=true; with it the
#      failure names lm_head's gemm.
# Every failing job exits non-zero and leaves no statistics file.
set -euo pipefail
BACKEND=${1:?usage: test_debug_nan.sh cpu|cuda H5CMP}
H5CMP=${2:?usage: test_debug_nan.sh cpu|cuda H5CMP}
BIN=${LMSENS_BIN:?LMSENS_BIN is not set}
SRC=${LMSENS_SOURCE_DIR:?LMSENS_SOURCE_DIR is not set}
work=$(mktemp -d "${TMPDIR:-/tmp}/lmsens-debug-nan.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

run() { # model outdir debug -> rc, log in outdir.log
	set +e
	"$BIN" -cn demo model.path="$work/$1" runner.backend="$BACKEND" runner.debug="$3" \
		runner.output_dir="$work/$2" >"$work/$2.log" 2>&1
	local rc=$?
	set -e
	return $rc
}

if ! run m0 ok-debug true; then
	if grep -q "no CUDA device\|built without CUDA" ok-debug.log; then
		echo "no CUDA device visible: skipped"
		exit 77
	fi
	cat ok-debug.log
	fail "unmodified model in debug mode failed"
fi
run m0 ok-plain false || { cat ok-plain.log; fail "unmodified model failed"; }
if [ "$BACKEND" = cuda ] && ! grep -q "backend cuda" ok-debug.log; then
	fail "the run did not use the CUDA backend"
fi
h5a=$(ls ok-debug/*_autoquant_state.h5) h5b=$(ls ok-plain/*_autoquant_state.h5)
"$H5CMP" --ignore-config "$h5a" "$h5b" || fail "debug mode changed the statistics"

# expect_fail NAME MODEL DEBUG PATTERN... : non-zero exit, every pattern in the log, no .h5
expect_fail() {
	local name=$1 model=$2 debug=$3
	shift 3
	if run "$model" "$name" "$debug"; then
		fail "$name: the job succeeded"
		return
	fi
	for pat in "$@"; do
		grep -qF -- "$pat" "$name.log" || { fail "$name: no '$pat' in the log"; sed -n '1,200p' "$name.log" | grep -v ' info: ' | tail -5; }
	done
	if ls "$name"/*_autoquant_state.h5 >/dev/null 2>&1; then fail "$name: a statistics file was written"; fi
	echo "  $name: $(grep -m1 '^error:' "$name.log" || true)"
}

cp -r m0 m-nan
"${LMSENS_PYTHON:-python3}" "$SRC/tests/debug/plant_value.py" m-nan \
	model.language_model.layers.1.mlp.down_proj.weight nan 3
be_name=cpu
[ "$BACKEND" = cuda ] && be_name=cuda:0
expect_fail nan-debug m-nan true \
	"error: $be_name at model.language_model.layers.1.mlp.down_proj: op gemm produced" \
	"non-finite values in C" "hint: dump the module's tensors with runner.debug_dump.layer="
expect_fail nan-plain m-nan false \
	"error: calibration: non-finite amax at model.language_model.layers.1.mlp.down_proj" \
	"hint: check the checkpoint's weights"

cp -r m0 m-big
"${LMSENS_PYTHON:-python3}" "$SRC/tests/debug/plant_value.py" m-big \
	model.language_model.embed_tokens.weight 1e38 $((8 * 64)) $((504 * 64))
expect_fail big-plain m-big false "error: scoring batch 0: the loss is" \
	"hint: rerun with runner.debug=true"
expect_fail big-debug m-big true "error: $be_name at lm_head: op gemm produced" \
	"non-finite values in C"

[ "$fails" -eq 0 ] && echo "debug mode ($BACKEND): all checks passed"
exit $((fails > 0))
