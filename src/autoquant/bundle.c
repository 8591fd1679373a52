/* bundle.c — one job of a bundle: its result (struct lms_aq_result) built
 * from the bundle's shared calibration and scores, the search, and the
 * artifacts in the job's output directory:
 *   <scheme>_autoquant_state.h5  (src/io/h5stats.h)
 *   <scheme>_quant_manifest.json, per-layer-sensitivity.{md,json,svg}
 *                                (src/report/report.h)
 *
 * The pair's candidate formats are its quant_pair.format_name(s) sorted by
 * ascending bits, then NONE (16 bits). A group's raw score for a format is
 * the sum of its members' scores (model order); NONE scores 0; groups that
 * match autoquant.disabled_layers are not scored (all 0) and stay NONE
 * (reference/modelopt-autoquant.md §3.5, §5.3, §5.5). Everything a pair reads
 * from the bundle is indexed by format name, so its numbers do not depend on
 * the other pairs of the bundle.
 * Not here: the search itself (search.h), file formats (io/, report/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/group.h"
#include "autoquant/pipeline_internal.h"
#include "autoquant/result.h"
#include "autoquant/search.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "io/h5stats.h"
#include "report/report.h"

#define MAX_PAIR_FORMATS 32

static int g_stats_only; /* lms_pipeline_stats_only */

void lms_pipeline_stats_only(int on)
{
	g_stats_only = on;
}

static const char *str_or(const struct lms_cfg *cfg, const char *path, const char *def)
{
	const struct lms_cfg *n = lms_cfg_find(cfg, path);
	return n && n->type == LMS_CFG_STR ? n->s : def;
}

static enum lms_status fill_job(struct aq_ctx *c, const struct lms_cfg *cfg, const char *scheme,
				struct lms_aq_result *r)
{
	struct lms_aq_job *j = &r->job;
	const struct lms_model_config *mc = lms_model_get_config(c->model);
	LMS_TRY(lms_aq_set_str(&j->scheme, scheme));
	LMS_TRY(lms_aq_set_str(&j->tool_version, LMSENS_VERSION));
	LMS_TRY(lms_aq_set_str(&j->model_name, str_or(cfg, "model.name", "")));
	LMS_TRY(lms_aq_set_str(&j->model_path, str_or(cfg, "model.path", "")));
	LMS_TRY(lms_aq_set_str(&j->model_type, mc->model_type));
	LMS_TRY(lms_aq_set_str(&j->dataset_name, str_or(cfg, "dataset.name", "")));
	LMS_TRY(lms_aq_set_str(&j->dataset_size, str_or(cfg, "dataset.size", "custom")));
	LMS_TRY(lms_aq_set_str(&j->dataset_path, c->captions_path));
	j->samples = c->ds->n_samples;
	j->tokens = c->score_tokens;
	j->seq_len = c->seq_len;
	j->batch_size = c->batch_size;
	LMS_TRY(lms_aq_set_str(&j->pair_name, str_or(cfg, "quant_pair.name", "")));
	LMS_TRY(lms_aq_set_str(&j->weight, str_or(cfg, "quant_pair.weight", "")));
	LMS_TRY(lms_aq_set_str(&j->activation, str_or(cfg, "quant_pair.activation", "")));

	struct lms_aq_settings *s = &r->settings;
	LMS_TRY(lms_aq_set_str(&s->method, c->method));
	LMS_TRY(lms_cfg_get_double(cfg, "autoquant.effective_bits", &s->effective_bits));
	s->score_size = c->score_size;
	s->calib_steps = c->n_calib;
	s->score_steps = c->n_score;
	LMS_TRY(lms_aq_set_str(&s->loss_reduction, c->loss_reduction == LMS_LOSS_SUM ? "sum" : "mean"));
	const struct lms_cfg *dl = lms_cfg_find(cfg, "autoquant.disabled_layers");
	size_t nd = dl && dl->type == LMS_CFG_SEQ ? dl->n : 0;
	if (dl && dl->type != LMS_CFG_SEQ && dl->type != LMS_CFG_NULL)
		return lms_fail(LMS_ERR_CONFIG, "give a list of fnmatch patterns, e.g. ['*lm_head*']",
				"autoquant.disabled_layers is %s", lms_cfg_type_name(dl->type));
	LMS_TRY(lms_aq_result_alloc_disabled(r, nd));
	for (size_t k = 0; k < nd; k++) {
		if (dl->kids[k]->type != LMS_CFG_STR)
			return lms_fail(LMS_ERR_CONFIG, "give a list of strings",
					"autoquant.disabled_layers[%zu] is %s", k, lms_cfg_type_name(dl->kids[k]->type));
		LMS_TRY(lms_aq_set_str(&s->disabled_layers[k], dl->kids[k]->s));
	}
	char *yaml = NULL;
	LMS_TRY(lms_cfg_to_yaml(cfg, &yaml));
	r->config_yaml = yaml;
	return LMS_OK;
}

