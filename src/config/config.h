/* config.h — Hydra-compatible composition of conf/ + command-line overrides
 * into a job plan: the public API of src/config/ for the CLI and the runner.
 *
 *   struct lms_compose_opts o = {.overrides = argv_overrides, .n_overrides = n};
 *   struct lms_plan *plan;
 *   LMS_TRY(lms_config_compose(&o, &plan));
 *   for (size_t k = 0; k < plan->n_jobs; k++) {
 *       const struct lms_job *j = &plan->jobs[k];
 *       long long seq_len;
 *       LMS_TRY(lms_cfg_get_int(j->cfg, "dataset.calib_seq_len", &seq_len));
 *       ... write into j->output_dir ...
 *   }
 *   lms_plan_free(plan);
 *
 * Composition follows Hydra 1.3 with 1.4's rejections (reference/
 * config-launch-storage.md §1): defaults lists (_self_, group@package,
 * override, optional, null, absolute /group and relative paths, # @package),
 * CLI overrides (key=value, +, ++, ~, group=option), struct mode, OmegaConf
 * interpolation, and -m sweeps (a,b,c / choice / range / glob) expanded as
 * a cartesian product in Hydra's order. Each job's config is resolved; the
 * output directory follows seeds/000 "Output layout resolution".
 *
 * Search path: -cd dirs (first wins), then -cp, else $LMSENS_CONF_DIR, else
 * ./conf when it exists, else LMSENS_SOURCE_DIR/conf. -cn NAME is looked up
 * as preset/NAME then NAME; the default is preset/qwen3_lm_sensitivity.
 *
 * Does not: create directories or write files (src/cli/run_plan.c does). */
#ifndef LMS_CONFIG_CONFIG_H
#define LMS_CONFIG_CONFIG_H

#include <stddef.h>
#include <time.h>

#include "config/interp.h"
#include "config/node.h"
#include "config/override.h"
#include "config/yaml.h"
#include "core/status.h"

#define LMS_DEFAULT_CONFIG_NAME "preset/qwen3_lm_sensitivity"

struct lms_compose_opts {
	const char *config_path;	/* -cp DIR, or NULL */
	const char *const *config_dirs; /* -cd DIR..., highest priority first */
	size_t n_config_dirs;
	const char *config_name;      /* -cn NAME, or NULL for the default */
	const char *const *overrides; /* key=value ... (borrowed) */
	size_t n_overrides;
	int multirun;	 /* -m */
	const char *cwd; /* NULL: getcwd() (${hydra:runtime.cwd}) */
	time_t now;	 /* 0: time(NULL) (${now:...}, fixed per plan) */
};

struct lms_job {
	int num;	  /* 0..n_jobs-1, hydra.job.num */
	char **overrides; /* this job's task overrides as text (owned) */
	size_t n_overrides;
	struct lms_cfg *cfg; /* resolved config without the hydra node (owned) */
	struct lms_cfg
	    *unresolved;       /* composed config, interpolations kept, no hydra node (owned) */
	struct lms_cfg *hydra; /* resolved hydra node: run, sweep, job, runtime (owned) */
	char *run_dir;	       /* absolute Hydra job directory (run.dir, or sweep.dir/subdir) */
	char *output_dir;      /* absolute output directory (seeds/000 resolution) */
	int experimental;      /* quant_pair.experimental is true */
};

struct lms_plan {
	int multirun;
	size_t n_jobs;
	struct lms_job *jobs;
	char *sweep_dir;    /* multirun: absolute hydra.sweep.dir; else NULL */
	char *primary_dir;  /* the search-path directory holding the primary config */
	char **search_path; /* the config search path, highest priority first */
	size_t n_search_path;
	char *defaults_table; /* --info defaults text of job 0 */
	char *config_name;    /* the primary config's name, e.g. preset/qwen3_lm_sensitivity */
};

/* Composes and plans. *out is new (lms_plan_free). User errors are
 * LMS_ERR_USAGE (override syntax, sweep without -m) or LMS_ERR_CONFIG /
 * LMS_ERR_NOT_FOUND (composition), with Hydra's messages plus a hint. */
LMS_NODISCARD enum lms_status lms_config_compose(const struct lms_compose_opts *opts,
						 struct lms_plan **out);

void lms_plan_free(struct lms_plan *plan);

/* The options of a config group across the search path, sorted (new array
 * of new strings; free with lms_strv_free). */
LMS_NODISCARD enum lms_status lms_config_group_options(const struct lms_plan *plan,
						       const char *group, char ***out, size_t *n);
void lms_strv_free(char **v, size_t n);

/* Path of conf/formats/<name>.yaml in the plan's search path, checked to
 * exist; an unknown name is LMS_ERR_NOT_FOUND listing the known formats. */
LMS_NODISCARD enum lms_status lms_config_format_path(const struct lms_plan *plan, const char *name,
						     char *buf, size_t cap);

#endif
