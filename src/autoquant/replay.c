/* replay.c — the replay of one linear for one candidate format,
 *   Yq = fq_in(X) · fq_w(W)ᵀ   (bf16 GEMM, fp32 accumulation),
 * shared by the gradient method (score.c: Σ(g·Δ)² against the engine's Y)
 * and the kl_div method (kldiv.c: Yq written over the engine's Y).
 *
 * Fake quantization is done once per DISTINCT quantizer, not per format:
 *   - formats of a bundle often share a quantizer (FP8 per-tensor weights in
 *     wfp8_afp16 and wfp8_afp8; the FP8 input in three of the seed pairs), and
 *     q/k/v (gate/up) share their input X. The bundle's enabled input and
 *     weight quantizers are deduplicated at allocation (same descriptor, the
 *     effective-bits override aside); each distinct one has its own scratch.
 *   - an input scratch remembers which X it holds (pointer, layer, shape)
 *     within one pass; lms_aq_replay_reset forgets it at every pass boundary,
 *     because the engine reuses one working set across layers and passes.
 *   - a weight scratch remembers which linear's W it holds: W and its amax
 *     never change within a job, so that is valid for the whole job.
 *   - the weight cache keeps fq(W) of (distinct weight quantizer, linear) for
 *     the whole job when memory allows (autoquant.weight_cache: auto sizes it
 *     from the backend's free memory, false turns it off, true caches every
 *     linear, a number caps it in GB); each slot is filled at its first use. Linears beyond the budget
 *     are quantized into the scratch as before.
 * autoquant.replay_gemm=fp8 sends the formats with per-tensor FP8 input and
 * weight to replay_fp8.c (FP8 tensor-core GEMMs, not bit-identical; see
 * there); lms_aq_replay_operands always gives the exact path's operands.
 * Every cached or remembered value is what the quantization would compute
 * again (same op, same inputs), so the scores are bit-identical with any
 * cache setting (tests/autoquant_e2e/test_speedups.sh).
 *
 * Input amax: the calibrated per-tensor max|X| (calib.c) for a static input
 * quantizer; max|X| of this very input for a dynamic one (ModelOpt's
 * _get_amax); none for MX. Weight amax: calib.c's values for the format (the
 * first format of each distinct weight quantizer: equal descriptors give
 * equal amax). Not here: scoring (score.c, kldiv.c), memory choices
 * (memplan.c). */
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "core/log.h"

/* Same fake quantization (the effective-bits override only changes costs). */
static int same_quantizer(const struct lms_quantizer_desc *a, const struct lms_quantizer_desc *b)
{
	return a->enabled == b->enabled && a->num_bits == b->num_bits && a->exp_bits == b->exp_bits &&
	       a->man_bits == b->man_bits && a->axis == b->axis && a->block_size == b->block_size &&
	       a->block_dynamic == b->block_dynamic && a->scale_exp_bits == b->scale_exp_bits &&
	       a->scale_man_bits == b->scale_man_bits && a->dynamic_amax == b->dynamic_amax;
}

/* of[f] = index of format f's quantizer among the distinct ones (-1:
 * disabled), rep[i] = the first format using distinct quantizer i. */
static int dedupe(const struct aq_ctx *c, int weight, int *of, int *rep)
{
	int n = 0;
	for (int f = 0; f < c->n_formats; f++) {
		const struct lms_quantizer_desc *q = weight ? &c->fmt[f].weight : &c->fmt[f].input;
		of[f] = -1;
		if (!q->enabled)
			continue;
		for (int i = 0; i < n && of[f] < 0; i++) {
			const struct lms_format *r = &c->fmt[rep[i]];
			if (same_quantizer(q, weight ? &r->weight : &r->input))
				of[f] = i;
		}
		if (of[f] < 0) {
			rep[n] = f;
			of[f] = n++;
		}
	}
	return n;
}

void lms_aq_replay_reset(struct aq_ctx *c)
{
	struct aq_replay *r = &c->rp;
	for (int i = 0; i < r->n_in; i++)
		r->x_src[i] = NULL;
	lms_aq_fp8_reset(c);
}

/* 1 when some format replays weight quantizer j through the exact path (not
 * every user of j takes the FP8 GEMM): only then is its bf16 cache kept. */
static int exact_weight_used(const struct aq_ctx *c, int j)
{
	for (int f = 0; f < c->n_formats; f++)
		if (c->rp.w_of[f] == j && !lms_aq_fp8_format(c, f))
			return 1;
	return 0;
}

