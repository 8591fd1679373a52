/* search.h — exact AutoQuantize search: multiple-choice knapsack + frontier.
 *
 * Each group picks exactly one of its candidates (formats in ascending-bits
 * order, NONE last); candidate i of a group has an integer cost (weight
 * elements × effective bits × LMS_FORMAT_BITS_DEN, see quant/format.h) and a
 * score (the monotonized sensitivity). The search minimizes Σ score subject to
 * Σ cost ≤ budget = total × effective_bits / 16, like ModelOpt's binary LP
 * (reference/modelopt-autoquant.md §7.2, §8.1) but exactly and without a
 * solver.
 *
 * Method: the Pareto frontier of (total cost, total score) over all
 * selections, built group by group — merge the previous frontier shifted by
 * each candidate and keep only non-dominated points. That is exact (scores
 * are added in group order, and fp rounding is monotone, so a dominated
 * partial selection can never complete into a better one) and yields the
 * least score for every achievable budget at once, so a new target is read
 * off without re-scoring (lms_search_solve on the same frontier).
 *
 * Deterministic ties: the answer for a budget is the least score; among equal
 * scores the least cost; two partial selections with the same cost and score
 * keep the one with the lower candidate index at the group where they meet
 * (the more aggressive format, as the candidates are in ascending-bits order).
 *
 * Not here: scores, grouping and monotonization (group.h), cost units
 * (format.h), writing reports. */
#ifndef LMS_AUTOQUANT_SEARCH_H
#define LMS_AUTOQUANT_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define LMS_SEARCH_MAX_CHOICES 64
/* Points stored over all stages (5 bytes each for the back-pointers). */
#define LMS_SEARCH_MAX_POINTS ((size_t)1 << 27)

struct lms_search_group {
	size_t n_choices;     /* 1 .. LMS_SEARCH_MAX_CHOICES */
	const int64_t *cost;  /* (n_choices) cost units >= 0, borrowed */
	const double *score;  /* (n_choices) not NaN, borrowed */
};

struct lms_search_frontier; /* opaque */

struct lms_search_result {
	int is_satisfied;          /* 0: target below the minimum achievable bits */
	int64_t cost;              /* Σ selected cost units */
	double score;              /* Σ selected scores, added in group order */
	double effective_bits;     /* achieved: 16 · cost / total */
	double min_effective_bits; /* the least achievable: 16 · min cost / total */
	int64_t budget;            /* lms_search_budget(total, target), cost units */
	size_t frontier_index;     /* the frontier point chosen */
};

/* Builds the frontier. groups (borrowed) are only read during the call.
 * *out is new (lms_search_frontier_free). Errors: LMS_ERR_CONFIG (a group
 * without candidates or with too many, a negative cost, a NaN score),
 * LMS_ERR_UNSUPPORTED (frontier larger than LMS_SEARCH_MAX_POINTS),
 * LMS_ERR_NOMEM. */
LMS_NODISCARD enum lms_status lms_search_frontier_build(const struct lms_search_group *groups, size_t n_groups,
							struct lms_search_frontier **out);
void lms_search_frontier_free(struct lms_search_frontier *f);

/* Frontier points, by ascending cost (and strictly descending score). */
size_t lms_search_frontier_len(const struct lms_search_frontier *f);
void lms_search_frontier_point(const struct lms_search_frontier *f, size_t i, int64_t *cost, double *score);
/* The selection of point i: choice[g] = candidate index of group g (n_groups). */
void lms_search_frontier_select(const struct lms_search_frontier *f, size_t i, int *choice);

/* Solves for a target: total = the uncompressed cost (Σ weight elements ×
 * 16 × LMS_FORMAT_BITS_DEN, disabled groups included), target in (0, 16].
 * Writes the selection to choice (n_groups) and *res. An infeasible target is
 * not an error: is_satisfied = 0, a warning is logged, and the least-cost
 * selection is returned (res->min_effective_bits says what is achievable).
 * Errors: LMS_ERR_CONFIG for a target outside (0, 16] or total <= 0. */
LMS_NODISCARD enum lms_status lms_search_solve(const struct lms_search_frontier *f, int64_t total,
					       double target_bits, int *choice, struct lms_search_result *res);

struct lms_aq_result;

/* Runs the search on a result (autoquant/result.h) whose formats (NONE last,
 * bits multiples of 1/64) and groups (raw scores, n_params, disabled) are
 * filled: candidates get ModelOpt's monotonized scores (disabled groups
 * only NONE, score 0, 16 bits), the target is r->settings.effective_bits.
 * Fills groups[].chosen, groups[].costs, r->search (achieved bits, score,
 * is_satisfied, the whole frontier in bits) and sets has_search. An
 * infeasible target is not an error (is_satisfied = 0, warning logged).
 * Errors: LMS_ERR_CONFIG (no NONE last, bits not representable, target out
 * of range), LMS_ERR_NOMEM, and those of lms_search_frontier_build. */
LMS_NODISCARD enum lms_status lms_search_result(struct lms_aq_result *r);

/* The budget in cost units: ModelOpt's max_weight_size = numel_total ·
 * target / 16 evaluated in doubles (numel_total = total / (16 · DEN)), then
 * floor(max_weight_size · 16 · DEN), exactly; a selection fits when its cost
 * is <= the budget. */
int64_t lms_search_budget(int64_t total, double target_bits);

#endif
