/* kldiv.c — kl_div scoring (reference/modelopt-autoquant.md §6, HEAD-snap:
 * the true KL(P_unquantized ‖ Q_one-group-quantized), F.kl_div(log q, log p,
 * reduction="sum", log_target=True)). Per scoring batch:
 *   1. one unquantized forward (the engine caches every layer's input and
 *      the logits zp);
 *   2. for every scored group g (q/k/v together, gate/up together, the
 *      others alone; group.h) and every candidate format f: one forward
 *      from the input of g's layer (lm_head: from the final norm) with
 *      every member of g replaced by its replay fq_in(X)·fq_w(W)ᵀ (the
 *      gradient method's replay, lms_aq_replay), all other groups
 *      unquantized, giving zq;
 *   3. score[g, f] += Σ_rows Σ_v p·(log p − log q) (backend kl_div_accum,
 *      one fp64 value per row, added here in row order).
 * Layers before g's first layer see no quantization, so their output equals
 * the cached unquantized input: starting there (prefix reuse) gives the
 * same bits as starting at the embedding (autoquant.kl_prefix_reuse=false
 * does the latter, for benchmarks and for the test that checks it).
 *
 * Positions: every B·T row is summed, padding included (ModelOpt sums over
 * batch × seq × vocab); the forward itself uses the batch's attention mask
 * like the rest of lmsens (docs/numerics.md says how this differs from
 * ModelOpt's kl_div example, which feeds no mask at all).
 * Scores land in the gradient method's tables (scores, step_scores) at the
 * group's first member (ModelOpt's score_modules[0]); the other members get
 * 0, so Σ over members is the group score. bundle.c writes no per-module
 * scores for this method.
 * On CUDA with LMSENS_KL_PREP=1 the unquantized side of every KL (row max,
 * exp(z_p − m_p), row sums) is computed once per batch (kl_prep; the same
 * bits as kl_div_accum, one fp64 exp per logit per forward instead of two,
 * but it reads 8 bytes of exp per logit back: since v5's KL kernel it saves
 * < 1 % of a call for 2.5 GB of memory, so it stays off; docs/BENCHMARKS.md).
 * Data parallelism: as score.c (each step's row is non-zero on one rank).
 * Not here: calibration (calib.c), the search (the same exact knapsack as
 * for the gradient method; ModelOpt's KL searcher bisects a threshold). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/group.h"
#include "autoquant/pipeline_internal.h"
#include "backend/backend_cuda.h"
#include "core/log.h"

/* The unquantized side of the KL, computed once per batch on CUDA when it
 * fits (backend_cuda.h kl_prep / kl_accum_p: the same bits as kl_div_accum,
 * one fp64 exp per logit per forward instead of two). All NULL otherwise. */
struct kl_prep {
	double *d_ep; /* (B·T·V) exp(z_p − m_p) */
	float *d_mp;  /* (B·T) */
	double *d_sp; /* (B·T) */
};

/* What the replace hook substitutes in one forward. */
struct kl_run {
	struct aq_ctx *c;
	const unsigned char *member; /* (NL) 1: replace this linear */
	int f;			     /* format index */
	int replaced;		     /* count, checked after the forward */
};

static enum lms_status on_replace(void *user, const struct lms_linear_event *ev, lms_bf16 *d_y)
{
	struct kl_run *r = user;
	struct aq_ctx *c = r->c;
	if (ev->index < 0 || ev->index >= c->n_linears)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "forward event with index %d", ev->index);
	if (!r->member[ev->index])
		return LMS_OK;
	r->replaced++;
	return lms_aq_replay(c, r->f, ev, d_y);
}

/* The groups of the model (group.h), without disabled patterns: a group is
 * scored unless all its members are skipped in every job (c->skip). */
static enum lms_status build_groups(struct aq_ctx *c, struct lms_aq_grouping *gs)
{
	size_t nl = (size_t)c->n_linears;
	const char **names = malloc(nl * sizeof *names);
	int64_t *numel = malloc(nl * sizeof *numel);
	enum lms_status st =
	    names && numel ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t l = 0; st == LMS_OK && l < nl; l++) {
		names[l] = c->lin[l].name;
		numel[l] = c->lin[l].in * c->lin[l].out;
	}
	if (st == LMS_OK)
		st = lms_aq_grouping_build(names, numel, nl, NULL, 0, gs);
	free(names);
	free(numel);
	return st;
}

/* First layer of a group (the engine's layer index; lm_head is L). */
static int group_start(const struct aq_ctx *c, const struct lms_aq_gdef *g, int L)
{
	int start = L;
	for (size_t m = 0; m < g->n_modules; m++) {
		int l = c->lin[g->modules[m]].layer;
		if (l >= 0 && l < start)
			start = l;
	}
	return start;
}

