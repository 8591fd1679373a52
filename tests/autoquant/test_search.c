/* test_search.c — the exact knapsack search against brute force.
 *
 * Random small cases (seeded): every selection is enumerated, its score
 * summed in group order like the search does, and for every budget the
 * brute-force optimum (least score, then least cost) must equal the frontier
 * answer exactly. Costs are small integers and half the cases use integer
 * scores, so ties in cost and score are frequent. Also: the exact budget
 * arithmetic, infeasible targets, and bad input. */
#include <stdint.h>
#include <stdlib.h>

#include "autoquant/result.h"
#include "autoquant/search.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define MAXG 7
#define MAXK 4

struct ccase {
	size_t ng, k[MAXG];
	int64_t cost[MAXG][MAXK];
	double score[MAXG][MAXK];
	struct lms_search_group groups[MAXG];
};

static void make_case(struct ccase *c, int int_scores)
{
	c->ng = 1 + next() % MAXG;
	for (size_t g = 0; g < c->ng; g++) {
		c->k[g] = 1 + next() % MAXK;
		for (size_t j = 0; j < c->k[g]; j++) {
			c->cost[g][j] = (int64_t)(next() % 9);
			c->score[g][j] = int_scores ? (double)(next() % 5) : (double)(next() % 100000) / 997.0;
		}
		c->groups[g].n_choices = c->k[g];
		c->groups[g].cost = c->cost[g];
		c->groups[g].score = c->score[g];
	}
}

/* Brute force for one budget: least score, then least cost. Returns 0 if
 * nothing fits. */
static int brute(const struct ccase *c, int64_t budget, int64_t *bc, double *bs)
{
	size_t idx[MAXG] = {0};
	int found = 0;
	for (;;) {
		int64_t cost = 0;
		double score = 0.0;
		for (size_t g = 0; g < c->ng; g++) {
			cost += c->cost[g][idx[g]];
			score += c->score[g][idx[g]];
		}
		if (cost <= budget && (!found || score < *bs || (score == *bs && cost < *bc))) {
			*bc = cost;
			*bs = score;
			found = 1;
		}
		size_t g = 0;
		while (g < c->ng && ++idx[g] == c->k[g])
			idx[g++] = 0;
		if (g == c->ng)
			break;
	}
	return found;
}

static void test_random(void)
{
	int mismatches = 0, checked = 0;
	for (int t = 0; t < 400; t++) {
		struct ccase c;
		make_case(&c, t % 2);
		struct lms_search_frontier *f = NULL;
		if (lms_search_frontier_build(c.groups, c.ng, &f) != LMS_OK) {
			CHECK(0);
			continue;
		}
		int choice[MAXG];
		/* invariant: strictly ascending cost, strictly descending score */
		for (size_t i = 1; i < lms_search_frontier_len(f); i++) {
			int64_t c0, c1;
			double s0, s1;
			lms_search_frontier_point(f, i - 1, &c0, &s0);
			lms_search_frontier_point(f, i, &c1, &s1);
			if (!(c0 < c1 && s0 > s1))
				mismatches++;
		}
		for (int64_t budget = -1; budget <= 9 * MAXG; budget++) {
			int64_t bc = 0, fc = 0;
			double bs = 0.0, fs = 0.0;
			int ok = brute(&c, budget, &bc, &bs);
			/* frontier answer: last point with cost <= budget */
			size_t n = lms_search_frontier_len(f), i, hit = n;
			for (i = 0; i < n; i++) {
				lms_search_frontier_point(f, i, &fc, &fs);
				if (fc <= budget)
					hit = i;
			}
			checked++;
			if (ok != (hit != n)) {
				mismatches++;
				continue;
			}
			if (!ok)
				continue;
			lms_search_frontier_point(f, hit, &fc, &fs);
			lms_search_frontier_select(f, hit, choice);
			int64_t sc = 0;
			double ss = 0.0;
			for (size_t g = 0; g < c.ng; g++) {
				sc += c.cost[g][choice[g]];
				ss += c.score[g][choice[g]];
			}
			if (fc != bc || fs != bs || sc != fc || ss != fs)
				mismatches++;
		}
		lms_search_frontier_free(f);
	}
	CHECK_INT_EQ(mismatches, 0);
	CHECK(checked > 10000);
}

