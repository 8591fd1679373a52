/* sched.c — rank 0's scheduler: bundles of the plan, longest first, handed
 * out on request; the ledger records; resume; the end-of-sweep summary.
 *
 * Invariants:
 *   - a job is in at most one bundle; bundles are formed from the jobs that
 *     still have to run (after the resume filter), in plan order, with
 *     lms_pipeline_same_bundle against the bundle's first job (every job
 *     alone with LMSENS_BUNDLES=off);
 *   - bundle order: estimated cost descending (calibration samples +
 *     score_size × (2 + jobs in the bundle): one forward per calibration
 *     sample, a forward+backward and one replay per pair per scoring
 *     sample), ties by job number, so the longest work starts first;
 *   - after a stop request (lms_dist_interrupted) nothing more is handed out;
 *   - a job is "done" in the ledger only after its leader reported success
 *     (its statistics file renamed into place) and rank 0 wrote the job's
 *     manifest and reports from that file (publish); the record carries the
 *     FNV-1a 64 checksums of all of them, the hash of the job's resolved
 *     config, and who wrote what (stats_rank, reports_rank);
 *   - sweep_end is appended before the sweep outputs are written.
 * Every public function locks s->mu (the coordinator thread and rank 0's
 * worker share the scheduler). One run per sweep directory: rank 0 holds an
 * flock on <dir>/.lmsens.lock from init to free; a second run is refused.
 * Not here: transport (runner*.c), the work itself (worker.c). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "autoquant/pipeline.h"
#include "config/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "dist/dist_internal.h"
#include "io/h5stats.h"
#include "report/report.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

enum job_state { J_PENDING, J_RUNNING, J_DONE, J_SKIPPED, J_FAILED, J_INTERRUPTED };
static const char *const g_state_name[] = {"pending", "running", "done",
					   "done",    "failed",	 "interrupted"};

struct sched_job {
	enum job_state state;
	enum lms_status st;
	char hash[17]; /* FNV-1a 64 of the resolved config's YAML */
	char *label;   /* the job's overrides, space-separated */
	char *error;
	int bundle;
};

struct sched_bundle {
	int n, *nums;
	double cost;
};

struct lms_sched {
	const struct lms_plan *plan;
	pthread_mutex_t mu;
	char ledger[4096];
	char out_dir[4096]; /* sweep dir (multirun) or job 0's run dir */
	int resume, world, ranks_per_job, restart_count;
	size_t n_jobs;
	struct sched_job *jobs;
	int nb, next;
	struct sched_bundle *b;
	double t0;
	int lock_fd; /* flock'ed <out_dir>/.lmsens.lock */
};

static void append(struct lms_sched *s, json_t *rec)
{
	/* The ledger is the sweep's memory: a failure to write it is logged
	 * loudly but does not stop the work already paid for. */
	if (lms_ledger_append(s->ledger, rec) != LMS_OK) {
		LMS_ERROR("ledger:");
		lms_log_last_error();
		lms_error_clear();
	}
	json_decref(rec);
}

static json_t *record(struct lms_sched *s, const char *event, int num)
{
	json_t *r = json_object();
	json_object_set_new(r, "event", json_string(event));
	if (num >= 0) {
		struct sched_job *j = &s->jobs[num];
		json_object_set_new(r, "job", json_integer(num));
		json_object_set_new(r, "bundle", json_integer(j->bundle));
		json_object_set_new(r, "overrides", json_string(j->label));
		json_object_set_new(r, "config_hash", json_string(j->hash));
		json_object_set_new(r, "output_dir", json_string(s->plan->jobs[num].output_dir));
	}
	json_object_set_new(r, "time", json_real(lms_dist_wall()));
	json_object_set_new(r, "attempt", json_integer(s->restart_count));
	return r;
}

#define N_ARTIFACTS 6

/* The names (relative to the job directory) of the artifacts a job writes;
 * 0 when the scheme cannot be resolved. */