/* The weight cache: one block per distinct weight quantizer, slots for the
 * scored linears in index order while the budget lasts. */
static enum lms_status alloc_wcache(struct aq_ctx *c, const unsigned char *replayed, size_t budget)
{
	struct aq_replay *r = &c->rp;
	size_t nl = (size_t)c->n_linears;
	for (int j = 0; j < r->n_w; j++) {
		size_t bytes = 0;
		int64_t *off = r->w_off + (size_t)j * nl;
		int exact = exact_weight_used(c, j);
		for (size_t l = 0; l < nl; l++) {
			size_t b = ((size_t)c->lin[l].in * (size_t)c->lin[l].out * sizeof(lms_bf16) + 255) /
				   256 * 256;
			off[l] = -1;
			if (!replayed[l] || !exact)
				continue;
			r->wcache_want++;
			if (r->wcache_bytes + bytes + b > budget)
				continue;
			off[l] = (int64_t)bytes;
			bytes += b;
		}
		if (bytes == 0)
			continue;
		void *blk = NULL;
		if (c->be->ops.alloc(c->be->ctx, bytes, &blk) != LMS_OK) {
			/* no room after all: this quantizer is quantized per step */
			lms_error_clear();
			for (size_t l = 0; l < nl; l++)
				off[l] = -1;
			continue;
		}
		r->d_wblock[j] = blk;
		r->wcache_bytes += bytes;
		for (size_t l = 0; l < nl; l++)
			r->wcache_slots += off[l] >= 0;
	}
	return LMS_OK;
}

enum lms_status lms_aq_replay_alloc(struct aq_ctx *c, const unsigned char *replayed,
				    size_t wcache_budget)
{
	struct aq_replay *r = &c->rp;
	size_t nf = (size_t)c->n_formats, nl = (size_t)c->n_linears;
	size_t max_m = (size_t)c->batch_size * (size_t)c->seq_len, max_in = 1, max_w = 1;
	for (size_t l = 0; l < nl; l++) {
		if (!replayed[l])
			continue;
		size_t in = (size_t)c->lin[l].in, out = (size_t)c->lin[l].out;
		max_in = in > max_in ? in : max_in;
		max_w = in * out > max_w ? in * out : max_w;
	}
	c->xq_elems = max_m * max_in;
	c->wq_elems = max_w;
	r->in_of = calloc(nf + 1, sizeof *r->in_of);
	r->w_of = calloc(nf + 1, sizeof *r->w_of);
	r->in_fmt = calloc(nf + 1, sizeof *r->in_fmt);
	r->w_fmt = calloc(nf + 1, sizeof *r->w_fmt);
	r->d_xq = calloc(nf + 1, sizeof *r->d_xq);
	r->x_src = calloc(nf + 1, sizeof *r->x_src);
	r->x_layer = calloc(nf + 1, sizeof *r->x_layer);
	r->x_m = calloc(nf + 1, sizeof *r->x_m);
	r->d_wq = calloc(nf + 1, sizeof *r->d_wq);
	r->wq_lin = calloc(nf + 1, sizeof *r->wq_lin);
	r->d_wblock = calloc(nf + 1, sizeof *r->d_wblock);
	r->w_off = calloc(nf * nl + 1, sizeof *r->w_off);
	r->w_filled = calloc(nf * nl + 1, 1);
	if (!r->in_of || !r->w_of || !r->in_fmt || !r->w_fmt || !r->d_xq || !r->x_src ||
	    !r->x_layer || !r->x_m || !r->d_wq || !r->wq_lin || !r->d_wblock || !r->w_off ||
	    !r->w_filled)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (replay tables)");
	r->n_in = dedupe(c, 0, r->in_of, r->in_fmt);
	r->n_w = dedupe(c, 1, r->w_of, r->w_fmt);
	for (int i = 0; i < r->n_in; i++)
		LMS_TRY(lms_backend_alloc(c->be, c->xq_elems * sizeof(lms_bf16), "replay input",
					  (void **)&r->d_xq[i]));
	LMS_TRY(lms_backend_alloc(c->be, sizeof(float), "dynamic amax", (void **)&c->d_amax_tmp));
	LMS_TRY(alloc_wcache(c, replayed, wcache_budget));
	size_t left = wcache_budget > r->wcache_bytes ? wcache_budget - r->wcache_bytes : 0;
	LMS_TRY(lms_aq_fp8_alloc(c, replayed, &left));
	for (int j = 0; j < r->n_w; j++) {
		r->wq_lin[j] = -1;
		int need = 0; /* a scored linear without a cache slot */
		for (size_t l = 0; l < nl && !need; l++)
			need = replayed[l] && r->w_off[(size_t)j * nl + l] < 0;
		if (need)
			LMS_TRY(lms_backend_alloc(c->be, c->wq_elems * sizeof(lms_bf16),
						  "replay weight", (void **)&r->d_wq[j]));
	}
	lms_aq_replay_reset(c);
	LMS_INFO("replay: %d format%s, %d distinct input and %d distinct weight quantizer%s; "
		 "quantized weights cached for %d of %d (quantizer, linear) pairs (%.2f GB)",
		 c->n_formats, c->n_formats == 1 ? "" : "s", r->n_in, r->n_w, r->n_w == 1 ? "" : "s",
		 r->wcache_slots, r->wcache_want, (double)r->wcache_bytes / 1e9);
	return LMS_OK;
}

