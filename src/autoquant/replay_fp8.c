/* replay_fp8.c — autoquant.replay_gemm=fp8: the replays of formats whose
 * input and weight quantizers are both per-tensor FP8 E4M3 (FP8_DEFAULT_CFG,
 * wfp8_afp8) run as FP8 tensor-core GEMMs on the E4M3 values themselves,
 *   Yq = bf16( inv_x · inv_w · Σ_k x8·w8 )   (cuBLASLt, fp32 accumulation),
 * instead of the exact path's bf16 GEMM of the fake-quantized operands
 * bf16(x8·inv_x) · bf16(w8·inv_w). The E4M3 values and scales are those of
 * the fake quantizer (tests/gpu/test_fp8_replay.c checks it bit for bit);
 * what differs is the bf16 rounding of each dequantized operand, which the
 * FP8 GEMM does not do, and the tensor cores' accumulation order. The
 * difference in scores is measured in docs/BENCHMARKS.md; the exact path
 * stays the default. CUDA only (LMS_ERR_UNSUPPORTED on another backend).
 *
 * State (struct aq_fp8 in c->rp.f8): per distinct input quantizer an E4M3
 * scratch with the memo of replay.c's input scratch (X pointer, layer,
 * shape; forgotten at every pass boundary); per distinct weight quantizer
 * used by an FP8 format a cache of E4M3 weights (half the bytes of the bf16
 * cache) within the weight-cache budget, else a scratch that remembers its
 * linear. Scales: one device float per distinct input quantizer and one per
 * (distinct weight quantizer, linear).
 * Not here: the exact path and the deduplication (replay.c), the GEMM
 * (src/backend/fp8_cuda.c). */
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "backend/backend_cuda.h"
#include "core/log.h"

/* Floats between two scales in d_inv: cuBLASLt refuses a scale pointer that
 * is not 16-byte aligned ("not supported"); 64 bytes apart. */
#define INV_STRIDE 16

/* A per-tensor E4M3 quantizer (scheme FP8, axis none, no blocks). */
static int e4m3_per_tensor(const struct lms_quantizer_desc *q)
{
	return q->enabled && q->num_bits == 0 && q->exp_bits == 4 && q->man_bits == 3 &&
	       q->axis == LMS_QAXIS_NONE && q->block_size == 0;
}

int lms_aq_fp8_format(const struct aq_ctx *c, int f)
{
	return c->replay_fp8 && e4m3_per_tensor(&c->fmt[f].input) &&
	       e4m3_per_tensor(&c->fmt[f].weight);
}

void lms_aq_fp8_reset(struct aq_ctx *c)
{
	struct aq_fp8 *p = &c->rp.f8;
	for (int i = 0; p->x_src && i < c->rp.n_in; i++)
		p->x_src[i] = NULL;
}

#ifdef LMS_HAVE_CUDA
static enum lms_status fp8_tables(struct aq_ctx *c, struct aq_fp8 *p)
{
	size_t nf = (size_t)c->n_formats, nl = (size_t)c->n_linears;
	p->d_x8 = calloc(nf + 1, sizeof *p->d_x8);
	p->x_src = calloc(nf + 1, sizeof *p->x_src);
	p->x_layer = calloc(nf + 1, sizeof *p->x_layer);
	p->x_m = calloc(nf + 1, sizeof *p->x_m);
	p->d_w8 = calloc(nf + 1, sizeof *p->d_w8);
	p->w_lin = calloc(nf + 1, sizeof *p->w_lin);
	p->d_wblock = calloc(nf + 1, sizeof *p->d_wblock);
	p->w_off = calloc(nf * nl + 1, sizeof *p->w_off);
	p->w_filled = calloc(nf * nl + 1, 1);
	if (!p->d_x8 || !p->x_src || !p->x_layer || !p->x_m || !p->d_w8 || !p->w_lin ||
	    !p->d_wblock || !p->w_off || !p->w_filled)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (FP8 replay tables)");
	for (size_t k = 0; k < nf * nl; k++)
		p->w_off[k] = -1;
	return LMS_OK;
}

