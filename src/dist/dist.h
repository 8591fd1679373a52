/* dist.h — the sweep runner: MPI start-up, signals, the rank-0 coordinator
 * with its job ledger, worker groups with data-parallel reductions, and the
 * sweep-level outputs (sweep.h5, sweep-summary.md, sweep-heatmap.svg).
 *
 * Process model (docs/sweeps.md):
 *   - `mpirun -np N lmsens ...` / `srun --mpi=pmix lmsens ...`: N ranks. Without
 *     a launcher, one rank runs the same scheduler, with no MPI calls at all.
 *   - Rank 0 expands the plan into bundles (lms_pipeline_same_bundle), orders
 *     them longest first and hands them out on request to worker groups of
 *     runner.ranks_per_job consecutive ranks. Under MPI_THREAD_MULTIPLE rank 0
 *     also works (a coordinator thread answers the other groups); otherwise
 *     rank 0 only coordinates.
 *   - A group splits its bundle's batches (struct lms_aq_dist; reductions
 *     over NCCL for GPU bundles when every rank has its own GPU, else
 *     MPI_Iallreduce on host arrays); its leader writes each job's
 *     statistics file, and rank 0 then writes the job's manifest and reports
 *     from it.
 *   - Rank 0 appends every event to <sweep dir>/ledger.jsonl and writes the
 *     sweep outputs at the end. runner.resume=true skips jobs whose last
 *     ledger record is "done" and whose artifacts still match their checksums.
 *   - SIGTERM / SIGUSR1 stop the hand-out; in-flight bundles stop between
 *     batches and are recorded as "interrupted"; the exit code is 143.
 *
 * Only src/dist/ includes mpi.h. Everything here is callable in a build
 * without MPI (one rank). Not here: the scoring itself (src/autoquant/). */
#ifndef LMS_DIST_DIST_H
#define LMS_DIST_DIST_H

#include <stddef.h>
#include <time.h>

#include "core/status.h"

struct lms_plan;
struct lms_job;

/* Start-up, called first thing in main(): initialises MPI when the process was
 * started by a launcher (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE in the
 * environment, or LMSENS_MPI=1; LMSENS_MPI=0 never), sets the log rank, picks
 * the local GPU (CUDA_VISIBLE_DEVICES narrowed to local_rank % visible), checks
 * that the world size matches SLURM_NTASKS (srun without PMIx starts
 * singletons) and registers lms_dist_finalize with atexit(). Fatal start-up
 * errors exit with code 2. The SIGTERM/SIGUSR1 handlers are installed by
 * lms_dist_run_plan only (other subcommands keep the default actions). */
void lms_dist_init(int *argc, char ***argv);
void lms_dist_finalize(void);

int lms_dist_rank(void);  /* 0 without MPI */
int lms_dist_world(void); /* 1 without MPI */
/* Rank 0's clock at start-up, the same on every rank (for ${now:...}). */
time_t lms_dist_start_time(void);

/* 1 once SIGTERM or SIGUSR1 arrived (async-signal-safe flag). */
int lms_dist_interrupted(void);
/* Sets the flag as a signal would (tests). */
void lms_dist_request_stop(void);

/* What the caller (src/cli/run_plan.c) does around the work, so that the
 * runner knows nothing of the .lmsens/ files: prepare_sweep runs once on rank
 * 0 before anything else (multirun.yaml; may be NULL), prepare_job on a job's
 * group leader just before the job runs (the .lmsens/ YAML files, log lines).
 * A prepare_sweep failure stops every rank (exit code of its status); a
 * prepare_job failure fails that job. ctx is passed through. */
struct lms_dist_hooks {
	enum lms_status (*prepare_sweep)(const struct lms_plan *plan, void *ctx);
	enum lms_status (*prepare_job)(const struct lms_plan *plan, const struct lms_job *j,
				       void *ctx);
	void *ctx;
};

/* Runs every job of the plan as described above; called on every rank with
 * the same plan. plan and hooks are borrowed. Returns the process exit code,
 * the same on every rank: 0 all done; 1 some jobs failed (or a failure that
 * is not the user's); 2 every job failed with a user error (bad path, bad
 * config) or the plan is invalid (two jobs writing one directory); 143
 * interrupted (requeue and rerun with runner.resume=true). */
int lms_dist_run_plan(const struct lms_plan *plan, const struct lms_dist_hooks *hooks);

/* One job of a sweep summary. Strings borrowed. */
struct lms_sweep_entry {
	int num;	    /* job number in the summary (sweep.h5 /jobs/<num>) */
	const char *h5;	    /* the job's <scheme>_autoquant_state.h5, or NULL (failed) */
	const char *status; /* "done", "failed", "interrupted", ... */
	const char *error;  /* failure message or NULL */
	const char *label;  /* overrides text, e.g. "quant_pair=wfp8_afp8 dataset.size=small" */
};

/* Writes <dir>/sweep.h5 (each done job's statistics copied under /jobs/<num>,
 * with attributes num, status, label and source), <dir>/sweep-summary.md (pair ×
 * size grid of achieved bits and total score, a per-job table with the most
 * sensitive groups, the failures) and <dir>/sweep-heatmap.svg (group × job,
 * log10 of each group's score at the job's most aggressive format). All
 * atomic. Entries borrowed. */
LMS_NODISCARD enum lms_status lms_sweep_write(const struct lms_sweep_entry *e, size_t n,
					      const char *dir);

/* FNV-1a 64 of a file's bytes, as 16 lower-case hex digits in hex[17]. */
LMS_NODISCARD enum lms_status lms_dist_file_hash(const char *path, char hex[17]);

#endif