static int artifact_names(const struct lms_job *j, char names[N_ARTIFACTS][320])
{
	char scheme[256];
	if (lms_pipeline_scheme(j->cfg, scheme, sizeof scheme) != LMS_OK) {
		lms_error_clear();
		return 0;
	}
	snprintf(names[0], sizeof names[0], "%s%s", scheme, LMS_H5STATS_SUFFIX);
	snprintf(names[1], sizeof names[1], "%s%s", scheme, LMS_REPORT_MANIFEST_SUFFIX);
	snprintf(names[2], sizeof names[2], "%s", LMS_REPORT_MD);
	snprintf(names[3], sizeof names[3], "%s", LMS_REPORT_JSON);
	snprintf(names[4], sizeof names[4], "%s", LMS_REPORT_SVG);
	snprintf(names[5], sizeof names[5], ".lmsens/config.yaml");
	return N_ARTIFACTS;
}

/* The job's artifacts that exist, with their checksums. */
static json_t *artifacts(const struct lms_job *j)
{
	char names[N_ARTIFACTS][320];
	json_t *a = json_object();
	int n = artifact_names(j, names);
	for (int k = 0; k < n; k++) {
		char path[4096], hex[17];
		if (lms_path_join(path, sizeof path, j->output_dir, names[k]) != LMS_OK ||
		    !lms_is_file(path) || lms_dist_file_hash(path, hex) != LMS_OK) {
			lms_error_clear();
			continue;
		}
		json_object_set_new(a, names[k], json_string(hex));
	}
	return a;
}

/* 1 when the job only rebuilds its reports (runner.report_only=true): its
 * leader did that already, from the job's own files. */
static int report_only(const struct lms_job *j)
{
	int ro = 0;
	if (lms_cfg_find(j->cfg, "runner.report_only") &&
	    !lms_cfg_is_null(j->cfg, "runner.report_only") &&
	    lms_cfg_get_bool(j->cfg, "runner.report_only", &ro) != LMS_OK) {
		lms_error_clear();
		ro = 0;
	}
	return ro;
}

/* Rank 0's part of a finished job: the manifest and the per-layer reports,
 * rendered from the statistics file the group leader renamed into place
 * (lms_report_from_h5, the report-only path: the same bytes the job would
 * have written itself). Runs without s->mu held: it reads and renders, and
 * the coordinator thread must keep answering meanwhile. */
static enum lms_status publish(const struct lms_job *j)
{
	char scheme[256], name[320], h5[4096];
	double t0 = lms_dist_now();
	LMS_TRY(lms_pipeline_scheme(j->cfg, scheme, sizeof scheme));
	snprintf(name, sizeof name, "%s%s", scheme, LMS_H5STATS_SUFFIX);
	LMS_TRY(lms_path_join(h5, sizeof h5, j->output_dir, name));
	if (!lms_is_file(h5))
		return lms_fail(LMS_ERR_IO, "check that every rank sees the sweep directory (a shared file system)",
				"job #%d: its group leader reported success, but rank 0 finds no %s",
				j->num, h5);
	lms_dist_h5_lock(); /* rank 0's main thread may be writing its own job's file */
	enum lms_status st = lms_report_from_h5(h5, j->output_dir);
	lms_dist_h5_unlock();
	LMS_TRY(st);
	LMS_INFO("job #%d: manifest and reports written by rank %d from %s (%.2f s)", j->num,
		 lms_dist_rank(), name, lms_dist_now() - t0);
	return LMS_OK;
}

