#!/bin/bash
# test_slurm.sh — slurm/sweep.sbatch and slurm/array.sbatch without Slurm
# (label mpi): the scripts run as plain bash with the SLURM_* variables a
# batch job has, and PATH-prepended shims:
#   srun     records its arguments, drops its options and execs
#            `mpirun --oversubscribe --allow-run-as-root -np $SLURM_NTASKS`
#            (CPU ranks);
#   scontrol records its arguments (requeue);
#   sbatch   records its arguments and prints a job id (submit mode).
# Checks:
#   1. sweep.sbatch, srun launcher, 2 ranks, a 2 pair × 2 size demo sweep:
#      exit 0, srun got --mpi=pmix, lmsens got hydra.sweep.dir and no resume,
#      every job's artifacts, ledger, sweep.h5, summary and the lmsens log
#      are under the sweep directory; the artifacts equal a plain
#      `lmsens -m` sweep (sweepcmp);
#   2. a restart (SLURM_RESTART_COUNT=1): runner.resume=true is passed, the
#      ledger's sweep_start says resume, no job runs again;
#   3. USR1 to the batch shell (--signal=B:USR1) mid-sweep: forwarded to the
#      ranks, exit 143, `scontrol requeue <job id>`; the restart resumes and
#      the artifacts equal an uninterrupted sweep;
#   4. LMSENS_LAUNCHER=mpirun: the same artifacts;
#   4b. preemption with the mpirun launcher: SIGTERM to the batch shell,
#      mpirun and the ranks at once (Slurm signals every process of the
#      batch step; mpirun exits 1 after a SIGTERM): exit 143 from the
#      ledger's sweep_end, TERM forwarded to mpirun as USR1, no requeue by
#      the script; the restart resumes and the artifacts equal an
#      uninterrupted sweep;
#   5. array.sbatch: submit mode plans 4 jobs, submits --array=0-3 and a
#      merge job with --dependency=afterany:<array id>; elements 0..3 write
#      the same artifacts as the sweep; a requeued element resumes (nothing
#      re-run); the recorded merge command writes sweep.h5 with 4 jobs;
#   6. bad input: an unknown launcher and no SLURM_JOB_ID exit 2.
#   test_slurm.sh SWEEPCMP MPIRUN
# ok never fails (A && ok || bad is safe); sweep values contain commas:
# shellcheck disable=SC2015,SC2054
set -u
CMP=${1:?sweepcmp}
MPIRUN=${2:?mpirun}
BIN=${LMSENS_BIN:?}
SRC=${LMSENS_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export LMS_LOG_LEVEL=info
fails=0
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
count() { # file pattern → number of matching lines
	local n
	n=$(grep -c -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}

# The shims.
mkdir -p "$T/bin" "$T/submit"
cat >"$T/bin/srun" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$T/srun.calls"
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
exec "$MPIRUN" --oversubscribe --allow-run-as-root -np "\$SLURM_NTASKS" "\$@"
EOF
cat >"$T/bin/scontrol" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$T/scontrol.calls"
EOF
cat >"$T/bin/sbatch" <<EOF
#!/bin/bash
n=\$(wc -l <"$T/sbatch.calls" 2>/dev/null || echo 0)
printf '%s\0' "\$@" >"$T/sbatch.\$n.args"
printf '%s\n' "\$*" >>"$T/sbatch.calls"
echo \$((5000 + n))
EOF
chmod +x "$T/bin/"*
export PATH=$T/bin:$PATH LMSENS_BIN=$BIN
export SLURM_SUBMIT_DIR=$T/submit SLURM_JOB_NAME=lmsens-sweep SLURM_NTASKS=2 SLURM_JOB_NUM_NODES=1
export SLURM_CPUS_PER_TASK=1
unset SLURM_RESTART_COUNT SLURM_ARRAY_TASK_ID SLURM_ARRAY_JOB_ID LMSENS_SWEEP_DIR LMSENS_RESUME LMSENS_LAUNCHER

"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || {
	echo "mkmodel failed"
	exit 1
}
# a quoted value with a space and a list value: the array's plan keeps them intact
GRID=(-cn demo "model.path=$T/model" dataset.max_calib_samples=8 autoquant.score_size=8
	"+runner.note='a b'" 'autoquant.disabled_layers=[*lm_head*,*layers.0.mlp.up*]'
	-m quant_pair=wfp8_afp8,wint8_afp16 dataset.size=small,medium)
NJ=4
(cd "$T/submit" && "$BIN" "${GRID[@]}" hydra.sweep.dir="$T/ref" 2>"$T/ref.err") || {
	echo "reference sweep failed"
	cat "$T/ref.err"
	exit 1
}

# 1. sweep.sbatch through the srun shim
S=$T/submit/sweeps/lmsens-sweep-101
SLURM_JOB_ID=101 SLURM_RESTART_COUNT=0 bash "$SRC/slurm/sweep.sbatch" "${GRID[@]}" >"$T/s1.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "sweep.sbatch: exit 0" || {
	bad "sweep.sbatch: exit $rc"
	cat "$T/s1.out" "$S"/logs/*.log
}
grep -q -- "--mpi=pmix" "$T/srun.calls" && ok "srun --mpi=pmix" || bad "srun was not called with --mpi=pmix"
grep -q -- "hydra.sweep.dir=$S" "$T/srun.calls" && ok "sweep dir passed" || bad "no hydra.sweep.dir=$S in $(cat "$T/srun.calls")"
grep -q "runner.resume" "$T/srun.calls" && bad "first start passed runner.resume" || ok "first start: no resume"
[ "$(count "$S/ledger.jsonl" '"event":"done"')" = $NJ ] && ok "ledger: $NJ done" || bad "ledger: not $NJ done"
for f in sweep.h5 sweep-summary.md sweep-heatmap.svg multirun.yaml logs/lmsens-101-attempt0.log; do
	[ -s "$S/$f" ] || bad "no $f under the sweep dir"
done
grep -q "sweep: 4 done" "$S/logs/lmsens-101-attempt0.log" && ok "lmsens log in the sweep dir" || bad "lmsens log lacks the sweep line"
"$CMP" --ignore-config "$T/ref" "$S" $NJ >"$T/cmp.out" && ok "sweep.sbatch artifacts equal lmsens -m" ||
	{
		bad "sweep.sbatch artifacts differ"
		cat "$T/cmp.out"
	}

# 2. restart: resume, nothing re-run
: >"$T/srun.calls"
SLURM_JOB_ID=101 SLURM_RESTART_COUNT=1 bash "$SRC/slurm/sweep.sbatch" "${GRID[@]}" >"$T/s2.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "restart: exit 0" || {
	bad "restart: exit $rc"
	cat "$T/s2.out"
}
grep -q "runner.resume=true" "$T/srun.calls" && ok "restart passes runner.resume=true" || bad "restart did not pass runner.resume=true"
grep '"event":"sweep_start"' "$S/ledger.jsonl" | tail -1 | grep -q '"resume":true' && ok "ledger: resumed start" ||
	bad "ledger: the second sweep_start is not a resume"
[ "$(count "$S/ledger.jsonl" '"event":"start"')" = $NJ ] && ok "restart re-ran nothing" || bad "restart re-ran jobs"
grep -q "4 done (4 from an earlier run)" "$S/logs/lmsens-101-attempt1.log" && ok "attempt 1 log" || bad "attempt 1 log lacks the resume summary"

# 3. USR1 to the batch shell mid-sweep: forwarded, 143, requeue, resume
GRID2=("${GRID[@]}" autoquant.batch_size=1,2,4)
NJ2=12
(cd "$T/submit" && "$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/ref2" 2>"$T/ref2.err") || bad "reference 2 failed"
S3=$T/submit/sweeps/lmsens-sweep-102
SLURM_JOB_ID=102 SLURM_RESTART_COUNT=0 bash "$SRC/slurm/sweep.sbatch" "${GRID2[@]}" >"$T/s3.out" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
	[ "$(count "$S3/ledger.jsonl" '"event":"done"')" -ge 1 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.02
done
kill -USR1 $pid
wait $pid
rc=$?
ndone=$(count "$S3/ledger.jsonl" '"event":"done"')
[ $rc = 143 ] && ok "USR1: exit 143" || {
	bad "USR1: exit $rc, want 143"
	cat "$T/s3.out"
}
[ "$ndone" -lt $NJ2 ] && ok "USR1: interrupted with $ndone of $NJ2 done" || bad "USR1 came too late ($ndone done)"
grep -qx "requeue 102" "$T/scontrol.calls" && ok "scontrol requeue 102" || bad "no 'scontrol requeue 102'"
grep -q "forwarding" "$T/s3.out" && ok "the trap forwarded USR1" || bad "no forwarding line"
SLURM_JOB_ID=102 SLURM_RESTART_COUNT=1 bash "$SRC/slurm/sweep.sbatch" "${GRID2[@]}" >"$T/s3b.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "requeued start: exit 0" || {
	bad "requeued start: exit $rc"
	cat "$T/s3b.out"
}
"$CMP" --ignore-config "$T/ref2" "$S3" $NJ2 >"$T/cmp.out" && ok "interrupted + resumed artifacts equal" ||
	{
		bad "interrupted + resumed artifacts differ"
		cat "$T/cmp.out"
	}
[ "$(count "$T/scontrol.calls" requeue)" = 1 ] && ok "only the interrupted start requeued" || bad "requeue count wrong"

# 4. mpirun launcher
S4=$T/s4
: >"$T/srun.calls"
SLURM_JOB_ID=103 LMSENS_LAUNCHER=mpirun LMSENS_SWEEP_DIR=$S4 bash "$SRC/slurm/sweep.sbatch" "${GRID[@]}" >"$T/s4.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "mpirun launcher: exit 0" || {
	bad "mpirun launcher: exit $rc"
	cat "$T/s4.out"
}
[ -s "$T/srun.calls" ] && bad "mpirun launcher called srun" || ok "mpirun launcher: no srun"
grep -q "mpirun -np 2" "$T/s4.out" && ok "mpirun -np SLURM_NTASKS" || bad "no 'mpirun -np 2' in the command"
"$CMP" --ignore-config "$T/ref" "$S4" $NJ >"$T/cmp.out" && ok "mpirun launcher artifacts equal" ||
	{
		bad "mpirun launcher artifacts differ"
		cat "$T/cmp.out"
	}

# 4b. preemption with the mpirun launcher: every process of the step gets SIGTERM
S5=$T/s5
SLURM_JOB_ID=104 SLURM_RESTART_COUNT=0 LMSENS_LAUNCHER=mpirun LMSENS_SWEEP_DIR=$S5 OMPI_MCA_odls_base_sigkill_timeout=2 \
	bash "$SRC/slurm/sweep.sbatch" "${GRID2[@]}" >"$T/s5.out" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
	[ "$(count "$S5/ledger.jsonl" '"event":"done"')" -ge 1 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.02
done
mp=$(pgrep -x mpirun -P $pid)
# shellcheck disable=SC2046
kill -TERM $pid ${mp:+"$mp"} $(pgrep -x lmsens -P "${mp:-1}") 2>/dev/null
wait $pid
rc=$?
ndone=$(count "$S5/ledger.jsonl" '"event":"done"')
[ $rc = 143 ] && ok "preemption, mpirun launcher: exit 143" || {
	bad "preemption, mpirun launcher: exit $rc, want 143"
	cat "$T/s5.out"
}
[ "$ndone" -lt $NJ2 ] && ok "preemption: $ndone of $NJ2 done" || bad "preemption came too late ($ndone done)"
tail -n 1 "$S5/ledger.jsonl" | grep -q '"event":"sweep_end".*"exit_code":143' && ok "preemption: the ranks closed the ledger (143)" ||
	bad "preemption: ledger does not end with sweep_end 143"
grep -q "got SIGTERM: forwarding SIGUSR1" "$T/s5.out" && ok "TERM forwarded to mpirun as USR1" || bad "no TERM → USR1 forwarding line"
[ "$(count "$T/scontrol.calls" requeue)" = 1 ] && ok "preemption: the script did not requeue" || bad "preemption: the script requeued"
SLURM_JOB_ID=104 SLURM_RESTART_COUNT=1 LMSENS_LAUNCHER=mpirun LMSENS_SWEEP_DIR=$S5 bash "$SRC/slurm/sweep.sbatch" "${GRID2[@]}" >"$T/s5b.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "preempted job restarted: exit 0" || {
	bad "preempted job restarted: exit $rc"
	cat "$T/s5b.out"
}
"$CMP" --ignore-config "$T/ref2" "$S5" $NJ2 >"$T/cmp.out" && ok "preempted + resumed artifacts equal" ||
	{
		bad "preempted + resumed artifacts differ"
		cat "$T/cmp.out"
	}

# 5. array.sbatch: submit, elements, requeued element, merge
A=$T/arr
unset SLURM_NTASKS
LMSENS_SWEEP_DIR=$A LMSENS_ARRAY_LIMIT=2 bash "$SRC/slurm/array.sbatch" "${GRID[@]}" >"$T/a0.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "array submit: exit 0" || {
	bad "array submit: exit $rc"
	cat "$T/a0.out"
}
[ "$(count "$A/array-plan.txt" '^#[0-9]* : ')" = $NJ ] && ok "plan: $NJ jobs" || bad "plan does not have $NJ jobs"
grep -q -- "--array=0-3%2 " "$T/sbatch.calls" && ok "sbatch --array=0-3%2" || bad "no --array=0-3%2: $(cat "$T/sbatch.calls")"
sed -n 2p "$T/sbatch.calls" | grep -q -- "--dependency=afterany:5000 " && ok "merge job depends on the array" ||
	bad "merge submission lacks --dependency=afterany:5000"
[ -x "$A/array.sbatch" ] || [ -s "$A/array.sbatch" ] || bad "the script was not copied to the array dir"
for i in 0 1 2 3; do
	SLURM_ARRAY_JOB_ID=5000 SLURM_ARRAY_TASK_ID=$i SLURM_JOB_ID=$((6000 + i)) SLURM_RESTART_COUNT=0 \
		LMSENS_SWEEP_DIR=$A bash "$A/array.sbatch" "${GRID[@]}" >"$T/a$i.out" 2>&1 ||
		{
			bad "element $i failed"
			cat "$T/a$i.out" "$A"/logs/task-$i-*.log
		}
done
grep -q "note: a b" "$A/0/.lmsens/config.yaml" && ok "element 0 got the quoted value 'a b'" ||
	bad "element 0's config lacks runner.note 'a b': $(grep note "$A/0/.lmsens/config.yaml")"
"$CMP" --ignore-config "$T/ref" "$A" $NJ >"$T/cmp.out" && ok "array elements equal the sweep" ||
	{
		bad "array elements differ from the sweep"
		cat "$T/cmp.out"
	}
SLURM_ARRAY_JOB_ID=5000 SLURM_ARRAY_TASK_ID=2 SLURM_JOB_ID=6002 SLURM_RESTART_COUNT=1 \
	LMSENS_SWEEP_DIR=$A bash "$A/array.sbatch" "${GRID[@]}" >"$T/a2r.out" 2>&1 || bad "requeued element 2 failed"
grep -q "resume: 1 of 1 jobs are done" "$A"/logs/task-2-6002-attempt1.log && ok "requeued element resumes" ||
	bad "requeued element did not resume: $(tail -3 "$A"/logs/task-2-6002-attempt1.log)"
[ "$(count "$A/2/ledger.jsonl" '"event":"start"')" = 1 ] && ok "requeued element re-ran nothing" || bad "element 2 ran twice"
mapfile -d '' margs <"$T/sbatch.1.args"
wrap=""
for ((k = 0; k < ${#margs[@]}; k++)); do [ "${margs[k]}" = --wrap ] && wrap=${margs[k + 1]}; done
[ -n "$wrap" ] || bad "merge submission has no --wrap"
bash -c "$wrap" >"$T/merge.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "merge job: exit 0" || {
	bad "merge job: exit $rc"
	cat "$T/merge.out"
}
grep -q "merged 4 of 4 jobs" "$T/merge.out" && ok "merged 4 of 4" || bad "merge output: $(cat "$T/merge.out")"
for f in sweep.h5 sweep-summary.md sweep-heatmap.svg; do
	[ -s "$A/merged/$f" ] || bad "no merged/$f"
done
"$BIN" report --group /jobs/3 --out "$T/rep3" "$A/merged/sweep.h5" >/dev/null 2>&1 &&
	cmp -s "$T/rep3/per-layer-sensitivity.md" "$T/ref/3/per-layer-sensitivity.md" &&
	ok "merged /jobs/3 gives job 3's reports" || bad "merged sweep.h5 /jobs/3 is not job 3"

# 6. bad input
SLURM_JOB_ID=104 LMSENS_LAUNCHER=pbs bash "$SRC/slurm/sweep.sbatch" "${GRID[@]}" >"$T/b1.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "use srun or mpirun" "$T/b1.out" && ok "unknown launcher: exit 2" || bad "unknown launcher: exit $rc"
env -u SLURM_JOB_ID bash "$SRC/slurm/sweep.sbatch" "${GRID[@]}" >"$T/b2.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "SLURM_JOB_ID is not set" "$T/b2.out" && ok "no SLURM_JOB_ID: exit 2" || bad "no SLURM_JOB_ID: exit $rc"
SLURM_ARRAY_TASK_ID=9 SLURM_JOB_ID=6009 LMSENS_SWEEP_DIR=$A bash "$A/array.sbatch" "${GRID[@]}" >"$T/b3.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "has no job #9" "$T/b3.out" && ok "array element out of range: exit 2" || bad "element 9: exit $rc"

echo "$fails failed"
[ $fails = 0 ]