void lms_aq_replay_free(struct aq_ctx *c)
{
	struct aq_replay *r = &c->rp;
	lms_aq_fp8_free(c);
	for (int i = 0; r->d_xq && i < r->n_in; i++)
		c->be->ops.free(c->be->ctx, r->d_xq[i]);
	for (int j = 0; r->d_wq && j < r->n_w; j++) {
		c->be->ops.free(c->be->ctx, r->d_wq[j]);
		c->be->ops.free(c->be->ctx, r->d_wblock[j]);
	}
	c->be->ops.free(c->be->ctx, c->d_amax_tmp);
	c->d_amax_tmp = NULL;
	free(r->in_of);
	free(r->w_of);
	free(r->in_fmt);
	free(r->w_fmt);
	free(r->d_xq);
	free(r->x_src);
	free(r->x_layer);
	free(r->x_m);
	free(r->d_wq);
	free(r->wq_lin);
	free(r->d_wblock);
	free(r->w_off);
	free(r->w_filled);
	memset(r, 0, sizeof *r);
}

/* fq_in(X) of distinct input quantizer i into its scratch (unless it holds
 * this very X already). */
static enum lms_status quant_input(struct aq_ctx *c, int i, const struct lms_linear_event *ev)
{
	struct aq_replay *r = &c->rp;
	if (r->x_src[i] == ev->d_x && r->x_layer[i] == ev->layer && r->x_m[i] == (int64_t)ev->M * ev->in)
		return LMS_OK;
	const struct lms_backend_ops *o = &c->be->ops;
	const struct lms_quantizer_desc *q = &c->fmt[r->in_fmt[i]].input;
	struct lms_quant_desc d = {.q = *q, .amax = NULL};
	size_t len = lms_quant_amax_len(q, (size_t)ev->M, (size_t)ev->in);
	if (len == 1 && q->dynamic_amax) {
		LMS_TRY(o->absmax_rows(c->be->ctx, c->d_amax_tmp, ev->d_x, 1, (int64_t)ev->M * ev->in, 0));
		d.amax = c->d_amax_tmp;
		d.q.dynamic_amax = 0; /* resolved above, over the whole input */
	} else if (len == 1) {
		d.amax = c->d_act_amax + ev->index;
	}
	r->x_src[i] = NULL; /* not valid while being rewritten (an error leaves it so) */
	LMS_TRY(o->fake_quant(c->be->ctx, r->d_xq[i], ev->d_x, ev->M, ev->in, &d));
	r->x_src[i] = ev->d_x;
	r->x_layer[i] = ev->layer;
	r->x_m[i] = (int64_t)ev->M * ev->in;
	return LMS_OK;
}

/* fq_w(W) of distinct weight quantizer j: the cache slot (filled at its first
 * use), or the scratch (unless it holds this linear's already). */
static enum lms_status quant_weight(struct aq_ctx *c, int j, const struct lms_linear_event *ev,
				    const lms_bf16 **w)
{
	struct aq_replay *r = &c->rp;
	size_t slot = (size_t)j * (size_t)c->n_linears + (size_t)ev->index;
	lms_bf16 *dst;
	if (r->w_off[slot] >= 0) {
		dst = (lms_bf16 *)((char *)r->d_wblock[j] + r->w_off[slot]);
		*w = dst;
		if (r->w_filled[slot])
			return LMS_OK;
	} else {
		dst = r->d_wq[j];
		*w = dst;
		if (!dst)
			return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: no replay weight scratch", ev->name);
		if (r->wq_lin[j] == ev->index)
			return LMS_OK;
		r->wq_lin[j] = -1;
	}
	int f = r->w_fmt[j];
	struct lms_quant_desc d = {
		.q = c->fmt[f].weight,
		.amax = c->d_w_amax[(size_t)f * (size_t)c->n_linears + (size_t)ev->index],
	};
	if (d.amax)
		d.q.dynamic_amax = 0; /* calib.c computed it from this very W */
	LMS_TRY(c->be->ops.fake_quant(c->be->ctx, dst, ev->d_w, ev->out, ev->in, &d));
	if (r->w_off[slot] >= 0)
		r->w_filled[slot] = 1;
	else
		r->wq_lin[j] = ev->index;
	return LMS_OK;
}