/* The kl_prep buffers on a CUDA backend when LMSENS_KL_PREP=1 and they fit
 * in the free memory with a margin (else the plain kl_div_accum: the same
 * bits). Off by default: bit-identical on an H100 (tests/gpu/test_kl_prep)
 * but no faster than v5's kl_div_accum (1.46 vs 1.47 ms per call with the
 * prep's share, bench_kl_cuda; the same score time), at 2.5 GB. */
static enum lms_status kl_prep_alloc(struct aq_ctx *c, struct kl_prep *kp)
{
#ifdef LMS_HAVE_CUDA
	const char *on = getenv("LMSENS_KL_PREP");
	if (!on || strcmp(on, "1") != 0)
		return LMS_OK;
	size_t rows = (size_t)c->batch_size * (size_t)c->seq_len;
	size_t V = (size_t)lms_model_get_config(c->model)->vocab_size;
	size_t bytes = rows * V * sizeof(double), free_b = 0;
	int known = 0;
	LMS_TRY(lms_aq_free_memory(c, &free_b, &known));
	if (!known || c->be->is_host || bytes + ((size_t)1 << 30) + free_b / 8 > free_b)
		return LMS_OK;
	LMS_TRY(lms_backend_alloc(c->be, bytes, "kl_div unquantized side", (void **)&kp->d_ep));
	LMS_TRY(lms_backend_alloc(c->be, rows * sizeof(float), "kl_div row max", (void **)&kp->d_mp));
	LMS_TRY(lms_backend_alloc(c->be, rows * sizeof(double), "kl_div row sums", (void **)&kp->d_sp));
	LMS_INFO("kl_div: the unquantized logits' softmax terms kept per batch (%.2f GB): one exp per "
		 "logit in each forward's KL", (double)bytes / 1e9);
#else
	(void)c;
	(void)kp;
#endif
	return LMS_OK;
}

/* One scoring step s: its (group, format) KL sums land in step_scores[s]. */
static enum lms_status kl_step(struct aq_ctx *c, const struct lms_aq_grouping *gs,
			       unsigned char *member, int s, double *tokens, double *h_rows,
			       const struct kl_prep *kp)
{
	(void)kp; /* used on CUDA only */
	const struct lms_backend_ops *o = &c->be->ops;
	size_t cells = (size_t)c->n_linears * (size_t)c->n_formats;
	const struct lms_data_batch *db = lms_dataset_batch(c->ds, s);
	struct lms_batch eb = {db->B, db->T, db->ids, db->mask, db->labels};
	const int L = lms_model_get_config(c->model)->num_layers;
	const int64_t rows = (int64_t)db->B * db->T, V = lms_model_get_config(c->model)->vocab_size;
	double *step = c->step_scores + (size_t)s * cells;

	LMS_TRY(lms_engine_forward(c->eng, &eb, NULL, &c->score_loss[s]));
	if (!isfinite(c->score_loss[s]) && lms_engine_valid_tokens(c->eng) > 0)
		return lms_fail(LMS_ERR_NUMERIC,
				"rerun with runner.debug=true to name the first op and module with a "
				"NaN/Inf output; check the checkpoint and the captions",
				"scoring batch %d: the loss is %g (non-finite logits)", s, c->score_loss[s]);
#ifdef LMS_HAVE_CUDA
	if (kp->d_ep)
		LMS_TRY(lms_backend_cuda_kl_prep(c->be, kp->d_ep, kp->d_mp, kp->d_sp,
						 lms_engine_logits(c->eng), rows, V));
#endif
	for (size_t g = 0; g < gs->n; g++) {
		const struct lms_aq_gdef *gd = &gs->g[g];
		int scored = 0;
		for (size_t m = 0; m < gd->n_modules; m++)
			scored |= !c->skip[gd->modules[m]];
		if (!scored)
			continue;
		for (size_t m = 0; m < gd->n_modules; m++)
			member[gd->modules[m]] = 1;
		int start = c->kl_prefix_reuse ? group_start(c, gd, L) : -1;
		for (int f = 0; f < c->n_formats; f++) {
			struct kl_run run = {.c = c, .member = member, .f = f};
			struct lms_linear_replace rp = {.fn = on_replace, .user = &run};
			lms_aq_replay_reset(c);
			LMS_TRY(lms_engine_forward_from(c->eng, start, NULL, &rp));
			if (run.replaced != (int)gd->n_modules)
				return lms_fail(LMS_ERR_INTERNAL, NULL,
						"%s: %d of %zu linears replaced", gd->name,
						run.replaced, gd->n_modules);
			lms_backend_set_label(c->be, gd->name, "kl_div", c->fmt[f].name);
			LMS_TRY(o->memset(c->be->ctx, c->d_acc, 0, (size_t)rows * sizeof(double)));
#ifdef LMS_HAVE_CUDA
			if (kp->d_ep)
				LMS_TRY(lms_backend_cuda_kl_accum_p(
				    c->be, c->d_acc, kp->d_ep, kp->d_mp, kp->d_sp,
				    lms_engine_logits(c->eng), lms_engine_logits_from(c->eng), rows, V));
			else
#endif
				LMS_TRY(o->kl_div_accum(c->be->ctx, c->d_acc, lms_engine_logits(c->eng),
							lms_engine_logits_from(c->eng), rows, V));
			LMS_TRY(o->memcpy_d2h(c->be->ctx, h_rows, c->d_acc,
					      (size_t)rows * sizeof(double)));
			double kl = 0.0;
			for (int64_t r = 0; r < rows; r++)
				kl += h_rows[r];
			if (!isfinite(kl))
				return lms_fail(
				    LMS_ERR_NUMERIC,
				    "check the checkpoint (overflowing activations)",
				    "scoring batch %d: %s, format %s: the KL divergence is %g", s,
				    gd->name, c->fmt[f].name, kl);
			step[gd->modules[0] * (size_t)c->n_formats + (size_t)f] = kl;
		}
		for (size_t m = 0; m < gd->n_modules; m++)
			member[gd->modules[m]] = 0;
	}
	*tokens += (double)db->n_tokens;
	return LMS_OK;
}