/* 1 when rec says done with this config and every artifact still matches. */
static int still_done(const struct lms_job *j, const char *hash, json_t *rec)
{
	if (!rec || strcmp(json_string_value(json_object_get(rec, "event")), "done") != 0)
		return 0;
	const char *h = json_string_value(json_object_get(rec, "config_hash"));
	json_t *a = json_object_get(rec, "artifacts");
	if (!h || strcmp(h, hash) != 0 || !json_is_object(a) || json_object_size(a) == 0)
		return 0;
	/* Only the names this runner writes are hashed: a ledger is user-editable
	 * input, and a record naming e.g. ../../dev/zero must not make resume
	 * read outside the job directory (or forever). */
	char names[N_ARTIFACTS][320];
	int n_names = artifact_names(j, names);
	const char *name;
	json_t *v;
	json_object_foreach(a, name, v)
	{
		int known = 0;
		for (int k = 0; k < n_names && !known; k++)
			known = strcmp(name, names[k]) == 0;
		if (!known) {
			LMS_WARN("resume: job #%d runs again (its ledger record names an unknown "
				 "artifact '%s')", j->num, name);
			return 0;
		}
		char path[4096], hex[17];
		if (lms_path_join(path, sizeof path, j->output_dir, name) != LMS_OK ||
		    lms_dist_file_hash(path, hex) != LMS_OK || !json_is_string(v) ||
		    strcmp(hex, json_string_value(v)) != 0) {
			lms_error_clear();
			LMS_INFO("resume: job #%d runs again (%s missing or changed)", j->num,
				 name);
			return 0;
		}
	}
	return 1;
}

static double bundle_cost(const struct lms_cfg *cfg, int n)
{
	long long samples = 0, score = 128;
	const struct lms_cfg *m = lms_cfg_find(cfg, "dataset.max_calib_samples");
	if (m && m->type == LMS_CFG_INT) {
		samples = m->i;
	} else {
		const struct lms_cfg *size = lms_cfg_find(cfg, "dataset.size");
		const struct lms_cfg *map = lms_cfg_find(cfg, "dataset.size_to_max_samples");
		const struct lms_cfg *v =
		    size && size->type == LMS_CFG_STR && map ? lms_cfg_find(map, size->s) : NULL;
		samples = v && v->type == LMS_CFG_INT ? v->i : 0;
	}
	const struct lms_cfg *sc = lms_cfg_find(cfg, "autoquant.score_size");
	if (sc && sc->type == LMS_CFG_INT)
		score = sc->i;
	return (double)samples + (double)score * (2.0 + n);
}

static int cmp_bundle(const void *a, const void *b)
{
	const struct sched_bundle *x = a, *y = b;
	if (x->cost != y->cost)
		return x->cost > y->cost ? -1 : 1;
	return x->nums[0] - y->nums[0];
}

static enum lms_status plan_bundles(struct lms_sched *s)
{
	const struct lms_plan *p = s->plan;
	/* LMSENS_BUNDLES=off: every job alone (throughput benchmarks, or when
	 * one pass over all pairs of a bundle does not fit in memory) */
	const char *bv = getenv("LMSENS_BUNDLES");
	int bundles = !(bv && strcmp(bv, "off") == 0);
	s->b = calloc(s->n_jobs + 1, sizeof *s->b);
	if (!s->b)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; k < s->n_jobs; k++) {
		if (s->jobs[k].state != J_PENDING || s->jobs[k].bundle >= 0)
			continue;
		struct sched_bundle *b = &s->b[s->nb];
		b->nums = calloc(s->n_jobs, sizeof *b->nums);
		if (!b->nums)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		for (size_t i = k; i < s->n_jobs; i++) {
			if (s->jobs[i].state == J_PENDING && s->jobs[i].bundle < 0 &&
			    (i == k || (bundles && lms_pipeline_same_bundle(p->jobs[k].cfg,
									    p->jobs[i].cfg)))) {
				s->jobs[i].bundle = s->nb;
				b->nums[b->n++] = (int)i;
			}
		}
		b->cost = bundle_cost(p->jobs[k].cfg, b->n);
		s->nb++;
	}
	qsort(s->b, (size_t)s->nb, sizeof *s->b, cmp_bundle);
	for (int i = 0; i < s->nb; i++)
		for (int m = 0; m < s->b[i].n; m++)
			s->jobs[s->b[i].nums[m]].bundle = i;
	return LMS_OK;
}

