/* score.c — gradient scoring (reference/modelopt-autoquant.md §5): per
 * scoring batch one forward and one backward of the UNQUANTIZED model; when
 * the backward reaches a linear (its dY = g is known) the linear is replayed
 * for every candidate format on its own input:
 *   Xq = fq_in(X), Wq = fq_w(W), Yq = Xq · Wqᵀ (bf16 GEMM, fp32 accumulate),
 *   score[linear, format] += Σ (g · bf16(Yq − Y))²   (fp64, sq_dot_accum).
 * A disabled quantizer leaves its operand as is (weight-only formats keep X).
 * Input amax: the calibrated per-tensor max|X| for formats with a
 * calibration algorithm; max|X| of this very input for formats that are never
 * calibrated (ModelOpt's dynamic amax); none for MX. Weight amax: the values
 * calib.c computed from W (for static and dynamic quantizers alike), so the
 * backend's fake_quant always gets an amax, except for MX.
 *
 * Every (linear, format) score of a step is accumulated on the backend in its
 * own fp64 cell, copied to the host after the step and added to the totals
 * there, so a format's numbers do not depend on which other formats (pairs of
 * a bundle) are scored in the same pass.
 * The replay itself (lms_aq_replay, replay.c: each distinct quantizer once,
 * cached quantized weights) is shared with the kl_div method (kldiv.c),
 * which writes Yq over the engine's Y instead of scoring it here.
 * On a device backend the replays run on its side stream while the backward
 * goes on (lms_engine_set_overlap: the same ops, the same bits), and v_proj's
 * replay waits for k_proj's to run as one batched GEMM with it (replay_kv).
 * Not here: grouping, monotonization and the search (bundle.c, group.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "core/log.h"

/* Gradient score of one (linear, format): Yq into d_yq, then Σ(g·Δ)². */
static enum lms_status replay(struct aq_ctx *c, int f, const struct lms_linear_event *ev)
{
	const struct lms_backend_ops *o = &c->be->ops;
	LMS_TRY(lms_aq_replay(c, f, ev, c->d_yq));
	double *acc = c->d_acc + (size_t)ev->index * (size_t)c->n_formats + (size_t)f;
	return o->sq_dot_accum(c->be->ctx, acc, c->d_yq, ev->d_y, ev->d_dy, (size_t)ev->M * (size_t)ev->out);
}

/* k_proj's event with v_proj's (fired just before it in the same layer, same
 * X, same shape): per format one batched replay GEMM of both where
 * lms_aq_replay_pair can (the N = 1024 shapes alone leave much of a big GPU
 * idle), else the two replays one after the other. Each (linear, format)
 * keeps its own accumulator, so the order does not matter. */
static enum lms_status replay_kv(struct aq_ctx *c, const struct lms_linear_event *k,
				 const struct lms_linear_event *v)
{
	const struct lms_backend_ops *o = &c->be->ops;
	size_t n = (size_t)k->M * (size_t)k->out, nf = (size_t)c->n_formats;
	for (int f = 0; f < c->n_formats; f++) {
		int paired = 0;
		LMS_TRY(lms_aq_replay_pair(c, f, k, v, c->d_yq, c->d_yq + n, &paired));
		if (!paired) {
			LMS_TRY(replay(c, f, k));
			LMS_TRY(replay(c, f, v));
			continue;
		}
		LMS_TRY(o->sq_dot_accum(c->be->ctx, c->d_acc + (size_t)k->index * nf + (size_t)f,
					c->d_yq, k->d_y, k->d_dy, n));
		LMS_TRY(o->sq_dot_accum(c->be->ctx, c->d_acc + (size_t)v->index * nf + (size_t)f,
					c->d_yq + n, v->d_y, v->d_dy, n));
	}
	return LMS_OK;
}

/* v_proj's event may wait for k_proj's (replay_kv): on a device backend,
 * when k_proj of the same layer is scored and the scratch holds two outputs. */
static int kv_defer(const struct aq_ctx *c, const struct lms_linear_event *ev)
{
	return ev->kind == LMS_LINEAR_V && !c->be->is_host && ev->index > 0 &&
	       !c->skip[ev->index - 1] && 2 * (size_t)ev->M * (size_t)ev->out <= c->yq_elems;
}

static enum lms_status on_backward(void *user, const struct lms_linear_event *ev)
{
	struct aq_ctx *c = user;
	if (ev->index < 0 || ev->index >= c->n_linears || !ev->d_dy)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "backward event without dY or with index %d", ev->index);
	if (c->skip[ev->index])
		return LMS_OK;
	if ((size_t)ev->M * (size_t)ev->out > c->yq_elems)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: replay scratch too small", ev->name);
	LMS_TRY(lms_aq_dump_capture(c, ev)); /* runner.debug_dump: a no-op unless this layer */
	if (kv_defer(c, ev)) {
		c->kv_v = *ev;
		c->kv_wait = 1;
		return LMS_OK;
	}
	if (c->kv_wait && ev->kind == LMS_LINEAR_K && c->kv_v.layer == ev->layer) {
		c->kv_wait = 0;
		return replay_kv(c, ev, &c->kv_v);
	}
	if (c->kv_wait)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: v_proj's replay still waits for k_proj's",
				ev->name);
	/* the replay quantizes each distinct input and weight quantizer once */
	for (int f = 0; f < c->n_formats; f++)
		LMS_TRY(replay(c, f, ev));
	return LMS_OK;
}

