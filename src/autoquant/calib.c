/* calib.c — the calibration phase (reference/modelopt-autoquant.md §4):
 * unquantized forwards over calibration batches [0, n_calib); for every
 * linear the per-tensor activation amax max|X| over all batches (padding
 * positions included, bf16 values), and, from the first batch's weights, the
 * weight amax of every candidate format at that format's granularity (per
 * tensor, per output row, per static block) plus max|W| for the reports.
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
	float *d_wmax; /* (NL) per-tensor max|W| */
};

/* Static amax of format f's weight quantizer for one linear, or NULL when the
 * quantizer needs none or computes it per call. */
static enum lms_status weight_amax(struct aq_ctx *c, int f, const struct lms_linear_event *ev)
{
	const struct lms_quantizer_desc *q = &c->fmt[f].weight;
	size_t len = lms_quant_amax_len(q, (size_t)ev->out, (size_t)ev->in);
	float **slot = &c->d_w_amax[(size_t)f * (size_t)c->n_linears + (size_t)ev->index];
	if (!q->enabled || q->dynamic_amax || len == 0)
		return LMS_OK;
	int64_t rows, cols;
	if (len == 1) {
		rows = 1;
		cols = (int64_t)ev->out * ev->in;
	} else if (len == (size_t)ev->out && q->block_size == 0) {
		rows = ev->out;
		cols = ev->in;
	} else if (q->block_size > 0 && ev->in % q->block_size == 0) {
		rows = (int64_t)ev->out * (ev->in / q->block_size);
		cols = q->block_size;
	} else {
		/* ragged static blocks: computed per call from W, which gives the same
		 * values (the weight never changes) */
		return LMS_OK;
	}
	LMS_TRY(lms_backend_alloc(c->be, len * sizeof(float), "weight amax", (void **)slot));
	return c->be->ops.absmax_rows(c->be->ctx, *slot, ev->d_w, rows, cols, 0);
}

static enum lms_status on_forward(void *user, const struct lms_linear_event *ev)
{
	struct calib_state *s = user;
	struct aq_ctx *c = s->c;
	if (ev->index < 0 || ev->index >= c->n_linears)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "linear index %d out of range", ev->index);
	if (s->batch == 0) {
		struct aq_linear *l = &c->lin[ev->index];
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

enum lms_status lms_aq_calibrate(struct aq_ctx *c)
{
	c->n_linears = lms_engine_num_linears(c->eng);
	LMS_TRY(check_inputs(c));
	struct calib_state s = {.c = c};
	enum lms_status st = calib_alloc(c, &s.d_wmax);
	struct lms_linear_hook hooks = {.on_forward = on_forward, .user = &s};
	lms_aq_progress_begin("calibrate", c->n_calib, "batches");
	for (int b = 0; st == LMS_OK && b < c->n_calib; b++) {
		const struct lms_data_batch *db = lms_dataset_batch(c->ds, b);
		struct lms_batch eb = {db->B, db->T, db->ids, db->mask, db->labels};
		s.batch = b;
		st = lms_engine_forward(c->eng, &eb, &hooks, &c->calib_loss[b]);
		lms_aq_progress_step(b + 1);
	}
	size_t nl = (size_t)c->n_linears;
	if (st == LMS_OK)
		st = c->be->ops.memcpy_d2h(c->be->ctx, c->act_amax, c->d_act_amax, nl * sizeof(float));
	if (st == LMS_OK)
		st = c->be->ops.memcpy_d2h(c->be->ctx, c->weight_amax, s.d_wmax, nl * sizeof(float));
	c->be->ops.free(c->be->ctx, s.d_wmax);
	if (st != LMS_OK)
		return st;
	c->t_calib = lms_aq_progress_end();
	for (size_t l = 0; l < nl; l++) {
		if (!isfinite(c->act_amax[l]) || !isfinite(c->weight_amax[l]))
			return lms_fail(LMS_ERR_NUMERIC, "check the checkpoint's weights (NaN/Inf)",
					"calibration: non-finite amax at %s (input %g, weight %g)", c->lin[l].name,
					(double)c->act_amax[l], (double)c->weight_amax[l]);
	}
	return LMS_OK;
}
