/* runner_mpi.c — the sweep over MPI ranks (dist.h, lms_dist_run_plan with a
 * world > 1): worker groups, rank 0's coordinator, the hand-out protocol and
 * the data-parallel reductions.
 *
 * Groups: the working ranks (all, or 1..N-1 when rank 0 only coordinates:
 * without MPI_THREAD_MULTIPLE, or with LMSENS_COORDINATOR=dedicated)
 * are cut into consecutive blocks of runner.ranks_per_job; each block gets
 * its own communicator (MPI_Comm_split) and its lowest rank leads it.
 * Protocol on a private duplicate of MPI_COMM_WORLD:
 *   leader → 0  TAG_REQ   JSON text: {"type":"ready"} or {"type":"result",
 *                          "jobs":[{num, st, error, hint}], t0, t1, host}
 *   0 → leader  TAG_WORK  int[1 + n]: n job numbers of one bundle, n = 0: stop
 * and the leader broadcasts the same int array to its group. Rank 0's own
 * group asks the scheduler directly; a coordinator thread answers the others
 * (MPI_THREAD_MULTIPLE). Every wait polls MPI_Test with a sleep that grows
 * from 50 µs to 10 ms instead of spinning inside a blocking call, so idle
 * ranks leave the cores to the working ones (CPU ranks share a node).
 * Reductions (struct lms_aq_dist): MPI_Iallreduce in place on host arrays,
 * MPI_MAX on float, MPI_SUM on double, in chunks below INT_MAX elements; a
 * group whose bundle runs on the GPU reduces over NCCL instead (one ncclComm
 * per group, reduce_nccl.c) when every rank has its own GPU, else over MPI
 * with a warning (LMSENS_REDUCE=mpi forces MPI). The ncclComm is set up in
 * the background from the moment the group exists when the plan has a GPU
 * job (under MPI_THREAD_MULTIPLE), and waited for at the group's first
 * NCCL reduction, so its set-up overlaps the model load and calibration;
 * sums of at most SMALL_SUM elements (the phase agreements, token counts)
 * always go over MPI: they are latency-bound, and they come before the
 * calibration's amax, so they would otherwise wait for the communicator.
 * A rank that dies ends the whole MPI job (MPI_ERRORS_ARE_FATAL, mpirun and
 * srun kill the step); the ledger, written with one fsync'ed append per
 * event, stays intact and runner.resume=true continues from it.
 * Not here: scheduling decisions (sched.c), the bundle work (worker.c). */
#include <jansson.h>
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/log.h"
#include "dist/dist_internal.h"

int lms_dist_thread_multiple(void);

enum { TAG_REQ = 101, TAG_WORK = 102, SMALL_SUM = 64 };

/* Sleeps *us microseconds, then doubles it up to 10 ms: a wait that lasts
 * (a rank idle until the sweep ends) costs ~100 wake-ups a second, a short
 * one (a hand-out, a reduction) adds at most a few hundred microseconds. */
static void nap(long *us)
{
	struct timespec ts = {0, *us * 1000};
	nanosleep(&ts, NULL);
	*us = *us < 10000 ? 2 * *us : 10000;
}

static void wait_req(MPI_Request *r)
{
	int done = 0;
	long us = 50;
	for (;;) {
		MPI_Test(r, &done, MPI_STATUS_IGNORE);
		if (done)
			return;
		nap(&us);
	}
}

/* ---- reductions ------------------------------------------------------------ */

/* The MPI reductions' context: the group's communicator and what they cost
 * (logged by the group leader at the end, like reduce_nccl.c's). */
struct mpi_red {
	MPI_Comm comm;
	double seconds;
	long long calls, bytes;
};

static enum lms_status allreduce(struct mpi_red *g, void *buf, size_t n, MPI_Datatype t, size_t esz,
				 MPI_Op op)
{
	char *p = buf;
	MPI_Comm comm = g->comm;
	double t0 = lms_dist_now();
	g->calls++;
	g->bytes += (long long)(n * esz);
	while (n > 0) {
		int m = n > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)n;
		MPI_Request r;
		int rc = MPI_Iallreduce(MPI_IN_PLACE, p, m, t, op, comm, &r);
		if (rc != MPI_SUCCESS)
			return lms_fail(LMS_ERR_LIBRARY, NULL, "MPI_Iallreduce failed (%d)", rc);
		wait_req(&r);
		p += (size_t)m * esz;
		n -= (size_t)m;
	}
	g->seconds += lms_dist_now() - t0;
	return LMS_OK;
}

