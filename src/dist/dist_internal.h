/* dist_internal.h — shared by the files of src/dist/ (no MPI types here):
 * the scheduler with its ledger (sched.c, ledger.c), the bundle worker
 * (worker.c), the one-rank runner (worker.c) and the MPI runner
 * (runner_mpi.c, dist_mpi.c) with its NCCL reductions (reduce_nccl.c).
 *
 * Invariants: only rank 0 owns a struct lms_sched; its functions lock an
 * internal mutex, so the coordinator thread and rank 0's own worker may call
 * them concurrently. Job numbers are hydra.job.num (plan order). */
#ifndef LMS_DIST_DIST_INTERNAL_H
#define LMS_DIST_DIST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "autoquant/pipeline.h"
#include "dist/dist.h"

/* One job's outcome, reported by its group leader. */
struct dist_result {
	int num;
	enum lms_status st;
	char error[1024];
	char hint[256];
};

/* ---- sched.c ---- */
struct lms_sched;
/* Runs hooks->prepare_sweep, reads runner.resume / the ledger, plans the bundles (longest first)
 * and appends the sweep_start record. *out is new (lms_sched_free). */
LMS_NODISCARD enum lms_status lms_sched_init(const struct lms_plan *plan, int world,
					     int ranks_per_job, const struct lms_dist_hooks *hooks,
					     struct lms_sched **out);
/* The next bundle for a group led by `leader` (world rank) on `host`: writes
 * its job numbers to nums (cap >= n_jobs) and returns how many; 0 when there
 * is no more work or a stop was requested. Appends "start" records. */
int lms_sched_next(struct lms_sched *s, int leader, const char *host, int *nums, int cap);
/* Records a bundle's outcome (one "done"/"failed"/"interrupted" record per
 * job). For each job that succeeded it first writes the job's manifest and
 * per-layer reports from its statistics file (on rank 0, whoever led the
 * group; not for report-only jobs, whose leader rebuilt them); a failure
 * there fails the job. Done records carry the artifact checksums. */
void lms_sched_report(struct lms_sched *s, int leader, const char *host, double t0, double t1,
		      const struct dist_result *r, int n);
/* Logs the summary, writes the sweep outputs (multirun) and the sweep_end
 * record; returns the process exit code (dist.h). */
int lms_sched_finish(struct lms_sched *s);
void lms_sched_free(struct lms_sched *s);

/* ---- ledger.c ---- */
/* FNV-1a 64 of bytes, continuing from h (start with LMS_FNV_INIT). */
#define LMS_FNV_INIT 0xcbf29ce484222325ULL
uint64_t lms_fnv1a64(uint64_t h, const void *p, size_t n);
/* Appends one JSON object as one line (one write(2), O_APPEND, fsync).
 * rec is borrowed. */
LMS_NODISCARD enum lms_status lms_ledger_append(const char *path, const void *rec);
/* The last terminal record ("done", "failed", "interrupted") of each job
 * 0..n_jobs-1 in the ledger at path, as new json_t references in last[]
 * (NULL when none; json_decref each). A missing ledger is no record; a torn
 * last line (killed mid-write) is ignored with a warning. */
LMS_NODISCARD enum lms_status lms_ledger_last(const char *path, size_t n_jobs, void **last);

/* ---- worker.c ---- */
/* Runs one bundle (job numbers nums[0..n)) on this rank: the group leader
 * (dist NULL or dist->rank 0) prepares each job, every rank of the group
 * opens the bundle (collective), the leader finishes each job and fills
 * res[0..n). */
void lms_dist_work(const struct lms_plan *plan, const int *nums, int n,
		   const struct lms_aq_dist *dist, const struct lms_dist_hooks *hooks,
		   struct dist_result *res);
/* Monotonic seconds and wall-clock seconds since the epoch. */
double lms_dist_now(void);
double lms_dist_wall(void);
/* runtime.c: SIGTERM and SIGUSR1 set the stop flag (lms_dist_interrupted). */
void lms_dist_install_signals(void);
/* runtime.c: one process-wide lock around the runner's HDF5 work (a job's
 * finish on its leader, rank 0's report rendering): rank 0's coordinator
 * thread renders reports from statistics files while its main thread may be
 * writing its own, and a serial HDF5 library need not be thread-safe. */
void lms_dist_h5_lock(void);
void lms_dist_h5_unlock(void);
/* This host's name (static buffer). */
const char *lms_dist_host(void);
/* runner.ranks_per_job of the plan (default 1). */
int lms_dist_ranks_per_job(const struct lms_plan *plan);

/* ---- reduce_nccl.c (LMS_HAVE_NCCL only) ---- */
/* A GPU group's NCCL communicator. lms_nccl_open is collective over the
 * group's MPI communicator (mpi_comm: an MPI_Comm *, borrowed): LMS_OK with
 * *out set on every rank, or the same failure on every rank (no device, two
 * ranks on one GPU, NCCL init failed) with *out NULL, and the caller then
 * reduces over MPI. The reductions have the signature of struct lms_aq_dist
 * (ctx = the struct lms_nccl *) and work on host arrays through a device
 * buffer. lms_nccl_close frees (NULL-safe). */
struct lms_nccl;
LMS_NODISCARD enum lms_status lms_nccl_open(void *mpi_comm, struct lms_nccl **out);
LMS_NODISCARD enum lms_status lms_nccl_max_f32(void *ctx, float *buf, size_t n);
LMS_NODISCARD enum lms_status lms_nccl_sum_f64(void *ctx, double *buf, size_t n);
/* The same, in the background: lms_nccl_start (collective over the group:
 * it duplicates mpi_comm) starts lms_nccl_open on a thread when threaded
 * (needs MPI_THREAD_MULTIPLE), else defers it; lms_nccl_wait (collective
 * again: every rank of the group calls it once) joins the thread, or opens
 * in line, and gives what lms_nccl_open would (LMS_OK with *out, or the same
 * failure on every rank, recorded on the calling thread). It frees p. The
 * communicator logs at close how long the open took and how long the wait
 * blocked. */
struct lms_nccl_pending;
void lms_nccl_start(void *mpi_comm, int threaded, struct lms_nccl_pending **out);
LMS_NODISCARD enum lms_status lms_nccl_wait(struct lms_nccl_pending *p, struct lms_nccl **out);
void lms_nccl_version(char *out, size_t cap);
void lms_nccl_close(struct lms_nccl *g);

/* ---- runner_mpi.c (LMS_HAVE_MPI only) ---- */
int lms_dist_run_mpi(const struct lms_plan *plan, const struct lms_dist_hooks *hooks);

#endif
