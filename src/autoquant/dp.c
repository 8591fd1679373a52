/* dp.c — the data-parallel helpers of the AutoQuant phases (pipeline.h,
 * struct lms_aq_dist): which batches this rank runs, agreeing on a phase's
 * outcome across the group, and polling the runner's stop request.
 *
 * Invariants: without c->dist everything degenerates to one rank running
 * every batch, with no collective calls. With c->dist, lms_aq_agree is a
 * collective (one sum_f64 of a 2-element flag) that every rank of the group
 * calls once per phase, failed or not, so no rank is left waiting in a
 * later reduction.
 * Not here: the reductions themselves (the runner's callbacks, src/dist/). */
#include <stdlib.h>

#include "autoquant/pipeline_internal.h"
#include "core/log.h"

enum lms_status lms_aq_my_batches(const struct aq_ctx *c, int n_batches, int **idx, int *n)
{
	int rank = c->dist ? c->dist->rank : 0, world = c->dist ? c->dist->world : 1;
	*idx = NULL;
	*n = 0;
	if (world < 1 || rank < 0 || rank >= world)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "data-parallel rank %d of %d", rank, world);
	int m = lms_data_rank_batches(n_batches, rank, world, NULL, 0);
	*idx = calloc((size_t)m + 1, sizeof **idx);
	if (!*idx)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	*n = lms_data_rank_batches(n_batches, rank, world, *idx, m);
	return LMS_OK;
}

enum lms_status lms_aq_agree(const struct aq_ctx *c, enum lms_status st, const char *phase)
{
	if (!c->dist || c->dist->world <= 1)
		return st;
	/* [0]: ranks that failed; [1]: ranks that were interrupted */
	double flag[2] = {st != LMS_OK && st != LMS_ERR_INTERRUPTED, st == LMS_ERR_INTERRUPTED};
	enum lms_status rs = c->dist->sum_f64(c->dist->ctx, flag, 2);
	if (st != LMS_OK)
		return st; /* keep this rank's own message */
	if (rs != LMS_OK)
		return rs;
	if (flag[0] > 0)
		return lms_fail(LMS_ERR_INTERNAL, "see the error logged by the failing rank",
				"%s: %g other rank(s) of the data-parallel group failed", phase, flag[0]);
	if (flag[1] > 0)
		return lms_fail(LMS_ERR_INTERRUPTED, NULL, "%s: interrupted on another rank of the group",
				phase);
	return LMS_OK;
}

int lms_aq_interrupted(const struct aq_ctx *c)
{
	return c->dist && c->dist->interrupted && c->dist->interrupted(c->dist->ctx);
}
