#!/bin/bash
# test_sweep_mpi.sh — the sweep runner on CPU ranks (label mpi):
#   1. a 2 pair × 3 size sweep of the demo preset, one rank without a launcher
#      (the reference), then mpirun -np 1, 2 and 3, without bundles, and with a
#      dedicated coordinator: identical artifacts
#      (sweepcmp: statistics exactly, reports byte for byte, manifests without
#      timings), a ledger with every job done, sweep.h5 and the summary;
#      group leaders write the statistics files, rank 0 the manifests and
#      reports (log lines and the ledger's stats_rank / reports_rank);
#      mpirun -np 2 on one node sets pml ob1 before MPI_Init (not with
#      LMSENS_MPI_TUNE=0);
#   2. a data-parallel group of 2 (runner.ranks_per_job=2, np 2) and of 3
#      (np 3): the same artifacts as one rank, bit for bit;
#   3. a job with a bad model path fails alone: exit code 1, the other job's
#      artifacts are there, the ledger records the failure with its error;
#   4. SIGTERM mid-sweep (one rank, and the ranks of an mpirun), exit code
#      143, then runner.resume=true: every job done, artifacts equal to the
#      uninterrupted run, done jobs not rerun; SIGUSR1 to mpirun; SIGTERM to
#      mpirun itself (Slurm preemption), then resume; a SIGKILLed rank, then
#      resume;
#   5. two jobs writing one directory are refused at planning time (exit 2);
#      a second run on a sweep directory in use is refused (exit 2);
#   6. lmsens merge of two sweeps: one sweep.h5 with every job.
#   test_sweep_mpi.sh SWEEPCMP MPIRUN
set -u
CMP=${1:?sweepcmp}
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
mpi() { local np=$1; shift; "$MPIRUN" --allow-run-as-root --oversubscribe -np "$np" "$BIN" "$@"; }

"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || { echo "mkmodel failed"; exit 1; }
GRID=(-cn demo "model.path=$T/model" dataset.max_calib_samples=8 autoquant.score_size=8
	-m quant_pair=wfp8_afp8,wint8_afp16 dataset.size=small,medium,large)
NJ=6

ledger_count() {
	local n
	n=$(grep -c "\"event\":\"$2\"" "$1/ledger.jsonl" 2>/dev/null)
	echo "${n:-0}"
}
check_sweep() { # dir label
	local n
	n=$(ledger_count "$1" done)
	[ "$n" = "$NJ" ] && ok "$2: ledger has $NJ done records" || bad "$2: ledger has $n done records"
	for f in sweep.h5 sweep-summary.md sweep-heatmap.svg multirun.yaml; do
		[ -s "$1/$f" ] || bad "$2: no $f"
	done
}

# 1. reference and np = 1, 2, 3
"$BIN" "${GRID[@]}" hydra.sweep.dir="$T/ref" 2>"$T/ref.err"
rc=$?
[ $rc = 0 ] && ok "one rank, no launcher: rc 0" || { bad "one rank: rc $rc"; cat "$T/ref.err"; }
check_sweep "$T/ref" "one rank"
grep -q "| wfp8_afp8 | " "$T/ref/sweep-summary.md" && ok "summary grid" || bad "summary has no pair × size grid"
# sweep.h5 holds each job's statistics: the reports rebuilt from /jobs/4 are the job's own
"$BIN" report --group /jobs/4 --out "$T/rep4" "$T/ref/sweep.h5" >/dev/null 2>&1 &&
	cmp -s "$T/rep4/per-layer-sensitivity.md" "$T/ref/4/per-layer-sensitivity.md" &&
	ok "sweep.h5 /jobs/4 gives job 4's reports" || bad "sweep.h5 /jobs/4 does not reproduce job 4's reports"
for np in 1 2 3; do
	mpi $np "${GRID[@]}" hydra.sweep.dir="$T/np$np" 2>"$T/np$np.err"
	rc=$?
	[ $rc = 0 ] || { bad "np $np: rc $rc"; tail -20 "$T/np$np.err"; continue; }
	check_sweep "$T/np$np" "np $np"
	"$CMP" "$T/ref" "$T/np$np" $NJ >"$T/cmp.out" && ok "np $np: artifacts equal one rank" ||
		{ bad "np $np: artifacts differ"; cat "$T/cmp.out"; }
