/* cpu_attn.c — plain-C causal GQA attention with a padding mask, forward
 * and backward, in HF eager bf16 semantics (contract: backend.h).
 *
 * Forward, per (batch b, query head h), per query row i: scores over the
 * visible keys j (j <= i, mask[b, j] != 0), S = bf16(bf16(q·k)·scale),
 * P = softmax(S) in fp32, out = bf16(Σ bf16(P)·v). A row without a visible
 * key outputs 0 (PyTorch >= 2.5 SDPA); lse = -inf.
 *
 * Backward, per (batch b, kv head g): for each query head h of the group the
 * rows are recomputed exactly as in the forward (the lse input is accepted
 * but not needed), dQ rows are written directly, and the per-head dK_h, dV_h
 * are accumulated in fp32 over the query rows, rounded to bf16 (autograd's
 * per-head bf16 matmul result) and summed over the group in fp32 before the
 * final rounding (autograd's repeat_kv backward).
 *
 * Workspace per thread: forward 2·T floats; backward 2·T + 4·T·D floats. */
#include <math.h>
#include <string.h>

#include "backend/cpu_internal.h"

static inline float bf(lms_bf16 v)
{
	return lms_bf16_to_f32(v);
}
static inline float rb(float v)
{
	return lms_round_bf16(v);
}

static size_t per_thread_floats(const struct lms_attn_dims *d)
{
	return 2 * (size_t)d->T + 4 * (size_t)d->T * (size_t)d->D;
}

size_t lms_cpu_attention_workspace(void *vctx, const struct lms_attn_dims *d)
{
	struct cpu_ctx *ctx = vctx;
	return per_thread_floats(d) * sizeof(float) * (size_t)ctx->threads;
}

static enum lms_status check_dims(void *vctx, const struct lms_attn_dims *d, size_t work_bytes)
{
	if (d->B <= 0 || d->T <= 0 || d->H <= 0 || d->G <= 0 || d->D <= 0 || d->H % d->G != 0)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"attention: bad dims B=%d T=%d H=%d G=%d D=%d", d->B, d->T, d->H,
				d->G, d->D);
	if (work_bytes < lms_cpu_attention_workspace(vctx, d))
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"attention: workspace of %zu bytes, %zu needed", work_bytes,
				lms_cpu_attention_workspace(vctx, d));
	return LMS_OK;
}

/* Scores and softmax of query row i: fills p[j] (fp32 P, 0 where not
 * visible) for j <= i and returns the number of visible keys. lse_out gets
 * the row's logsumexp (-inf when none is visible). */
static int row_softmax(float *p, const lms_bf16 *qi, const lms_bf16 *kbase, int64_t kstride,
		       const int32_t *mrow, int i, int D, float scale, float *lse_out)
{
	float mx = -INFINITY;
	int visible = 0;
	for (int j = 0; j <= i; j++) {
		if (!mrow[j]) {
			p[j] = -INFINITY;
			continue;
		}
		const lms_bf16 *kj = kbase + (int64_t)j * kstride;
		float dot = 0.0f;
		for (int d = 0; d < D; d++)
			dot += bf(qi[d]) * bf(kj[d]);
		float s = rb(rb(dot) * scale);
		p[j] = s;
		mx = fmaxf(mx, s);
		visible++;
	}
	if (!visible) {
		for (int j = 0; j <= i; j++)
			p[j] = 0.0f;
		*lse_out = -INFINITY;
		return 0;
	}
	double se = 0.0;
	for (int j = 0; j <= i; j++) {
		p[j] = mrow[j] ? expf(p[j] - mx) : 0.0f;
		se += p[j];
	}
	float sum = (float)se;
	for (int j = 0; j <= i; j++)
		p[j] /= sum;
	*lse_out = mx + logf(sum);
	return visible;
}

enum lms_status lms_cpu_attention_forward(void *vctx, lms_bf16 *out, float *lse, const lms_bf16 *q,
					  const lms_bf16 *k, const lms_bf16 *v, const int32_t *mask,
					  const struct lms_attn_dims *dims, void *work,
					  size_t work_bytes)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(check_dims(vctx, dims, work_bytes));
	const int B = dims->B, T = dims->T, H = dims->H, G = dims->G, D = dims->D;
	const int rep = H / G;
	const int64_t qstride = (int64_t)H * D, kstride = (int64_t)G * D;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)B * H * T * T * D)) schedule(dynamic, 1))
	for (int bh = 0; bh < B * H; bh++) {
		int b = bh / H, h = bh % H, g = h / rep;
		float *p = (float *)work + (size_t)cpu_thread_id() * per_thread_floats(dims);
		const int32_t *mrow = mask + (int64_t)b * T;
		const lms_bf16 *kbase = k + (int64_t)b * T * kstride + (int64_t)g * D;
		const lms_bf16 *vbase = v + (int64_t)b * T * kstride + (int64_t)g * D;
		for (int i = 0; i < T; i++) {
			const lms_bf16 *qi = q + ((int64_t)b * T + i) * qstride + (int64_t)h * D;
			lms_bf16 *oi = out + ((int64_t)b * T + i) * qstride + (int64_t)h * D;
			float l;
			int vis = row_softmax(p, qi, kbase, kstride, mrow, i, D, dims->scale, &l);
			if (lse)
				lse[((int64_t)b * H + h) * T + i] = l;
			for (int d = 0; d < D; d++) {
				float acc = 0.0f;
				for (int j = 0; vis && j <= i; j++)
					acc += rb(p[j]) * bf(vbase[(int64_t)j * kstride + d]);
				oi[d] = lms_f32_to_bf16(acc);
			}
		}
	}
	return LMS_OK;
}