enum lms_status lms_aq_score_alloc(struct aq_ctx *c, const unsigned char *replayed)
{
	size_t nl = (size_t)c->n_linears, nf = (size_t)c->n_formats, ns = (size_t)c->n_score;
	size_t max_m = (size_t)c->batch_size * (size_t)c->seq_len;
	size_t max_out = 1;
	for (size_t l = 0; l < nl; l++)
		if (replayed[l] && (size_t)c->lin[l].out > max_out)
			max_out = (size_t)c->lin[l].out;
	c->yq_elems = max_m * max_out;
	c->scores = calloc(nl * nf + 1, sizeof *c->scores);
	c->step_scores = calloc(ns * nl * nf + 1, sizeof *c->step_scores);
	c->score_loss = calloc(ns + 1, sizeof *c->score_loss);
	if (!c->scores || !c->step_scores || !c->score_loss)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (score tables)");
	if (!c->is_kl) /* kl_div writes the replay over the engine's Y */
		LMS_TRY(lms_backend_alloc(c->be, c->yq_elems * sizeof(lms_bf16), "replay output", (void **)&c->d_yq));
	size_t acc = nl * nf + 1 > max_m ? nl * nf + 1 : max_m; /* kl_div: one per row */
	LMS_TRY(lms_backend_alloc(c->be, acc * sizeof(double), "score accumulators", (void **)&c->d_acc));
	size_t budget = 0; /* the weight cache comes last: it takes what is left */
	LMS_TRY(lms_aq_wcache_budget(c, &budget));
	return lms_aq_replay_alloc(c, replayed, budget);
}

/* One scoring step s: forward + backward with the replays; its (linear,
 * format) contributions land in step_scores[s]. */
static enum lms_status score_step(struct aq_ctx *c, int s, double *tokens)
{
	lms_aq_dump_step(c, s);
	size_t cells = (size_t)c->n_linears * (size_t)c->n_formats;
	struct lms_linear_hook hooks = {.on_backward = on_backward, .user = c};
	const struct lms_data_batch *db = lms_dataset_batch(c->ds, s);
	struct lms_batch eb = {db->B, db->T, db->ids, db->mask, db->labels};
	LMS_TRY(c->be->ops.memset(c->be->ctx, c->d_acc, 0, (cells + 1) * sizeof(double)));
	LMS_TRY(lms_engine_forward(c->eng, &eb, NULL, &c->score_loss[s]));
	if (!isfinite(c->score_loss[s]))
		return lms_fail(LMS_ERR_NUMERIC,
				"rerun with runner.debug=true to name the first op and module with a "
				"NaN/Inf output; check the checkpoint and the captions",
				"scoring batch %d: the loss is %g (non-finite logits)", s, c->score_loss[s]);
	lms_aq_replay_reset(c);
	c->kv_wait = 0;
	/* the replays of a linear overlap the backward's next ops (CUDA's side
	 * stream; the same ops in the same order, so the same bits) */
	lms_engine_set_overlap(c->eng, 1);
	enum lms_status st = lms_engine_backward(c->eng, &hooks);
	lms_engine_set_overlap(c->eng, 0);
	LMS_TRY(st);
	double *step = c->step_scores + (size_t)s * cells;
	if (cells)
		LMS_TRY(c->be->ops.memcpy_d2h(c->be->ctx, step, c->d_acc, cells * sizeof(double)));
	for (size_t i = 0; i < cells; i++) {
		if (!isfinite(step[i]))
			return lms_fail(LMS_ERR_NUMERIC, "check the checkpoint (overflowing activations)",
					"scoring batch %d: %s, format %s: the score is %g", s,
					c->lin[i / (size_t)c->n_formats].name,
					c->fmt[i % (size_t)c->n_formats].name, step[i]);
	}
	*tokens += (double)db->n_tokens;
	return LMS_OK;
}

/* Runs this rank's steps, reduces the per-step tables across the group (each
 * step's row is non-zero on one rank only, so the sum is exact) and adds the
 * totals in step order: the same additions as a one-rank run. */
enum lms_status lms_aq_score(struct aq_ctx *c)
{
	size_t cells = (size_t)c->n_linears * (size_t)c->n_formats, ns = (size_t)c->n_score;
	int *mine = NULL, n_mine = 0;
	double tokens = 0.0; /* exact: integers far below 2^53 */
	/* failures before the reductions go through lms_aq_agree (no rank waits) */
	size_t nl = (size_t)c->n_linears;
	unsigned char *replayed = malloc(nl + 1);
	for (size_t l = 0; replayed && l < nl; l++)
		replayed[l] = !c->skip[l];
	enum lms_status st = replayed ? lms_aq_score_alloc(c, replayed)
				      : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	free(replayed);
	if (st == LMS_OK)
		st = lms_aq_my_batches(c, c->n_score, &mine, &n_mine);
	lms_aq_progress_begin("score", n_mine, "steps");
	for (int i = 0; st == LMS_OK && i < n_mine; i++) {
		if (lms_aq_interrupted(c))
			st = lms_fail(LMS_ERR_INTERRUPTED, NULL, "scoring interrupted before step %d", mine[i]);
		else
			st = score_step(c, mine[i], &tokens);
		lms_aq_progress_step(i + 1);
	}
	free(mine);
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
