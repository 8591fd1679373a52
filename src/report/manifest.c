/* manifest.c — the two JSON artifacts of a job:
 *   <scheme>_quant_manifest.json  ModelOpt's search_state keys (candidate_stats,
 *                                 best; reference modelopt-autoquant.md §1.4) plus
 *                                 job metadata, frontier and timings;
 *   per-layer-sensitivity.json    ranked layers, summary, frontier.
 *
 * Invariants: keys appear in a fixed insertion order (jansson preserves it),
 * candidate_stats and best.recipe follow model order like ModelOpt's
 * named_hparams; floats are dumped with 17 significant digits; empty strings
 * are written as null. Output ends with a newline.
 *
 * candidate_stats follows ModelOpt v0.40: per group "<first module>.quant_recipe"
 * with formats (recipe strings, ascending bits, NONE last), scores
 * (monotonised, §5.5), costs (numel × bits/16); a disabled group has
 * formats [NONE], scores [0], costs [numel]. module_names is HEAD's addition. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

/* Builders that remember the first failure, so the tree is built straight
 * down and checked once (jansson returns NULL on bad UTF-8 or OOM). */
struct jb {
	int bad;
};

static json_t *jstr(struct jb *b, const char *s)
{
	if (!s || !s[0])
		return json_null();
	json_t *v = json_string(s);
	if (!v)
		b->bad = 1;
	return v;
}

static json_t *jreal(struct jb *b, double v)
{
	json_t *j = json_real(v);
	if (!j)
		b->bad = 1;
	return j;
}

static void put(struct jb *b, json_t *obj, const char *key, json_t *v)
{
	if (!obj || !v || json_object_set_new(obj, key, v) != 0)
		b->bad = 1;
}

static void push(struct jb *b, json_t *arr, json_t *v)
{
	if (!arr || !v || json_array_append_new(arr, v) != 0)
		b->bad = 1;
}

static json_t *model_obj(struct jb *b, const struct lms_aq_result *r)
{
	json_t *o = json_object();
	put(b, o, "name", jstr(b, r->job.model_name));
	put(b, o, "path", jstr(b, r->job.model_path));
	put(b, o, "model_type", jstr(b, r->job.model_type));
	return o;
}

static json_t *dataset_obj(struct jb *b, const struct lms_aq_result *r)
{
	const struct lms_aq_job *j = &r->job;
	json_t *o = json_object();
	put(b, o, "name", jstr(b, j->dataset_name));
	put(b, o, "size", jstr(b, j->dataset_size));
	put(b, o, "path", jstr(b, j->dataset_path));
	put(b, o, "samples", json_integer(j->samples));
	put(b, o, "tokens", json_integer(j->tokens));
	put(b, o, "seq_len", json_integer(j->seq_len));
	put(b, o, "batch_size", json_integer(j->batch_size));
	return o;
}

static json_t *pair_obj(struct jb *b, const struct lms_aq_result *r)
{
	json_t *o = json_object(), *fmts = json_array();
	put(b, o, "name", jstr(b, r->job.pair_name));
	put(b, o, "weight", jstr(b, r->job.weight));
	put(b, o, "activation", jstr(b, r->job.activation));
	for (size_t f = 0; f + 1 < r->n_formats; f++)
		push(b, fmts, jstr(b, r->formats[f].name));
	put(b, o, "formats", fmts);
	return o;
}

static json_t *settings_obj(struct jb *b, const struct lms_aq_result *r)
{
	const struct lms_aq_settings *s = &r->settings;
	json_t *o = json_object(), *dis = json_array();
	put(b, o, "method", jstr(b, s->method));
	put(b, o, "effective_bits", jreal(b, s->effective_bits));
	put(b, o, "score_size", json_integer(s->score_size));
	put(b, o, "calib_steps", json_integer(s->calib_steps));
	put(b, o, "score_steps", json_integer(s->score_steps));
	put(b, o, "loss_reduction", jstr(b, s->loss_reduction));
	for (size_t i = 0; i < s->n_disabled; i++)
		push(b, dis, jstr(b, s->disabled_layers[i]));
	put(b, o, "disabled_layers", dis);
	return o;
}

static json_t *recipe_str(struct jb *b, const struct lms_aq_format *f)
{
	char buf[512];
	lms_aq_format_recipe(f, buf, sizeof buf);
	return jstr(b, buf);
}

static void hparam_key(const struct lms_aq_group *g, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s.quant_recipe", g->name);
}

