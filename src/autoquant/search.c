/* search.c — Pareto-frontier multiple-choice knapsack (see search.h).
 *
 * Invariants: after stage g the frontier holds, by strictly ascending cost,
 * the points whose score is strictly below every cheaper point's; each point
 * stores its candidate index at g and the index of its parent point at g−1,
 * so any point's selection is recovered by walking back. The merge visits
 * candidates ordered by (cost, score, candidate index), which is the tie rule
 * documented in search.h.
 *
 * Not here: what the groups are, logging beyond the infeasibility warning. */
#include "autoquant/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/result.h"
#include "core/log.h"
#include "quant/format.h"

struct stage {
	size_t n;
	uint32_t *parent; /* (n) index into the previous stage's points */
	uint8_t *choice;  /* (n) candidate index */
};

struct lms_search_frontier {
	size_t n_groups;
	struct stage *stages; /* (n_groups) */
	size_t n;             /* final frontier size */
	int64_t *cost;        /* (n) */
	double *score;        /* (n) */
};

void lms_search_frontier_free(struct lms_search_frontier *f)
{
	if (!f)
		return;
	for (size_t g = 0; f->stages && g < f->n_groups; g++) {
		free(f->stages[g].parent);
		free(f->stages[g].choice);
	}
	free(f->stages);
	free(f->cost);
	free(f->score);
	free(f);
}

static enum lms_status check_groups(const struct lms_search_group *groups, size_t n_groups)
{
	for (size_t g = 0; g < n_groups; g++) {
		const struct lms_search_group *gr = &groups[g];
		if (gr->n_choices < 1 || gr->n_choices > LMS_SEARCH_MAX_CHOICES)
			return lms_fail(LMS_ERR_CONFIG, "each group needs 1 to 64 candidates (NONE included)",
					"search: group %zu has %zu candidates", g, gr->n_choices);
		for (size_t j = 0; j < gr->n_choices; j++) {
			if (gr->cost[j] < 0)
				return lms_fail(LMS_ERR_CONFIG, NULL, "search: group %zu candidate %zu has cost %lld", g,
						j, (long long)gr->cost[j]);
			if (isnan(gr->score[j]))
				return lms_fail(LMS_ERR_CONFIG, "a NaN score means scoring failed; check the run's losses",
						"search: group %zu candidate %zu has a NaN score", g, j);
		}
	}
	return LMS_OK;
}

/* One stage: (pc, ps, pn) ⊕ group → (nc, ns, nn) plus back-pointers.
 * nc/ns have room for pn·k points. */
static void merge_stage(const int64_t *pc, const double *ps, size_t pn, const struct lms_search_group *gr,
			int64_t *nc, double *ns, struct stage *st)
{
	size_t k = gr->n_choices;
	size_t head[LMS_SEARCH_MAX_CHOICES] = {0};
	size_t out = 0;
	double best = INFINITY;
	int have = 0;
	for (;;) {
		/* pick the list head with the least (cost, score, index) */
		size_t bj = k;
		int64_t bc = 0;
		double bs = 0.0;
		for (size_t j = 0; j < k; j++) {
			if (head[j] >= pn)
				continue;
			int64_t c = pc[head[j]] + gr->cost[j];
			double s = ps[head[j]] + gr->score[j];
			if (bj == k || c < bc || (c == bc && s < bs)) {
				bj = j;
				bc = c;
				bs = s;
			}
		}
		if (bj == k)
			break;
		if (!have || bs < best) {
			nc[out] = bc;
			ns[out] = bs;
			st->parent[out] = (uint32_t)head[bj];
			st->choice[out] = (uint8_t)bj;
			out++;
			best = bs;
			have = 1;
		}
		head[bj]++;
	}
	st->n = out;
}

