/* run_plan.c — executes a composed job plan (cli.h: lms_run_plan).
 *
 * For each job: create its output directory, write .lmsens/config.yaml (the
 * resolved config), .lmsens/hydra.yaml (the resolved hydra node: run/sweep
 * dirs, job.num, runtime.choices) and .lmsens/overrides.yaml (the task
 * overrides), all atomically; under -m also <sweep dir>/multirun.yaml.
 * Experimental quant pairs get a warning. The sweep runner (src/dist/
 * dist.h: lms_dist_run_plan) schedules the jobs, in bundles, on one rank or
 * many, and calls back here before the sweep and before each job. */
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "dist/dist.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

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

/* The sweep runner's hooks (src/dist/dist.h). The runner (one rank, or
 * MPI ranks with a coordinator) forms the bundles of jobs that share a pass
 * (lms_pipeline_same_bundle), runs them through the AutoQuant pipeline,
 * keeps the ledger and writes the sweep outputs; here is only what a job
 * needs before it runs. */
static enum lms_status prepare_sweep(const struct lms_plan *plan, void *ctx)
{
	if (plan->multirun && plan->sweep_dir)
		return write_multirun(plan, ctx);
	return LMS_OK;
}

static enum lms_status prepare_job(const struct lms_plan *plan, const struct lms_job *j, void *ctx)
{
	(void)ctx;
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
	return write_job_files(j);
}

int lms_run_plan(const struct lms_plan *plan, const struct lms_run_opts *opts)
{
	struct lms_dist_hooks hooks = {prepare_sweep, prepare_job, (void *)opts};
	return lms_dist_run_plan(plan, &hooks);
}
