/* group.c — grouping rules, disabled-layer matching, candidate stats.
 *
 * The five regex rules of ModelOpt v0.40 (group.h) are anchored at both
 * ends, so each has exactly one way to match; they are written here as
 * suffix checks on the dotted name instead of a regex engine. Matching order
 * is the rule order (first match wins).
 *
 * Invariants: groups keep their modules in model order; a group's name is
 * its first module's name + ".quant_recipe".
 * Not here: HEAD's extra rules (NemotronH, MCore, Qwen3.5 linear_attn). */
#include "autoquant/group.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int in_list(const char *s, size_t n, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == n && strncmp(s, *list, n) == 0)
			return 1;
	return 0;
}

/* Splits s[0..n) at its last '.': returns the prefix length, or -1. */
static long last_dot(const char *s, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (s[i] == '.')
			return (long)i;
	return -1;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t m = strlen(suf);
	return n >= m && strncmp(s + n - m, suf, m) == 0;
}

/* Length of the group key of `name` under rules 1..5, with the rule in *rule
 * (0 and the whole length when none matches). */
static size_t key_len(const char *name, int *rule)
{
	static const char *const qkv[] = {"q_proj", "k_proj", "v_proj", NULL};
	static const char *const gud[] = {"gate_proj", "up_proj", "down_proj", NULL};
	static const char *const gu[] = {"gate_proj", "up_proj", NULL};
	static const char *const w123[] = {"w1", "w2", "w3", NULL};
	static const char *const wl[] = {"w1_linear", "w2_linear", "w3_linear", NULL};
	size_t n = strlen(name);
	long d1 = last_dot(name, n);
	*rule = 0;
	if (d1 < 0)
		return n;
	const char *last = name + d1 + 1;
	size_t last_n = n - (size_t)d1 - 1;
	long d2 = last_dot(name, (size_t)d1); /* component before `last` */
	const char *mid = d2 >= 0 ? name + d2 + 1 : NULL;
	size_t mid_n = d2 >= 0 ? (size_t)(d1 - d2 - 1) : 0;
	if (in_list(last, last_n, qkv)) {
		*rule = 1;
		return (size_t)d1;
	}
	if (in_list(last, last_n, gud) && mid && is_digits(mid, mid_n) && ends_with(name, (size_t)d2, ".mlp.experts")) {
		*rule = 2;
		return (size_t)d2;
	}
	if (in_list(last, last_n, gu)) {
		*rule = 3;
		return (size_t)d1;
	}
	if (in_list(last, last_n, w123) && mid && is_digits(mid, mid_n)) {
		*rule = 4;
		return (size_t)d2;
	}
	if (is_digits(last, last_n) && mid && in_list(mid, mid_n, wl)) {
		*rule = 5;
		return (size_t)d2;
	}
	return n;
}

enum lms_status lms_aq_group_key(const char *module, char *key, size_t cap, int *rule)
{
	size_t n = key_len(module, rule);
	if (n + 1 > cap)
		return lms_fail(LMS_ERR_INPUT, NULL, "module name '%s' is too long", module);
	memcpy(key, module, n);
	key[n] = '\0';
	return LMS_OK;
}

int lms_aq_name_disabled(const char *name, const char *const *patterns, size_t n_patterns)
{
	for (size_t i = 0; i < n_patterns; i++)
		if (fnmatch(patterns[i], name, FNM_NOESCAPE) == 0)
			return 1;
	return 0;
}

void lms_aq_grouping_free(struct lms_aq_grouping *gs)
{
	if (!gs)
		return;
	for (size_t i = 0; i < gs->n; i++) {
		free(gs->g[i].key);
		free(gs->g[i].name);
		free(gs->g[i].modules);
	}
	free(gs->g);
	gs->g = NULL;
	gs->n = 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

enum lms_status lms_aq_grouping_build(const char *const *names, const int64_t *numel, size_t n,
				    const char *const *disabled, size_t n_disabled, struct lms_aq_grouping *out)
{
	out->n = 0;
	out->g = calloc(n ? n : 1, sizeof *out->g);
	if (!out->g)
		return lms_fail(LMS_ERR_NOMEM, NULL, "grouping: out of memory");
	for (size_t i = 0; i < n; i++) {
		if (numel[i] <= 0)
			return lms_fail(LMS_ERR_INPUT, NULL, "module %s has %lld weight elements", names[i],
					(long long)numel[i]);
		for (size_t j = 0; j < i; j++) /* O(n²), n is a few hundred */
			if (strcmp(names[i], names[j]) == 0)
				return lms_fail(LMS_ERR_INPUT, NULL, "module %s is listed twice", names[i]);
		int rule;
		size_t kn = key_len(names[i], &rule);
		struct lms_aq_gdef *g = NULL;
		for (size_t k = 0; k < out->n; k++)
			if (strlen(out->g[k].key) == kn && strncmp(out->g[k].key, names[i], kn) == 0) {
				g = &out->g[k];
				break;
			}
		if (!g) {
			g = &out->g[out->n++];
			g->key = dup_n(names[i], kn);
			size_t nl = strlen(names[i]);
			g->name = malloc(nl + sizeof ".quant_recipe");
			g->modules = malloc(n * sizeof *g->modules);
			if (!g->key || !g->name || !g->modules)
				return lms_fail(LMS_ERR_NOMEM, NULL, "grouping: out of memory");
			memcpy(g->name, names[i], nl);
			memcpy(g->name + nl, ".quant_recipe", sizeof ".quant_recipe");
		}
		g->modules[g->n_modules++] = i;
		g->numel += numel[i];
		if (lms_aq_name_disabled(names[i], disabled, n_disabled))
			g->disabled = 1;
	}
	return LMS_OK;
}

void lms_aq_monotonize(double *scores, size_t n)
{
	double prev = INFINITY;
	for (size_t i = 0; i < n; i++) {
		if (scores[i] > prev)
			scores[i] = prev;
		prev = scores[i];
	}
}

enum lms_status lms_aq_candidates(const struct lms_aq_gdef *g, const struct lms_format *formats, size_t n_formats,
				  const double *raw, int64_t *cost, double *score, size_t *n_out)
{
	*n_out = 0;
	if (n_formats == 0 || strcmp(formats[n_formats - 1].name, LMS_FORMAT_NONE_NAME) != 0)
		return lms_fail(LMS_ERR_CONFIG, "append NONE to the candidate formats",
				"group %s: candidate formats do not end with NONE", g->name);
	for (size_t i = 1; i < n_formats; i++)
		if (lms_format_cmp(&formats[i - 1], &formats[i]) >= 0)
			return lms_fail(LMS_ERR_CONFIG, "sort candidates with lms_format_cmp",
					"group %s: formats %s and %s are out of order or repeated", g->name,
					formats[i - 1].name, formats[i].name);
	size_t first = g->disabled ? n_formats - 1 : 0;
	for (size_t i = first; i < n_formats; i++) {
		int64_t units;
		LMS_TRY(lms_format_bits_units(&formats[i], &units));
		if (g->numel > INT64_MAX / units)
			return lms_fail(LMS_ERR_INPUT, NULL, "group %s: cost overflows", g->name);
		cost[*n_out] = g->numel * units;
		score[*n_out] = (i == n_formats - 1) ? 0.0 : raw[i];
		(*n_out)++;
	}
	lms_aq_monotonize(score, *n_out);
	return LMS_OK;
}