/* The pair's formats: bundle indices (fi[k], -1 for NONE) in search order. */
static enum lms_status pair_formats(struct aq_ctx *c, const struct lms_cfg *cfg, int *fi, size_t *nf)
{
	const char *names[MAX_PAIR_FORMATS];
	size_t n;
	LMS_TRY(lms_aq_pair_formats(cfg, names, MAX_PAIR_FORMATS - 1, &n));
	*nf = 0;
	/* c->fmt is sorted with lms_format_cmp, so walking it keeps the order */
	for (int f = 0; f < c->n_formats; f++)
		for (size_t k = 0; k < n; k++)
			if (strcmp(names[k], c->fmt[f].name) == 0) {
				fi[(*nf)++] = f;
				break;
			}
	fi[(*nf)++] = -1;
	return LMS_OK;
}

static enum lms_status fill_tables(struct aq_ctx *c, struct lms_aq_result *r, const int *fi,
				   const struct lms_aq_grouping *gs)
{
	size_t nf = r->n_formats, nl = (size_t)c->n_linears, NF = (size_t)c->n_formats;
	for (size_t f = 0; f < nf; f++) {
		struct lms_format none;
		lms_format_none(&none);
		const struct lms_format *fm = fi[f] < 0 ? &none : &c->fmt[fi[f]];
		LMS_TRY(lms_aq_set_str(&r->formats[f].name, fm->name));
		r->formats[f].bits = lms_format_effective_bits(fm);
	}
	for (size_t g = 0; g < gs->n; g++) {
		const struct lms_aq_gdef *d = &gs->g[g];
		struct lms_aq_group *gr = &r->groups[g];
		LMS_TRY(lms_aq_set_str(&gr->name, c->lin[d->modules[0]].name));
		LMS_TRY(lms_aq_group_set_members(gr, d->modules, d->n_modules));
		gr->n_params = d->numel;
		gr->disabled = d->disabled;
		for (size_t m = 0; m < d->n_modules; m++)
			r->modules[d->modules[m]].group = g;
	}
	for (size_t l = 0; l < nl; l++) {
		struct lms_aq_module *m = &r->modules[l];
		const struct aq_linear *li = &c->lin[l];
		LMS_TRY(lms_aq_set_str(&m->name, li->name));
		LMS_TRY(lms_aq_set_str(&m->kind, lms_linear_kind_name(li->kind)));
		m->layer = li->layer;
		m->in_features = li->in;
		m->out_features = li->out;
		m->act_amax = c->act_amax[l];
		m->weight_amax = c->weight_amax[l];
		int off = r->groups[m->group].disabled;
		for (size_t f = 0; m->scores && f < nf; f++)
			m->scores[f] = fi[f] < 0 || off ? 0.0 : c->scores[l * NF + (size_t)fi[f]];
	}
	/* group scores and per-step traces: Σ over members in model order (for
	 * kl_div only the first member holds a value: the group's) */
	size_t ng = r->n_groups;
	for (size_t g = 0; g < ng; g++) {
		struct lms_aq_group *gr = &r->groups[g];
		for (size_t f = 0; f < nf; f++) {
			double tot = 0.0;
			for (size_t k = 0; k < gr->n_members && fi[f] >= 0 && !gr->disabled; k++)
				tot += c->scores[gr->members[k] * NF + (size_t)fi[f]];
			gr->scores[f] = tot;
			for (size_t s = 0; s < r->n_trace_steps; s++) {
				double t = 0.0;
				for (size_t k = 0; k < gr->n_members && fi[f] >= 0 && !gr->disabled; k++)
					t += c->step_scores[(s * nl + gr->members[k]) * NF + (size_t)fi[f]];
				r->traces[(s * ng + g) * nf + f] = t;
			}
		}
	}
	for (size_t b = 0; b < r->n_calib_loss; b++)
		r->calib_loss[b] = c->calib_loss[b];
	for (size_t b = 0; b < r->n_score_loss; b++)
		r->score_loss[b] = c->score_loss[b];
	return LMS_OK;
}