done

# 1a. no bundles (LMSENS_BUNDLES=off): six single-job bundles, same artifacts
LMSENS_BUNDLES=off mpi 2 "${GRID[@]}" hydra.sweep.dir="$T/nob" 2>"$T/nob.err"
rc=$?
[ $rc = 0 ] || { bad "LMSENS_BUNDLES=off: rc $rc"; tail -20 "$T/nob.err"; }
grep -q '"bundles":6' "$T/nob/ledger.jsonl" && ok "LMSENS_BUNDLES=off: 6 bundles" || bad "LMSENS_BUNDLES=off: not 6 bundles"
grep -q '"bundles":3' "$T/ref/ledger.jsonl" && ok "default: 3 bundles (pairs share a pass)" || bad "default: not 3 bundles"
"$CMP" "$T/ref" "$T/nob" $NJ >"$T/cmp.out" && ok "LMSENS_BUNDLES=off: artifacts equal" ||
	{ bad "LMSENS_BUNDLES=off: artifacts differ"; cat "$T/cmp.out"; }

# 1b. rank 0 as a dedicated coordinator (the path taken without
#     MPI_THREAD_MULTIPLE): two worker ranks
LMSENS_COORDINATOR=dedicated LMS_LOG_LEVEL=info mpi 3 "${GRID[@]}" hydra.sweep.dir="$T/ded" 2>"$T/ded.err"
rc=$?
[ $rc = 0 ] || { bad "dedicated coordinator: rc $rc"; tail -20 "$T/ded.err"; }
grep -q '"event":"done".*"rank":0,' "$T/ded/ledger.jsonl" && bad "dedicated coordinator: rank 0 ran a job"
# who writes what: the group leaders (ranks 1, 2) only the statistics files,
# rank 0 every manifest and report (from those files); the ledger says so too
n0=$(grep -c '^\[[^]]*:0\] info: job #[0-9]*: manifest and reports written by rank 0 from ' "$T/ded.err")
nst=$(grep -c '^\[[^]]*:[12]\] info: write: .*_autoquant_state.h5 (statistics only' "$T/ded.err")
nrep=$(grep -c 'info: write: .* and reports in ' "$T/ded.err")
nled=$(grep '"event":"done"' "$T/ded/ledger.jsonl" | grep -c '"stats_rank":[12],"reports_rank":0,')
[ "$n0" = $NJ ] && [ "$nst" = $NJ ] && [ "$nrep" = 0 ] && [ "$nled" = $NJ ] &&
	ok "leaders write the statistics, rank 0 the manifests and reports (log and ledger, $NJ jobs)" ||
	bad "writers: rank 0 wrote $n0 report sets, leaders $nst statistics-only files, $nrep leader report sets, ledger $nled"
"$CMP" "$T/ref" "$T/ded" $NJ >"$T/cmp.out" && ok "dedicated coordinator: artifacts equal one rank" ||
	{ bad "dedicated coordinator: artifacts differ"; cat "$T/cmp.out"; }

# 1c. GPU binding: each local rank narrows CUDA_VISIBLE_DEVICES to one entry;
#     one visible device stays as it is (Slurm --gpus-per-task=1)
CUDA_VISIBLE_DEVICES=3,5,7 LMS_LOG_LEVEL=info mpi 3 -cn demo "model.path=$T/model" \
	runner.backend=cpu runner.dry_run=true 2>"$T/bind.err" >/dev/null
for r in "0 3" "1 5" "2 7"; do
	set -- $r
	grep -q "rank $1 of 3: local rank $1 of 3 .*CUDA_VISIBLE_DEVICES=$2\$" "$T/bind.err" ||
		bad "rank $1 not bound to device $2: $(grep 'local rank' "$T/bind.err")"
done
CUDA_VISIBLE_DEVICES=GPU-x LMS_LOG_LEVEL=info mpi 2 -cn demo "model.path=$T/model" \
	runner.backend=cpu runner.dry_run=true 2>"$T/bind1.err" >/dev/null
