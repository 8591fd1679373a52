/* group.h — AutoQuantize groups, disabled layers and candidate stats.
 *
 * Grouping (reference/modelopt-autoquant.md §3.2, v0.40 rules, first match
 * wins; the key is the regex's group(1)):
 *   1. ^(.*?)\.(q_proj|k_proj|v_proj)$            q/k/v share a format
 *   2. ^(.*?\.mlp\.experts)\.\d+\.(gate_proj|up_proj|down_proj)$
 *                                                  all experts of a MoE layer
 *   3. ^(.*?)\.(gate_proj|up_proj)$               gate/up share a format
 *   4. ^(.*?)\.(\d+\.(w1|w2|w3))$                 Mixtral experts
 *   5. ^(.*?)\.((w1_linear|w2_linear|w3_linear)\.\d+)$   DBRX experts
 *   anything else (o_proj, down_proj, lm_head) is its own group.
 * Groups are listed in the order their first module appears (the model's
 * named_modules order), and are named like ModelOpt's candidate_stats keys:
 * "<first module>.quant_recipe".
 *
 * Disabled layers (§3.5): a group with any module matching one of the
 * fnmatch patterns of autoquant.disabled_layers (default "*lm_head*") keeps
 * only NONE: score 0, and it still costs 16 bits in the budget.
 *
 * Candidate stats (§5.5): candidates are the formats in lms_format_cmp order
 * (ascending bits, NONE last); scores are monotonized,
 * score_i = min(raw_i, score_{i−1}) from +inf, so a format with more bits
 * never looks worse; NONE scores 0; cost_i = numel × bits_i × 64.
 *
 * Not here: computing scores (the engine), the search (search.h). */
#ifndef LMS_AUTOQUANT_GROUP_H
#define LMS_AUTOQUANT_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "quant/format.h"

struct lms_aq_gdef {
	char *key;          /* the rule's group(1), or the module name (owned) */
	char *name;         /* "<first module>.quant_recipe" (owned) */
	size_t n_modules;
	size_t *modules;    /* (n_modules) indices into the module list, ascending (owned) */
	int64_t numel;      /* Σ weight elements of the modules */
	int disabled;       /* 1: matched autoquant.disabled_layers → NONE only */
};

struct lms_aq_grouping {
	size_t n;
	struct lms_aq_gdef *g; /* (n) owned */
};

/* The group key of one module name into key (cap bytes); returns the rule
 * number 1..5 that matched, or 0 when the module is its own group (key =
 * name). Fails (LMS_ERR_INPUT) only when the key does not fit. */
LMS_NODISCARD enum lms_status lms_aq_group_key(const char *module, char *key, size_t cap, int *rule);

/* 1 if name matches one of the fnmatch patterns (Python fnmatch semantics:
 * '*' crosses '.', no backslash escapes), else 0. */
int lms_aq_name_disabled(const char *name, const char *const *patterns, size_t n_patterns);

/* Groups n quantizable modules (names and weight element counts in model
 * order; borrowed). *out is filled (free with lms_aq_grouping_free, also after
 * a failure). Errors: LMS_ERR_INPUT (duplicate module name, numel <= 0),
 * LMS_ERR_NOMEM. */
LMS_NODISCARD enum lms_status lms_aq_grouping_build(const char *const *names, const int64_t *numel, size_t n,
						  const char *const *disabled, size_t n_disabled,
						  struct lms_aq_grouping *out);
void lms_aq_grouping_free(struct lms_aq_grouping *gs);

/* In-place monotonization over candidates in ascending-bits order (§5.5). */
void lms_aq_monotonize(double *scores, size_t n);

/* Candidate stats of one group. formats (n_formats, sorted with
 * lms_format_cmp, NONE last and present) are borrowed; raw[i] is the group's
 * summed score for formats[i] (NONE's entry is ignored: it scores 0).
 * Writes *n_out candidates to cost/score (room for n_formats): all formats,
 * or only NONE for a disabled group. Errors: LMS_ERR_CONFIG (formats not
 * sorted or without NONE last; bits not representable). */
LMS_NODISCARD enum lms_status lms_aq_candidates(const struct lms_aq_gdef *g, const struct lms_format *formats,
						size_t n_formats, const double *raw, int64_t *cost, double *score,
						size_t *n_out);

#endif