static enum lms_status red_max_f32(void *ctx, float *buf, size_t n)
{
	return allreduce(ctx, buf, n, MPI_FLOAT, sizeof(float), MPI_MAX);
}

static enum lms_status red_sum_f64(void *ctx, double *buf, size_t n)
{
	return allreduce(ctx, buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM);
}

static int red_interrupted(void *ctx)
{
	(void)ctx;
	return lms_dist_interrupted();
}

/* ---- the runner's state ------------------------------------------------------ */

struct run {
	const struct lms_plan *plan;
	const struct lms_dist_hooks *hooks;
	MPI_Comm coord; /* dup of WORLD for the protocol */
	MPI_Comm grp;	/* this rank's group, or MPI_COMM_NULL */
	int rank, world, grp_rank, grp_size, cap;
	struct mpi_red red;		       /* the MPI reductions' context */
	struct lms_aq_dist dist;	       /* reductions over MPI (host arrays) */
	struct lms_aq_dist dist_nccl;	       /* over NCCL (GPU groups), once nccl is open */
	struct lms_aq_dist solo;	       /* a group of one: no reductions, the stop flag */
	struct lms_nccl *nccl;		       /* this group's NCCL communicator, or NULL */
	struct lms_nccl_pending *nccl_pending; /* being set up (lms_nccl_start), or NULL */
	int nccl_state;			       /* 0 not resolved yet, 1 open, -1 unavailable */
	struct lms_sched *s;		       /* rank 0 only */
	int remote;			       /* rank 0: leaders other than itself */
	int *work;			       /* (1 + cap) */
	struct dist_result *res;
};

static void group_bcast(struct run *r)
{
	if (r->grp_size <= 1)
		return;
	MPI_Request q;
	MPI_Ibcast(r->work, r->cap + 1, MPI_INT, 0, r->grp, &q);
	wait_req(&q);
}

/* LMSENS_REDUCE: "mpi" (always MPI), "nccl" or "auto"/unset (NCCL for
 * jobs that do not run on runner.backend=cpu, when the group can use it). */
static int job_wants_nccl(const struct lms_job *j)
{
	const char *e = getenv("LMSENS_REDUCE");
	if (e && strcmp(e, "mpi") == 0)
		return 0;
	const struct lms_cfg *b = lms_cfg_find(j->cfg, "runner.backend");
	return !(b && b->type == LMS_CFG_STR && strcmp(b->s, "cpu") == 0);
}

#ifdef LMS_HAVE_NCCL
static int plan_wants_nccl(const struct lms_plan *plan)
{
	for (size_t k = 0; k < plan->n_jobs; k++)
		if (job_wants_nccl(&plan->jobs[k]))
			return 1;
	return 0;
}

/* The group's communicator, resolved on its first NCCL reduction: every rank
 * of the group gets here at the same reduction of the same bundle, so the
 * collective wait (or the in-line open) matches. */
static int nccl_ready(struct run *r)
{
	if (r->nccl_state != 0)
		return r->nccl_state > 0;
	if (!r->nccl_pending)
		lms_nccl_start(&r->grp, 0, &r->nccl_pending);
	enum lms_status st = lms_nccl_wait(r->nccl_pending, &r->nccl);
	r->nccl_pending = NULL;
	r->nccl_state = st == LMS_OK ? 1 : -1;
	char v[32];
	lms_nccl_version(v, sizeof v);
	if (st == LMS_OK && r->grp_rank == 0)
		LMS_INFO("group of %d led by rank %d: reductions over NCCL %s on device "
			 "buffers (NCCL_NVLS_ENABLE=%s)",
			 r->grp_size, r->rank, v, getenv("NCCL_NVLS_ENABLE"));
	if (st != LMS_OK && r->grp_rank == 0)
		LMS_WARN("group of %d led by rank %d: reductions over MPI, not NCCL: %s",
			 r->grp_size, r->rank, lms_error_message());
	lms_error_clear();
	return r->nccl_state > 0;
}

