/* calib.c — the calibration phase (reference/modelopt-autoquant.md §4):
 * unquantized forwards over calibration batches [0, n_calib); for every
 * linear the per-tensor activation amax max|X| over all batches (padding
 * positions included, bf16 values), and, from the first batch's weights, the
 * weight amax of every candidate format at that format's granularity (per
 * tensor, per output row, per static block) plus max|W| for the reports.
 *
 * The forwards compute no logits and no loss (lms_engine_forward_nologits:
 * lm_head's input amax comes from the final-norm output, without the
 * (M, V) GEMM) unless autoquant.calib_loss asks for the per-batch losses.
 * Linears that share their input (q, k, v; gate, up) share one amax
 * reduction per batch: the later ones copy the first one's value.
 *
 * Formats whose input quantizer is never calibrated (algorithm null, e.g.
 * W4A8_MXFP4_FP8's FP8 input) ignore the activation amax: score.c computes
 * their amax from each replayed input (ModelOpt's dynamic _get_amax).
 * Invariants: amaxes are finite (a NaN/Inf activation is an error naming the
 * linear); everything is computed with backend ops on backend memory.
 * Not here: the scoring replays (score.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "core/log.h"

struct calib_state {
	struct aq_ctx *c;
	int batch;
	float *d_wmax;	   /* (NL) per-tensor max|W| */
	int *src;	   /* (NL) the linear whose input amax this one shares (itself
			    * when none), from batch 0's events */
	const void *last_x; /* the previous event's X in this pass */
	int last_src;
};

/* The weight quantizer's amax of format f for one linear, in the layout of
 * lms_quant_amax_len (per tensor, per output row, per static block of the
 * last dim with a ragged tail). Computed for dynamic quantizers too: W never
 * changes, so the per-call amax would be these very values, and a backend
 * then never has to compute one. NULL (no allocation) when the quantizer
 * needs no amax (MX, disabled). */
static enum lms_status weight_amax(struct aq_ctx *c, int f, const struct lms_linear_event *ev)
{
	const struct lms_backend_ops *o = &c->be->ops;
	const struct lms_quantizer_desc *q = &c->fmt[f].weight;
	size_t len = lms_quant_amax_len(q, (size_t)ev->out, (size_t)ev->in);
	float **slot = &c->d_w_amax[(size_t)f * (size_t)c->n_linears + (size_t)ev->index];
	if (!q->enabled || len == 0)
		return LMS_OK;
	LMS_TRY(lms_backend_alloc(c->be, len * sizeof(float), "weight amax", (void **)slot));
	float *a = *slot;
	int64_t out = ev->out, in = ev->in, bs = q->block_size;
	if (len == 1)
		return o->absmax_rows(c->be->ctx, a, ev->d_w, 1, out * in, 0);
	if (bs <= 0 || bs >= in) /* per row, or one (partial) block per row */
		return o->absmax_rows(c->be->ctx, a, ev->d_w, out, in, 0);
	if (in % bs == 0)
		return o->absmax_rows(c->be->ctx, a, ev->d_w, out * (in / bs), bs, 0);
	/* ragged: the full blocks, then the tail of each row (init only) */
	int64_t full = in / bs, nb = full + 1;
	for (int64_t r = 0; r < out; r++) {
		LMS_TRY(o->absmax_rows(c->be->ctx, a + r * nb, ev->d_w + r * in, full, bs, 0));
		LMS_TRY(o->absmax_rows(c->be->ctx, a + r * nb + full, ev->d_w + r * in + full * bs, 1,
				       in - full * bs, 0));
	}
	return LMS_OK;
}

static enum lms_status on_forward(void *user, const struct lms_linear_event *ev)
{
	struct calib_state *s = user;
	struct aq_ctx *c = s->c;
	if (ev->index < 0 || ev->index >= c->n_linears)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "linear index %d out of range", ev->index);
	/* same X pointer as the previous linear of this pass: the same values
	 * (hooks never write an event's tensors), so the same amax */
	int same = ev->d_x == s->last_x;
	s->last_x = ev->d_x;
	if (!same)
		s->last_src = ev->index;
	if (s->batch == 0) {
		struct aq_linear *l = &c->lin[ev->index];
		s->src[ev->index] = s->last_src;
		l->name = ev->name;
		l->kind = ev->kind;
		l->layer = ev->kind == LMS_LINEAR_LM_HEAD ? -1 : ev->layer;
		l->in = ev->in;
		l->out = ev->out;
		LMS_TRY(c->be->ops.absmax_rows(c->be->ctx, s->d_wmax + ev->index, ev->d_w, 1,
					       (int64_t)ev->out * ev->in, 0));
		for (int f = 0; f < c->n_formats; f++)
			LMS_TRY(weight_amax(c, f, ev));
	}
	if (s->src[ev->index] != s->last_src)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: its input changed sharing between batches",
				ev->name);
	if (same)
		return LMS_OK;
	return c->be->ops.absmax_rows(c->be->ctx, c->d_act_amax + ev->index, ev->d_x, 1,
				      (int64_t)ev->M * ev->in, 1);
}

/* A static input quantizer must be per tensor (one amax from calibration). */
static enum lms_status check_inputs(const struct aq_ctx *c)
{
	for (int f = 0; f < c->n_formats; f++) {
		const struct lms_quantizer_desc *q = &c->fmt[f].input;
		if (q->enabled && !q->dynamic_amax && lms_quant_amax_len(q, 2, 64) > 1)
			return lms_fail(LMS_ERR_UNSUPPORTED, "use a per-tensor input quantizer (axis: null)",
					"format %s: static per-channel or per-block input quantizers are not supported",
					c->fmt[f].name);
	}
	return LMS_OK;
}