enum lms_status lms_aq_score_kl(struct aq_ctx *c)
{
	size_t cells = (size_t)c->n_linears * (size_t)c->n_formats, ns = (size_t)c->n_score;
	struct lms_aq_grouping gs = {0};
	int *mine = NULL, n_mine = 0;
	double tokens = 0.0;
	unsigned char *member = calloc((size_t)c->n_linears + 1, 1);
	double *h_rows = malloc(((size_t)c->batch_size * (size_t)c->seq_len + 1) * sizeof *h_rows);
	enum lms_status st =
	    member && h_rows ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (st == LMS_OK && !lms_backend_supports(c->be, LMS_OP_KL_DIV_ACCUM))
		st = lms_fail(LMS_ERR_UNSUPPORTED, "use runner.backend=cpu (or auto)",
			      "autoquant.method = kl_div needs the backend op kl_div_accum, which "
			      "the %s backend lacks",
			      c->be->name);
	if (st == LMS_OK)
		st = build_groups(c, &gs);
	/* every member of a scored group is replayed (member[] is all 0 again after) */
	for (size_t g = 0; st == LMS_OK && g < gs.n; g++) {
		int scored = 0;
		for (size_t m = 0; m < gs.g[g].n_modules; m++)
			scored |= !c->skip[gs.g[g].modules[m]];
		for (size_t m = 0; m < gs.g[g].n_modules; m++)
			member[gs.g[g].modules[m]] = (unsigned char)scored;
	}
	/* before the weight cache, which takes what is left */
	struct kl_prep kp = {0};
	if (st == LMS_OK)
		st = kl_prep_alloc(c, &kp);
	if (st == LMS_OK)
		st = lms_aq_score_alloc(c, member);
	if (member)
		memset(member, 0, (size_t)c->n_linears + 1);
	if (st == LMS_OK)
		st = lms_aq_my_batches(c, c->n_score, &mine, &n_mine);
	size_t n_scored = 0;
	for (size_t g = 0; st == LMS_OK && g < gs.n; g++) {
		int scored = 0;
		for (size_t m = 0; m < gs.g[g].n_modules; m++)
			scored |= !c->skip[gs.g[g].modules[m]];
		n_scored += (size_t)scored;
	}
	if (st == LMS_OK)
		LMS_INFO("kl_div: %zu scored groups x %d formats: %zu forwards per batch, %s",
			 n_scored, c->n_formats, n_scored * (size_t)c->n_formats + 1,
			 c->kl_prefix_reuse ? "each from its group's first layer"
					    : "each from the embedding");
	lms_aq_progress_begin("score", n_mine, "steps");
	for (int i = 0; st == LMS_OK && i < n_mine; i++) {
		if (lms_aq_interrupted(c))
			st = lms_fail(LMS_ERR_INTERRUPTED, NULL,
				      "scoring interrupted before step %d", mine[i]);
		else
			st = kl_step(c, &gs, member, mine[i], &tokens, h_rows, &kp);
		lms_aq_progress_step(i + 1);
	}
	free(mine);
	free(member);
	free(h_rows);
	c->be->ops.free(c->be->ctx, kp.d_ep);
	c->be->ops.free(c->be->ctx, kp.d_mp);
	c->be->ops.free(c->be->ctx, kp.d_sp);
	lms_aq_grouping_free(&gs);
	LMS_TRY(lms_aq_agree(c, st, "scoring"));
	if (c->dist && c->dist->world > 1) {
		LMS_TRY(c->dist->sum_f64(c->dist->ctx, c->step_scores, ns * cells));
		LMS_TRY(c->dist->sum_f64(c->dist->ctx, c->score_loss, ns));
		LMS_TRY(c->dist->sum_f64(c->dist->ctx, &tokens, 1));
	}
	for (size_t s = 0; s < ns; s++)
		for (size_t i = 0; i < cells; i++)
			c->scores[i] += c->step_scores[s * cells + i];
	c->score_tokens = (long long)tokens;
	c->t_score = lms_aq_progress_end();
	return LMS_OK;
}