static enum lms_status nccl_max_f32(void *ctx, float *buf, size_t n)
{
	struct run *r = ctx;
	return nccl_ready(r) ? lms_nccl_max_f32(r->nccl, buf, n) : red_max_f32(&r->red, buf, n);
}

static enum lms_status nccl_sum_f64(void *ctx, double *buf, size_t n)
{
	struct run *r = ctx;
	if (n <= SMALL_SUM) /* the same n on every rank: the same choice */
		return red_sum_f64(&r->red, buf, n);
	return nccl_ready(r) ? lms_nccl_sum_f64(r->nccl, buf, n) : red_sum_f64(&r->red, buf, n);
}
#endif

/* The reductions for the bundle in r->work: none for a group of one (but
 * the stop flag is polled between batches, so a bundle in flight stops);
 * NCCL for a GPU bundle when every rank of the group has its own GPU (the
 * communicator resolved at the first reduction that needs it); MPI
 * otherwise. */
static const struct lms_aq_dist *group_dist(struct run *r)
{
	if (r->grp_size <= 1)
		return &r->solo;
	if (!job_wants_nccl(&r->plan->jobs[r->work[1]]))
		return &r->dist;
#ifdef LMS_HAVE_NCCL
	if (r->nccl_state >= 0)
		return &r->dist_nccl;
#else
	if (r->nccl_state == 0 && r->grp_rank == 0 && getenv("LMSENS_REDUCE") &&
	    strcmp(getenv("LMSENS_REDUCE"), "nccl") == 0)
		LMS_WARN("LMSENS_REDUCE=nccl, but this lmsens was built without NCCL: reductions "
			 "over MPI");
	r->nccl_state = -1;
#endif
	return &r->dist;
}

static void run_work(struct run *r)
{
	lms_dist_work(r->plan, r->work + 1, r->work[0], group_dist(r), r->hooks, r->res);
}

/* ---- coordinator (rank 0) -------------------------------------------------- */

static void handle_result(struct run *r, int src, json_t *m)
{
	json_t *jobs = json_object_get(m, "jobs");
	size_t n = json_array_size(jobs), i;
	json_t *v;
	if (n == 0)
		return;
	struct dist_result *res = calloc(n, sizeof *res);
	LMS_ASSERT(res != NULL);
	json_array_foreach(jobs, i, v)
	{
		res[i].num = (int)json_integer_value(json_object_get(v, "num"));
		res[i].st = (enum lms_status)json_integer_value(json_object_get(v, "st"));
		const char *e = json_string_value(json_object_get(v, "error"));
		const char *h = json_string_value(json_object_get(v, "hint"));
		snprintf(res[i].error, sizeof res[i].error, "%s", e ? e : "");
		snprintf(res[i].hint, sizeof res[i].hint, "%s", h ? h : "");
	}
	const char *host = json_string_value(json_object_get(m, "host"));
	lms_sched_report(r->s, src, host ? host : "?", json_real_value(json_object_get(m, "t0")),
			 json_real_value(json_object_get(m, "t1")), res, (int)n);
	free(res);
}

static void *coordinator(void *arg)
{
	struct run *r = arg;
	int *w = calloc((size_t)r->cap + 1, sizeof *w);
	LMS_ASSERT(w != NULL);
	long us = 50;
	for (int active = r->remote; active > 0;) {
		int flag = 0;
		MPI_Status st;
		MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, r->coord, &flag, &st);
		if (!flag) {
			nap(&us);
			continue;
		}
		us = 50;
		int len = 0, src = st.MPI_SOURCE;
		MPI_Get_count(&st, MPI_CHAR, &len);
		char *buf = calloc((size_t)len + 1, 1);
		LMS_ASSERT(buf != NULL);
		MPI_Recv(buf, len, MPI_CHAR, src, TAG_REQ, r->coord, MPI_STATUS_IGNORE);
		json_t *m = json_loads(buf, 0, NULL);
		free(buf);
		const char *type = json_string_value(json_object_get(m, "type"));
		if (type && strcmp(type, "result") == 0)
			handle_result(r, src, m);
		const char *host = json_string_value(json_object_get(m, "host"));
		w[0] = lms_sched_next(r->s, src, host ? host : "?", w + 1, r->cap);
		json_decref(m);
		MPI_Request q;
		MPI_Isend(w, w[0] + 1, MPI_INT, src, TAG_WORK, r->coord, &q);
		wait_req(&q);
		if (w[0] == 0)
			active--;
	}
	free(w);
	return NULL;
}