/* One query head's contribution to the backward of batch b: writes its dQ
 * rows and accumulates fp32 dK_h, dV_h (T, D) over the query rows. */
static void head_backward(lms_bf16 *dq, float *dkh, float *dvh, float *p, float *dp,
			  const lms_bf16 *dout, const lms_bf16 *q, const lms_bf16 *kbase,
			  const lms_bf16 *vbase, const int32_t *mrow,
			  const struct lms_attn_dims *dm, int b, int h)
{
	const int T = dm->T, D = dm->D;
	const int64_t qstride = (int64_t)dm->H * D, kstride = (int64_t)dm->G * D;
	for (int i = 0; i < T; i++) {
		int64_t qoff = ((int64_t)b * T + i) * qstride + (int64_t)h * D;
		const lms_bf16 *qi = q + qoff, *doi = dout + qoff;
		lms_bf16 *dqi = dq + qoff;
		float l;
		if (!row_softmax(p, qi, kbase, kstride, mrow, i, D, dm->scale, &l)) {
			memset(dqi, 0, sizeof(lms_bf16) * (size_t)D);
			continue;
		}
		float dot = 0.0f; /* Σ_j P·dPb, fp32 as PyTorch's softmax backward */
		for (int j = 0; j <= i; j++) {
			if (!mrow[j]) {
				dp[j] = 0.0f;
				continue;
			}
			const lms_bf16 *vj = vbase + (int64_t)j * kstride;
			float acc = 0.0f;
			for (int d = 0; d < D; d++)
				acc += bf(doi[d]) * bf(vj[d]);
			dp[j] = rb(acc);
			dot += p[j] * dp[j];
		}
		for (int j = 0; j <= i; j++) /* dS' = bf16(bf16(dS)·scale) */
			dp[j] = mrow[j] ? rb(rb(p[j] * (dp[j] - dot)) * dm->scale) : 0.0f;
		for (int d = 0; d < D; d++) {
			float acc = 0.0f;
			for (int j = 0; j <= i; j++)
				acc += dp[j] * bf(kbase[(int64_t)j * kstride + d]);
			dqi[d] = lms_f32_to_bf16(acc);
		}
		for (int j = 0; j <= i; j++) {
			if (!mrow[j])
				continue;
			float pb = rb(p[j]);
			float *dkj = dkh + (size_t)j * D, *dvj = dvh + (size_t)j * D;
			for (int d = 0; d < D; d++) {
				dkj[d] += dp[j] * bf(qi[d]);
				dvj[d] += pb * bf(doi[d]);
			}
		}
	}
}

enum lms_status lms_cpu_attention_backward(void *vctx, lms_bf16 *dq, lms_bf16 *dk, lms_bf16 *dv,
					   const lms_bf16 *dout, const lms_bf16 *q,
					   const lms_bf16 *k, const lms_bf16 *v,
					   const lms_bf16 *out, const float *lse,
					   const int32_t *mask, const struct lms_attn_dims *dims,
					   void *work, size_t work_bytes)
{
	struct cpu_ctx *ctx = vctx;
	(void)out;
	(void)lse;
	LMS_TRY(check_dims(vctx, dims, work_bytes));
	const int B = dims->B, T = dims->T, G = dims->G, D = dims->D;
	const int rep = dims->H / G;
	const int64_t kstride = (int64_t)G * D;
	const size_t td = (size_t)T * D;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, 3.0 * B * dims->H * T * T * D)) schedule(dynamic, 1))
	for (int bg = 0; bg < B * G; bg++) {
		int b = bg / G, g = bg % G;
		float *p = (float *)work + (size_t)cpu_thread_id() * per_thread_floats(dims);
		float *dp = p + T, *dkh = dp + T, *dvh = dkh + td, *dkg = dvh + td, *dvg = dkg + td;
		const int32_t *mrow = mask + (int64_t)b * T;
		int64_t kvoff = (int64_t)b * T * kstride + (int64_t)g * D;
		memset(dkg, 0, sizeof(float) * 2 * td); /* dkg and dvg */
		for (int h = g * rep; h < (g + 1) * rep; h++) {
			memset(dkh, 0, sizeof(float) * 2 * td); /* dkh and dvh */
			head_backward(dq, dkh, dvh, p, dp, dout, q, k + kvoff, v + kvoff, mrow,
				      dims, b, h);
			for (size_t e = 0; e < td; e++) {
				dkg[e] += rb(dkh[e]);
				dvg[e] += rb(dvh[e]);
			}
		}
		for (int j = 0; j < T; j++)
			for (int d = 0; d < D; d++) {
				int64_t o = kvoff + (int64_t)j * kstride + d;
				dk[o] = lms_f32_to_bf16(dkg[(size_t)j * D + d]);
				dv[o] = lms_f32_to_bf16(dvg[(size_t)j * D + d]);
			}
	}
	return LMS_OK;
}