enum lms_status lms_aq_replay_operands(struct aq_ctx *c, int f, const struct lms_linear_event *ev,
				       const lms_bf16 **xq, const lms_bf16 **wq)
{
	struct aq_replay *r = &c->rp;
	if ((size_t)ev->M * (size_t)ev->in > c->xq_elems || (size_t)ev->out * (size_t)ev->in > c->wq_elems)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: replay scratch too small", ev->name);
	/* the place named by debug-mode and error messages (borrowed, no formatting) */
	lms_backend_set_label(c->be, ev->name, "replay", c->fmt[f].name);
	*xq = ev->d_x;
	*wq = ev->d_w;
	if (r->in_of[f] >= 0) {
		LMS_TRY(quant_input(c, r->in_of[f], ev));
		*xq = r->d_xq[r->in_of[f]];
	}
	if (r->w_of[f] >= 0)
		LMS_TRY(quant_weight(c, r->w_of[f], ev, wq));
	return LMS_OK;
}

enum lms_status lms_aq_replay(struct aq_ctx *c, int f, const struct lms_linear_event *ev, lms_bf16 *d_out)
{
	if (c->rp.f8.on && lms_aq_fp8_format(c, f)) {
		lms_backend_set_label(c->be, ev->name, "replay (FP8 GEMM)", c->fmt[f].name);
		return lms_aq_fp8_replay(c, f, ev, d_out);
	}
	const lms_bf16 *x, *w;
	LMS_TRY(lms_aq_replay_operands(c, f, ev, &x, &w));
	return lms_backend_linear_forward(c->be, d_out, x, w, ev->M, ev->in, ev->out);
}

enum lms_status lms_aq_replay_pair(struct aq_ctx *c, int f, const struct lms_linear_event *e0,
				   const struct lms_linear_event *e1, lms_bf16 *d_out0,
				   lms_bf16 *d_out1, int *paired)
{
	struct aq_replay *r = &c->rp;
	*paired = 0;
	if (c->be->is_host || (r->f8.on && lms_aq_fp8_format(c, f)) || e0->M != e1->M ||
	    e0->in != e1->in || e0->out != e1->out || e0->d_x != e1->d_x || d_out1 <= d_out0)
		return LMS_OK;
	int j = r->w_of[f];
	size_t nl = (size_t)c->n_linears;
	if (j >= 0 && (r->w_off[(size_t)j * nl + (size_t)e0->index] < 0 ||
		       r->w_off[(size_t)j * nl + (size_t)e1->index] < 0))
		return LMS_OK; /* one weight scratch: the second would overwrite the first */
	const lms_bf16 *x0, *w0, *x1, *w1;
	LMS_TRY(lms_aq_replay_operands(c, f, e0, &x0, &w0));
	LMS_TRY(lms_aq_replay_operands(c, f, e1, &x1, &w1));
	if (x0 != x1 || w1 <= w0)
		return LMS_OK;
	struct lms_gemm_args g = {
	    .m = e0->M,
	    .n = e0->out,
	    .k = e0->in,
	    .d_a = x0,
	    .lda = e0->in,
	    .d_b = w0,
	    .ldb = e0->in,
	    .trans_b = 1,
	    .d_c = d_out0,
	    .ldc = e0->out,
	    .c_dtype = LMS_GEMM_OUT_BF16,
	    .alpha = 1.0f,
	    .batch = 2,
	    .stride_a = 0,
	    .stride_b = (int64_t)(w1 - w0),
	    .stride_c = (int64_t)(d_out1 - d_out0),
	};
	lms_backend_set_label(c->be, e0->name, "replay (with the next linear, one batch)",
			      c->fmt[f].name);
	LMS_TRY(c->be->ops.gemm(c->be->ctx, &g));
	*paired = 1;
	return LMS_OK;
}