/* Rank 0's own group: asks the scheduler directly. */
static void local_leader(struct run *r)
{
	for (;;) {
		r->work[0] = lms_sched_next(r->s, 0, lms_dist_host(), r->work + 1, r->cap);
		group_bcast(r);
		if (r->work[0] == 0)
			return;
		double t0 = lms_dist_wall();
		run_work(r);
		lms_sched_report(r->s, 0, lms_dist_host(), t0, lms_dist_wall(), r->res, r->work[0]);
	}
}

/* ---- other leaders and members ------------------------------------------------ */

static char *result_msg(const struct run *r, double t0, double t1)
{
	json_t *m = json_object(), *jobs = json_array();
	json_object_set_new(m, "type", json_string(t0 < 0 ? "ready" : "result"));
	json_object_set_new(m, "host", json_string(lms_dist_host()));
	json_object_set_new(m, "t0", json_real(t0));
	json_object_set_new(m, "t1", json_real(t1));
	for (int i = 0; t0 >= 0 && i < r->work[0]; i++) {
		json_t *v = json_object();
		json_object_set_new(v, "num", json_integer(r->res[i].num));
		json_object_set_new(v, "st", json_integer(r->res[i].st));
		json_object_set_new(v, "error", json_string(r->res[i].error));
		json_object_set_new(v, "hint", json_string(r->res[i].hint));
		json_array_append_new(jobs, v);
	}
	json_object_set_new(m, "jobs", jobs);
	char *text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	LMS_ASSERT(text != NULL);
	return text;
}

static void remote_leader(struct run *r)
{
	double t0 = -1.0, t1 = -1.0;
	for (;;) {
		char *msg = result_msg(r, t0, t1);
		MPI_Request q;
		MPI_Isend(msg, (int)strlen(msg), MPI_CHAR, 0, TAG_REQ, r->coord, &q);
		wait_req(&q);
		free(msg);
		MPI_Irecv(r->work, r->cap + 1, MPI_INT, 0, TAG_WORK, r->coord, &q);
		wait_req(&q);
		group_bcast(r);
		if (r->work[0] == 0)
			return;
		t0 = lms_dist_wall();
		run_work(r);
		t1 = lms_dist_wall();
	}
}

static void member(struct run *r)
{
	for (;;) {
		group_bcast(r);
		if (r->work[0] == 0)
			return;
		run_work(r);
	}
}

/* ---- entry ------------------------------------------------------------------ */

int lms_dist_run_mpi(const struct lms_plan *plan, const struct lms_dist_hooks *hooks)
{
	struct run r;
	memset(&r, 0, sizeof r);
	r.plan = plan;
	r.hooks = hooks;
	r.cap = (int)plan->n_jobs;
	MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &r.world);
	MPI_Comm_dup(MPI_COMM_WORLD, &r.coord);
	/* does rank 0 work? Not without MPI_THREAD_MULTIPLE, nor when asked to
	 * only coordinate (LMSENS_COORDINATOR=dedicated: large sweeps, tests) */
	const char *cm = getenv("LMSENS_COORDINATOR");
	int dedicated = cm && strcmp(cm, "dedicated") == 0;
	int first = lms_dist_thread_multiple() && !dedicated ? 0 : 1;
	int g = lms_dist_ranks_per_job(plan);
	if (g > r.world - first)
		g = r.world - first;
	int color = r.rank >= first ? (r.rank - first) / g : MPI_UNDEFINED;
	MPI_Comm_split(MPI_COMM_WORLD, color, r.rank, &r.grp);
	if (r.grp != MPI_COMM_NULL) {
		MPI_Comm_rank(r.grp, &r.grp_rank);
		MPI_Comm_size(r.grp, &r.grp_size);
	}
	r.red.comm = r.grp;
	r.dist = (struct lms_aq_dist){r.grp_rank,  r.grp_size,	&r.red,
				      red_max_f32, red_sum_f64, red_interrupted};
	r.solo = (struct lms_aq_dist){.rank = 0, .world = 1, .interrupted = red_interrupted};