[ "$(grep -c 'CUDA_VISIBLE_DEVICES=GPU-x$' "$T/bind1.err")" = 2 ] && ok "GPU binding: local rank % visible devices; one device kept" ||
	bad "one visible device: $(grep 'local rank' "$T/bind1.err")"

# 1d. start-up on one node: lmsens sets pml ob1 (btl self,vader) before
#     MPI_Init unless told otherwise; LMSENS_MPI_TUNE=0 keeps Open MPI's choice
LMS_LOG_LEVEL=info mpi 2 --version >/dev/null 2>"$T/tune.err"
rc=$?
[ $rc = 0 ] && grep -q "one node: MPI started with pml ob1, btl self,vader" "$T/tune.err" &&
	ok "one node: pml ob1 set before MPI_Init" || bad "one node: rc $rc, $(grep -m1 'one node' "$T/tune.err")"
LMSENS_MPI_TUNE=0 LMS_LOG_LEVEL=info mpi 2 --version >/dev/null 2>"$T/tune0.err"
rc=$?
[ $rc = 0 ] && ! grep -q "one node:" "$T/tune0.err" && ok "LMSENS_MPI_TUNE=0: Open MPI's defaults" ||
	bad "LMSENS_MPI_TUNE=0: rc $rc, $(grep -m1 'one node' "$T/tune0.err")"

# 2. data-parallel groups: one bundle's batches split over 2 and 3 ranks
#    (the demo's runner.backend=auto: in a build with NCCL on a machine
#    without GPUs, the communicator's background set-up fails on every rank
#    and the group reduces over MPI; the artifacts are the same)
for g in 2 3; do
	mpi $g "${GRID[@]}" hydra.sweep.dir="$T/dp$g" runner.ranks_per_job=$g 2>"$T/dp$g.err"
	rc=$?
	[ $rc = 0 ] || { bad "data-parallel $g: rc $rc"; tail -20 "$T/dp$g.err"; continue; }
	grep -q "\"ranks\":$g" "$T/dp$g/ledger.jsonl" && ok "ledger records groups of $g" || bad "no group of $g in the ledger"
	"$CMP" --ignore-config "$T/ref" "$T/dp$g" $NJ >"$T/cmp.out" &&
		ok "data-parallel group of $g: artifacts equal one rank (bit for bit)" ||
		{ bad "data-parallel $g: artifacts differ"; cat "$T/cmp.out"; }
done

# 3. one job with a missing checkpoint fails alone
mpi 2 -cn demo dataset.max_calib_samples=8 autoquant.score_size=8 model.synthetic=null \
	-m "model.path=$T/model,$T/missing" hydra.sweep.dir="$T/badm" 2>"$T/badm.err"
rc=$?
[ $rc = 1 ] && ok "bad model path: rc 1" || bad "bad model path: rc $rc, want 1"
[ "$(ledger_count "$T/badm" done)" = 1 ] && [ "$(ledger_count "$T/badm" failed)" = 1 ] &&
	ok "ledger: one done, one failed" || bad "ledger of the bad-path sweep: $(cat "$T/badm/ledger.jsonl")"
grep '"event":"failed"' "$T/badm/ledger.jsonl" | grep -q "missing" && ok "failure record names the path" ||
	bad "failure record lacks the error"
ls "$T/badm/0/"*_autoquant_state.h5 >/dev/null 2>&1 && ok "the good job's artifacts exist" || bad "job 0 has no artifacts"
grep -q "Failures" "$T/badm/sweep-summary.md" && ok "summary lists the failure" || bad "summary has no failures section"