static enum lms_status build_result(struct aq_ctx *c, const struct lms_pipeline_job *job, const char *scheme,
				    struct lms_aq_result *r, struct lms_aq_grouping *gs)
{
	int fi[MAX_PAIR_FORMATS];
	size_t nf, nl = (size_t)c->n_linears;
	LMS_TRY(pair_formats(c, job->cfg, fi, &nf));
	const char **names = malloc(nl * sizeof *names);
	int64_t *numel = malloc(nl * sizeof *numel);
	enum lms_status st = names && numel ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t l = 0; st == LMS_OK && l < nl; l++) {
		names[l] = c->lin[l].name;
		numel[l] = c->lin[l].in * c->lin[l].out;
	}
	if (st == LMS_OK)
		st = fill_job(c, job->cfg, scheme, r);
	if (st == LMS_OK)
		st = lms_aq_grouping_build(names, numel, nl, (const char *const *)r->settings.disabled_layers,
					   r->settings.n_disabled, gs);
	free(names);
	free(numel);
	LMS_TRY(st);
	LMS_TRY(lms_aq_result_alloc(r, nf, gs->n, nl, (size_t)c->n_score,
				    c->calib_loss_on ? (size_t)c->n_calib : 0, (size_t)c->n_score, 4));
	if (!c->is_kl) /* kl_div scores whole groups only */
		LMS_TRY(lms_aq_result_alloc_module_scores(r));
	return fill_tables(c, r, fi, gs);
}

static enum lms_status set_timing(struct lms_aq_result *r, size_t i, const char *phase, double s)
{
	r->timings[i].seconds = s;
	return lms_aq_set_str(&r->timings[i].phase, phase);
}

static void log_choice(const struct lms_aq_result *r, int num)
{
	for (size_t g = 0; g < r->n_groups; g++) {
		char rec[128];
		lms_aq_format_recipe(&r->formats[r->groups[g].chosen], rec, sizeof rec);
		LMS_DEBUG("AutoQuantize best recipe for %s: %s", r->groups[g].name, rec);
	}
	LMS_INFO("job #%d: effective bits %.4f (target %g, %s), score %.6g", num, r->search.effective_bits,
		 r->settings.effective_bits, r->search.is_satisfied ? "satisfied" : "NOT satisfied",
		 r->search.score);
}

enum lms_status lms_aq_finish_job(struct aq_ctx *c, const struct lms_pipeline_job *job)
{
	char scheme[256], name[320], h5[4096];
	LMS_TRY(lms_pipeline_scheme(job->cfg, scheme, sizeof scheme));
	struct lms_aq_result r;
	struct lms_aq_grouping gs = {0};
	lms_aq_result_init(&r);
	double t0 = lms_aq_now();
	enum lms_status st = build_result(c, job, scheme, &r, &gs);
	if (st == LMS_OK)
		st = lms_search_result(&r);
	double t_search = lms_aq_now() - t0;
	c->t_search += t_search;
	if (st == LMS_OK)
		st = set_timing(&r, 0, "load", c->t_load);
	if (st == LMS_OK)
		st = set_timing(&r, 1, "calibrate", c->t_calib);
	if (st == LMS_OK)
		st = set_timing(&r, 2, "score", c->t_score);
	if (st == LMS_OK)
		st = set_timing(&r, 3, "search", t_search);
	if (st == LMS_OK) {
		log_choice(&r, job->num);
		t0 = lms_aq_now();
		snprintf(name, sizeof name, "%s%s", scheme, LMS_H5STATS_SUFFIX);
		st = lms_mkdir_p(job->output_dir);
	}
	if (st == LMS_OK)
		st = lms_path_join(h5, sizeof h5, job->output_dir, name);
	if (st == LMS_OK)
		st = lms_h5stats_write(&r, h5);
	if (st == LMS_OK && !g_stats_only)
		st = lms_report_write_all(&r, job->output_dir, scheme);
	if (st == LMS_OK) {
		c->t_write += lms_aq_now() - t0;
		LMS_INFO("write: %s%s in %s (%.2f s)", name,
			 g_stats_only ? " (statistics only; the runner writes the reports)" : " and reports",
			 job->output_dir, lms_aq_now() - t0);
	}
	lms_aq_grouping_free(&gs);
	lms_aq_result_free(&r);
	return st;
}