static json_t *candidate_stats(struct jb *b, const struct lms_aq_result *r, double *mono)
{
	json_t *cs = json_object();
	size_t none = r->n_formats - 1;
	for (size_t g = 0; g < r->n_groups; g++) {
		const struct lms_aq_group *gr = &r->groups[g];
		json_t *e = json_object(), *fm = json_array(), *sc = json_array(),
		       *co = json_array(), *mn = json_array();
		lms_aq_group_candidate_scores(r, g, mono);
		size_t first = gr->disabled ? none : 0;
		for (size_t f = first; f < r->n_formats; f++) {
			push(b, fm, recipe_str(b, &r->formats[f]));
			push(b, sc, jreal(b, gr->disabled ? 0.0 : mono[f]));
			push(b, co, jreal(b, gr->costs[f]));
		}
		for (size_t k = 0; k < gr->n_members; k++)
			push(b, mn, jstr(b, r->modules[gr->members[k]].name));
		put(b, e, "formats", fm);
		put(b, e, "scores", sc);
		put(b, e, "costs", co);
		put(b, e, "module_names", mn);
		char key[600];
		hparam_key(gr, key, sizeof key);
		put(b, cs, key, e);
	}
	return cs;
}

static json_t *best_obj(struct jb *b, const struct lms_aq_result *r)
{
	if (!r->has_search)
		return json_null();
	json_t *o = json_object(), *rec = json_object(), *con = json_object();
	for (size_t g = 0; g < r->n_groups; g++) {
		char key[600];
		hparam_key(&r->groups[g], key, sizeof key);
		put(b, rec, key, recipe_str(b, &r->formats[r->groups[g].chosen]));
	}
	put(b, o, "recipe", rec);
	put(b, con, "effective_bits", jreal(b, r->search.effective_bits));
	put(b, o, "constraints", con);
	put(b, o, "score", jreal(b, r->search.score));
	put(b, o, "is_satisfied", json_boolean(r->search.is_satisfied));
	return o;
}

static json_t *frontier_arr(struct jb *b, const struct lms_aq_result *r)
{
	json_t *a = json_array();
	for (size_t i = 0; r->has_search && i < r->search.n_frontier; i++) {
		json_t *p = json_object();
		put(b, p, "effective_bits", jreal(b, r->search.frontier_bits[i]));
		put(b, p, "score", jreal(b, r->search.frontier_score[i]));
		push(b, a, p);
	}
	return a;
}

static json_t *tool_obj(struct jb *b, const struct lms_aq_result *r)
{
	json_t *o = json_object();
	put(b, o, "name", json_string("lmsens"));
	put(b, o, "version", jstr(b, r->job.tool_version));
	put(b, o, "schema_version", json_integer(LMS_AQ_SCHEMA_VERSION));
	return o;
}

static enum lms_status dump(struct jb *b, json_t *root, const char *what, char **out)
{
	*out = NULL;
	char *text = NULL;
	if (!b->bad && root)
		text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	json_decref(root);
	if (!text)
		return lms_fail(LMS_ERR_INPUT, "names must be valid UTF-8; re-run the job",
				"cannot build %s: a string is not valid UTF-8 or memory ran out",
				what);
	size_t n = strlen(text);
	char *withnl = realloc(text, n + 2);
	if (!withnl) {
		free(text);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building %s", what);
	}
	withnl[n] = '\n';
	withnl[n + 1] = '\0';
	*out = withnl;
	return LMS_OK;
}

enum lms_status lms_report_manifest_json(const struct lms_aq_result *r, char **out)
{
	struct jb b = {0};
	double *mono = calloc(r->n_formats ? r->n_formats : 1, sizeof *mono);
	if (!mono)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building the manifest");
	json_t *root = json_object();
	put(&b, root, "scheme", jstr(&b, r->job.scheme));
	put(&b, root, "tool", tool_obj(&b, r));
	put(&b, root, "model", model_obj(&b, r));
	put(&b, root, "dataset", dataset_obj(&b, r));
	put(&b, root, "quant_pair", pair_obj(&b, r));
	put(&b, root, "autoquant", settings_obj(&b, r));
	put(&b, root, "candidate_stats", candidate_stats(&b, r, mono));
	put(&b, root, "best", best_obj(&b, r));
	put(&b, root, "frontier", frontier_arr(&b, r));
	json_t *tm = json_object();
	for (size_t i = 0; i < r->n_timings; i++)
		put(&b, tm, r->timings[i].phase, jreal(&b, r->timings[i].seconds));
	put(&b, root, "timings", tm);
	free(mono);
	return dump(&b, root, "the quant manifest", out);
}

/* --- per-layer-sensitivity.json -------------------------------------------- */