#ifdef LMS_HAVE_NCCL
	r.dist_nccl = (struct lms_aq_dist){r.grp_rank,	 r.grp_size,   &r,
					   nccl_max_f32, nccl_sum_f64, red_interrupted};
	/* the communicator's set-up starts now, in the background, and overlaps
	 * the planning, the model load and the calibration (reduce_nccl.c) */
	if (r.grp != MPI_COMM_NULL && r.grp_size > 1 && plan_wants_nccl(plan)) {
		/* LMSENS_NCCL_BACKGROUND=0: in line at the first reduction (the
		 * same on every rank: one environment for the whole launch) */
		const char *bg = getenv("LMSENS_NCCL_BACKGROUND");
		int threaded = lms_dist_thread_multiple() && !(bg && strcmp(bg, "0") == 0);
		lms_nccl_start(&r.grp, threaded, &r.nccl_pending);
	}
#endif
	r.work = calloc((size_t)r.cap + 1, sizeof *r.work);
	r.res = calloc((size_t)r.cap + 1, sizeof *r.res);
	LMS_ASSERT(r.work && r.res);
	for (int k = first; k < r.world; k += g)
		r.remote += k != 0;

	/* rank 0 plans; every rank learns whether that worked */
	int init_rc = 0;
	if (r.rank == 0) {
		if (!first)
			LMS_INFO("%d ranks, groups of %d; rank 0 coordinates and works "
				 "(MPI_THREAD_MULTIPLE)",
				 r.world, g);
		else if (dedicated)
			LMS_INFO(
			    "%d ranks, groups of %d; rank 0 only coordinates (LMSENS_COORDINATOR)",
			    r.world, g);
		else
			LMS_WARN(
			    "the MPI library lacks MPI_THREAD_MULTIPLE: rank 0 only coordinates");
		/* synthetic checkpoints are created here, once, before any rank
		 * could race to write one; a failure is the job's to report */
		for (size_t k = 0; k < plan->n_jobs; k++)
			if (lms_pipeline_ensure_model(plan->jobs[k].cfg) != LMS_OK)
				lms_error_clear();
		enum lms_status st = lms_sched_init(plan, r.world, g, hooks, &r.s);
		if (st != LMS_OK) {
			lms_log_last_error();
			init_rc = lms_status_exit_code(st);
		}
	}
	MPI_Request q;
	MPI_Ibcast(&init_rc, 1, MPI_INT, 0, MPI_COMM_WORLD, &q);
	wait_req(&q);
	int rc = init_rc;
	lms_pipeline_keep_loaded(1); /* consecutive bundles of one checkpoint load it once */
	lms_pipeline_stats_only(1);  /* leaders write statistics; rank 0 the reports */
	if (init_rc == 0) {
		if (r.rank == 0) {
			pthread_t th;
			int threaded = !first && r.remote > 0;
			if (threaded)
				LMS_ASSERT(pthread_create(&th, NULL, coordinator, &r) == 0);
			if (first)
				coordinator(&r);
			else
				local_leader(&r);
			if (threaded)
				pthread_join(th, NULL);
			rc = lms_sched_finish(r.s);
		} else if (r.grp != MPI_COMM_NULL && r.grp_rank == 0) {
			remote_leader(&r);
		} else if (r.grp != MPI_COMM_NULL) {
			member(&r);
		}
		MPI_Ibcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD, &q);
		wait_req(&q);
	}
	lms_pipeline_keep_loaded(0);
	lms_pipeline_stats_only(0);
	if (r.red.calls > 0 && r.grp_rank == 0)
		LMS_INFO("MPI reductions of the group led by rank %d: %lld, %.2f MB, %.3f s",
			 r.rank, r.red.calls, (double)r.red.bytes / 1e6, r.red.seconds);
#ifdef LMS_HAVE_NCCL
	if (r.nccl_pending && lms_nccl_wait(r.nccl_pending, &r.nccl) != LMS_OK)
		lms_error_clear(); /* never needed: no GPU bundle reached a reduction */
	lms_nccl_close(r.nccl);
#endif
	lms_sched_free(r.s);
	if (r.grp != MPI_COMM_NULL)
		MPI_Comm_free(&r.grp);
	MPI_Comm_free(&r.coord);
	free(r.work);
	free(r.res);
	return rc;
}