# 4. SIGTERM mid-sweep, then resume (one rank, then mpirun -np 2). A longer
#    grid (9 bundles: batch sizes 1, 2, 4) so that the signal lands while
#    work remains; its own uninterrupted reference.
GRID2=("${GRID[@]}" autoquant.batch_size=1,2,4)
NJ2=18
"$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/ref2" 2>"$T/ref2.err" || bad "reference 2 failed"
interrupt() { # dir pid-to-wait SIGNAL ranks|last|PID: signal once the first job is done
	local dir=$1 wpid=$2 sig=$3 target=$4 pids
	for _ in $(seq 1 3000); do
		[ "$(ledger_count "$dir" done)" -ge 1 ] && break
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.02
	done
	case $target in
	ranks) pids=$(pgrep -x lmsens -P "$wpid") ;;             # the ranks of our mpirun
	last) pids=$(pgrep -x lmsens -P "$wpid" | sort -n | tail -1) ;;
	*) pids=$target ;;
	esac
	[ -n "$pids" ] || echo "note: nothing to signal (run already over?)"
	kill -"$sig" $pids 2>/dev/null
	wait "$wpid"
}
"$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/int1" 2>"$T/int1.err" &
pid=$!
interrupt "$T/int1" $pid TERM $pid
rc=$?
[ $rc = 143 ] && ok "one rank: SIGTERM gives rc 143" || bad "one rank SIGTERM: rc $rc, want 143"
ndone=$(ledger_count "$T/int1" done)
[ "$ndone" -lt $NJ2 ] && ok "interrupted with $ndone of $NJ2 done" || bad "SIGTERM came too late ($ndone done)"
grep -q '"event":"sweep_end"' "$T/int1/ledger.jsonl" && ok "ledger closed with sweep_end" || bad "no sweep_end record"
"$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/int1" runner.resume=true 2>"$T/int1r.err"
rc=$?
[ $rc = 0 ] && ok "resume: rc 0" || { bad "resume: rc $rc"; tail -20 "$T/int1r.err"; }
n2=$(ledger_count "$T/int1" done)
[ "$n2" = "$NJ2" ] && ok "resume ran only the $((NJ2 - ndone)) missing jobs" ||
	bad "after resume the ledger has $n2 done records, want $NJ2 (no rerun of done jobs)"
"$CMP" --ignore-config "$T/ref2" "$T/int1" $NJ2 >"$T/cmp.out" && ok "resumed artifacts equal the uninterrupted run" ||
	{ bad "resumed artifacts differ"; cat "$T/cmp.out"; }

"$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/int2" 2>"$T/int2.err" &
mpid=$! # mpirun itself (not a subshell): its children are the ranks
interrupt "$T/int2" $mpid TERM ranks
rc=$?
[ $rc = 143 ] && ok "mpirun -np 2: SIGTERM to the ranks gives rc 143" || bad "mpirun SIGTERM: rc $rc, want 143"
ndone=$(ledger_count "$T/int2" done)
[ "$ndone" -lt $NJ2 ] && ok "mpirun: interrupted with $ndone of $NJ2 done" || bad "mpirun: SIGTERM came too late"
mpi 2 "${GRID2[@]}" hydra.sweep.dir="$T/int2" runner.resume=true 2>"$T/int2r.err"
rc=$?
[ $rc = 0 ] && ok "mpirun resume: rc 0" || { bad "mpirun resume: rc $rc"; tail -20 "$T/int2r.err"; }
[ "$(ledger_count "$T/int2" done)" = "$NJ2" ] && ok "mpirun resume ran only the missing jobs" ||
	bad "mpirun resume: $(ledger_count "$T/int2" done) done records, want $NJ2"
"$CMP" --ignore-config "$T/ref2" "$T/int2" $NJ2 >"$T/cmp.out" && ok "mpirun resumed artifacts equal" ||
	{ bad "mpirun resumed artifacts differ"; cat "$T/cmp.out"; }

# 4a. SIGUSR1 to mpirun (Slurm --signal=USR1 on the step): forwarded to the ranks
"$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/usr1" 2>"$T/usr1.err" &
mpid=$!
interrupt "$T/usr1" $mpid USR1 $mpid
rc=$?
[ $rc = 143 ] && [ "$(ledger_count "$T/usr1" done)" -lt $NJ2 ] && ok "SIGUSR1 to mpirun: rc 143, work left" ||
	bad "SIGUSR1 to mpirun: rc $rc, $(ledger_count "$T/usr1" done) done"

