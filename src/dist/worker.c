/* worker.c — one bundle on one rank of a group, and the one-rank runner
 * (lms_dist_run_plan without MPI, or with a world of one).
 *
 * The group leader prepares each job (run_plan.c writes the .lmsens/ YAML files),
 * every rank opens the bundle with the same job list (the collective part:
 * load, calibrate, score with reductions), and the leader finishes each job
 * (search + the statistics file <scheme>_autoquant_state.h5, atomic) and
 * reports; rank 0 then writes the manifest and reports from that file
 * (sched.c). A job whose
 * preparation failed still takes part in the shared pass (so the group's
 * collective calls match) but is not finished.
 * Not here: the ledger (sched.c) and the transport (runner_mpi.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "dist/dist_internal.h"

static void capture(struct dist_result *r, enum lms_status st)
{
	r->st = st;
	snprintf(r->error, sizeof r->error, "%s",
		 lms_error_message()[0] ? lms_error_message() : lms_status_name(st));
	snprintf(r->hint, sizeof r->hint, "%s", lms_error_hint() ? lms_error_hint() : "");
}

void lms_dist_work(const struct lms_plan *plan, const int *nums, int n,
		   const struct lms_aq_dist *dist, const struct lms_dist_hooks *hooks,
		   struct dist_result *res)
{
	int leader = !dist || dist->rank == 0;
	struct lms_pipeline_job *jobs = calloc((size_t)n + 1, sizeof *jobs);
	LMS_ASSERT(jobs != NULL);
	for (int i = 0; i < n; i++) {
		const struct lms_job *j = &plan->jobs[nums[i]];
		jobs[i] = (struct lms_pipeline_job){plan, j->cfg, j->output_dir, j->num};
		if (!leader)
			continue;
		memset(&res[i], 0, sizeof res[i]);
		res[i].num = nums[i];
		lms_error_clear();
		enum lms_status st =
		    hooks && hooks->prepare_job ? hooks->prepare_job(plan, j, hooks->ctx) : LMS_OK;
		if (st != LMS_OK) {
			lms_log_last_error();
			capture(&res[i], st);
		}
	}
	if (n > 1 && leader) {
		char line[1024] = "";
		for (int i = 0; i < n; i++) {
			size_t l = strlen(line);
			snprintf(line + l, sizeof line - l, "%s#%d", i ? ", " : "", nums[i]);
		}
		LMS_INFO("bundle: jobs %s share one calibration and scoring pass", line);
	}
	struct lms_pipeline *p = NULL;
	lms_error_clear();
	enum lms_status st =
	    lms_dist_interrupted()
		? lms_fail(LMS_ERR_INTERRUPTED, NULL, "stopped before the bundle started")
		: lms_pipeline_open_dist(jobs, (size_t)n, dist, &p);
	struct dist_result shared;
	if (st != LMS_OK) {
		capture(&shared, st);
		if (st != LMS_ERR_INTERRUPTED)
			lms_log_last_error();
	}
	for (int i = 0; leader && i < n; i++) {
		if (res[i].st != LMS_OK)
			continue;
		if (st != LMS_OK) {
			res[i].st = shared.st;
			memcpy(res[i].error, shared.error, sizeof res[i].error);
			memcpy(res[i].hint, shared.hint, sizeof res[i].hint);
			continue;
		}
		lms_error_clear();
		lms_dist_h5_lock(); /* rank 0's coordinator thread may be rendering reports */
		enum lms_status js = lms_pipeline_finish(p, &jobs[i]);
		lms_dist_h5_unlock();
		if (js != LMS_OK) {
			lms_log_last_error();
			capture(&res[i], js);
		}
	}
	lms_pipeline_close(p);
	free(jobs);
}

static enum lms_status check_dirs(const struct lms_plan *plan)
{
	for (size_t a = 0; a < plan->n_jobs; a++)
		for (size_t b = a + 1; b < plan->n_jobs; b++)
			if (strcmp(plan->jobs[a].output_dir, plan->jobs[b].output_dir) == 0)
				return lms_fail(
				    LMS_ERR_CONFIG,
				    "make the output directory depend on the swept keys (e.g. "
				    "output_layout=tmp, or runner.output_dir with "
				    "${hydra.job.num})",
				    "jobs #%zu and #%zu would both write %s", a, b,
				    plan->jobs[a].output_dir);
	return LMS_OK;
}

static int local_interrupted(void *ctx)
{
	(void)ctx;
	return lms_dist_interrupted();
}

static int run_local(const struct lms_plan *plan, const struct lms_dist_hooks *hooks)
{
	/* One rank, no reductions; the pipeline still polls the stop flag
	 * between batches so that SIGTERM/SIGUSR1 end a bundle in flight. */
	const struct lms_aq_dist local = {.rank = 0, .world = 1, .interrupted = local_interrupted};
	int rpj = lms_dist_ranks_per_job(plan);
	if (rpj > 1)
		LMS_WARN("runner.ranks_per_job=%d, but this is one rank: each job runs on it alone",
			 rpj);
	struct lms_sched *s = NULL;
	enum lms_status st = lms_sched_init(plan, 1, 1, hooks, &s);
	if (st != LMS_OK) {
		lms_log_last_error();
		return lms_status_exit_code(st);
	}
	int *nums = calloc(plan->n_jobs + 1, sizeof *nums);
	struct dist_result *res = calloc(plan->n_jobs + 1, sizeof *res);
	LMS_ASSERT(nums && res);
	lms_pipeline_keep_loaded(1); /* consecutive bundles of one checkpoint load it once */
	lms_pipeline_stats_only(1);  /* the statistics file; sched.c writes the reports */
	int n;
	while ((n = lms_sched_next(s, 0, lms_dist_host(), nums, (int)plan->n_jobs)) > 0) {
		double t0 = lms_dist_wall();
		lms_dist_work(plan, nums, n, &local, hooks, res);
		lms_sched_report(s, 0, lms_dist_host(), t0, lms_dist_wall(), res, n);
	}
	lms_pipeline_keep_loaded(0);
	lms_pipeline_stats_only(0);
	int rc = lms_sched_finish(s);
	lms_sched_free(s);
	free(nums);
	free(res);
	return rc;
}

int lms_dist_run_plan(const struct lms_plan *plan, const struct lms_dist_hooks *hooks)
{
	if (plan->n_jobs == 0)
		return 0;
	/* only the job runner turns SIGTERM/SIGUSR1 into a stop request; the
	 * other subcommands keep the default actions */
	lms_dist_install_signals();
	enum lms_status st = check_dirs(plan);
	const char *step_tasks = getenv("SLURM_STEP_NUM_TASKS");
	if (st == LMS_OK && lms_dist_world() == 1 && step_tasks && atoi(step_tasks) > 1)
		st = lms_fail(
		    LMS_ERR_USAGE,
		    "launch with 'srun --mpi=pmix' (see 'srun --mpi=list') or mpirun, or run "
		    "one task (srun -n 1)",
		    "this is one of %s tasks of a Slurm step, but MPI is not running: each task "
		    "would run the whole sweep on its own",
		    step_tasks);
	if (st != LMS_OK) {
		if (lms_dist_rank() == 0)
			lms_log_last_error();
		return lms_status_exit_code(st);
	}
#ifdef LMS_HAVE_MPI
	if (lms_dist_world() > 1)
		return lms_dist_run_mpi(plan, hooks);
#endif
	return run_local(plan, hooks);
}