enum lms_status lms_aq_fp8_alloc(struct aq_ctx *c, const unsigned char *replayed, size_t *budget)
{
	struct aq_replay *r = &c->rp;
	struct aq_fp8 *p = &r->f8;
	size_t nl = (size_t)c->n_linears;
	int any = 0;
	for (int f = 0; f < c->n_formats; f++)
		any |= lms_aq_fp8_format(c, f);
	if (!c->replay_fp8 || !any)
		return LMS_OK;
	if (c->be->is_host)
		return lms_fail(LMS_ERR_UNSUPPORTED, "use autoquant.replay_gemm=exact or runner.backend=cuda",
				"autoquant.replay_gemm=fp8 needs the CUDA backend (the job runs on %s)",
				c->be->name);
	for (size_t l = 0; l < nl; l++)
		if (replayed[l] && !lms_backend_cuda_fp8_shape_ok((int)c->lin[l].in, (int)c->lin[l].out))
			return lms_fail(LMS_ERR_UNSUPPORTED, "use autoquant.replay_gemm=exact",
					"autoquant.replay_gemm=fp8: %s (%lld x %lld) is not a multiple of 16",
					c->lin[l].name, (long long)c->lin[l].out, (long long)c->lin[l].in);
	LMS_TRY(fp8_tables(c, p));
	LMS_TRY(lms_backend_alloc(c->be,
				  ((size_t)r->n_in + (size_t)r->n_w * nl + 1) * INV_STRIDE * sizeof(float),
				  "FP8 replay scales", (void **)&p->d_inv));
	for (int i = 0; i < r->n_in; i++) {
		int used = 0;
		for (int f = 0; f < c->n_formats; f++)
			used |= lms_aq_fp8_format(c, f) && r->in_of[f] == i;
		if (used)
			LMS_TRY(lms_backend_alloc(c->be, c->xq_elems, "FP8 replay input",
						  (void **)&p->d_x8[i]));
	}
	for (int j = 0; j < r->n_w; j++) {
		int used = 0;
		for (int f = 0; f < c->n_formats; f++)
			used |= lms_aq_fp8_format(c, f) && r->w_of[f] == j;
		p->w_lin[j] = -1;
		if (!used)
			continue;
		size_t bytes = 0, want = 0;
		int64_t *off = p->w_off + (size_t)j * nl;
		for (size_t l = 0; l < nl; l++) {
			size_t b = ((size_t)c->lin[l].in * (size_t)c->lin[l].out + 255) / 256 * 256;
			if (!replayed[l])
				continue;
			want++;
			if (bytes + b <= *budget) {
				off[l] = (int64_t)bytes;
				bytes += b;
			}
		}
		if (bytes && c->be->ops.alloc(c->be->ctx, bytes, &p->d_wblock[j]) != LMS_OK) {
			lms_error_clear();
			p->d_wblock[j] = NULL;
		}
		if (!p->d_wblock[j]) {
			for (size_t l = 0; l < nl; l++)
				off[l] = -1;
			bytes = 0;
		}
		*budget -= bytes;
		p->cache_bytes += bytes;
		size_t slots = 0;
		for (size_t l = 0; l < nl; l++)
			slots += off[l] >= 0;
		p->cache_slots += (int)slots;
		p->cache_want += (int)want;
		if (slots < want)
			LMS_TRY(lms_backend_alloc(c->be, c->wq_elems, "FP8 replay weight",
						  (void **)&p->d_w8[j]));
	}
	p->on = 1;
	LMS_INFO("replay: FP8 GEMMs (autoquant.replay_gemm=fp8) for the per-tensor FP8 formats; "
		 "E4M3 weights cached for %d (quantizer, linear) pairs (%.2f GB)",
		 p->cache_slots, (double)p->cache_bytes / 1e9);
	return LMS_OK;
}

void lms_aq_fp8_free(struct aq_ctx *c)
{
	struct aq_fp8 *p = &c->rp.f8;
	for (int i = 0; p->d_x8 && i < c->rp.n_in; i++)
		c->be->ops.free(c->be->ctx, p->d_x8[i]);
	for (int j = 0; p->d_w8 && j < c->rp.n_w; j++) {
		c->be->ops.free(c->be->ctx, p->d_w8[j]);
		c->be->ops.free(c->be->ctx, p->d_wblock[j]);
	}
	c->be->ops.free(c->be->ctx, p->d_inv);
	if (p->on)
		lms_backend_cuda_fp8_release(c->be);
	free(p->d_x8);
	free(p->x_src);
	free(p->x_layer);
	free(p->x_m);
	free(p->d_w8);
	free(p->w_lin);
	free(p->d_wblock);
	free(p->w_off);
	free(p->w_filled);
	memset(p, 0, sizeof *p);
}