# 4c. SIGTERM to mpirun itself (Slurm's preemption and time limit signal the
#     batch step's mpirun). Open MPI 4.1's mpirun does not forward SIGTERM: it
#     sends SIGCONT, waits odls_base_sigkill_timeout seconds, sends SIGTERM,
#     waits as long again, sends SIGKILL, and exits 1 whatever the ranks did.
#     The ranks must therefore stop, record the jobs in flight as interrupted
#     and close the ledger (sweep_end, exit_code 143: what a batch script
#     reads, slurm/sweep.sbatch) within that timeout; docs/sweeps.md raises it
#     for GPU batches, here 2 s. A longer grid (bundles of ~1 s) so that work
#     is in flight when the ranks get the signal; its own reference.
GRID3=(-cn demo "model.path=$T/model" dataset.max_calib_samples=256 autoquant.score_size=256
	-m quant_pair=wfp8_afp8,wint8_afp16 dataset.size=small,medium,large autoquant.batch_size=1,2,4)
NJ3=18
OMP_NUM_THREADS=1 "$BIN" "${GRID3[@]}" hydra.sweep.dir="$T/ref3" 2>"$T/ref3.err" || bad "reference 3 failed"
"$MPIRUN" --allow-run-as-root --oversubscribe --mca odls_base_sigkill_timeout 2 -np 2 "$BIN" "${GRID3[@]}" \
	hydra.sweep.dir="$T/mterm" 2>"$T/mterm.err" &
mpid=$!
for _ in $(seq 1 3000); do # the first bundle started: mpirun's SIGTERM reaches the ranks 2 s later
	[ "$(ledger_count "$T/mterm" start)" -ge 1 ] && break
	kill -0 $mpid 2>/dev/null || break
	sleep 0.02
done
kill -TERM $mpid
wait $mpid
rc=$?
last=$(tail -n 1 "$T/mterm/ledger.jsonl")
ndone=$(ledger_count "$T/mterm" done)
nint=$(ledger_count "$T/mterm" interrupted)
[ $rc != 0 ] && ok "SIGTERM to mpirun: mpirun exits $rc (its own code)" || bad "SIGTERM to mpirun: rc 0"
case $last in
*'"event":"sweep_end"'*'"exit_code":143'*) ok "SIGTERM to mpirun: ledger closed by the ranks (sweep_end, exit_code 143)" ;;
*) bad "SIGTERM to mpirun: last ledger record is not sweep_end with 143: $last"; tail -5 "$T/mterm.err" ;;
esac
[ "$nint" -ge 1 ] && [ "$ndone" -lt $NJ3 ] && ok "SIGTERM to mpirun: $nint job(s) in flight recorded as interrupted, $ndone of $NJ3 done" ||
	bad "SIGTERM to mpirun: $nint interrupted, $ndone done of $NJ3 (signal too late?)"
grep -q "interrupted: .* job(s) left" "$T/mterm.err" && ok "SIGTERM to mpirun: rank 0 logged the interruption" ||
	bad "SIGTERM to mpirun: no interruption summary in the log"
pgrep -x lmsens -P $mpid >/dev/null 2>&1 && bad "SIGTERM to mpirun: ranks still running"
mpi 2 "${GRID3[@]}" hydra.sweep.dir="$T/mterm" runner.resume=true 2>"$T/mtermr.err"
rc=$?
[ $rc = 0 ] && ok "resume after SIGTERM to mpirun: rc 0" || { bad "resume after SIGTERM to mpirun: rc $rc"; tail -20 "$T/mtermr.err"; }
[ "$(ledger_count "$T/mterm" done)" = "$NJ3" ] && ok "resume after SIGTERM to mpirun ran only the missing jobs" ||
	bad "resume after SIGTERM to mpirun: $(ledger_count "$T/mterm" done) done records, want $NJ3"
"$CMP" --ignore-config "$T/ref3" "$T/mterm" $NJ3 >"$T/cmp.out" && ok "artifacts after SIGTERM to mpirun + resume equal the uninterrupted run" ||
	{ bad "artifacts after SIGTERM to mpirun + resume differ"; cat "$T/cmp.out"; }

