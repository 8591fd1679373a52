/* run_plan.c — executes a composed job plan (cli.h: lms_run_plan).
 *
 * For each job: create its output directory, write .lmsens/config.yaml (the
 * resolved config), .lmsens/hydra.yaml (the resolved hydra node: run/sweep
 * dirs, job.num, runtime.choices) and .lmsens/overrides.yaml (the task
 * overrides), all atomically; under -m also <sweep dir>/multirun.yaml.
 * Experimental quant pairs get a warning. Then run_job() does the work.
 *
 * run_job() is the one place the scoring pipeline plugs in
 * (src/autoquant/pipeline.h, bundles of jobs that share a pass). Keep the
 * bookkeeping above it and the work inside it. */
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/fsutil.h"
#include "core/log.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static enum lms_status write_yaml(const char *dir, const char *name, const struct lms_cfg *c)
{
	char path[4096];
	LMS_TRY(lms_path_join(path, sizeof path, dir, name));
	char *y;
	LMS_TRY(lms_cfg_to_yaml(c, &y));
	enum lms_status st = lms_write_file_atomic(path, y, strlen(y));
	free(y);
	return st;
}

static enum lms_status str_list(char *const *v, size_t n, struct lms_cfg **out)
{
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	if (!seq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; k < n; k++)
		LMS_TRY(lms_cfg_seq_push(seq, lms_cfg_new_str(v[k])));
	*out = seq;
	return LMS_OK;
}

static enum lms_status write_job_files(const struct lms_job *j)
{
	char dir[4096];
	LMS_TRY(lms_path_join(dir, sizeof dir, j->output_dir, ".lmsens"));
	LMS_TRY(lms_mkdir_p(dir));
	LMS_TRY(write_yaml(dir, "config.yaml", j->cfg));
	LMS_TRY(write_yaml(dir, "hydra.yaml", j->hydra));
	struct lms_cfg *ov = NULL;
	LMS_TRY(str_list(j->overrides, j->n_overrides, &ov));
	enum lms_status st = write_yaml(dir, "overrides.yaml", ov);
	lms_cfg_free(ov);
	return st;
}

/* <sweep dir>/multirun.yaml: job #0's config (interpolations kept) with a
 * hydra node that records the sweep as typed and the number of jobs. */
static enum lms_status write_multirun(const struct lms_plan *plan, const struct lms_run_opts *o)
{
	LMS_TRY(lms_mkdir_p(plan->sweep_dir));
	struct lms_cfg *m = lms_cfg_copy(plan->jobs[0].unresolved);
	struct lms_cfg *h = lms_cfg_copy(plan->jobs[0].hydra);
	struct lms_cfg *task = lms_cfg_new(LMS_CFG_SEQ);
	enum lms_status st = m && h && task ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; k < o->n_cli_overrides && st == LMS_OK; k++)
		st = lms_cfg_seq_push(task, lms_cfg_new_str(o->cli_overrides[k]));
	if (st == LMS_OK) {
		lms_cfg_free(lms_cfg_map_take(h, "job"));
		lms_cfg_free(lms_cfg_map_take(h, "runtime"));
		struct lms_cfg *ovn = lms_cfg_find(h, "overrides");
		if (ovn && ovn->type == LMS_CFG_MAP) {
			st = lms_cfg_map_set(ovn, "task", task);
			task = NULL;
		}
	}
	if (st == LMS_OK)
		st = lms_cfg_map_set(h, "job_count", lms_cfg_new_int((long long)plan->n_jobs));
	if (st == LMS_OK) {
		st = lms_cfg_map_set(m, "hydra", h);
		h = NULL;
	}
	if (st == LMS_OK)
		st = write_yaml(plan->sweep_dir, "multirun.yaml", m);
	lms_cfg_free(m);
	lms_cfg_free(h);
	lms_cfg_free(task);
	return st;
}

/* The work of one job: the AutoQuant pipeline (src/autoquant/pipeline.h).
 * Jobs that can share a bundle (same model, dataset and calibration/score
 * settings; lms_pipeline_same_bundle) run together when the first of them
 * comes up: one load, one calibration and one forward+backward per batch for
 * all their quant pairs, each member's artifacts written into its own
 * directory. The later members then only report the recorded status. */
static struct {
	const struct lms_plan *plan;
	enum lms_status *st;  /* (n_jobs) status of finished jobs */
	unsigned char *done;  /* (n_jobs) 1 once the job ran in a bundle */
} g_run;