static enum lms_status job_meta(struct lms_sched *s, size_t k)
{
	const struct lms_job *j = &s->plan->jobs[k];
	/* the hash covers what determines the results: not the runner settings
	 * that only say how to run (a resumed run sets runner.resume=true) */
	static const char *const how[] = {"resume", "ranks_per_job", "debug", "dry_run"};
	struct lms_cfg *c = lms_cfg_copy(j->cfg), *runner = c ? lms_cfg_find(c, "runner") : NULL;
	if (!c)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t i = 0; runner && runner->type == LMS_CFG_MAP && i < sizeof how / sizeof how[0];
	     i++)
		lms_cfg_free(lms_cfg_map_take(runner, how[i]));
	char *y = NULL;
	enum lms_status st = lms_cfg_to_yaml(c, &y);
	lms_cfg_free(c);
	LMS_TRY(st);
	snprintf(s->jobs[k].hash, sizeof s->jobs[k].hash, "%016llx",
		 (unsigned long long)lms_fnv1a64(LMS_FNV_INIT, y, strlen(y)));
	free(y);
	size_t len = 1;
	for (size_t i = 0; i < j->n_overrides; i++)
		len += strlen(j->overrides[i]) + 1;
	char *l = calloc(len, 1);
	if (!l)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t i = 0; i < j->n_overrides; i++) {
		if (i)
			strcat(l, " ");
		strcat(l, j->overrides[i]);
	}
	s->jobs[k].label = l;
	s->jobs[k].bundle = -1;
	return LMS_OK;
}

static enum lms_status resume_filter(struct lms_sched *s)
{
	void **last = calloc(s->n_jobs + 1, sizeof *last);
	if (!last)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	enum lms_status st = lms_ledger_last(s->ledger, s->n_jobs, last);
	size_t skipped = 0;
	for (size_t k = 0; st == LMS_OK && k < s->n_jobs; k++) {
		if (still_done(&s->plan->jobs[k], s->jobs[k].hash, last[k])) {
			s->jobs[k].state = J_SKIPPED;
			skipped++;
		}
	}
	for (size_t k = 0; k < s->n_jobs; k++)
		json_decref(last[k]);
	free(last);
	if (st == LMS_OK)
		LMS_INFO("resume: %zu of %zu jobs are done and valid in %s; running the other %zu",
			 skipped, s->n_jobs, s->ledger, s->n_jobs - skipped);
	return st;
}

/* One run per sweep directory: an exclusive flock(2) on
 * <dir>/.lmsens.lock, held until lms_sched_free (or the process ends). The
 * file says who holds it ("pid host"), for the message of the run that is
 * refused. */
static enum lms_status take_lock(struct lms_sched *s)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/.lmsens.lock", s->out_dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (s->lock_fd < 0)
		return lms_fail(LMS_ERR_IO, "check that the sweep directory is writable", "%s: %s",
				path, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		char who[256] = "";
		ssize_t n = pread(s->lock_fd, who, sizeof who - 1, 0);
		who[n > 0 ? n : 0] = '\0';
		who[strcspn(who, "\n")] = '\0';
		return lms_fail(
		    LMS_ERR_USAGE,
		    "wait for that run to end (or stop it), or give another hydra.sweep.dir",
		    "another lmsens run (pid and host: %s) is using %s (lock %s)",
		    who[0] ? who : "unknown", s->out_dir, path);
	}
	char me[300];
	int len = snprintf(me, sizeof me, "%d %s\n", (int)getpid(), lms_dist_host());
	if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, me, (size_t)len, 0) != len)
		LMS_WARN("%s: cannot record the owner", path);
	return LMS_OK;
}

