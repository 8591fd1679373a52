/* result.c — allocation, validation and small derived quantities of
 * struct lms_aq_result (see result.h for the invariants and ownership).
 *
 * Everything here is deterministic and allocation-light; nothing reads or
 * writes files. */
#include "autoquant/result.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lms_aq_result_init(struct lms_aq_result *r)
{
	memset(r, 0, sizeof *r);
}

static void free_job(struct lms_aq_job *j)
{
	char **s[] = {&j->scheme,     &j->tool_version, &j->model_name,	  &j->model_path,
		      &j->model_type, &j->dataset_name, &j->dataset_size, &j->dataset_path,
		      &j->pair_name,  &j->weight,	&j->activation};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		free(*s[i]);
		*s[i] = NULL;
	}
}

void lms_aq_result_free(struct lms_aq_result *r)
{
	if (!r)
		return;
	free_job(&r->job);
	free(r->settings.method);
	free(r->settings.loss_reduction);
	for (size_t i = 0; i < r->settings.n_disabled; i++)
		free(r->settings.disabled_layers[i]);
	free(r->settings.disabled_layers);
	for (size_t i = 0; i < r->n_formats; i++)
		free(r->formats[i].name);
	free(r->formats);
	for (size_t g = 0; g < r->n_groups; g++) {
		free(r->groups[g].name);
		free(r->groups[g].members);
		free(r->groups[g].scores);
		free(r->groups[g].costs);
	}
	free(r->groups);
	for (size_t m = 0; m < r->n_modules; m++) {
		free(r->modules[m].name);
		free(r->modules[m].kind);
		free(r->modules[m].scores);
	}
	free(r->modules);
	free(r->traces);
	free(r->calib_loss);
	free(r->score_loss);
	for (size_t i = 0; i < r->n_timings; i++)
		free(r->timings[i].phase);
	free(r->timings);
	free(r->config_yaml);
	free(r->search.frontier_bits);
	free(r->search.frontier_score);
	lms_aq_result_init(r);
}

static void *zalloc(size_t n, size_t size)
{
	/* calloc(0, …) may return NULL; keep "no elements" distinct from OOM. */
	return calloc(n ? n : 1, size);
}

enum lms_status lms_aq_result_alloc(struct lms_aq_result *r, size_t n_formats, size_t n_groups,
				    size_t n_modules, size_t n_trace_steps, size_t n_calib_loss,
				    size_t n_score_loss, size_t n_timings)
{
	if (r->formats || r->groups || r->modules)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"lms_aq_result_alloc on a non-empty result");
	size_t n_trace = n_trace_steps * n_groups * n_formats;
	if (n_groups && n_trace_steps && n_trace / n_groups / n_trace_steps != n_formats)
		return lms_fail(LMS_ERR_NOMEM, NULL, "trace size overflows");
	r->formats = zalloc(n_formats, sizeof *r->formats);
	r->groups = zalloc(n_groups, sizeof *r->groups);
	r->modules = zalloc(n_modules, sizeof *r->modules);
	r->traces = n_trace ? zalloc(n_trace, sizeof *r->traces) : NULL;
	r->calib_loss = zalloc(n_calib_loss, sizeof *r->calib_loss);
	r->score_loss = zalloc(n_score_loss, sizeof *r->score_loss);
	r->timings = zalloc(n_timings, sizeof *r->timings);
	/* Set the counts first so that lms_aq_result_free releases whatever
	 * was allocated when something below fails. */
	r->n_formats = r->formats ? n_formats : 0;
	r->n_groups = r->groups ? n_groups : 0;
	r->n_modules = r->modules ? n_modules : 0;
	r->n_trace_steps = n_trace_steps;
	r->n_calib_loss = n_calib_loss;
	r->n_score_loss = n_score_loss;
	r->n_timings = r->timings ? n_timings : 0;
	int oom = !r->formats || !r->groups || !r->modules || (n_trace && !r->traces) ||
		  !r->calib_loss || !r->score_loss || !r->timings;
	for (size_t g = 0; !oom && g < n_groups; g++) {
		r->groups[g].chosen = -1;
		r->groups[g].scores = zalloc(n_formats, sizeof(double));
		r->groups[g].costs = zalloc(n_formats, sizeof(double));
		oom = !r->groups[g].scores || !r->groups[g].costs;
	}
	if (oom) {
		lms_aq_result_free(r);
		return lms_fail(LMS_ERR_NOMEM, NULL,
				"out of memory allocating an AutoQuant result");
	}
	return LMS_OK;
}