static void test_solve(void)
{
	/* two groups, candidates (aggressive, FP8, NONE): cost = numel·bits·64 */
	int64_t c0[] = {100 * 4 * 64, 100 * 8 * 64, 100 * 16 * 64};
	double s0[] = {5.0, 1.0, 0.0};
	int64_t c1[] = {300 * 16 * 64}; /* disabled group: NONE only */
	double s1[] = {0.0};
	struct lms_search_group g[] = {{3, c0, s0}, {1, c1, s1}};
	int64_t total = 400 * 16 * 64;
	struct lms_search_frontier *f = NULL;
	CHECK_INT_EQ(lms_search_frontier_build(g, 2, &f), LMS_OK);
	CHECK_INT_EQ(lms_search_frontier_len(f), 3);
	int choice[2];
	struct lms_search_result r;
	/* min bits = (100·4 + 300·16)/400 = 13 */
	CHECK_INT_EQ(lms_search_solve(f, total, 13.0, choice, &r), LMS_OK);
	CHECK(r.is_satisfied);
	CHECK_INT_EQ(choice[0], 0);
	CHECK_NEAR(r.effective_bits, 13.0, 0, 0);
	CHECK_INT_EQ(lms_search_solve(f, total, 14.0, choice, &r), LMS_OK);
	CHECK_INT_EQ(choice[0], 1); /* (100·8 + 4800)/400 = 14 fits exactly */
	CHECK_NEAR(r.score, 1.0, 0, 0);
	CHECK_INT_EQ(lms_search_solve(f, total, 12.9, choice, &r), LMS_OK);
	CHECK(!r.is_satisfied);
	CHECK_NEAR(r.min_effective_bits, 13.0, 0, 0);
	CHECK_INT_EQ(choice[0], 0);
	CHECK_INT_EQ(lms_search_solve(f, total, 16.5, choice, &r), LMS_ERR_CONFIG);
	CHECK_INT_EQ(lms_search_solve(f, total, 0.0, choice, &r), LMS_ERR_CONFIG);
	lms_search_frontier_free(f);
	/* budget = floor(numel·target/16 (doubles, like ModelOpt) · 1024) */
	CHECK_INT_EQ(lms_search_budget(100 * 1024, 4.8), 30 * 1024); /* 4.8 bits fit exactly */
	CHECK_INT_EQ(lms_search_budget(3 * 1024, 16.0), 3 * 1024);
	CHECK_INT_EQ(lms_search_budget(10 * 1024, 0.1), 64);          /* 0.0625 numel */
	CHECK_INT_EQ(lms_search_budget(7 * 1024, 5.4), 2419);         /* 2.3625 → floor(2419.2) */
	CHECK_INT_EQ(lms_search_budget(0, 5.4), 0);
}

static void test_bad(void)
{
	int64_t c[] = {1};
	double s[] = {0.0 / 0.0};
	struct lms_search_group g = {1, c, s};
	struct lms_search_frontier *f = NULL;
	CHECK_INT_EQ(lms_search_frontier_build(&g, 1, &f), LMS_ERR_CONFIG);
	CHECK_STR_CONTAINS(lms_error_message(), "NaN");
	g.n_choices = 0;
	CHECK_INT_EQ(lms_search_frontier_build(&g, 1, &f), LMS_ERR_CONFIG);
	CHECK(f == NULL);
}

/* lms_search_result on a hand-built result: 4 single-module groups (the
 * last disabled), formats NVFP4 4.5 / FP8 8 / NONE 16, checked against
 * enumeration of all 3·3·3 selections with monotonized scores. */
