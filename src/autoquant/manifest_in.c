/* manifest_in.c — a result rebuilt from a <scheme>_quant_manifest.json, for
 * report-only mode when a job directory has a manifest but no statistics
 * file (seeds/001: "regenerate the reports from an existing manifest"; e.g.
 * a manifest of the Python workflow, or a run whose .h5 was deleted).
 *
 * What a manifest holds is ModelOpt's search state: candidate_stats (per
 * group: formats as "NAME(effective-bits: B)", monotonized scores, costs,
 * optionally module_names) and best; lmsens manifests add scheme, model,
 * dataset, quant_pair and autoquant objects, which are read when present.
 * The result gets the union of the groups' formats (ascending bits, ties by
 * name, NONE last), group scores = the manifest's scores (already
 * monotonized, so the search sees the same candidates), n_params = the NONE
 * cost, modules from module_names (shapes, amaxes and per-module scores are
 * not in a manifest: 0 / absent), and the search is re-run for the target
 * (autoquant.effective_bits, else best.constraints.effective_bits), which
 * also rebuilds the frontier.
 * Not here: writing (report.h), statistics files (h5stats.h). */
#include "autoquant/manifest_in.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/search.h"
#include "core/fsutil.h"
#include "core/log.h"

#define MAX_FORMATS 64

struct fmt_entry {
	char name[64];
	double bits;
};

static enum lms_status bad(const char *path, const char *what)
{
	return lms_fail(LMS_ERR_INPUT, "give a manifest written by lmsens or the ModelOpt runner",
			"%s: %s", path, what);
}

/* "FP8_DEFAULT_CFG(effective-bits: 8.0)" → name, bits; "NONE" alone is 16. */
static int parse_recipe(const char *s, struct fmt_entry *e)
{
	const char *p = strstr(s, "(effective-bits:");
	size_t n = p ? (size_t)(p - s) : strlen(s);
	if (n == 0 || n >= sizeof e->name)
		return -1;
	memcpy(e->name, s, n);
	e->name[n] = '\0';
	if (!p)
		return strcmp(e->name, "NONE") == 0 ? (e->bits = 16.0, 0) : -1;
	char *end;
	e->bits = strtod(p + strlen("(effective-bits:"), &end);
	return *end == ')' && e->bits > 0 && e->bits <= 16 ? 0 : -1;
}