enum lms_status lms_aq_result_alloc_module_scores(struct lms_aq_result *r)
{
	for (size_t m = 0; m < r->n_modules; m++) {
		free(r->modules[m].scores);
		r->modules[m].scores = zalloc(r->n_formats, sizeof(double));
		if (!r->modules[m].scores)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (module scores)");
	}
	return LMS_OK;
}

enum lms_status lms_aq_result_alloc_frontier(struct lms_aq_result *r, size_t n)
{
	free(r->search.frontier_bits);
	free(r->search.frontier_score);
	r->search.frontier_bits = zalloc(n, sizeof(double));
	r->search.frontier_score = zalloc(n, sizeof(double));
	r->search.n_frontier = n;
	if (!r->search.frontier_bits || !r->search.frontier_score) {
		r->search.n_frontier = 0;
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (frontier)");
	}
	return LMS_OK;
}

enum lms_status lms_aq_result_alloc_disabled(struct lms_aq_result *r, size_t n)
{
	for (size_t i = 0; i < r->settings.n_disabled; i++)
		free(r->settings.disabled_layers[i]);
	free(r->settings.disabled_layers);
	r->settings.n_disabled = 0;
	r->settings.disabled_layers = zalloc(n, sizeof(char *));
	if (!r->settings.disabled_layers)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (disabled layers)");
	r->settings.n_disabled = n;
	return LMS_OK;
}

enum lms_status lms_aq_set_str(char **dst, const char *src)
{
	char *copy = NULL;
	if (src) {
		copy = strdup(src);
		if (!copy)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory copying a string");
	}
	free(*dst);
	*dst = copy;
	return LMS_OK;
}

