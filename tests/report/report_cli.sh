#!/bin/sh
# report_cli.sh — `lmsens report` end to end on the job directory that
# test_report leaves in $LMSENS_BUILD_DIR/report-fixture/run:
#   * rebuilds the four artifacts byte-identically (from the directory and
#     from the .h5 path), and twice in a row gives the same bytes;
#   * h5dump reads the statistics file (header, a string table, filters);
#   * bad input (missing directory, no .h5, corrupt .h5, two .h5, bad flags)
#     exits 2 with "error:" and "hint:" lines, and writes nothing.
set -u
run="$LMSENS_BUILD_DIR/report-fixture/run"
work="$LMSENS_BUILD_DIR/report-cli.$$"
rm -rf "$work" && mkdir -p "$work"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
files="tiny_qwen3_wfp8_afp8_quant_manifest.json per-layer-sensitivity.md per-layer-sensitivity.json per-layer-sensitivity.svg"

"$LMSENS_BIN" report --help | grep -q "usage: lmsens report" || fail "--help"

"$LMSENS_BIN" report --out "$work/a" "$run" >/dev/null || fail "report from directory"
"$LMSENS_BIN" report --out "$work/b" "$run/tiny_qwen3_wfp8_afp8_autoquant_state.h5" >/dev/null ||
	fail "report from .h5 path"
"$LMSENS_BIN" report --out "$work/b" "$run" >/dev/null || fail "report again"
for f in $files; do
	cmp -s "$run/$f" "$work/a/$f" || fail "$f differs from the run's (directory input)"
	cmp -s "$run/$f" "$work/b/$f" || fail "$f differs from the run's (.h5 input, rewritten)"
done
ls "$work/b" | grep -q '\.tmp\.' && fail "temporary file left behind"

# h5dump, as users run it
h5="$run/tiny_qwen3_wfp8_afp8_autoquant_state.h5"
h5dump -H "$h5" >"$work/h5dump-H.txt" 2>&1 || fail "h5dump -H"
grep -q 'DATASET "scores"' "$work/h5dump-H.txt" || fail "h5dump -H lists scores"
h5dump -d /groups/name "$h5" | grep -q '"model.layers.0.self_attn.q_proj"' ||
	fail "h5dump -d /groups/name shows clean names"
h5dump -p -H -d /traces/scores "$h5" | grep -q "COMPRESSION DEFLATE" || fail "traces are deflated"
h5dump -d /config/resolved_yaml "$h5" | grep -q "quant_pair" || fail "config text in the file"

# a job copied into a sweep file (h5copy, like `lmsens merge`'s H5Ocopy) reports the same
if command -v h5copy >/dev/null 2>&1; then
	h5copy -p -i "$h5" -o "$work/sweep.h5" -s / -d /jobs/0 || fail "h5copy"
	"$LMSENS_BIN" report --group /jobs/0 --out "$work/s" "$work/sweep.h5" >/dev/null || fail "report --group"
	for f in $files; do
		cmp -s "$run/$f" "$work/s/$f" || fail "$f from sweep group differs"
	done
fi

# errors: exit 2, error + hint, nothing written
expect_error() { # expect_error WHAT NEEDLE ARGS...
	what=$1 needle=$2
	shift 2
	"$LMSENS_BIN" report "$@" >"$work/out.txt" 2>"$work/err.txt"
	rc=$?
	[ "$rc" = 2 ] || fail "$what: exit $rc, want 2"
	grep -q "^error: .*$needle" "$work/err.txt" || { fail "$what: no 'error: ...$needle'"; cat "$work/err.txt"; }
	grep -q "^hint: " "$work/err.txt" || fail "$what: no hint"
}
expect_error "missing dir" "cannot read statistics file" "$work/nope"
mkdir -p "$work/empty"
expect_error "no h5" "no \*_autoquant_state.h5" "$work/empty"
mkdir -p "$work/corrupt"
printf 'HDF5 but not really\n' >"$work/corrupt/x_autoquant_state.h5"
expect_error "corrupt h5" "not an HDF5 file" --out "$work/corrupt-out" "$work/corrupt"
[ -e "$work/corrupt-out" ] && fail "corrupt input created the output directory"
mkdir -p "$work/two"
cp "$h5" "$work/two/a_autoquant_state.h5" && cp "$h5" "$work/two/b_autoquant_state.h5"
expect_error "two h5" "holds 2 statistics files ('a_autoquant_state.h5', 'b_autoquant_state.h5'" "$work/two"
head -c 4000 "$h5" >"$work/corrupt/x_autoquant_state.h5"
expect_error "truncated h5" "x_autoquant_state.h5" "$work/corrupt"
expect_error "bad flag" "unknown or incomplete option '--bogus'" --bogus "$run"
expect_error "no argument" "missing RUN_DIR"
expect_error "group without --out" "--group needs --out" --group /jobs/0 "$h5"
expect_error "missing group" "no group '/jobs/9'" --group /jobs/9 --out "$work/g9" "$h5"

if [ "$fails" = 0 ]; then
	rm -rf "$work"
	echo "report_cli: all checks passed"
	exit 0
fi
echo "report_cli: $fails checks failed (files kept in $work)"
exit 1