static enum lms_status fp8_input(struct aq_ctx *c, int i, const struct lms_linear_event *ev)
{
	struct aq_fp8 *p = &c->rp.f8;
	int64_t n = (int64_t)ev->M * ev->in;
	if (p->x_src[i] == ev->d_x && p->x_layer[i] == ev->layer && p->x_m[i] == n)
		return LMS_OK;
	const struct lms_quantizer_desc *q = &c->fmt[c->rp.in_fmt[i]].input;
	const float *amax = c->d_act_amax + ev->index;
	if (q->dynamic_amax) {
		LMS_TRY(c->be->ops.absmax_rows(c->be->ctx, c->d_amax_tmp, ev->d_x, 1, n, 0));
		amax = c->d_amax_tmp;
	}
	p->x_src[i] = NULL;
	LMS_TRY(lms_backend_cuda_fp8_quant(c->be, p->d_x8[i], p->d_inv + (size_t)i * INV_STRIDE, ev->d_x,
					   n, amax));
	p->x_src[i] = ev->d_x;
	p->x_layer[i] = ev->layer;
	p->x_m[i] = n;
	return LMS_OK;
}

static enum lms_status fp8_weight(struct aq_ctx *c, int j, const struct lms_linear_event *ev,
				  const uint8_t **w8, const float **inv)
{
	struct aq_replay *r = &c->rp;
	struct aq_fp8 *p = &r->f8;
	size_t slot = (size_t)j * (size_t)c->n_linears + (size_t)ev->index;
	float *d_inv = p->d_inv + ((size_t)r->n_in + slot) * INV_STRIDE;
	uint8_t *dst;
	*inv = d_inv;
	if (p->w_off[slot] >= 0) {
		dst = (uint8_t *)p->d_wblock[j] + p->w_off[slot];
		*w8 = dst;
		if (p->w_filled[slot])
			return LMS_OK;
	} else {
		dst = p->d_w8[j];
		*w8 = dst;
		if (!dst)
			return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: no FP8 weight scratch", ev->name);
		if (p->w_lin[j] == ev->index)
			return LMS_OK;
		p->w_lin[j] = -1;
	}
	int f = r->w_fmt[j];
	const float *amax = c->d_w_amax[(size_t)f * (size_t)c->n_linears + (size_t)ev->index];
	if (!amax)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: no FP8 weight amax", ev->name);
	LMS_TRY(lms_backend_cuda_fp8_quant(c->be, dst, d_inv, ev->d_w, (int64_t)ev->out * ev->in, amax));
	if (p->w_off[slot] >= 0)
		p->w_filled[slot] = 1;
	else
		p->w_lin[j] = ev->index;
	return LMS_OK;
}

enum lms_status lms_aq_fp8_replay(struct aq_ctx *c, int f, const struct lms_linear_event *ev,
				  lms_bf16 *d_out)
{
	struct aq_replay *r = &c->rp;
	if ((size_t)ev->M * (size_t)ev->in > c->xq_elems || (size_t)ev->out * (size_t)ev->in > c->wq_elems)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: replay scratch too small", ev->name);
	int i = r->in_of[f], j = r->w_of[f];
	const uint8_t *w8;
	const float *inv_w;
	LMS_TRY(fp8_input(c, i, ev));
	LMS_TRY(fp8_weight(c, j, ev, &w8, &inv_w));
	return lms_backend_cuda_fp8_linear(c->be, d_out, r->f8.d_x8[i],
					   r->f8.d_inv + (size_t)i * INV_STRIDE, w8, inv_w, ev->M, ev->in,
					   ev->out);
}
#else
enum lms_status lms_aq_fp8_alloc(struct aq_ctx *c, const unsigned char *replayed, size_t *budget)
{
	(void)replayed;
	(void)budget;
	int any = 0;
	for (int f = 0; f < c->n_formats; f++)
		any |= lms_aq_fp8_format(c, f);
	if (!any) /* no format replays through the FP8 GEMM */
		return LMS_OK;
	return lms_fail(LMS_ERR_UNSUPPORTED, "use autoquant.replay_gemm=exact (or a CUDA build)",
			"autoquant.replay_gemm=fp8 needs the CUDA backend; this lmsens was built without CUDA");
}

void lms_aq_fp8_free(struct aq_ctx *c)
{
	memset(&c->rp.f8, 0, sizeof c->rp.f8);
}

enum lms_status lms_aq_fp8_replay(struct aq_ctx *c, int f, const struct lms_linear_event *ev,
				  lms_bf16 *d_out)
{
	(void)c, (void)f, (void)ev, (void)d_out;
	return lms_fail(LMS_ERR_INTERNAL, NULL, "FP8 replay in a build without CUDA");
}
#endif