static json_t *summary_obj(struct jb *b, const struct lms_aq_result *r)
{
	json_t *o = json_object();
	int ok;
	double loss = lms_report_mean_loss(r, &ok);
	put(b, o, "target_effective_bits", jreal(b, r->settings.effective_bits));
	put(b, o, "achieved_effective_bits",
	    r->has_search ? jreal(b, r->search.effective_bits) : json_null());
	put(b, o, "is_satisfied",
	    r->has_search ? json_boolean(r->search.is_satisfied) : json_null());
	put(b, o, "total_score", r->has_search ? jreal(b, r->search.score) : json_null());
	put(b, o, "mean_loss", ok ? jreal(b, loss) : json_null());
	put(b, o, "samples", json_integer(r->job.samples));
	put(b, o, "tokens", json_integer(r->job.tokens));
	put(b, o, "n_groups", json_integer((json_int_t)r->n_groups));
	put(b, o, "n_modules", json_integer((json_int_t)r->n_modules));
	if (!r->has_search) {
		put(b, o, "chosen_format_counts", json_null());
		return o;
	}
	json_t *counts = json_object();
	for (size_t f = 0; f < r->n_formats; f++) {
		json_int_t n = 0;
		for (size_t g = 0; g < r->n_groups; g++)
			n += r->groups[g].chosen == (int)f;
		put(b, counts, r->formats[f].name, json_integer(n));
	}
	put(b, o, "chosen_format_counts", counts);
	return o;
}

static json_t *layer_obj(struct jb *b, const struct lms_aq_result *r, size_t g, int rank)
{
	const struct lms_aq_group *gr = &r->groups[g];
	json_t *o = json_object(), *mem = json_array(), *sc = json_object();
	put(b, o, "rank", rank ? json_integer(rank) : json_null());
	put(b, o, "layer", jstr(b, gr->name));
	put(b, o, "layer_index", json_integer(r->modules[gr->members[0]].layer));
	for (size_t k = 0; k < gr->n_members; k++)
		push(b, mem, jstr(b, r->modules[gr->members[k]].name));
	put(b, o, "members", mem);
	put(b, o, "parameters", json_integer(gr->n_params));
	put(b, o, "disabled", json_boolean(gr->disabled));
	for (size_t f = 0; !gr->disabled && f + 1 < r->n_formats; f++)
		put(b, sc, r->formats[f].name, jreal(b, gr->scores[f]));
	put(b, o, "scores", sc);
	if (r->has_search) {
		const struct lms_aq_format *c = &r->formats[gr->chosen];
		put(b, o, "chosen_format", jstr(b, c->name));
		put(b, o, "chosen_effective_bits", jreal(b, c->bits));
	} else {
		put(b, o, "chosen_format", json_null());
		put(b, o, "chosen_effective_bits", json_null());
	}
	return o;
}

enum lms_status lms_report_sensitivity_json(const struct lms_aq_result *r, char **out)
{
	struct jb b = {0};
	size_t *order = calloc(r->n_groups ? r->n_groups : 1, sizeof *order);
	int *rank = calloc(r->n_groups ? r->n_groups : 1, sizeof *rank);
	if (!order || !rank) {
		free(order);
		free(rank);
		return lms_fail(LMS_ERR_NOMEM, NULL,
				"out of memory building the sensitivity report");
	}
	lms_report_rank(r, order, rank);
	json_t *root = json_object(), *fmts = json_array(), *layers = json_array();
	put(&b, root, "scheme", jstr(&b, r->job.scheme));
	put(&b, root, "tool", tool_obj(&b, r));
	put(&b, root, "model", model_obj(&b, r));
	put(&b, root, "dataset", dataset_obj(&b, r));
	put(&b, root, "quant_pair", pair_obj(&b, r));
	put(&b, root, "autoquant", settings_obj(&b, r));
	for (size_t f = 0; f < r->n_formats; f++) {
		json_t *fo = json_object();
		put(&b, fo, "name", jstr(&b, r->formats[f].name));
		put(&b, fo, "effective_bits", jreal(&b, r->formats[f].bits));
		put(&b, fo, "recipe", recipe_str(&b, &r->formats[f]));
		push(&b, fmts, fo);
	}
	put(&b, root, "formats", fmts);
	put(&b, root, "ranked_by", jstr(&b, r->n_formats > 1 ? r->formats[0].name : NULL));
	put(&b, root, "summary", summary_obj(&b, r));
	for (size_t k = 0; k < r->n_groups; k++)
		push(&b, layers, layer_obj(&b, r, order[k], rank[order[k]]));
	put(&b, root, "layers", layers);
	put(&b, root, "frontier", frontier_arr(&b, r));
	free(order);
	free(rank);
	return dump(&b, root, "per-layer-sensitivity.json", out);
}