static int fmt_cmp(const void *a, const void *b)
{
	const struct fmt_entry *x = a, *y = b;
	int xn = strcmp(x->name, "NONE") == 0, yn = strcmp(y->name, "NONE") == 0;
	if (xn != yn)
		return xn - yn;
	if (x->bits != y->bits)
		return x->bits < y->bits ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int fmt_find(const struct fmt_entry *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The union of all groups' formats, sorted, NONE last. */
static enum lms_status collect_formats(const char *path, json_t *cs, struct fmt_entry *f, size_t *n)
{
	const char *key;
	json_t *st;
	*n = 0;
	json_object_foreach(cs, key, st) {
		json_t *fm = json_object_get(st, "formats");
		size_t i;
		json_t *v;
		if (!json_is_array(fm) || json_array_size(fm) == 0)
			return bad(path, "candidate_stats entry without a formats list");
		json_array_foreach(fm, i, v) {
			struct fmt_entry e;
			if (!json_is_string(v) || parse_recipe(json_string_value(v), &e) != 0)
				return bad(path, "a format is not 'NAME(effective-bits: B)'");
			if (fmt_find(f, *n, e.name) < 0) {
				if (*n == MAX_FORMATS - 1)
					return bad(path, "too many formats");
				f[(*n)++] = e;
			}
		}
	}
	if (fmt_find(f, *n, "NONE") < 0)
		f[(*n)++] = (struct fmt_entry){"NONE", 16.0};
	qsort(f, *n, sizeof *f, fmt_cmp);
	return LMS_OK;
}

static size_t count_modules(json_t *cs)
{
	const char *key;
	json_t *st;
	size_t n = 0;
	json_object_foreach(cs, key, st) {
		json_t *mn = json_object_get(st, "module_names");
		n += json_is_array(mn) && json_array_size(mn) > 0 ? json_array_size(mn) : 1;
	}
	return n;
}

static const char *jstr(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);
	if (k2)
		v = json_object_get(v, k2);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static double jnum(json_t *o, const char *k1, const char *k2, double def)
{
	json_t *v = json_object_get(json_object_get(o, k1), k2);
	return json_is_number(v) ? json_number_value(v) : def;
}

static enum lms_status fill_module(struct lms_aq_module *m, const char *name, size_t g)
{
	LMS_TRY(lms_aq_set_str(&m->name, name));
	const char *dot = strrchr(name, '.');
	LMS_TRY(lms_aq_set_str(&m->kind, dot ? dot + 1 : name));
	const char *l = strstr(name, ".layers.");
	m->layer = l ? atoi(l + strlen(".layers.")) : -1;
	m->group = g;
	return LMS_OK;
}

static enum lms_status fill_group(const char *path, const char *key, json_t *st, const struct fmt_entry *f,
				  size_t nf, struct lms_aq_result *r, size_t g, size_t *next_module)
{
	struct lms_aq_group *gr = &r->groups[g];
	json_t *fm = json_object_get(st, "formats"), *sc = json_object_get(st, "scores");
	json_t *co = json_object_get(st, "costs"), *mn = json_object_get(st, "module_names");
	size_t k = json_array_size(fm);
	if (!json_is_array(sc) || !json_is_array(co) || json_array_size(sc) != k || json_array_size(co) != k)
		return bad(path, "candidate_stats entry: scores and costs must match formats");
	gr->disabled = k == 1;
	for (size_t i = 0; i < k; i++) {
		struct fmt_entry e;
		if (parse_recipe(json_string_value(json_array_get(fm, i)), &e) != 0 ||
		    !json_is_number(json_array_get(sc, i)) || !json_is_number(json_array_get(co, i)))
			return bad(path, "candidate_stats entry with a bad format, score or cost");
		int fi = fmt_find(f, nf, e.name);
		gr->scores[fi] = json_number_value(json_array_get(sc, i));
		if (strcmp(e.name, "NONE") == 0)
			gr->n_params = (int64_t)(json_number_value(json_array_get(co, i)) + 0.5);
		else if (gr->n_params == 0)
			gr->n_params = (int64_t)(json_number_value(json_array_get(co, i)) * 16.0 / e.bits + 0.5);
		if (strcmp(e.name, "NONE") != 0)
			gr->disabled = 0;
	}
	if (!gr->disabled && k != nf)
		return lms_fail(LMS_ERR_UNSUPPORTED, "report-only needs every group to offer the same formats",
				"%s: group %s offers %zu of the %zu formats", path, key, k, nf);
	size_t nm = json_is_array(mn) && json_array_size(mn) ? json_array_size(mn) : 1;
	size_t *members = malloc(nm * sizeof *members);
	if (!members)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	char gname[512];
	snprintf(gname, sizeof gname, "%s", key);
	char *suffix = strstr(gname, ".quant_recipe");
	if (suffix && suffix[strlen(".quant_recipe")] == '\0')
		*suffix = '\0';
	enum lms_status s = LMS_OK;
	for (size_t i = 0; i < nm && s == LMS_OK; i++) {
		const char *name = nm == 1 && !json_is_array(mn) ? gname : json_string_value(json_array_get(mn, i));
		members[i] = (*next_module)++;
		s = name ? fill_module(&r->modules[members[i]], name, g) : bad(path, "module_names holds a non-string");
	}
	if (s == LMS_OK)
		s = lms_aq_group_set_members(gr, members, nm);
	free(members);
	if (s == LMS_OK)
		s = lms_aq_set_str(&gr->name, r->modules[gr->members[0]].name);
	return s;
}

static enum lms_status fill_meta(json_t *root, const char *path, struct lms_aq_result *r)
{
	struct lms_aq_job *j = &r->job;
	char stem[256];
	const char *base = strrchr(path, '/');
	snprintf(stem, sizeof stem, "%s", base ? base + 1 : path);
	char *suf = strstr(stem, "_quant_manifest.json");
	if (suf)
		*suf = '\0';
	LMS_TRY(lms_aq_set_str(&j->scheme, jstr(root, "scheme", NULL) ? jstr(root, "scheme", NULL) : stem));
	LMS_TRY(lms_aq_set_str(&j->tool_version, jstr(root, "tool", "version")));
	LMS_TRY(lms_aq_set_str(&j->model_name, jstr(root, "model", "name")));
	LMS_TRY(lms_aq_set_str(&j->model_path, jstr(root, "model", "path")));
	LMS_TRY(lms_aq_set_str(&j->model_type, jstr(root, "model", "model_type")));
	LMS_TRY(lms_aq_set_str(&j->dataset_name, jstr(root, "dataset", "name")));
	LMS_TRY(lms_aq_set_str(&j->dataset_size, jstr(root, "dataset", "size")));
	LMS_TRY(lms_aq_set_str(&j->dataset_path, jstr(root, "dataset", "path")));
	j->samples = (int64_t)jnum(root, "dataset", "samples", 0);
	j->tokens = (int64_t)jnum(root, "dataset", "tokens", 0);
	j->seq_len = (int64_t)jnum(root, "dataset", "seq_len", 0);
	j->batch_size = (int64_t)jnum(root, "dataset", "batch_size", 0);
	LMS_TRY(lms_aq_set_str(&j->pair_name, jstr(root, "quant_pair", "name")));
	LMS_TRY(lms_aq_set_str(&j->weight, jstr(root, "quant_pair", "weight")));
	LMS_TRY(lms_aq_set_str(&j->activation, jstr(root, "quant_pair", "activation")));
	struct lms_aq_settings *s = &r->settings;
	const char *method = jstr(root, "autoquant", "method");
	LMS_TRY(lms_aq_set_str(&s->method, method ? method : "gradient"));
	double best_bits = jnum(root, "best", "constraints", -1);
	json_t *bc = json_object_get(json_object_get(root, "best"), "constraints");
	if (json_is_number(json_object_get(bc, "effective_bits")))
		best_bits = json_number_value(json_object_get(bc, "effective_bits"));
	s->effective_bits = jnum(root, "autoquant", "effective_bits", best_bits);
	if (!(s->effective_bits > 0 && s->effective_bits <= 16))
		return bad(path, "no target: neither autoquant.effective_bits nor best.constraints.effective_bits");
	s->score_size = (int64_t)jnum(root, "autoquant", "score_size", 0);
	s->calib_steps = (int64_t)jnum(root, "autoquant", "calib_steps", 0);
	s->score_steps = (int64_t)jnum(root, "autoquant", "score_steps", 0);
	const char *lr = jstr(root, "autoquant", "loss_reduction");
	LMS_TRY(lms_aq_set_str(&s->loss_reduction, lr ? lr : "mean"));
	json_t *dl = json_object_get(json_object_get(root, "autoquant"), "disabled_layers");
	size_t nd = json_is_array(dl) ? json_array_size(dl) : 0;
	LMS_TRY(lms_aq_result_alloc_disabled(r, nd));
	for (size_t i = 0; i < nd; i++)
		LMS_TRY(lms_aq_set_str(&s->disabled_layers[i], json_string_value(json_array_get(dl, i))));
	return LMS_OK;
}

static enum lms_status build(json_t *root, const char *path, struct lms_aq_result *r)
{
	json_t *cs = json_object_get(root, "candidate_stats");
	if (!json_is_object(cs) || json_object_size(cs) == 0)
		return bad(path, "no candidate_stats object");
	struct fmt_entry f[MAX_FORMATS];
	size_t nf;
	LMS_TRY(collect_formats(path, cs, f, &nf));
	LMS_TRY(lms_aq_result_alloc(r, nf, json_object_size(cs), count_modules(cs), 0, 0, 0, 0));
	for (size_t i = 0; i < nf; i++) {
		LMS_TRY(lms_aq_set_str(&r->formats[i].name, f[i].name));
		r->formats[i].bits = f[i].bits;
	}
	const char *key;
	json_t *st;
	size_t g = 0, next = 0;
	json_object_foreach(cs, key, st) {
		LMS_TRY(fill_group(path, key, st, f, nf, r, g, &next));
		g++;
	}
	LMS_TRY(fill_meta(root, path, r));
	return lms_search_result(r);
}

enum lms_status lms_aq_result_from_manifest(const char *path, struct lms_aq_result *out)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	if (!root)
		return lms_fail(!lms_is_file(path) ? LMS_ERR_NOT_FOUND : LMS_ERR_INPUT,
				"give the manifest's path (or the job directory)", "%s:%d:%d: %s", path, err.line,
				err.column, err.text);
	enum lms_status st = json_is_object(root) ? build(root, path, out) : bad(path, "not a JSON object");
	json_decref(root);
	if (st != LMS_OK)
		lms_aq_result_free(out);
	return st;
}