enum lms_status lms_sched_init(const struct lms_plan *plan, int world, int ranks_per_job,
			       const struct lms_dist_hooks *hooks, struct lms_sched **out)
{
	*out = NULL;
	struct lms_sched *s = calloc(1, sizeof *s);
	if (!s)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	s->lock_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	s->plan = plan;
	s->n_jobs = plan->n_jobs;
	s->world = world;
	s->ranks_per_job = ranks_per_job;
	s->t0 = lms_dist_now();
	const char *rc = getenv("SLURM_RESTART_COUNT");
	s->restart_count = rc ? atoi(rc) : 0;
	s->jobs = calloc(s->n_jobs + 1, sizeof *s->jobs);
	enum lms_status st = s->jobs ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	const char *dir =
	    plan->multirun && plan->sweep_dir ? plan->sweep_dir : plan->jobs[0].run_dir;
	snprintf(s->out_dir, sizeof s->out_dir, "%s", dir);
	if (st == LMS_OK)
		st = lms_mkdir_p(s->out_dir);
	if (st == LMS_OK)
		st = take_lock(s);
	if (st == LMS_OK && hooks && hooks->prepare_sweep)
		st = hooks->prepare_sweep(plan, hooks->ctx);
	if (st == LMS_OK)
		st = lms_path_join(s->ledger, sizeof s->ledger, s->out_dir, "ledger.jsonl");
	for (size_t k = 0; st == LMS_OK && k < s->n_jobs; k++)
		st = job_meta(s, k);
	const struct lms_cfg *r = lms_cfg_find(plan->jobs[0].cfg, "runner.resume");
	s->resume = r && r->type == LMS_CFG_BOOL && r->b;
	if (st == LMS_OK && s->resume)
		st = resume_filter(s);
	if (st == LMS_OK)
		st = plan_bundles(s);
	if (st != LMS_OK) {
		lms_sched_free(s);
		return st;
	}
	json_t *rec = record(s, "sweep_start", -1);
	json_object_set_new(rec, "jobs", json_integer((json_int_t)s->n_jobs));
	json_object_set_new(rec, "bundles", json_integer(s->nb));
	json_object_set_new(rec, "world", json_integer(world));
	json_object_set_new(rec, "ranks_per_job", json_integer(ranks_per_job));
	json_object_set_new(rec, "resume", json_boolean(s->resume));
	json_object_set_new(rec, "host", json_string(lms_dist_host()));
	append(s, rec);
	LMS_INFO("sweep: %zu jobs in %d bundles, %d rank(s), %d per group; ledger %s", s->n_jobs,
		 s->nb, world, ranks_per_job, s->ledger);
	*out = s;
	return LMS_OK;
}

