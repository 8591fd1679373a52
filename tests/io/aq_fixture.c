/* aq_fixture.c — builds the synthetic AutoQuant result of aq_fixture.h.
 *
 * The numbers are seeded pseudo-random but shaped like real ones: scores
 * log-uniform over four decades, larger for more aggressive formats, equal
 * to the sum of the per-step traces; amax values rounded to bf16; the search
 * is brute force over every selection (at most 3^8), the frontier the lower
 * envelope of (effective bits, score). */
#include "aq_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/search.h"
#include "core/numeric.h"

#define MUST(x)                                                                                    \
	do {                                                                                       \
		if ((x) != LMS_OK) {                                                               \
			fprintf(stderr, "fixture: %s failed: %s\n", #x, lms_error_message());      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t g_state;

static double urand(void)
{
	/* xorshift64*: deterministic across platforms. */
	g_state ^= g_state >> 12;
	g_state ^= g_state << 25;
	g_state ^= g_state >> 27;
	return (double)((g_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

struct lin {
	const char *kind;
	int out, in;
	int group_start; /* 1 if this linear opens a new group */
};

static const struct lin k_tiny[] = {
    {"q_proj", 64, 64, 1},     {"k_proj", 32, 64, 0},	  {"v_proj", 32, 64, 0},
    {"o_proj", 64, 64, 1},     {"gate_proj", 128, 64, 1}, {"up_proj", 128, 64, 0},
    {"down_proj", 64, 128, 1},
};
/* Qwen3-VL-4B text decoder: hidden 2560, 32 heads / 8 KV heads of 128, intermediate 9728. */
static const struct lin k_4b[] = {
    {"q_proj", 4096, 2560, 1},	  {"k_proj", 1024, 2560, 0},	{"v_proj", 1024, 2560, 0},
    {"o_proj", 2560, 4096, 1},	  {"gate_proj", 9728, 2560, 1}, {"up_proj", 9728, 2560, 0},
    {"down_proj", 2560, 9728, 1},
};
#define N_LIN 7
static int g_n_layers = 2;
static const struct lin *k_layer = k_tiny;
static int64_t g_hidden = 64, g_vocab = 256;
#define N_MODULES ((size_t)g_n_layers * N_LIN + 1)
#define N_GROUPS ((size_t)g_n_layers * 4 + 1)

static void set_names(struct lms_aq_result *r)
{
	char buf[128];
	for (int l = 0; l < g_n_layers; l++) {
		for (int k = 0; k < N_LIN; k++) {
			struct lms_aq_module *m = &r->modules[l * N_LIN + k];
			const char *blk = k < 4 ? "self_attn" : "mlp";
			snprintf(buf, sizeof buf, "model.layers.%d.%s.%s", l, blk, k_layer[k].kind);
			MUST(lms_aq_set_str(&m->name, buf));
			MUST(lms_aq_set_str(&m->kind, k_layer[k].kind));
			m->layer = l;
			m->in_features = k_layer[k].in;
			m->out_features = k_layer[k].out;
		}
	}
	struct lms_aq_module *head = &r->modules[N_MODULES - 1];
	MUST(lms_aq_set_str(&head->name, "lm_head"));
	MUST(lms_aq_set_str(&head->kind, "lm_head"));
	head->layer = -1;
	head->in_features = g_hidden;
	head->out_features = g_vocab;
}

static void set_groups(struct lms_aq_result *r)
{
	size_t g = (size_t)-1, members[3], n = 0;
	for (size_t m = 0; m < N_MODULES; m++) {
		int start = m == N_MODULES - 1 || k_layer[m % N_LIN].group_start;
		if (start) {
			if (n)
				MUST(lms_aq_group_set_members(&r->groups[g], members, n));
			g++;
			n = 0;
			MUST(lms_aq_set_str(&r->groups[g].name, r->modules[m].name));
		}
		members[n++] = m;
		r->modules[m].group = g;
		r->groups[g].n_params += r->modules[m].in_features * r->modules[m].out_features;
		r->modules[m].act_amax = lms_round_bf16((float)(0.5 + 20.0 * urand()));
		r->modules[m].weight_amax = lms_round_bf16((float)(0.02 + 0.3 * urand()));
	}
	MUST(lms_aq_group_set_members(&r->groups[g], members, n));
	r->groups[N_GROUPS - 1].disabled = 1; /* lm_head, like disabled_layers=["*lm_head*"] */
}

/* Per-step, per-module scores → module, group and trace totals. */
static void set_scores(struct lms_aq_result *r, const struct aq_fixture_opts *o)
{
	size_t nf = r->n_formats, steps = (size_t)(o->trace_steps > 0 ? o->trace_steps : 1);
	for (size_t m = 0; m < r->n_modules; m++) {
		size_t g = r->modules[m].group;
		if (r->groups[g].disabled)
			continue;
		double base = pow(10.0, -6.0 + 4.0 * urand());
		for (size_t f = 0; f + 1 < nf; f++) {
			/* more aggressive (lower f) → larger score, roughly 16× per halving */
			double fmt_scale = pow(16.0, (double)(nf - 2 - f));
			for (size_t s = 0; s < steps; s++) {
				double v = base * fmt_scale * (0.5 + urand()) / (double)steps;
				if (r->modules[m].scores)
					r->modules[m].scores[f] += v;
				if (r->traces)
					r->traces[(s * r->n_groups + g) * nf + f] += v;
			}
		}
	}
	for (size_t g = 0; g < r->n_groups; g++)
		for (size_t f = 0; f < nf; f++)
			for (size_t s = 0; r->traces && s < r->n_trace_steps; s++)
				r->groups[g].scores[f] += r->traces[(s * r->n_groups + g) * nf + f];
	if (!r->traces) /* no traces: group score = Σ module scores, drawn again */
		for (size_t g = 0; g < r->n_groups; g++)
			for (size_t f = 0; !r->groups[g].disabled && f + 1 < nf; f++)
				r->groups[g].scores[f] = pow(10.0, -5.0 + 3.0 * urand()) *
							 pow(16.0, (double)(nf - 2 - f));
	lms_aq_result_fill_costs(r);
}

struct point {
	double bits, score;
};

static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	if (x->bits != y->bits)
		return x->bits < y->bits ? -1 : 1;
	return x->score < y->score ? -1 : x->score > y->score;
}

/* Exhaustive exact search over all selections of the configurable groups. */
static void search(struct lms_aq_result *r)
{
	size_t nf = r->n_formats, ng = r->n_groups, none = nf - 1, total = 1;
	for (size_t g = 0; g < ng; g++)
		total *= r->groups[g].disabled ? 1 : nf;
	double *mono = calloc(ng * nf, sizeof *mono);
	int *choice = calloc(ng, sizeof *choice), *best = calloc(ng, sizeof *best);
	struct point *pts = calloc(total, sizeof *pts);
	if (!mono || !choice || !best || !pts)
		abort();
	for (size_t g = 0; g < ng; g++)
		lms_aq_group_candidate_scores(r, g, mono + g * nf);
	double best_score = INFINITY, best_bits = 16;
	for (size_t c = 0; c < total; c++) {
		size_t rest = c;
		double score = 0;
		for (size_t g = 0; g < ng; g++) {
			choice[g] = (int)(r->groups[g].disabled ? none : rest % nf);
			if (!r->groups[g].disabled)
				rest /= nf;
			score += mono[g * nf + (size_t)choice[g]];
		}
		double bits = lms_aq_result_effective_bits(r, choice);
		pts[c] = (struct point){bits, score};
		if (bits <= r->settings.effective_bits && score < best_score) {
			best_score = score;
			best_bits = bits;
			memcpy(best, choice, ng * sizeof *best);
		}
	}
	r->search.is_satisfied = isfinite(best_score);
	if (!r->search.is_satisfied) { /* infeasible: keep everything at the smallest size */
		for (size_t g = 0; g < ng; g++)
			best[g] = r->groups[g].disabled ? (int)none : 0;
		best_bits = lms_aq_result_effective_bits(r, best);
		best_score = 0;
		for (size_t g = 0; g < ng; g++)
			best_score += mono[g * nf + (size_t)best[g]];
	}
	for (size_t g = 0; g < ng; g++)
		r->groups[g].chosen = best[g];
	r->search.effective_bits = best_bits;
	r->search.score = best_score;
	qsort(pts, total, sizeof *pts, cmp_point);
	size_t n = 0;
	for (size_t i = 0; i < total; i++)
		if (n == 0 || pts[i].score < pts[n - 1].score)
			pts[n++] = pts[i];
	MUST(lms_aq_result_alloc_frontier(r, n));
	for (size_t i = 0; i < n; i++) {
		r->search.frontier_bits[i] = pts[i].bits;
		r->search.frontier_score[i] = pts[i].score;
	}
	r->has_search = 1;
	free(mono);
	free(choice);
	free(best);
	free(pts);
}

static void set_job(struct lms_aq_result *r, const struct aq_fixture_opts *o)
{
	struct lms_aq_job *j = &r->job;
	MUST(lms_aq_set_str(&j->tool_version, "0.1.0"));
	MUST(lms_aq_set_str(&j->model_name, "tiny_qwen3"));
	MUST(lms_aq_set_str(&j->model_path, "/data/models/tiny-qwen3"));
	MUST(lms_aq_set_str(&j->model_type, "qwen3"));
	MUST(lms_aq_set_str(&j->dataset_name, "vlm_coco2017_captions"));
	MUST(lms_aq_set_str(&j->dataset_size, "small"));
	MUST(lms_aq_set_str(&j->dataset_path,
			    "datasets/vlm-quantize-calib/coco2017_captions_small.txt"));
	j->samples = 16;
	j->tokens = 1723;
	j->seq_len = 128;
	j->batch_size = 4;
	MUST(lms_aq_set_str(&j->pair_name, o->two_formats ? "wfp4_afp8" : "wfp8_afp8"));
	MUST(lms_aq_set_str(&j->weight, o->two_formats ? "fp4" : "fp8"));
	MUST(lms_aq_set_str(&j->activation, "fp8"));
	char scheme[128];
	MUST(lms_aq_scheme_name(j->model_name, j->pair_name, NULL, scheme, sizeof scheme));
	MUST(lms_aq_set_str(&j->scheme, scheme));
	struct lms_aq_settings *s = &r->settings;
	MUST(lms_aq_set_str(&s->method, "gradient"));
	MUST(lms_aq_set_str(&s->loss_reduction, "mean"));
	s->effective_bits = o->target_bits;
	s->score_size = 16;
	s->calib_steps = 4;
	s->score_steps = o->trace_steps;
	MUST(lms_aq_result_alloc_disabled(r, 1));
	MUST(lms_aq_set_str(&s->disabled_layers[0], "*lm_head*"));
	MUST(lms_aq_set_str(&r->config_yaml,
			    "model:\n  name: tiny_qwen3\nquant_pair:\n  name: wfp8_afp8  # W8A8 — "
			    "FP8 “per tensor”\n"
			    "autoquant:\n  method: gradient\n  effective_bits: 11.0\n"));
}

void aq_fixture_build(struct lms_aq_result *r, const struct aq_fixture_opts *o)
{
	g_state = o->seed ? o->seed : 0x9e3779b97f4a7c15ull;
	int big = o->n_layers > 2;
	g_n_layers = big ? o->n_layers : 2;
	k_layer = big ? k_4b : k_tiny;
	g_hidden = big ? 2560 : 64;
	g_vocab = big ? 151936 : 256;
	size_t nf = o->two_formats ? 3 : 2;
	MUST(lms_aq_result_alloc(r, nf, N_GROUPS, N_MODULES, (size_t)o->trace_steps, 4,
				 (size_t)o->trace_steps, 4));
	if (o->two_formats) {
		MUST(lms_aq_set_str(&r->formats[0].name, "W4A8_MXFP4_FP8"));
		r->formats[0].bits = 4.0;
		MUST(lms_aq_set_str(&r->formats[1].name, "FP8_DEFAULT_CFG"));
		r->formats[1].bits = 8.0;
	} else {
		MUST(lms_aq_set_str(&r->formats[0].name, "FP8_DEFAULT_CFG"));
		r->formats[0].bits = 8.0;
	}
	MUST(lms_aq_set_str(&r->formats[nf - 1].name, "NONE"));
	r->formats[nf - 1].bits = 16.0;
	set_job(r, o);
	set_names(r);
	if (o->module_scores)
		MUST(lms_aq_result_alloc_module_scores(r));
	set_groups(r);
	set_scores(r, o);
	for (size_t i = 0; i < r->n_calib_loss; i++)
		r->calib_loss[i] = 2.0 + urand();
	for (size_t i = 0; i < r->n_score_loss; i++)
		r->score_loss[i] = 2.0 + urand();
	const char *phases[] = {"load", "calibrate", "score", "search"};
	for (size_t i = 0; i < r->n_timings; i++) {
		MUST(lms_aq_set_str(&r->timings[i].phase, phases[i]));
		r->timings[i].seconds = 0.25 * (double)(i + 1) + urand();
	}
	if (o->with_search && big)
		MUST(lms_search_result(r)); /* 3^145 selections: no brute force */
	else if (o->with_search)
		search(r);
	MUST(lms_aq_result_validate(r, "fixture"));
}
