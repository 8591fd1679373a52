#!/bin/bash
# lint.sh — the Slurm scripts parse (bash -n) and are shellcheck-clean (all
# severities, when shellcheck is installed; it is in scripts/install-deps.sh),
# every #SBATCH line has a comment line above it, and the scripts keep the
# options the manual promises (requeue, B:USR1@120, srun --mpi=pmix).
set -u
SRC=${LMSENS_SOURCE_DIR:?}
fails=0
bad() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
files=("$SRC/slurm/sweep.sbatch" "$SRC/slurm/array.sbatch" "$SRC/tests/slurm/test_slurm.sh" "$SRC/tests/slurm/lint.sh")
for f in "${files[@]}"; do
	bash -n "$f" || bad "bash -n $f"
done
if command -v shellcheck >/dev/null 2>&1; then
	shellcheck -s bash "${files[@]}" || bad "shellcheck"
else
	echo "note: shellcheck is not installed; only bash -n ran"
fi
for f in "$SRC/slurm/sweep.sbatch" "$SRC/slurm/array.sbatch"; do
	# every #SBATCH line: the line before it is a comment that is not an #SBATCH line
	awk -v f="$f" '/^#SBATCH/ { if (prev !~ /^# / ) { print "FAIL: " f ":" NR ": #SBATCH line without a comment above"; bad = 1 } }
		{ prev = $0 } END { exit bad }' "$f" || fails=$((fails + 1))
	grep -q '^#SBATCH --requeue$' "$f" || bad "$f: no --requeue"
	grep -q '^#SBATCH --signal=B:USR1@120$' "$f" || bad "$f: no --signal=B:USR1@120"
	grep -q 'SITE BLOCK' "$f" || bad "$f: no site block"
done
grep -q 'srun --mpi=pmix' "$SRC/slurm/sweep.sbatch" || bad "sweep.sbatch does not launch with srun --mpi=pmix"
echo "$fails failed"
[ "$fails" = 0 ]
