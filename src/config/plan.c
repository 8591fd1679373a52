/* plan.c — from options to a job plan: search path, override parsing, sweep
 * expansion (Hydra's BasicSweeper order), per-job composition, the hydra
 * node (run/sweep dirs, job.num, runtime.cwd/choices/output_dir),
 * interpolation, the output directory (seeds/000) and the format check.
 *
 * Sweep order: one list per override key in order of first appearance (a
 * repeated key replaces the values but keeps its position); the cartesian
 * product varies the last key fastest; jobs are numbered 0..N-1. */
#include "config/compose_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MAX_JOBS 100000

static char *abs_of(const char *cwd, const char *p)
{
	char buf[PATH_MAX * 2];
	if (p[0] == '/')
		snprintf(buf, sizeof buf, "%s", p);
	else
		snprintf(buf, sizeof buf, "%s/%s", cwd, p);
	return strdup(buf);
}

static enum lms_status add_dir(struct lms_composer *C, const char *cwd, const char *d,
			       const char *flag)
{
	char *a = abs_of(cwd, d);
	if (!a)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (!lms_is_dir(a)) {
		enum lms_status st =
		    lms_fail(LMS_ERR_NOT_FOUND, "give an existing directory of YAML configs",
			     "%s: config directory '%s' does not exist", flag, a);
		free(a);
		return st;
	}
	char **nd = realloc(C->dirs, (C->n_dirs + 1) * sizeof *nd);
	if (!nd) {
		free(a);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	C->dirs = nd;
	C->dirs[C->n_dirs++] = a;
	return LMS_OK;
}

static enum lms_status search_path(struct lms_composer *C, const struct lms_compose_opts *o,
				   const char *cwd)
{
	for (size_t k = 0; k < o->n_config_dirs; k++)
		LMS_TRY(add_dir(C, cwd, o->config_dirs[k], "--config-dir"));
	if (o->config_path)
		return add_dir(C, cwd, o->config_path, "--config-path");
	const char *env = getenv("LMSENS_CONF_DIR");
	if (env && env[0])
		return add_dir(C, cwd, env, "LMSENS_CONF_DIR");
	char local[PATH_MAX];
	snprintf(local, sizeof local, "%s/conf", cwd);
	if (lms_is_dir(local))
		return add_dir(C, cwd, local, "./conf");
	return add_dir(C, cwd, LMSENS_SOURCE_DIR "/conf", "the source tree's conf/");
}

struct sweep_key {
	const struct lms_override *o; /* the last override with this key */
	struct lms_cfg *values;	      /* sequence (owned) */
};

static enum lms_status glob_values(struct lms_composer *C, const struct lms_override *o,
				   struct lms_cfg **out)
{
	if (!lms_composer_is_group(C, o->key))
		return lms_fail(LMS_ERR_USAGE,
				"glob() selects options of a config group, e.g. quant_pair=glob(*)",
				"'%s': '%s' is not a config group", o->text, o->key);
	char **opts;
	size_t n;
	LMS_TRY(lms_composer_options(C, o->key, &opts, &n));
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	enum lms_status st = seq ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; k < n && st == LMS_OK; k++) {
		int in = 0, ex = 0;
		for (size_t i = 0; i < o->glob_include->n; i++)
			in |= lms_glob_match(o->glob_include->kids[i]->s, opts[k]);
		for (size_t i = 0; o->glob_exclude && i < o->glob_exclude->n; i++)
			ex |= lms_glob_match(o->glob_exclude->kids[i]->s, opts[k]);
		if (in && !ex)
			st = lms_cfg_seq_push(seq, lms_cfg_new_str(opts[k]));
	}
	lms_strv_free(opts, n);
	if (st == LMS_OK && seq->n == 0)
		st = lms_fail(LMS_ERR_USAGE, "check the pattern against the group's options",
			      "'%s' matches no option of '%s'", o->text, o->key);
	if (st != LMS_OK) {
		lms_cfg_free(seq);
		return st;
	}
	*out = seq;
	return LMS_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The hydra node of one job, merged over the config's own `hydra:` keys. */
static enum lms_status hydra_node(struct lms_composer *C, struct lms_cfg *cfg,
				  const struct lms_composed *c, int multirun, int num,
				  char **ovr_text, size_t n_ovr, const char *cwd,
				  const char *config_name)
{
	struct lms_cfg *h = lms_cfg_map_get(cfg, "hydra");
	if (!h || h->type != LMS_CFG_MAP) {
		LMS_TRY(lms_cfg_map_set(cfg, "hydra", lms_cfg_new(LMS_CFG_MAP)));
		h = lms_cfg_map_get(cfg, "hydra");
	}
	static const char *const defaults_yaml =
	    "run:\n  dir: outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}\n"
	    "sweep:\n  dir: multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}\n  subdir: ${hydra.job.num}\n";
	if (!C->hydra_defaults)
		LMS_TRY(lms_yaml_load_string(defaults_yaml, strlen(defaults_yaml),
					     "<hydra defaults>", &C->hydra_defaults));
	struct lms_cfg *d = lms_cfg_copy(C->hydra_defaults);
	if (!d)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	enum lms_status st = lms_cfg_merge(d, h);
	if (st == LMS_OK) {
		lms_cfg_replace(h, d);
		d = NULL;
	}
	lms_cfg_free(d);
	LMS_TRY(st);
	struct lms_cfg *job = lms_cfg_new(LMS_CFG_MAP), *rt = lms_cfg_new(LMS_CFG_MAP),
		       *task = lms_cfg_new(LMS_CFG_SEQ), *ov = lms_cfg_new(LMS_CFG_MAP);
	if (!job || !rt || !task || !ov) {
		lms_cfg_free(job);
		lms_cfg_free(rt);
		lms_cfg_free(task);
		lms_cfg_free(ov);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	/* override_dirname: the sorted task overrides joined with ',' */
	char **sorted = calloc(n_ovr + 1, sizeof *sorted);
	struct lms_sb dirname = {0};
	if (sorted) {
		memcpy(sorted, ovr_text, n_ovr * sizeof *sorted);
		qsort(sorted, n_ovr, sizeof *sorted, cmp_str);
		for (size_t k = 0; k < n_ovr; k++)
			lms_sb_printf(&dirname, "%s%s", k ? "," : "", sorted[k]);
		free(sorted);
	}
	char *dn = lms_sb_take(&dirname);
	for (size_t k = 0; k < n_ovr && st == LMS_OK; k++)
		st = lms_cfg_seq_push(task, lms_cfg_new_str(ovr_text[k]));
	if (st == LMS_OK)
		st = lms_cfg_map_set(job, "name", lms_cfg_new_str("lmsens"));
	if (st == LMS_OK)
		st = lms_cfg_map_set(job, "num", lms_cfg_new_int(num));
	if (st == LMS_OK)
		st = lms_cfg_map_set(job, "id", lms_cfg_new_int(num));
	if (st == LMS_OK)
		st = lms_cfg_map_set(job, "config_name", lms_cfg_new_str(config_name));
	if (st == LMS_OK)
		st = lms_cfg_map_set(job, "override_dirname", lms_cfg_new_str(dn ? dn : ""));
	free(dn);
	if (st == LMS_OK)
		st = lms_cfg_map_set(rt, "cwd", lms_cfg_new_str(cwd));
	if (st == LMS_OK)
		st = lms_cfg_map_set(rt, "choices", lms_cfg_copy(c->choices));
	if (st == LMS_OK)
		st = lms_cfg_map_set(
		    rt, "output_dir",
		    lms_cfg_new_str(multirun ? "${hydra.sweep.dir}/${hydra.sweep.subdir}"
					     : "${hydra.run.dir}"));
	if (st == LMS_OK)
		st = lms_cfg_map_set(ov, "task", task);
	else
		lms_cfg_free(task);
	if (st == LMS_OK)
		st = lms_cfg_map_set(h, "job", job);
	else
		lms_cfg_free(job);
	if (st == LMS_OK)
		st = lms_cfg_map_set(h, "runtime", rt);
	else
		lms_cfg_free(rt);
	if (st == LMS_OK)
		st = lms_cfg_map_set(h, "overrides", ov);
	else
		lms_cfg_free(ov);
	if (st == LMS_OK)
		st = lms_cfg_map_set(h, "mode", lms_cfg_new_str(multirun ? "MULTIRUN" : "RUN"));
	return st;
}

static const char *str_or_null(const struct lms_cfg *cfg, const char *path)
{
	const struct lms_cfg *n = lms_cfg_find(cfg, path);
	return n && n->type == LMS_CFG_STR && n->s[0] ? n->s : NULL;
}

/* seeds/000 "Output layout resolution". */
static enum lms_status output_dir(struct lms_job *j, const char *cwd)
{
	const char *explicit_dir = str_or_null(j->cfg, "runner.output_dir");
	if (explicit_dir)
		return (j->output_dir = abs_of(cwd, explicit_dir))
			   ? LMS_OK
			   : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (!lms_cfg_find(j->cfg, "output_layout")) /* a config without the seeds' layout group */
		return (j->output_dir = strdup(j->run_dir))
			   ? LMS_OK
			   : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	const char *mode;
	LMS_TRY(lms_cfg_get_str(j->cfg, "output_layout.mode", &mode));
	if (strcmp(mode, "tmp") == 0)
		return (j->output_dir = strdup(j->run_dir))
			   ? LMS_OK
			   : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (strcmp(mode, "publish") != 0)
		return lms_fail(LMS_ERR_CONFIG, "use output_layout=tmp or output_layout=publish",
				"output_layout.mode is '%s'; expected tmp or publish", mode);
	const char *root, *w, *a, *run;
	LMS_TRY(lms_cfg_get_str(j->cfg, "output_layout.root_dir", &root));
	char pair[512];
	const char *pd = str_or_null(j->cfg, "quant_pair.publish_pair_dir");
	if (pd) {
		snprintf(pair, sizeof pair, "%s", pd);
	} else {
		LMS_TRY(lms_cfg_get_str(j->cfg, "quant_pair.weight", &w));
		LMS_TRY(lms_cfg_get_str(j->cfg, "quant_pair.activation", &a));
		snprintf(pair, sizeof pair, "weight-%s-act-%s", w, a);
	}
	run = str_or_null(j->cfg, "quant_pair.publish_run_dir");
	if (!run)
		LMS_TRY(lms_cfg_get_str(j->cfg, "output_layout.run_dir", &run));
	char rel[PATH_MAX];
	snprintf(rel, sizeof rel, "%s/%s/%s", root, pair, run);
	return (j->output_dir = abs_of(cwd, rel)) ? LMS_OK
						  : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
}

enum lms_status lms_config_format_path(const struct lms_plan *plan, const char *name, char *buf,
				       size_t cap)
{
	int ok = name[0] && !strchr(name, '/') && !strstr(name, "..");
	for (size_t d = 0; ok && d < plan->n_search_path; d++) {
		snprintf(buf, cap, "%s/formats/%s.yaml", plan->search_path[d], name);
		if (lms_is_file(buf))
			return LMS_OK;
	}
	char **opts;
	size_t n;
	LMS_TRY(lms_config_group_options(plan, "formats", &opts, &n));
	struct lms_sb b = {0};
	for (size_t k = 0; k < n; k++)
		lms_sb_printf(&b, "%s%s", k ? ", " : "", opts[k]);
	lms_strv_free(opts, n);
	enum lms_status st =
	    lms_fail(LMS_ERR_NOT_FOUND, "use a known format or add conf/formats/<name>.yaml",
		     "quant_pair.format_name: unknown quantization format '%s' (known: %s)", name,
		     b.s ? b.s : "none");
	lms_sb_free(&b);
	return st;
}

enum lms_status lms_config_group_options(const struct lms_plan *plan, const char *group,
					 char ***out, size_t *n)
{
	struct lms_composer C = {.dirs = plan->search_path, .n_dirs = plan->n_search_path};
	enum lms_status st = lms_composer_options(&C, group, out, n);
	C.dirs = NULL;
	C.n_dirs = 0;
	lms_composer_clear(&C);
	return st;
}

static enum lms_status finish_job(struct lms_composer *C, struct lms_plan *plan, struct lms_job *j,
				  struct lms_composed *c, const struct lms_resolve_ctx *rc,
				  const char *cwd)
{
	LMS_TRY(hydra_node(C, c->cfg, c, plan->multirun, j->num, j->overrides, j->n_overrides, cwd,
			   plan->config_name));
	struct lms_cfg *full = NULL;
	LMS_TRY(lms_cfg_resolve(c->cfg, "", rc, &full));
	j->hydra = lms_cfg_map_take(full, "hydra");
	j->cfg = full;
	j->unresolved = lms_cfg_copy(c->cfg);
	if (!j->unresolved)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	lms_cfg_free(lms_cfg_map_take(j->unresolved, "hydra"));
	const char *od;
	LMS_TRY(lms_cfg_get_str(j->hydra, "runtime.output_dir", &od));
	if (!(j->run_dir = abs_of(cwd, od)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	struct lms_cfg *rtod = lms_cfg_find(j->hydra, "runtime.output_dir");
	free(rtod->s);
	rtod->s = strdup(j->run_dir);
	LMS_TRY(output_dir(j, cwd));
	const struct lms_cfg *ex = lms_cfg_find(j->cfg, "quant_pair.experimental");
	j->experimental = ex && ex->type == LMS_CFG_BOOL && ex->b;
	const char *fmt = str_or_null(j->cfg, "quant_pair.format_name");
	if (fmt) {
		char path[PATH_MAX];
		LMS_TRY(lms_config_format_path(plan, fmt, path, sizeof path));
	}
	if (plan->multirun && !plan->sweep_dir) {
		const char *sd;
		LMS_TRY(lms_cfg_get_str(j->hydra, "sweep.dir", &sd));
		if (!(plan->sweep_dir = abs_of(cwd, sd)))
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	return LMS_OK;
}

static enum lms_status expand(struct lms_plan *plan, struct lms_composer *C,
			      struct lms_override *ovr, size_t n_ovr,
			      const struct lms_compose_opts *o, const char *cwd,
			      const struct lms_resolve_ctx *rc)
{
	/* one list per key, in order of first appearance */
	struct sweep_key *keys = calloc(n_ovr + 1, sizeof *keys);
	if (!keys)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t nk = 0;
	enum lms_status st = LMS_OK;
	for (size_t k = 0; k < n_ovr && st == LMS_OK; k++) {
		struct lms_override *ov = &ovr[k];
		if (ov->sweep && !o->multirun) {
			st = lms_fail(
			    LMS_ERR_USAGE, "add -m (--multirun) to sweep, or quote the value",
			    "Ambiguous value for argument '%s'\n1. To use it as a list, use "
			    "key=[value1,value2]\n"
			    "2. To use it as string, quote the value: key=\\'value1,value2\\'\n"
			    "3. To sweep over it, add --multirun to your command line",
			    ov->text);
			break;
		}
		size_t s = 0;
		while (s < nk &&
		       !(strcmp(keys[s].o->key, ov->key) == 0 && keys[s].o->kind == ov->kind &&
			 ((!keys[s].o->pkg && !ov->pkg) ||
			  (keys[s].o->pkg && ov->pkg && strcmp(keys[s].o->pkg, ov->pkg) == 0))))
			s++;
		if (s == nk)
			nk++;
		lms_cfg_free(keys[s].values);
		keys[s].values = NULL;
		keys[s].o = ov;
		if (ov->sweep == LMS_SWEEP_GLOB)
			st = glob_values(C, ov, &keys[s].values);
		else if (ov->sweep && !(keys[s].values = lms_cfg_copy(ov->sweep_values)))
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	double total = 1;
	for (size_t s = 0; s < nk; s++)
		total *= keys[s].values ? (double)keys[s].values->n : 1.0;
	if (st == LMS_OK && total > MAX_JOBS)
		st = lms_fail(LMS_ERR_USAGE, "split the sweep",
			      "the sweep has %.0f jobs, more than %d", total, MAX_JOBS);
	if (st == LMS_OK && total < 1)
		st = lms_fail(LMS_ERR_USAGE, "a sweep needs at least one value",
			      "the sweep has no jobs");
	size_t n_jobs = st == LMS_OK ? (size_t)total : 0;
	if (st == LMS_OK && !(plan->jobs = calloc(n_jobs, sizeof *plan->jobs)))
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	struct lms_override *jo = calloc(nk + 1, sizeof *jo);
	if (!jo && st == LMS_OK)
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t j = 0; j < n_jobs && st == LMS_OK; j++) {
		struct lms_job *job = &plan->jobs[j];
		job->num = (int)j;
		plan->n_jobs = j + 1;
		job->overrides = calloc(nk + 1, sizeof *job->overrides);
		if (!job->overrides) {
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			break;
		}
		size_t rem = j;
		for (size_t s = nk; s-- > 0;) { /* last key varies fastest */
			jo[s] = *keys[s].o;
			jo[s].sweep = LMS_SWEEP_NONE;
			if (keys[s].values) {
				size_t n = keys[s].values->n;
				jo[s].value = keys[s].values->kids[rem % n];
				rem /= n;
			}
		}
		for (size_t s = 0; s < nk && st == LMS_OK; s++) {
			char *vt = NULL;
			if (keys[s].values) {
				st = lms_override_value_text(jo[s].value, &vt);
				if (st != LMS_OK)
					break;
				const char *pre = jo[s].kind == LMS_OVR_ADD	    ? "+"
						  : jo[s].kind == LMS_OVR_FORCE_ADD ? "++"
										    : "";
				size_t l = strlen(pre) + strlen(jo[s].key) + strlen(vt) + 64 +
					   (jo[s].pkg ? strlen(jo[s].pkg) : 0);
				job->overrides[s] = malloc(l);
				if (job->overrides[s])
					snprintf(job->overrides[s], l, "%s%s%s%s=%s", pre,
						 jo[s].key, jo[s].pkg ? "@" : "",
						 jo[s].pkg ? jo[s].pkg : "", vt);
				free(vt);
			} else {
				job->overrides[s] = strdup(jo[s].text);
			}
			if (!job->overrides[s])
				st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			job->n_overrides = s + 1;
		}
		struct lms_composed c;
		if (st == LMS_OK)
			st = lms_compose_one(C, jo, nk, &c);
		if (st == LMS_OK) {
			if (j == 0)
				plan->defaults_table = strdup(c.defaults_table);
			st = finish_job(C, plan, job, &c, rc, cwd);
			lms_composed_clear(&c);
		}
		if (st != LMS_OK && plan->multirun)
			lms_error_context("job #%zu (%s)", j,
					  job->n_overrides ? job->overrides[0] : "no overrides");
	}
	free(jo);
	for (size_t s = 0; s < nk; s++)
		lms_cfg_free(keys[s].values);
	free(keys);
	return st;
}

/* hydra.sweeper.params: sweeps written in the config ({key: "a,b,c"}), read
 * from the config composed with the command line's non-sweep overrides.
 * They go before the command line's overrides, which win for the same key
 * (Hydra's BasicSweeper). *out is a new array of parsed overrides. */
static enum lms_status sweeper_params(struct lms_composer *C, const struct lms_override *ovr,
				      size_t n, struct lms_override **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	struct lms_override *plain = calloc(n + 1, sizeof *plain);
	if (!plain)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t np = 0;
	for (size_t k = 0; k < n; k++)
		if (!ovr[k].sweep)
			plain[np++] = ovr[k]; /* shallow: borrowed for one composition */
	struct lms_composed c;
	enum lms_status st = lms_compose_one(C, plain, np, &c);
	free(plain);
	LMS_TRY(st);
	const struct lms_cfg *params = lms_cfg_find(c.cfg, "hydra.sweeper.params");
	if (params && params->type == LMS_CFG_MAP && params->n > 0) {
		*out = calloc(params->n, sizeof **out);
		if (!*out)
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		for (size_t k = 0; st == LMS_OK && k < params->n; k++) {
			char text[1024], arg[2048];
			if (params->kids[k]->type == LMS_CFG_STR)
				snprintf(text, sizeof text, "%s", params->kids[k]->s);
			else
				lms_cfg_scalar_text(params->kids[k], text, sizeof text);
			snprintf(arg, sizeof arg, "%s=%s", params->keys[k], text);
			st = lms_override_parse(arg, &(*out)[k]);
			*n_out = k + 1;
			if (st != LMS_OK)
				lms_error_context("hydra.sweeper.params.%s", params->keys[k]);
		}
	}
	lms_composed_clear(&c);
	if (st != LMS_OK) {
		for (size_t k = 0; k < *n_out; k++)
			lms_override_clear(&(*out)[k]);
		free(*out);
		*out = NULL;
		*n_out = 0;
	}
	return st;
}

enum lms_status lms_config_compose(const struct lms_compose_opts *o, struct lms_plan **out)
{
	*out = NULL;
	char cwdbuf[PATH_MAX];
	const char *cwd = o->cwd;
	if (!cwd) {
		if (!getcwd(cwdbuf, sizeof cwdbuf))
			return lms_fail(LMS_ERR_IO, "run lmsens from an existing directory",
					"cannot read the current directory");
		cwd = cwdbuf;
	}
	struct lms_plan *plan = calloc(1, sizeof *plan);
	struct lms_composer *C = calloc(1, sizeof *C);
	struct lms_override *ovr = calloc(o->n_overrides + 1, sizeof *ovr);
	if (!plan || !C || !ovr) {
		free(plan);
		free(C);
		free(ovr);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	plan->multirun = o->multirun;
	C->config_name = o->config_name;
	plan->config_name = strdup(o->config_name ? o->config_name : LMS_DEFAULT_CONFIG_NAME);
	const char *src = getenv("LMSENS_SOURCE_DIR");
	struct lms_resolve_ctx rc = {.now = o->now ? o->now : time(NULL),
				     .source_dir = src && src[0] ? src : LMSENS_SOURCE_DIR};
	enum lms_status st = plan->config_name ? search_path(C, o, cwd)
					       : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t parsed = 0;
	for (; st == LMS_OK && parsed < o->n_overrides; parsed++)
		st = lms_override_parse(o->overrides[parsed], &ovr[parsed]);
	if (st == LMS_OK) {
		plan->search_path = C->dirs;
		plan->n_search_path = C->n_dirs;
		plan->primary_dir = strdup(C->dirs[C->n_dirs - 1]);
		if (!plan->primary_dir)
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		struct lms_override *params = NULL, *all = ovr;
		size_t n_params = 0, n_all = o->n_overrides;
		if (st == LMS_OK && o->multirun)
			st = sweeper_params(C, ovr, o->n_overrides, &params, &n_params);
		if (st == LMS_OK && n_params) {
			all = calloc(n_params + o->n_overrides, sizeof *all);
			if (all) { /* shallow copies: params and ovr keep ownership */
				memcpy(all, params, n_params * sizeof *all);
				memcpy(all + n_params, ovr, o->n_overrides * sizeof *all);
				n_all = n_params + o->n_overrides;
			} else {
				st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			}
		}
		if (st == LMS_OK)
			st = expand(plan, C, all, n_all, o, cwd, &rc);
		if (all != ovr)
			free(all);
		for (size_t k = 0; k < n_params; k++)
			lms_override_clear(&params[k]);
		free(params);
		C->dirs = NULL; /* owned by the plan now */
		C->n_dirs = 0;
	}
	for (size_t k = 0; k <= parsed && k < o->n_overrides; k++)
		lms_override_clear(&ovr[k]);
	free(ovr);
	lms_composer_clear(C);
	free(C);
	if (st != LMS_OK) {
		lms_plan_free(plan);
		return st;
	}
	*out = plan;
	return LMS_OK;
}

void lms_plan_free(struct lms_plan *plan)
{
	if (!plan)
		return;
	for (size_t k = 0; k < plan->n_jobs; k++) {
		struct lms_job *j = &plan->jobs[k];
		lms_strv_free(j->overrides, j->n_overrides);
		lms_cfg_free(j->cfg);
		lms_cfg_free(j->unresolved);
		lms_cfg_free(j->hydra);
		free(j->run_dir);
		free(j->output_dir);
	}
	free(plan->jobs);
	free(plan->sweep_dir);
	free(plan->primary_dir);
	lms_strv_free(plan->search_path, plan->n_search_path);
	free(plan->defaults_table);
	free(plan->config_name);
	free(plan);
}