static void run_state_free(void)
{
	free(g_run.st);
	free(g_run.done);
	memset(&g_run, 0, sizeof g_run);
}

static enum lms_status run_bundle(const struct lms_plan *plan, size_t me)
{
	size_t n = 0, *idx = calloc(plan->n_jobs, sizeof *idx);
	struct lms_pipeline_job *jobs = calloc(plan->n_jobs, sizeof *jobs);
	if (!idx || !jobs) {
		free(idx);
		free(jobs);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	/* the other members first, `me` last: its error stays the last one */
	for (size_t k = me + 1; k < plan->n_jobs; k++)
		if (!g_run.done[k] && lms_pipeline_same_bundle(plan->jobs[me].cfg, plan->jobs[k].cfg))
			idx[n++] = k;
	idx[n++] = me;
	char line[1024] = "";
	for (size_t i = 0; i < n; i++) {
		const struct lms_job *j = &plan->jobs[idx[i]];
		jobs[i] = (struct lms_pipeline_job){plan, j->cfg, j->output_dir, j->num};
		size_t l = strlen(line);
		snprintf(line + l, sizeof line - l, "%s#%d", i ? ", " : "", j->num);
	}
	if (n > 1)
		LMS_INFO("bundle: jobs %s share one calibration and scoring pass", line);
	struct lms_pipeline *p = NULL;
	enum lms_status st = lms_pipeline_open(jobs, n, &p);
	for (size_t i = 0; i < n; i++) {
		enum lms_status js = st == LMS_OK ? lms_pipeline_finish(p, &jobs[i]) : st;
		g_run.st[idx[i]] = js;
		g_run.done[idx[i]] = 1;
		if (js != LMS_OK && i + 1 < n && st == LMS_OK) {
			LMS_ERROR("job #%d failed:", jobs[i].num);
			lms_log_last_error();
		}
	}
	lms_pipeline_close(p);
	free(idx);
	free(jobs);
	return g_run.st[me];
}

static enum lms_status run_job(const struct lms_plan *plan, const struct lms_job *j)
{
	size_t me = (size_t)(j - plan->jobs);
	if (g_run.plan != plan) {
		run_state_free();
		g_run.st = calloc(plan->n_jobs, sizeof *g_run.st);
		g_run.done = calloc(plan->n_jobs, 1);
		if (!g_run.st || !g_run.done) {
			run_state_free();
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		}
		g_run.plan = plan;
	}
	if (!g_run.done[me])
		return run_bundle(plan, me);
	if (g_run.st[me] != LMS_OK)
		return lms_fail(g_run.st[me], "see the error logged for its bundle above",
				"job #%d failed with its bundle", j->num);
	LMS_INFO("job #%d: done with its bundle (%s)", j->num, j->output_dir);
	return LMS_OK;
}

int lms_run_plan(const struct lms_plan *plan, const struct lms_run_opts *opts)
{
	enum lms_status st = LMS_OK;
	if (plan->multirun && plan->sweep_dir) {
		st = write_multirun(plan, opts);
		if (st != LMS_OK)
			return lms_cli_fail(st);
	}
	enum lms_status worst = LMS_OK;
	for (size_t k = 0; k < plan->n_jobs; k++) {
		const struct lms_job *j = &plan->jobs[k];
		if (plan->multirun) {
			struct lms_sb_line {
				char s[2048];
			} line = {""};
			for (size_t i = 0; i < j->n_overrides; i++) {
				size_t l = strlen(line.s);
				snprintf(line.s + l, sizeof line.s - l, "%s%s", i ? " " : "", j->overrides[i]);
			}
			LMS_INFO("#%d : %s", j->num, line.s);
		}
		if (j->experimental) {
			const char *name = "?";
			if (lms_cfg_get_str(j->cfg, "quant_pair.name", &name) != LMS_OK)
				lms_error_clear();
			LMS_WARN("quant_pair '%s' is experimental: its results are not validated", name);
		}
		st = write_job_files(j);
		if (st == LMS_OK)
			st = run_job(plan, j);
		if (st != LMS_OK) {
			lms_log_last_error();
			if (worst == LMS_OK || lms_status_exit_code(st) > lms_status_exit_code(worst))
				worst = st;
		}
	}
	run_state_free();
	return lms_status_exit_code(worst);
}
