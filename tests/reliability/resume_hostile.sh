#!/usr/bin/env bash
# resume_hostile.sh — regressions for two findings of docs/RELIABILITY.md:
#  1. a ledger record naming an artifact outside the job directory
#     ("../../dev/zero") is not hashed by resume (it used to read /dev/zero
#     forever): the job just runs again;
#  2. a one-rank sweep stops a bundle in flight on SIGTERM (exit 143, the job
#     recorded "interrupted"), instead of running the bundle to its end.
set -u
B=${LMSENS_BIN:?}
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$B" -cn demo -m quant_pair=wfp8_afp8 hydra.sweep.dir="$work/s" > /dev/null 2>&1 || bad "first sweep"
# Append a "done" record like the real one but naming ../../../../dev/zero.
python3 - "$work/s/ledger.jsonl" <<'PY'
import json, sys
p = sys.argv[1]
recs = [json.loads(l) for l in open(p) if l.strip()]
done = [r for r in recs if r.get("event") == "done"][-1]
done["artifacts"] = {"../../../../dev/zero": "0000000000000000"}
open(p, "a").write(json.dumps(done, separators=(",", ":")) + "\n")
PY
timeout 60 "$B" -cn demo -m quant_pair=wfp8_afp8 hydra.sweep.dir="$work/s" runner.resume=true > out.txt 2> err.txt
rc=$?
[ $rc -eq 0 ] && ok "resume with a hostile artifact name ends (rc 0)" || bad "resume rc $rc (124 = hung)"
grep -q "unknown artifact '../../../../dev/zero'" err.txt && ok "the record is refused by name" || bad "no warning: $(tail -3 err.txt)"
[ "$(grep -c '"event":"done"' "$work/s/ledger.jsonl")" -eq 3 ] && ok "the job ran again" || bad "job not rerun"

# 2. One rank, one long bundle (the large captions, 2048 samples): SIGTERM after it started.
"$B" -cn demo -m quant_pair=wfp8_afp8,wint8_afp16 dataset.size=large dataset.max_calib_samples=4096 autoquant.score_size=4096 \
	hydra.sweep.dir="$work/t" > /dev/null 2> t.err &
pid=$!
for _ in $(seq 1 200); do grep -q '"event":"start"' "$work/t/ledger.jsonl" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 143 ] && ok "SIGTERM mid-bundle: exit 143" || bad "SIGTERM mid-bundle: rc $rc, want 143"
grep -q '"event":"interrupted"' "$work/t/ledger.jsonl" && ok "the job is recorded interrupted" \
	|| bad "no interrupted record: $(tail -2 "$work/t/ledger.jsonl")"
! grep -q '"event":"done"' "$work/t/ledger.jsonl" && ok "nothing recorded done" || bad "a job ran to its end"

echo "$((fail == 0 ? 6 : 0)) passed, $fail failed"
exit $fail
