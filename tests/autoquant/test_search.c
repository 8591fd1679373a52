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

int main(void)
{
	test_random();
	test_solve();
	test_bad();
	return lms_test_finish();
}