int lms_sched_next(struct lms_sched *s, int leader, const char *host, int *nums, int cap)
{
	pthread_mutex_lock(&s->mu);
	int n = 0;
	if (!lms_dist_interrupted() && s->next < s->nb && s->b[s->next].n <= cap) {
		struct sched_bundle *b = &s->b[s->next++];
		for (int i = 0; i < b->n; i++) {
			nums[n++] = b->nums[i];
			s->jobs[b->nums[i]].state = J_RUNNING;
			json_t *rec = record(s, "start", b->nums[i]);
			json_object_set_new(rec, "rank", json_integer(leader));
			json_object_set_new(rec, "ranks", json_integer(s->ranks_per_job));
			json_object_set_new(rec, "host", json_string(host));
			append(s, rec);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

void lms_sched_report(struct lms_sched *s, int leader, const char *host, double t0, double t1,
		      const struct dist_result *res, int n)
{
	/* the manifests and reports of the jobs that succeeded (outside the
	 * lock); a failure to write them fails the job */
	struct dist_result *r = calloc((size_t)n + 1, sizeof *r);
	int *by = calloc((size_t)n + 1, sizeof *by);
	LMS_ASSERT(r && by);
	memcpy(r, res, (size_t)n * sizeof *r);
	for (int i = 0; i < n; i++) {
		by[i] = leader;
		if (r[i].st != LMS_OK || r[i].num < 0 || (size_t)r[i].num >= s->n_jobs ||
		    report_only(&s->plan->jobs[r[i].num]))
			continue;
		lms_error_clear();
		enum lms_status st = publish(&s->plan->jobs[r[i].num]);
		by[i] = lms_dist_rank();
		if (st != LMS_OK) {
			r[i].st = st;
			snprintf(r[i].error, sizeof r[i].error, "%s", lms_error_message());
			snprintf(r[i].hint, sizeof r[i].hint, "%s",
				 lms_error_hint() ? lms_error_hint() : "");
			lms_error_clear();
		}
	}
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < n; i++) {
		if (r[i].num < 0 || (size_t)r[i].num >= s->n_jobs)
			continue;
		struct sched_job *j = &s->jobs[r[i].num];
		j->st = r[i].st;
		j->state = r[i].st == LMS_OK		    ? J_DONE
			   : r[i].st == LMS_ERR_INTERRUPTED ? J_INTERRUPTED
							    : J_FAILED;
		free(j->error);
		j->error = r[i].st == LMS_OK ? NULL : strdup(r[i].error);
		json_t *rec = record(s, g_state_name[j->state], r[i].num);
		json_object_set_new(rec, "status", json_string(lms_status_name(r[i].st)));
		if (r[i].st != LMS_OK) {
			json_object_set_new(rec, "error", json_string(r[i].error));
			json_object_set_new(rec, "hint", json_string(r[i].hint));
		}
		json_object_set_new(rec, "rank", json_integer(leader));
		json_object_set_new(rec, "ranks", json_integer(s->ranks_per_job));
		json_object_set_new(rec, "host", json_string(host));
		json_object_set_new(rec, "t_start", json_real(t0));
		json_object_set_new(rec, "t_end", json_real(t1));
		json_object_set_new(rec, "seconds", json_real(t1 - t0));
		if (r[i].st == LMS_OK) {
			/* who wrote what: the statistics file (the group leader) and
			 * the manifest and reports (rank 0, or the leader for
			 * report-only jobs) */
			json_object_set_new(rec, "stats_rank", json_integer(leader));
			json_object_set_new(rec, "reports_rank", json_integer(by[i]));
			json_object_set_new(rec, "artifacts", artifacts(&s->plan->jobs[r[i].num]));
		}
		append(s, rec);
		if (r[i].st == LMS_OK)
			LMS_INFO("job #%d done (%.1f s, rank %d on %s)", r[i].num, t1 - t0, leader,
				 host);
		else
			LMS_WARN("job #%d %s: %s", r[i].num, g_state_name[j->state], r[i].error);
	}
	pthread_mutex_unlock(&s->mu);
	free(r);
	free(by);
}

static void write_sweep(struct lms_sched *s)
{
	struct lms_sweep_entry *e = calloc(s->n_jobs + 1, sizeof *e);
	char(*h5)[4096] = calloc(s->n_jobs + 1, sizeof *h5);
	if (!e || !h5) {
		free(e);
		free(h5);
		LMS_ERROR("sweep summary: out of memory");
		return;
	}
	for (size_t k = 0; k < s->n_jobs; k++) {
		const struct lms_job *j = &s->plan->jobs[k];
		struct sched_job *sj = &s->jobs[k];
		char scheme[256], name[320];
		e[k] = (struct lms_sweep_entry){(int)k, NULL, g_state_name[sj->state], sj->error,
						sj->label};
		if ((sj->state == J_DONE || sj->state == J_SKIPPED) &&
		    lms_pipeline_scheme(j->cfg, scheme, sizeof scheme) == LMS_OK) {
			snprintf(name, sizeof name, "%s%s", scheme, LMS_H5STATS_SUFFIX);
			if (lms_path_join(h5[k], sizeof h5[k], j->output_dir, name) == LMS_OK)
				e[k].h5 = h5[k];
		}
		lms_error_clear();
	}
	if (lms_sweep_write(e, s->n_jobs, s->out_dir) != LMS_OK) {
		LMS_ERROR("sweep summary:");
		lms_log_last_error();
		lms_error_clear();
	}
	free(e);
	free(h5);
}

int lms_sched_finish(struct lms_sched *s)
{
	pthread_mutex_lock(&s->mu);
	size_t count[6] = {0};
	int user_only = 1;
	for (size_t k = 0; k < s->n_jobs; k++) {
		struct sched_job *j = &s->jobs[k];
		if (j->state == J_RUNNING) { /* handed out, never reported: a stop */
			j->state = J_INTERRUPTED;
			json_t *rec = record(s, "interrupted", (int)k);
			json_object_set_new(rec, "status", json_string(lms_status_name(LMS_ERR_INTERRUPTED)));
			json_object_set_new(rec, "error", json_string("handed out, never reported"));
			append(s, rec);
		}
		count[j->state]++;
		if (j->state == J_FAILED && !lms_status_is_user_error(j->st))
			user_only = 0;
	}
	/* a stop that came when nothing was left is no reason to requeue */
	int interrupted =
	    count[J_INTERRUPTED] > 0 || (lms_dist_interrupted() && count[J_PENDING] > 0);
	int rc = 0;
	if (interrupted)
		rc = lms_status_exit_code(LMS_ERR_INTERRUPTED);
	else if (count[J_FAILED] > 0)
		rc = count[J_DONE] + count[J_SKIPPED] == 0 && user_only ? 2 : 1;
	json_t *rec = record(s, "sweep_end", -1);
	json_object_set_new(rec, "done",
			    json_integer((json_int_t)(count[J_DONE] + count[J_SKIPPED])));
	json_object_set_new(rec, "skipped", json_integer((json_int_t)count[J_SKIPPED]));
	json_object_set_new(rec, "failed", json_integer((json_int_t)count[J_FAILED]));
	json_object_set_new(rec, "interrupted", json_integer((json_int_t)count[J_INTERRUPTED]));
	json_object_set_new(rec, "pending", json_integer((json_int_t)count[J_PENDING]));
	json_object_set_new(rec, "seconds", json_real(lms_dist_now() - s->t0));
	json_object_set_new(rec, "exit_code", json_integer(rc));
	append(s, rec);
	/* sweep_end first: under `mpirun`, a SIGTERM to mpirun gives the ranks
	 * odls_base_sigkill_timeout seconds before SIGKILL, and the record (with
	 * the exit code a batch script reads, docs/sweeps.md §3) must be on disk
	 * by then; the sweep outputs are rewritten by every later run anyway */
	if (s->plan->multirun)
		write_sweep(s);
	if (s->n_jobs > 1 || rc != 0)
		LMS_INFO("sweep: %zu done (%zu from an earlier run), %zu failed, %zu interrupted, "
			 "%zu not started; %.1f s",
			 count[J_DONE] + count[J_SKIPPED], count[J_SKIPPED], count[J_FAILED],
			 count[J_INTERRUPTED], count[J_PENDING], lms_dist_now() - s->t0);
	for (size_t k = 0; k < s->n_jobs; k++)
		if (s->jobs[k].state == J_FAILED)
			LMS_ERROR("job #%zu (%s) failed: %s", k, s->jobs[k].label,
				  s->jobs[k].error);
	if (interrupted)
		LMS_WARN(
		    "interrupted: %zu job(s) left; rerun with runner.resume=true (and the same "
		    "hydra.sweep.dir) to finish them; exit code %d asks the scheduler to requeue",
		    count[J_INTERRUPTED] + count[J_PENDING], rc);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void lms_sched_free(struct lms_sched *s)
{
	if (!s)
		return;
	for (size_t k = 0; s->jobs && k < s->n_jobs; k++) {
		free(s->jobs[k].label);
		free(s->jobs[k].error);
	}
	for (int i = 0; s->b && i < s->nb; i++)
		free(s->b[i].nums);
	free(s->b);
	free(s->jobs);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&s->mu);
	free(s);
}