# 4b. a rank that dies (SIGKILL, e.g. the OOM killer) ends the MPI job; the
#     ledger stays readable and a resume finishes the sweep with equal artifacts
"$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/kill" 2>"$T/kill.err" &
interrupt "$T/kill" $! KILL last
rc=$?
[ $rc != 0 ] && ok "a killed rank ends the run (rc $rc)" || bad "a killed rank: rc 0"
mpi 2 "${GRID2[@]}" hydra.sweep.dir="$T/kill" runner.resume=true 2>"$T/killr.err"
rc=$?
[ $rc = 0 ] && ok "resume after a killed rank: rc 0" || { bad "resume after kill: rc $rc"; tail -20 "$T/killr.err"; }
"$CMP" --ignore-config "$T/ref2" "$T/kill" $NJ2 >"$T/cmp.out" && ok "artifacts after kill + resume equal" ||
	{ bad "artifacts after kill + resume differ"; cat "$T/cmp.out"; }

# 5. two jobs, one directory
"$BIN" -cn demo "model.path=$T/model" runner.output_dir="$T/same" -m quant_pair=wfp8_afp8,wint8_afp16 \
	hydra.sweep.dir="$T/coll" 2>"$T/coll.err"
rc=$?
[ $rc = 2 ] && grep -q "would both write" "$T/coll.err" && ok "output collision refused (rc 2)" ||
	{ bad "output collision: rc $rc"; cat "$T/coll.err"; }

# 5b. one run per sweep directory: a second run while the first holds the lock is refused
"$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/lock" 2>"$T/lock1.err" &
first=$!
for _ in $(seq 1 3000); do
	[ "$(ledger_count "$T/lock" start)" -ge 1 ] && break
	sleep 0.02
done
"$BIN" "${GRID2[@]}" hydra.sweep.dir="$T/lock" 2>"$T/lock2.err"
rc=$?
wait $first
rc1=$?
[ $rc = 2 ] && grep -q "another lmsens run" "$T/lock2.err" && [ $rc1 = 0 ] &&
	ok "a second run on a busy sweep directory is refused (rc 2), the first finishes" ||
	{ bad "lock: second rc $rc, first rc $rc1"; cat "$T/lock2.err"; }

# 5c. srun without PMIx starts independent copies: each refuses to run the sweep
SLURM_STEP_NUM_TASKS=4 "$BIN" "${GRID[@]}" hydra.sweep.dir="$T/singleton" 2>"$T/singleton.err"
rc=$?
[ $rc = 2 ] && grep -q "MPI is not running" "$T/singleton.err" && ok "a Slurm step of 4 tasks without MPI is refused" ||
	bad "singleton copies: rc $rc"

# 6. merge two sweeps
"$BIN" merge "$T/ref" "$T/np2" --out "$T/merged" 2>"$T/merge.err"
rc=$?
[ $rc = 0 ] && ok "merge: rc 0" || { bad "merge: rc $rc"; cat "$T/merge.err"; }
n=$(h5ls "$T/merged/sweep.h5/jobs" 2>/dev/null | wc -l)
[ "$n" = $((2 * NJ)) ] && ok "merged sweep.h5 has $n jobs" || bad "merged sweep.h5 has $n jobs, want $((2 * NJ))"
[ -s "$T/merged/sweep-summary.md" ] && ok "merged summary" || bad "no merged summary"

"$BIN" merge "$T/nonexistent" --out "$T/m2" 2>"$T/m2.err"
rc=$?
[ $rc = 2 ] && grep -q "not a directory" "$T/m2.err" && [ ! -e "$T/m2" ] && ok "merge of a missing DIR: rc 2, no output" ||
	bad "merge of a missing DIR: rc $rc"
mkdir -p "$T/empty"
"$BIN" merge "$T/empty" --out "$T/m3" 2>"$T/m3.err"
rc=$?
[ $rc = 2 ] && grep -q "no job statistics" "$T/m3.err" && [ ! -e "$T/m3" ] && ok "merge of nothing: rc 2, no output" ||
	bad "merge of nothing: rc $rc"
"$BIN" merge "$T/ref" 2>/dev/null
[ $? = 2 ] && ok "merge without --out: rc 2" || bad "merge without --out"

echo "$fails failed"
[ $fails = 0 ]
