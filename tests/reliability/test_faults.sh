#!/bin/bash
# test_faults.sh — faults during a sweep (one rank, no launcher; label e2e):
#   1. SIGTERM right after each line of the sweep's log (so in every phase:
#      planning, data, model load, calibration, scoring, search, writing,
#      summary): exit code 143 (or 0 when the signal came during the last
#      bundle: one rank finishes the bundle in flight), no
#      temporary file left, every HDF5/JSON file under
#      a final name complete, and runner.resume=true then finishes the sweep
#      with artifacts equal to an uninterrupted run (sweepcmp);
#   2. corrupted artifacts (a flipped byte in one job's statistics file, a
#      truncated manifest, a deleted report) and a damaged ledger (garbage
#      line, torn last line) are detected by resume: exactly those jobs run
#      again, the intact job does not, and the result equals the reference.
# Rank death under mpirun (SIGKILL) and SIGTERM to mpirun's ranks are
# tests/dist/test_sweep_mpi.sh's. Two sweeps at one directory:
# tests/reliability/concurrent_sweeps.sh.
#   test_faults.sh SWEEPCMP        (env: LMSENS_BIN; LMSENS_FAULT_POINTS=20)
set -u
CMP=${1:?sweepcmp}
BIN=${LMSENS_BIN:?}
POINTS=${LMSENS_FAULT_POINTS:-20}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LMSENS_MPI=0 LMS_LOG_LEVEL=info
cd "$T" || exit 1
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || { echo "mkmodel failed"; exit 1; }
GRID=(-cn demo "model.path=$T/model" dataset.max_calib_samples=8 autoquant.score_size=8
	-m quant_pair=wfp8_afp8,wint8_afp16 dataset.size=small,medium)
NJ=4

"$BIN" "${GRID[@]}" hydra.sweep.dir="$T/ref" 2>"$T/ref.err"
rc=$?
[ $rc = 0 ] || { echo "reference sweep failed (rc $rc)"; tail -20 "$T/ref.err"; exit 1; }

# Files under final names must be complete: HDF5 opens, JSON parses.
check_files() { # dir label
	local left
	left=$(find "$1" -name '*.tmp.*' | head -3)
	[ -z "$left" ] && ok "$2: no temporary file left" || bad "$2: temporary files left: $left"
	local f
	while IFS= read -r f; do
		h5dump -H "$f" >/dev/null 2>&1 || bad "$2: $f is not a complete HDF5 file"
	done < <(find "$1" -name '*.h5')
	while IFS= read -r f; do
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null ||
			bad "$2: $f is not complete JSON"
	done < <(find "$1" -name '*.json')
	if [ -f "$1/ledger.jsonl" ]; then
		python3 -c '
import json, sys
lines = open(sys.argv[1]).read().split("\n")
for l in lines[:-1]:
    json.loads(l)
assert lines[-1] == "", "torn last line"' "$1/ledger.jsonl" 2>/dev/null ||
			bad "$2: ledger.jsonl has a bad record"
	fi
}

# 1. SIGTERM right after the k-th log line of the sweep appears, for every
#    line of the reference log (each line starts a phase or ends one, so every
#    phase is hit; LMSENS_FAULT_POINTS caps the count, spread evenly).
n_lines=$(grep -c '' "$T/ref.err")
step=1
[ "$n_lines" -gt "$POINTS" ] && step=$(((n_lines + POINTS - 1) / POINTS))
declare -A phases
for k in $(seq 1 "$step" "$n_lines"); do
	d="$T/int$k"
	"$BIN" "${GRID[@]}" hydra.sweep.dir="$d" 2>"$d.err" &
	pid=$!
	for _ in $(seq 1 3000); do
		[ "$(grep -c '' "$d.err" 2>/dev/null)" -ge "$k" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.005
	done
	kill -TERM $pid 2>/dev/null
	wait $pid
	rc=$?
	phase=$(sed -n "${k}p" "$d.err" | sed -E 's/^\[[^]]*\] (info|warn): //; s/^(#[0-9]+ :|job #[0-9]+ done|job #[0-9]+:).*/\1/; s/#[0-9]+/#N/g; s/^(data|model) .*/\1/; s/:.*//' | cut -c1-40)
	phase=${phase:-startup}
	phases[$phase]=$((${phases[$phase]:-0} + 1))
	label="SIGTERM after log line $k ($phase)"
	if [ $rc = 143 ] || [ $rc = 0 ]; then ok "$label: rc $rc"; else
		bad "$label: rc $rc, want 143"
		tail -5 "$d.err"
	fi
	[ -d "$d" ] && check_files "$d" "$label"
	"$BIN" "${GRID[@]}" hydra.sweep.dir="$d" runner.resume=true 2>"$d.resume.err"
	rc=$?
	[ $rc = 0 ] || { bad "$label: resume rc $rc"; tail -10 "$d.resume.err"; continue; }
	"$CMP" --ignore-config "$T/ref" "$d" $NJ >"$T/cmp.out" && ok "$label: resumed sweep equals the reference" ||
		{ bad "$label: resumed artifacts differ"; cat "$T/cmp.out"; }
	check_files "$d" "$label, resumed"
	rm -rf "$d"
done
echo "SIGTERM points by phase: $(for p in "${!phases[@]}"; do printf '[%s]=%s ' "$p" "${phases[$p]}"; done)"

# 2. corrupted artifacts and ledger, detected by resume
c="$T/corrupt"
cp -a "$T/ref" "$c"
h5=$(ls "$c"/1/*_autoquant_state.h5)
size=$(stat -c %s "$h5")
python3 - "$h5" $((size / 2)) <<'EOF'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x40
open(p, "wb").write(b)
EOF
m=$(ls "$c"/2/*_quant_manifest.json)
truncate -s $(($(stat -c %s "$m") / 2)) "$m"
rm "$c/3/per-layer-sensitivity.md"
printf 'garbage that is not JSON\n{"event":"done","jo' >>"$c/ledger.jsonl"
find "$c/0" -type f -exec touch -d '2000-01-01' {} +
"$BIN" "${GRID[@]}" hydra.sweep.dir="$c" runner.resume=true 2>"$c.err"
rc=$?
[ $rc = 0 ] && ok "resume over corrupted artifacts: rc 0" || { bad "corrupt resume: rc $rc"; tail -10 "$c.err"; }
for j in 1 2 3; do
	grep -q "resume: job #$j runs again" "$c.err" && ok "damaged job #$j detected and rerun" ||
		bad "damaged job #$j not rerun"
done
grep -q "resume: job #0 runs again" "$c.err" && bad "intact job #0 was rerun" || ok "intact job #0 not rerun"
[ -z "$(find "$c/0" -newermt '2001-01-01' -type f)" ] && ok "job #0 files untouched" ||
	bad "job #0 files were rewritten"
grep -q "ignoring" "$c.err" && ok "damaged ledger lines reported and skipped" || bad "no warning for the damaged ledger"
"$CMP" --ignore-config "$T/ref" "$c" $NJ >"$T/cmp.out" && ok "repaired sweep equals the reference" ||
	{ bad "repaired sweep differs"; cat "$T/cmp.out"; }

echo "$fails failed"
[ $fails = 0 ]