enum lms_status lms_aq_group_set_members(struct lms_aq_group *g, const size_t *members, size_t n)
{
	size_t *copy = zalloc(n, sizeof *copy);
	if (!copy)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (group members)");
	if (n)
		memcpy(copy, members, n * sizeof *copy);
	free(g->members);
	g->members = copy;
	g->n_members = n;
	return LMS_OK;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int all_finite(const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

#define BAD(...) lms_fail(LMS_ERR_INPUT, hint, __VA_ARGS__)

static enum lms_status validate_formats(const struct lms_aq_result *r, const char *where,
					const char *hint)
{
	if (r->n_formats < 1)
		return BAD("%s: no candidate formats (NONE must be the last one)", where);
	for (size_t f = 0; f < r->n_formats; f++) {
		const struct lms_aq_format *fm = &r->formats[f];
		if (!fm->name || !fm->name[0])
			return BAD("%s: formats[%zu] has no name", where, f);
		if (!isfinite(fm->bits) || fm->bits <= 0 || fm->bits > 16)
			return BAD("%s: formats[%zu] '%s' has effective bits %g, outside (0, 16]",
				   where, f, fm->name, fm->bits);
		if (f > 0 && fm->bits < r->formats[f - 1].bits)
			return BAD(
			    "%s: formats are not sorted by ascending bits ('%s' %g after '%s' %g)",
			    where, fm->name, fm->bits, r->formats[f - 1].name,
			    r->formats[f - 1].bits);
	}
	const struct lms_aq_format *last = &r->formats[r->n_formats - 1];
	if (strcmp(last->name, "NONE") != 0 || last->bits != 16.0)
		return BAD("%s: the last format is '%s' (%g bits), not NONE (16 bits)", where,
			   last->name, last->bits);
	for (size_t f = 0; f + 1 < r->n_formats; f++)
		if (strcmp(r->formats[f].name, "NONE") == 0)
			return BAD("%s: NONE appears twice among the formats", where);
	return LMS_OK;
}

static enum lms_status validate_groups(const struct lms_aq_result *r, const char *where,
				       const char *hint)
{
	int none = (int)r->n_formats - 1;
	for (size_t g = 0; g < r->n_groups; g++) {
		const struct lms_aq_group *gr = &r->groups[g];
		if (!gr->name || !gr->name[0])
			return BAD("%s: groups[%zu] has no name", where, g);
		if (gr->n_members < 1 || !gr->members)
			return BAD("%s: group '%s' has no member modules", where, gr->name);
		for (size_t k = 0; k < gr->n_members; k++) {
			size_t m = gr->members[k];
			if (m >= r->n_modules || r->modules[m].group != g)
				return BAD("%s: group '%s' lists module index %zu, which is not "
					   "one of its modules",
					   where, gr->name, m);
		}
		if (strcmp(gr->name, str_or_empty(r->modules[gr->members[0]].name)) != 0)
			return BAD("%s: group '%s' is not named after its first module '%s'", where,
				   gr->name, str_or_empty(r->modules[gr->members[0]].name));
		if (gr->n_params < 0)
			return BAD("%s: group '%s' has %lld parameters", where, gr->name,
				   (long long)gr->n_params);
		if (!all_finite(gr->scores, r->n_formats) || !all_finite(gr->costs, r->n_formats))
			return BAD("%s: group '%s' has a non-finite score or cost", where,
				   gr->name);
		if (r->has_search) {
			if (gr->chosen < 0 || gr->chosen > none)
				return BAD("%s: group '%s' chose format index %d, not in [0, %d]",
					   where, gr->name, gr->chosen, none);
			if (gr->disabled && gr->chosen != none)
				return BAD("%s: disabled group '%s' chose '%s' instead of NONE",
					   where, gr->name, r->formats[gr->chosen].name);
		}
	}
	return LMS_OK;
}

static enum lms_status validate_modules(const struct lms_aq_result *r, const char *where,
					const char *hint)
{
	for (size_t m = 0; m < r->n_modules; m++) {
		const struct lms_aq_module *mo = &r->modules[m];
		if (!mo->name || !mo->name[0])
			return BAD("%s: modules[%zu] has no name", where, m);
		if (mo->group >= r->n_groups)
			return BAD("%s: module '%s' belongs to group %zu of %zu", where, mo->name,
				   mo->group, r->n_groups);
		int listed = 0;
		const struct lms_aq_group *gr = &r->groups[mo->group];
		for (size_t k = 0; k < gr->n_members; k++)
			listed |= gr->members[k] == m;
		if (!listed)
			return BAD("%s: module '%s' is not listed by its group '%s'", where,
				   mo->name, str_or_empty(gr->name));
		if (!isfinite(mo->act_amax) || !isfinite(mo->weight_amax) ||
		    (mo->scores && !all_finite(mo->scores, r->n_formats)))
			return BAD("%s: module '%s' has a non-finite amax or score", where,
				   mo->name);
		if (mo->in_features < 0 || mo->out_features < 0)
			return BAD("%s: module '%s' has a negative shape", where, mo->name);
	}
	return LMS_OK;
}

enum lms_status lms_aq_result_validate(const struct lms_aq_result *r, const char *where)
{
	const char *hint = "the statistics are inconsistent; re-run the job that produced them";
	LMS_TRY(validate_formats(r, where, hint));
	LMS_TRY(validate_groups(r, where, hint));
	LMS_TRY(validate_modules(r, where, hint));
	size_t n_trace = r->n_trace_steps * r->n_groups * r->n_formats;
	if ((n_trace && !r->traces) || (r->traces && !all_finite(r->traces, n_trace)))
		return BAD("%s: the per-step score traces are missing or not finite", where);
	if (!all_finite(r->calib_loss, r->n_calib_loss) ||
	    !all_finite(r->score_loss, r->n_score_loss))
		return BAD("%s: a loss value is not finite", where);
	for (size_t i = 0; i < r->n_timings; i++)
		if (!r->timings[i].phase || !isfinite(r->timings[i].seconds))
			return BAD("%s: timings[%zu] has no phase or a non-finite time", where, i);
	if (!isfinite(r->settings.effective_bits))
		return BAD("%s: the effective_bits target is not finite", where);
	if (r->has_search) {
		const struct lms_aq_search *s = &r->search;
		if (!isfinite(s->effective_bits) || !isfinite(s->score))
			return BAD("%s: the search result is not finite", where);
		if (!all_finite(s->frontier_bits, s->n_frontier) ||
		    !all_finite(s->frontier_score, s->n_frontier))
			return BAD("%s: the frontier is not finite", where);
	}
	return LMS_OK;
}

#undef BAD

void lms_aq_result_fill_costs(struct lms_aq_result *r)
{
	for (size_t g = 0; g < r->n_groups; g++)
		for (size_t f = 0; f < r->n_formats; f++)
			r->groups[g].costs[f] =
			    (double)r->groups[g].n_params * r->formats[f].bits / 16.0;
}

void lms_aq_group_candidate_scores(const struct lms_aq_result *r, size_t g, double *out)
{
	double prev = INFINITY;
	for (size_t f = 0; f < r->n_formats; f++) {
		double s = r->groups[g].scores[f];
		prev = s < prev ? s : prev;
		out[f] = prev;
	}
}

double lms_aq_result_effective_bits(const struct lms_aq_result *r, const int *choice)
{
	double num = 0, den = 0;
	size_t none = r->n_formats - 1;
	for (size_t g = 0; g < r->n_groups; g++) {
		num += r->groups[g].costs[choice[g]];
		den += r->groups[g].costs[none];
	}
	return den > 0 ? 16.0 * num / den : 16.0;
}

void lms_aq_fmt_double(double v, char *out, size_t cap)
{
	if (isnan(v)) {
		snprintf(out, cap, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(out, cap, v < 0 ? "-inf" : "inf");
		return;
	}
	/* Shortest %.Ng that reads back to the same double (Python's repr). */
	char buf[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".eninf"))
		strcat(buf, ".0");
	snprintf(out, cap, "%s", buf);
}

void lms_aq_format_recipe(const struct lms_aq_format *f, char *out, size_t cap)
{
	char bits[40];
	lms_aq_fmt_double(f->bits, bits, sizeof bits);
	snprintf(out, cap, "%s(effective-bits: %s)", str_or_empty(f->name), bits);
}

enum lms_status lms_aq_scheme_name(const char *model_name, const char *pair_name,
				   const char *override, char *out, size_t cap)
{
	int n;
	if (override && override[0])
		n = snprintf(out, cap, "%s", override);
	else if (model_name && model_name[0] && pair_name && pair_name[0])
		n = snprintf(out, cap, "%s_%s", model_name, pair_name);
	else
		n = snprintf(out, cap, "%s",
			     model_name && model_name[0] ? model_name
			     : pair_name		 ? pair_name
							 : "");
	if (n < 0 || (size_t)n >= cap)
		return lms_fail(LMS_ERR_CONFIG, "use a shorter quant_pair.scheme_name",
				"scheme name is longer than %zu characters", cap - 1);
	if (n == 0)
		return lms_fail(LMS_ERR_CONFIG,
				"set model.name and quant_pair.name, or quant_pair.scheme_name",
				"cannot name the artifacts: the scheme name is empty");
	for (char *p = out; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			*p = '_';
	}
	return LMS_OK;
}

/* --- deep comparison ---------------------------------------------------- */

#define DIFF(...)                                                                                  \
	do {                                                                                       \
		snprintf(why, why_cap, __VA_ARGS__);                                               \
		return 0;                                                                          \
	} while (0)

static int str_eq(const char *a, const char *b)
{
	return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
}

/* Bitwise equality, so -0.0 != 0.0 and a NaN equals the same NaN. */
static int f64_eq(const double *a, const double *b, size_t n)
{
	if (n == 0)
		return 1;
	if (!a || !b)
		return a == b;
	return memcmp(a, b, n * sizeof *a) == 0;
}

static int f32_eq(float a, float b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

static int job_equal(const struct lms_aq_job *a, const struct lms_aq_job *b, char *why,
		     size_t why_cap)
{
	const char *sa[] = {a->scheme,	   a->tool_version, a->model_name,   a->model_path,
			    a->model_type, a->dataset_name, a->dataset_size, a->dataset_path,
			    a->pair_name,  a->weight,	    a->activation};
	const char *sb[] = {b->scheme,	   b->tool_version, b->model_name,   b->model_path,
			    b->model_type, b->dataset_name, b->dataset_size, b->dataset_path,
			    b->pair_name,  b->weight,	    b->activation};
	for (size_t i = 0; i < sizeof sa / sizeof sa[0]; i++)
		if (!str_eq(sa[i], sb[i]))
			DIFF("job string %zu: '%s' vs '%s'", i, str_or_empty(sa[i]),
			     str_or_empty(sb[i]));
	if (a->samples != b->samples || a->tokens != b->tokens || a->seq_len != b->seq_len ||
	    a->batch_size != b->batch_size)
		DIFF("job counts (samples/tokens/seq_len/batch_size) differ");
	return 1;
}

static int settings_equal(const struct lms_aq_settings *a, const struct lms_aq_settings *b,
			  char *why, size_t why_cap)
{
	if (!str_eq(a->method, b->method) || !str_eq(a->loss_reduction, b->loss_reduction))
		DIFF("settings method/loss_reduction differ");
	if (!f64_eq(&a->effective_bits, &b->effective_bits, 1) || a->score_size != b->score_size ||
	    a->calib_steps != b->calib_steps || a->score_steps != b->score_steps)
		DIFF("settings numbers differ");
	if (a->n_disabled != b->n_disabled)
		DIFF("n_disabled %zu vs %zu", a->n_disabled, b->n_disabled);
	for (size_t i = 0; i < a->n_disabled; i++)
		if (!str_eq(a->disabled_layers[i], b->disabled_layers[i]))
			DIFF("disabled_layers[%zu] differ", i);
	return 1;
}

static int groups_equal(const struct lms_aq_result *a, const struct lms_aq_result *b, char *why,
			size_t why_cap)
{
	for (size_t g = 0; g < a->n_groups; g++) {
		const struct lms_aq_group *x = &a->groups[g], *y = &b->groups[g];
		if (!str_eq(x->name, y->name) || x->n_members != y->n_members ||
		    x->n_params != y->n_params || x->disabled != y->disabled ||
		    x->chosen != y->chosen)
			DIFF("groups[%zu] ('%s') fields differ", g, str_or_empty(x->name));
		if (x->n_members && memcmp(x->members, y->members, x->n_members * sizeof(size_t)))
			DIFF("groups[%zu] members differ", g);
		if (!f64_eq(x->scores, y->scores, a->n_formats) ||
		    !f64_eq(x->costs, y->costs, a->n_formats))
			DIFF("groups[%zu] ('%s') scores or costs differ", g, str_or_empty(x->name));
	}
	return 1;
}

static int modules_equal(const struct lms_aq_result *a, const struct lms_aq_result *b, char *why,
			 size_t why_cap)
{
	for (size_t m = 0; m < a->n_modules; m++) {
		const struct lms_aq_module *x = &a->modules[m], *y = &b->modules[m];
		if (!str_eq(x->name, y->name) || !str_eq(x->kind, y->kind) ||
		    x->layer != y->layer || x->in_features != y->in_features ||
		    x->out_features != y->out_features || x->group != y->group ||
		    !f32_eq(x->act_amax, y->act_amax) || !f32_eq(x->weight_amax, y->weight_amax))
			DIFF("modules[%zu] ('%s') fields differ", m, str_or_empty(x->name));
		if (!x->scores != !y->scores ||
		    (x->scores && !f64_eq(x->scores, y->scores, a->n_formats)))
			DIFF("modules[%zu] ('%s') scores differ", m, str_or_empty(x->name));
	}
	return 1;
}

int lms_aq_result_equal(const struct lms_aq_result *a, const struct lms_aq_result *b, char *why,
			size_t why_cap)
{
	if (!job_equal(&a->job, &b->job, why, why_cap) ||
	    !settings_equal(&a->settings, &b->settings, why, why_cap))
		return 0;
	if (a->n_formats != b->n_formats || a->n_groups != b->n_groups ||
	    a->n_modules != b->n_modules || a->n_trace_steps != b->n_trace_steps ||
	    a->n_calib_loss != b->n_calib_loss || a->n_score_loss != b->n_score_loss ||
	    a->n_timings != b->n_timings)
		DIFF("array sizes differ");
	for (size_t f = 0; f < a->n_formats; f++)
		if (!str_eq(a->formats[f].name, b->formats[f].name) ||
		    !f64_eq(&a->formats[f].bits, &b->formats[f].bits, 1))
			DIFF("formats[%zu] differ", f);
	if (!groups_equal(a, b, why, why_cap) || !modules_equal(a, b, why, why_cap))
		return 0;
	if (!f64_eq(a->traces, b->traces, a->n_trace_steps * a->n_groups * a->n_formats))
		DIFF("traces differ");
	if (!f64_eq(a->calib_loss, b->calib_loss, a->n_calib_loss) ||
	    !f64_eq(a->score_loss, b->score_loss, a->n_score_loss))
		DIFF("losses differ");
	for (size_t i = 0; i < a->n_timings; i++)
		if (!str_eq(a->timings[i].phase, b->timings[i].phase) ||
		    !f64_eq(&a->timings[i].seconds, &b->timings[i].seconds, 1))
			DIFF("timings[%zu] differ", i);
	if (!str_eq(a->config_yaml, b->config_yaml))
		DIFF("config_yaml differs");
	if (a->has_search != b->has_search)
		DIFF("has_search %d vs %d", a->has_search, b->has_search);
	if (a->has_search) {
		const struct lms_aq_search *x = &a->search, *y = &b->search;
		if (!f64_eq(&x->effective_bits, &y->effective_bits, 1) ||
		    !f64_eq(&x->score, &y->score, 1) || x->is_satisfied != y->is_satisfied ||
		    x->n_frontier != y->n_frontier ||
		    !f64_eq(x->frontier_bits, y->frontier_bits, x->n_frontier) ||
		    !f64_eq(x->frontier_score, y->frontier_score, x->n_frontier))
			DIFF("search results differ");
	}
	if (why_cap)
		why[0] = '\0';
	return 1;
}