enum lms_status lms_search_frontier_build(const struct lms_search_group *groups, size_t n_groups,
					  struct lms_search_frontier **out)
{
	*out = NULL;
	LMS_TRY(check_groups(groups, n_groups));
	struct lms_search_frontier *f = calloc(1, sizeof *f);
	if (!f)
		return lms_fail(LMS_ERR_NOMEM, NULL, "search: out of memory");
	f->n_groups = n_groups;
	f->stages = calloc(n_groups ? n_groups : 1, sizeof *f->stages);
	f->cost = malloc(sizeof *f->cost);
	f->score = malloc(sizeof *f->score);
	if (!f->stages || !f->cost || !f->score)
		goto nomem;
	f->n = 1; /* the empty selection */
	f->cost[0] = 0;
	f->score[0] = 0.0;
	size_t stored = 0;
	for (size_t g = 0; g < n_groups; g++) {
		size_t cap = f->n * groups[g].n_choices;
		if (cap > UINT32_MAX || stored + cap > LMS_SEARCH_MAX_POINTS) {
			lms_search_frontier_free(f);
			return lms_fail(LMS_ERR_UNSUPPORTED, "reduce the number of candidate formats",
					"search: the frontier outgrew %zu points at group %zu",
					(size_t)LMS_SEARCH_MAX_POINTS, g);
		}
		int64_t *nc = malloc(cap * sizeof *nc);
		double *ns = malloc(cap * sizeof *ns);
		struct stage *st = &f->stages[g];
		st->parent = malloc(cap * sizeof *st->parent);
		st->choice = malloc(cap * sizeof *st->choice);
		if (!nc || !ns || !st->parent || !st->choice) {
			free(nc);
			free(ns);
			goto nomem;
		}
		merge_stage(f->cost, f->score, f->n, &groups[g], nc, ns, st);
		stored += st->n;
		free(f->cost);
		free(f->score);
		f->cost = nc;
		f->score = ns;
		f->n = st->n;
		/* shrink the back-pointers to what was kept */
		uint32_t *p = realloc(st->parent, (st->n ? st->n : 1) * sizeof *p);
		uint8_t *c = realloc(st->choice, st->n ? st->n : 1);
		if (p)
			st->parent = p;
		if (c)
			st->choice = c;
	}
	*out = f;
	return LMS_OK;
nomem:
	lms_search_frontier_free(f);
	return lms_fail(LMS_ERR_NOMEM, NULL, "search: out of memory building the frontier");
}

size_t lms_search_frontier_len(const struct lms_search_frontier *f) { return f->n; }

void lms_search_frontier_point(const struct lms_search_frontier *f, size_t i, int64_t *cost, double *score)
{
	*cost = f->cost[i];
	*score = f->score[i];
}

void lms_search_frontier_select(const struct lms_search_frontier *f, size_t i, int *choice)
{
	for (size_t g = f->n_groups; g-- > 0;) {
		choice[g] = f->stages[g].choice[i];
		i = f->stages[g].parent[i];
	}
}

int64_t lms_search_budget(int64_t total, double target_bits)
{
	/* ModelOpt: max_weight_size = total_numel * effective_bits / 16 in
	 * doubles (so a target written as 4.8 admits exactly 4.8 bits), compared
	 * with the selection's numel·compression. Here that comparison is done
	 * exactly: cost/(16·DEN) <= max_weight_size ⇔ cost <= floor(mws·16·DEN),
	 * and the scaling by 16·DEN (a power of two) is exact. */
	const double unit = 16.0 * LMS_FORMAT_BITS_DEN;
	if (total <= 0 || !(target_bits > 0.0))
		return 0;
	double numel = (double)total / unit;
	double mws = numel * target_bits / 16.0;
	double b = floor(mws * unit);
	return b >= 9.2e18 ? INT64_MAX : (int64_t)b;
}

enum lms_status lms_search_solve(const struct lms_search_frontier *f, int64_t total, double target_bits, int *choice,
				 struct lms_search_result *res)
{
	if (!(target_bits > 0.0 && target_bits <= 16.0))
		return lms_fail(LMS_ERR_CONFIG, "autoquant.effective_bits must be in (0, 16]",
				"search: effective_bits target %g is out of range", target_bits);
	if (total <= 0)
		return lms_fail(LMS_ERR_CONFIG, "the model has no quantizable weights",
				"search: total weight size is %lld", (long long)total);
	memset(res, 0, sizeof *res);
	res->budget = lms_search_budget(total, target_bits);
	/* frontier costs ascend: the last point within budget has the least score */
	size_t lo = 0, hi = f->n; /* first index with cost > budget */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->cost[mid] <= res->budget)
			lo = mid + 1;
		else
			hi = mid;
	}
	res->min_effective_bits = 16.0 * (double)f->cost[0] / (double)total;
	if (lo == 0) {
		res->is_satisfied = 0;
		res->frontier_index = 0;
		LMS_WARN("AutoQuantize: effective_bits %g is infeasible; the minimum achievable is %.4f "
			 "(disabled layers count 16 bits); using the least-cost selection",
			 target_bits, res->min_effective_bits);
	} else {
		res->is_satisfied = 1;
		res->frontier_index = lo - 1;
	}
	res->cost = f->cost[res->frontier_index];
	res->score = f->score[res->frontier_index];
	res->effective_bits = 16.0 * (double)res->cost / (double)total;
	lms_search_frontier_select(f, res->frontier_index, choice);
	return LMS_OK;
}

