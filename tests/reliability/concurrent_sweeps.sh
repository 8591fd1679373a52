#!/bin/bash
# concurrent_sweeps.sh — two sweeps started at once on the same sweep
# directory (a user re-submitting a job, a requeue racing the old allocation)
# must not both run: the second must be refused with an error naming the
# directory, or wait for the first (a lock). Then the directory must hold one
# consistent sweep: every ledger line is JSON, artifacts equal a sweep run
# alone (sweepcmp), no temporary file.
#   concurrent_sweeps.sh SWEEPCMP      (env: LMSENS_BIN)
set -u
CMP=${1:?sweepcmp}
BIN=${LMSENS_BIN:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LMSENS_MPI=0 LMS_LOG_LEVEL=warn
cd "$T" || exit 1
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || { echo "mkmodel failed"; exit 1; }
GRID=(-cn demo "model.path=$T/model" dataset.max_calib_samples=8 autoquant.score_size=8
	-m quant_pair=wfp8_afp8,wint8_afp16 dataset.size=small,medium)
NJ=4
"$BIN" "${GRID[@]}" hydra.sweep.dir="$T/ref" 2>"$T/ref.err" || { echo "reference failed"; exit 1; }

"$BIN" "${GRID[@]}" hydra.sweep.dir="$T/both" 2>"$T/a.err" &
a=$!
"$BIN" "${GRID[@]}" hydra.sweep.dir="$T/both" 2>"$T/b.err" &
b=$!
wait $a
ra=$?
wait $b
rb=$?
echo "first: rc $ra; second: rc $rb"
if [ $ra = 0 ] && [ $rb = 0 ]; then
	n=$(grep -c '"event":"sweep_start"' "$T/both/ledger.jsonl")
	starts=$(grep -c '"event":"start"' "$T/both/ledger.jsonl")
	if [ "$n" -ge 2 ] && [ "$starts" -gt $NJ ]; then
		bad "both sweeps ran at once: $n sweep_start and $starts job start records in one ledger"
	else
		ok "the second sweep waited for the first (one run of each job)"
	fi
else
	other=$([ $ra = 0 ] && echo "$T/b.err" || echo "$T/a.err")
	grep -qi "lock\|already\|in use\|another" "$other" && ok "one sweep refused: $(head -1 "$other")" ||
		bad "a sweep failed without saying why: $(head -3 "$other")"
fi
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)' "$T/both/ledger.jsonl" && ok "every ledger line is JSON" || bad "the ledger has a mixed-up line"
[ -z "$(find "$T/both" -name '*.tmp.*')" ] && ok "no temporary file" || bad "temporary files left"
"$CMP" --ignore-config "$T/ref" "$T/both" $NJ >"$T/cmp.out" && ok "artifacts equal a sweep run alone" ||
	{ bad "artifacts differ"; cat "$T/cmp.out"; }
echo "$fails failed"
[ $fails = 0 ]