static enum lms_status calib_alloc(struct aq_ctx *c, float **d_wmax)
{
	size_t nl = (size_t)c->n_linears, nf = (size_t)c->n_formats;
	c->lin = calloc(nl, sizeof *c->lin);
	c->act_amax = calloc(nl, sizeof *c->act_amax);
	c->weight_amax = calloc(nl, sizeof *c->weight_amax);
	c->d_w_amax = calloc(nf * nl + 1, sizeof *c->d_w_amax);
	c->calib_loss = calloc((size_t)c->n_calib + 1, sizeof *c->calib_loss);
	if (!c->lin || !c->act_amax || !c->weight_amax || !c->d_w_amax || !c->calib_loss)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (calibration tables)");
	LMS_TRY(lms_backend_alloc(c->be, nl * sizeof(float), "activation amax", (void **)&c->d_act_amax));
	LMS_TRY(c->be->ops.memset(c->be->ctx, c->d_act_amax, 0, nl * sizeof(float)));
	return lms_backend_alloc(c->be, nl * sizeof(float), "weight amax", (void **)d_wmax);
}

/* Runs this rank's calibration batches. A rank with no batch of its own
 * (more ranks than batches) still runs batch 0 to fill the linear table and
 * the weight amax: the activation max over a batch seen twice is the same
 * max, and that batch's loss is not recorded here. */
static enum lms_status calib_batches(struct aq_ctx *c, struct calib_state *s)
{
	int *mine = NULL, n_mine = 0;
	LMS_TRY(lms_aq_my_batches(c, c->n_calib, &mine, &n_mine));
	struct lms_linear_hook hooks = {.on_forward = on_forward, .user = s};
	int n_run = n_mine > 0 ? n_mine : (c->n_calib > 0 ? 1 : 0);
	enum lms_status st = LMS_OK;
	lms_aq_progress_begin("calibrate", n_run, "batches");
	/* the amax reductions overlap the forward's next ops (CUDA's side stream;
	 * a max does not depend on the order) */
	lms_engine_set_overlap(c->eng, 1);
	for (int i = 0; st == LMS_OK && i < n_run; i++) {
		int b = n_mine > 0 ? mine[i] : 0;
		if (lms_aq_interrupted(c)) {
			st = lms_fail(LMS_ERR_INTERRUPTED, NULL, "calibration interrupted before batch %d", b);
			break;
		}
		const struct lms_data_batch *db = lms_dataset_batch(c->ds, b);
		struct lms_batch eb = {db->B, db->T, db->ids, db->mask, db->labels};
		double loss = 0.0;
		s->batch = i;
		s->last_x = NULL;
		if (c->calib_loss_on)
			st = lms_engine_forward(c->eng, &eb, &hooks, &loss);
		else
			st = lms_engine_forward_nologits(c->eng, &eb, &hooks);
		if (n_mine > 0)
			c->calib_loss[b] = loss;
		lms_aq_progress_step(i + 1);
	}
	lms_engine_set_overlap(c->eng, 0);
	free(mine);
	return st;
}

enum lms_status lms_aq_calibrate(struct aq_ctx *c)
{
	c->n_linears = lms_engine_num_linears(c->eng);
	LMS_TRY(check_inputs(c));
	struct calib_state s = {.c = c};
	size_t nl = (size_t)c->n_linears;
	enum lms_status st = calib_alloc(c, &s.d_wmax);
	s.src = calloc(nl + 1, sizeof *s.src);
	if (st == LMS_OK && !s.src)
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (calibration tables)");
	if (st == LMS_OK)
		st = calib_batches(c, &s);
	if (st == LMS_OK)
		st = c->be->ops.memcpy_d2h(c->be->ctx, c->act_amax, c->d_act_amax, nl * sizeof(float));
	if (st == LMS_OK) { /* the shared-input linears take their source's amax */
		for (size_t l = 0; l < nl; l++)
			c->act_amax[l] = c->act_amax[s.src[l]];
		st = c->be->ops.memcpy_h2d(c->be->ctx, c->d_act_amax, c->act_amax, nl * sizeof(float));
	}
	free(s.src);
	if (st == LMS_OK)
		st = c->be->ops.memcpy_d2h(c->be->ctx, c->weight_amax, s.d_wmax, nl * sizeof(float));
	c->be->ops.free(c->be->ctx, s.d_wmax);
	/* every rank of a group gets here, failed or not (lms_aq_agree) */
	LMS_TRY(lms_aq_agree(c, st, "calibration"));
	if (c->dist && c->dist->world > 1) {
		LMS_TRY(c->dist->max_f32(c->dist->ctx, c->act_amax, nl));
		LMS_TRY(c->be->ops.memcpy_h2d(c->be->ctx, c->d_act_amax, c->act_amax, nl * sizeof(float)));
		if (c->calib_loss_on)
			LMS_TRY(c->dist->sum_f64(c->dist->ctx, c->calib_loss, (size_t)c->n_calib));
	}
	c->t_calib = lms_aq_progress_end();
	for (size_t l = 0; l < nl; l++) {
		if (!isfinite(c->act_amax[l]) || !isfinite(c->weight_amax[l]))
			return lms_fail(LMS_ERR_NUMERIC, "check the checkpoint's weights (NaN/Inf)",
					"calibration: non-finite amax at %s (input %g, weight %g)", c->lin[l].name,
					(double)c->act_amax[l], (double)c->weight_amax[l]);
	}
	return LMS_OK;
}