/* ---- on a whole result ----------------------------------------------------- */

static enum lms_status result_units(const struct lms_aq_result *r, int64_t *units)
{
	size_t none = r->n_formats - 1;
	if (r->n_formats == 0 || !r->formats[none].name || strcmp(r->formats[none].name, LMS_FORMAT_NONE_NAME) != 0 ||
	    r->formats[none].bits != 16.0)
		return lms_fail(LMS_ERR_CONFIG, "the candidate formats must end with NONE (16 bits)",
				"search: the last format is not NONE at 16 bits");
	for (size_t f = 0; f < r->n_formats; f++) {
		double u = r->formats[f].bits * LMS_FORMAT_BITS_DEN;
		if (!(r->formats[f].bits > 0.0 && r->formats[f].bits <= 16.0) || u != floor(u))
			return lms_fail(LMS_ERR_CONFIG, "effective bits must be in (0, 16] and multiples of 1/64",
					"search: format %s has %g effective bits", r->formats[f].name,
					r->formats[f].bits);
		units[f] = (int64_t)u;
	}
	return LMS_OK;
}

enum lms_status lms_search_result(struct lms_aq_result *r)
{
	size_t nf = r->n_formats, ng = r->n_groups, none = nf ? nf - 1 : 0;
	enum lms_status st = LMS_OK;
	int64_t *units = malloc((nf ? nf : 1) * sizeof *units);
	size_t cells = ng * nf > 0 ? ng * nf : 1;
	int64_t *cost = malloc(cells * sizeof *cost);
	double *score = malloc(cells * sizeof *score);
	struct lms_search_group *sg = malloc((ng ? ng : 1) * sizeof *sg);
	int *choice = malloc((ng ? ng : 1) * sizeof *choice);
	struct lms_search_frontier *f = NULL;
	if (!units || !cost || !score || !sg || !choice) {
		st = lms_fail(LMS_ERR_NOMEM, NULL, "search: out of memory");
		goto out;
	}
	if ((st = result_units(r, units)) != LMS_OK)
		goto out;
	int64_t total = 0;
	for (size_t g = 0; g < ng; g++) {
		const struct lms_aq_group *gr = &r->groups[g];
		int64_t *c = cost + g * nf;
		double *s = score + g * nf;
		if (gr->n_params < 0 || gr->n_params > INT64_MAX / 1024 / 4 || total > INT64_MAX / 4) {
			st = lms_fail(LMS_ERR_INPUT, NULL, "search: group %s has %lld parameters", gr->name,
				      (long long)gr->n_params);
			goto out;
		}
		if (gr->disabled) {
			c[0] = gr->n_params * units[none];
			s[0] = 0.0;
			sg[g].n_choices = 1;
		} else {
			lms_aq_group_candidate_scores(r, g, s);
			for (size_t k = 0; k < nf; k++)
				c[k] = gr->n_params * units[k];
			sg[g].n_choices = nf;
		}
		for (size_t k = 0; k < nf; k++)
			gr->costs[k] = (double)gr->n_params * r->formats[k].bits / 16.0;
		sg[g].cost = c;
		sg[g].score = s;
		total += gr->n_params * units[none];
	}
	if ((st = lms_search_frontier_build(sg, ng, &f)) != LMS_OK)
		goto out;
	struct lms_search_result res;
	if ((st = lms_search_solve(f, total, r->settings.effective_bits, choice, &res)) != LMS_OK)
		goto out;
	size_t n = lms_search_frontier_len(f);
	if ((st = lms_aq_result_alloc_frontier(r, n)) != LMS_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int64_t c;
		double s;
		lms_search_frontier_point(f, i, &c, &s);
		r->search.frontier_bits[i] = 16.0 * (double)c / (double)total;
		r->search.frontier_score[i] = s;
	}
	for (size_t g = 0; g < ng; g++)
		r->groups[g].chosen = r->groups[g].disabled ? (int)none : choice[g];
	r->search.effective_bits = res.effective_bits;
	r->search.score = res.score;
	r->search.is_satisfied = res.is_satisfied;
	r->has_search = 1;
out:
	lms_search_frontier_free(f);
	free(units);
	free(cost);
	free(score);
	free(sg);
	free(choice);
	return st;
}
