# tests/lib/e2e.sh — sourced (not run) by the end-to-end shell tests of the
# AutoQuant pipeline on the tiny checkpoint (tests/autoquant_e2e/
# test_pipeline.sh, test_speedups.sh): the check helpers and the set-up
# they share.
#   ok NAME, bad NAME: print "ok: NAME" / "FAIL: NAME"; bad sets fail=1,
#     which the test returns last (`exit $fail`).
#   check NAME COND: ok or bad by the exit status of eval COND.
#   e2e_tiny_setup: a new temporary directory $T, removed at exit, as the
#     working directory; the tiny checkpoint in $T/model (lmsens mkmodel
#     --preset tiny; exits 1 when that fails); CAP, the small caption file;
#     BASE, the overrides of a small job on them (16 captions, batches of 4,
#     score_size 12, effective_bits 12; no sequence length).
#   h5 DIR: the statistics file (*_autoquant_state.h5) in DIR, empty if none.
#   same [H5CMP OPTIONS] A B: h5cmp --ignore-config, quiet; needs H5CMP.
# Needs LMSENS_BIN and LMSENS_SOURCE_DIR (CTest sets them). Not here: the
# checks themselves, anything that needs a GPU.
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

e2e_tiny_setup() {
	T=$(mktemp -d)
	trap 'rm -rf "$T"' EXIT
	cd "$T" || exit 1
	"$LMSENS_BIN" mkmodel --preset tiny --out "$T/model" > /dev/null || { echo "mkmodel failed"; exit 1; }
	CAP="$LMSENS_SOURCE_DIR/datasets/vlm-quantize-calib/coco2017_captions_small.txt"
	BASE=(model.path="$T/model" model.name=tiny dataset.captions_path="$CAP" dataset.max_calib_samples=16
		autoquant.batch_size=4 autoquant.score_size=12 autoquant.effective_bits=12)
}

h5() { ls "$1"/*_autoquant_state.h5 2>/dev/null | head -1; }
same() { "$H5CMP" --ignore-config "$@" > /dev/null; }