static void test_result(void)
{
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	if (lms_aq_result_alloc(&r, 3, 4, 4, 0, 0, 0, 0) != LMS_OK) {
		CHECK(0);
		return;
	}
	const char *fn[] = {"NVFP4_DEFAULT_CFG", "FP8_DEFAULT_CFG", "NONE"};
	const double fb[] = {4.5, 8.0, 16.0};
	const int64_t np[] = {1000, 3000, 2000, 500};
	const double raw[4][3] = {{9.0, 1.0, 0.0}, {4.0, 6.0, 0.0}, {30.0, 2.0, 0.0}, {1.0, 1.0, 0.0}};
	int ok = 1;
	for (int f = 0; f < 3; f++) {
		ok &= lms_aq_set_str(&r.formats[f].name, fn[f]) == LMS_OK;
		r.formats[f].bits = fb[f];
	}
	for (size_t g = 0; g < 4; g++) {
		char name[32];
		snprintf(name, sizeof name, "model.layers.%zu.mlp.down_proj", g);
		ok &= lms_aq_set_str(&r.modules[g].name, name) == LMS_OK;
		ok &= lms_aq_set_str(&r.groups[g].name, name) == LMS_OK;
		ok &= lms_aq_group_set_members(&r.groups[g], &g, 1) == LMS_OK;
		r.modules[g].group = g;
		r.groups[g].n_params = np[g];
		for (int f = 0; f < 3; f++)
			r.groups[g].scores[f] = raw[g][f];
	}
	r.groups[3].disabled = 1;
	CHECK(ok);
	double total = 0;
	for (int g = 0; g < 4; g++)
		total += (double)np[g];
	for (double target = 5.0; target <= 16.0; target += 0.25) {
		r.settings.effective_bits = target;
		CHECK_INT_EQ(lms_search_result(&r), LMS_OK);
		/* enumerate: group 1's FP8 score is monotonized to min(6, 4) = 4 */
		const double mono[3][3] = {{9.0, 1.0, 0.0}, {4.0, 4.0, 0.0}, {30.0, 2.0, 0.0}};
		double best = INFINITY, best_bits = 0;
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < 3; b++)
				for (int c = 0; c < 3; c++) {
					double bits = (np[0] * fb[a] + np[1] * fb[b] + np[2] * fb[c] + np[3] * 16.0) / total;
					double sc = mono[0][a] + mono[1][b] + mono[2][c];
					if (bits <= target + 1e-12 && (sc < best || (sc == best && bits < best_bits))) {
						best = sc;
						best_bits = bits;
					}
				}
		int min_ok = target >= (np[0] * 4.5 + np[1] * 4.5 + np[2] * 4.5 + np[3] * 16.0) / total;
		CHECK_INT_EQ(r.search.is_satisfied, min_ok);
		if (min_ok) {
			CHECK_NEAR(r.search.score, best, 0, 0);
			CHECK_NEAR(r.search.effective_bits, best_bits, 1e-12, 0);
		}
		CHECK_INT_EQ(r.groups[3].chosen, 2);
		CHECK_NEAR(lms_aq_result_effective_bits(&r, (int[]){r.groups[0].chosen, r.groups[1].chosen,
								    r.groups[2].chosen, r.groups[3].chosen}),
			   r.search.effective_bits, 1e-12, 0);
		CHECK_INT_EQ(lms_aq_result_validate(&r, "result"), LMS_OK);
	}
	/* the frontier ends at all-NONE: 16 bits, score 0 */
	CHECK_NEAR(r.search.frontier_bits[r.search.n_frontier - 1], 16.0, 0, 0);
	CHECK_NEAR(r.search.frontier_score[r.search.n_frontier - 1], 0.0, 0, 0);
	r.settings.effective_bits = 4.0; /* below the minimum */
	CHECK_INT_EQ(lms_search_result(&r), LMS_OK);
	CHECK(!r.search.is_satisfied);
	CHECK_INT_EQ(r.groups[0].chosen, 0);
	r.formats[2].bits = 15.0; /* NONE must be 16 bits */
	CHECK_INT_EQ(lms_search_result(&r), LMS_ERR_CONFIG);
	lms_aq_result_free(&r);
}

int main(void)
{
	test_result();
	test_random();
	test_solve();
	test_bad();
	return lms_test_finish();
}
