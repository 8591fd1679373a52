/* cpu.c — the plain-C reference backend: its context, memory ops, the
 * simple elementwise ops and reductions, and the op table. The heavier ops
 * live in cpu_gemm.c, cpu_nn.c and cpu_attn.c.
 *
 * Backend memory is host memory (aligned_alloc), so memcpy_* are memcpy.
 * Arithmetic is fp32 with bf16 rounding at the points backend.h states;
 * fp64 only for the score accumulator. OpenMP is used when the build has it;
 * every parallel loop gives each output to exactly one thread, so results
 * do not depend on the thread count (except the fp64 sum of sq_dot_accum,
 * whose partial sums follow the static schedule; kl_div_accum keeps one
 * fp64 sum per row).
 *
 * fake_quant is src/quant/quant_bf16.c's lms_quant_cpu_fake. Debug mode
 * (NaN/Inf checks of every op's outputs) wraps the table: cpu_debug.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu_internal.h"
#include "quant/quant.h"

static enum lms_status cpu_alloc(void *ctx, size_t bytes, void **out)
{
	(void)ctx;
	*out = NULL;
	if (bytes == 0)
		return LMS_OK;
	size_t rounded = (bytes + 255) / 256 * 256;
	if (rounded < bytes)
		return lms_fail(LMS_ERR_NOMEM, "use a smaller batch or sequence length",
				"cannot allocate %zu bytes of host memory", bytes);
	void *p = aligned_alloc(256, rounded);
	if (!p)
		return lms_fail(LMS_ERR_NOMEM, "use a smaller batch or sequence length",
				"cannot allocate %zu bytes of host memory", bytes);
	*out = p;
	return LMS_OK;
}

static void cpu_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static enum lms_status cpu_memcpy(void *ctx, void *dst, const void *src, size_t bytes)
{
	(void)ctx;
	if (bytes)
		memmove(dst, src, bytes);
	return LMS_OK;
}

static enum lms_status cpu_memset(void *ctx, void *dst, int byte, size_t bytes)
{
	(void)ctx;
	if (bytes)
		memset(dst, byte, bytes);
	return LMS_OK;
}

static enum lms_status cpu_sync(void *ctx)
{
	(void)ctx;
	return LMS_OK;
}

static enum lms_status cpu_embedding(void *vctx, lms_bf16 *out, const lms_bf16 *table,
				     const int32_t *ids, int N, int C, int V)
{
	struct cpu_ctx *ctx = vctx;
	for (int n = 0; n < N; n++)
		if (ids[n] < 0 || ids[n] >= V)
			return lms_fail(
			    LMS_ERR_INPUT, "token ids must be below the model's vocab_size",
			    "token id %d at position %d is outside [0, %d)", (int)ids[n], n, V);
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)N * C)) schedule(static))
	for (int n = 0; n < N; n++)
		memcpy(out + (int64_t)n * C, table + (int64_t)ids[n] * C, (size_t)C * sizeof *out);
	return LMS_OK;
}

static enum lms_status cpu_add(void *vctx, lms_bf16 *out, const lms_bf16 *a, const lms_bf16 *b,
			       size_t n)
{
	struct cpu_ctx *ctx = vctx;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)n)) schedule(static))
	for (size_t i = 0; i < n; i++)
		out[i] = lms_f32_to_bf16(lms_bf16_to_f32(a[i]) + lms_bf16_to_f32(b[i]));
	return LMS_OK;
}

static enum lms_status cpu_absmax_rows(void *vctx, float *amax, const lms_bf16 *x, int64_t rows,
				       int64_t cols, int accumulate)
{
	struct cpu_ctx *ctx = vctx;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)rows * cols)) schedule(static))
	for (int64_t r = 0; r < rows; r++) {
		const lms_bf16 *xr = x + r * cols;
		float m = accumulate ? amax[r] : 0.0f;
		for (int64_t j = 0; j < cols; j++) {
			float v = fabsf(lms_bf16_to_f32(xr[j]));
			if (v > m || isnan(v))
				m = isnan(m) ? m : v;
		}
		amax[r] = m;
	}
	return LMS_OK;
}

static enum lms_status cpu_sq_dot_accum(void *vctx, double *acc, const lms_bf16 *yq,
					const lms_bf16 *y, const lms_bf16 *g, size_t n)
{
	struct cpu_ctx *ctx = vctx;
	double sum = 0.0;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)n)) schedule(static) reduction(+ : sum))
	for (size_t i = 0; i < n; i++) {
		float delta = lms_round_bf16(lms_bf16_to_f32(yq[i]) - lms_bf16_to_f32(y[i]));
		float x = lms_bf16_to_f32(g[i]) * delta;
		sum += (double)x * (double)x;
	}
	acc[0] += sum;
	return LMS_OK;
}

/* backend.h: acc[r] += KL(softmax(zp[r]) ‖ softmax(zq[r])), fp64 per row. */
static enum lms_status cpu_kl_div_accum(void *vctx, double *acc, const lms_bf16 *zp,
					const lms_bf16 *zq, int64_t rows, int64_t V)
{
	struct cpu_ctx *ctx = vctx;
	if (rows < 0 || V < 1)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "kl_div_accum: bad shape %lld x %lld",
				(long long)rows, (long long)V);
	LMS_OMP(parallel for num_threads(cpu_team(ctx, 3.0 * (double)rows * (double)V)) schedule(static))
	for (int64_t r = 0; r < rows; r++) {
		const lms_bf16 *a = zp + r * V, *b = zq + r * V;
		float mp = -INFINITY, mq = -INFINITY;
		for (int64_t v = 0; v < V; v++) { /* not fmaxf: a libm call per element here */
			float x = lms_bf16_to_f32(a[v]), y = lms_bf16_to_f32(b[v]);
			mp = x > mp ? x : mp;
			mq = y > mq ? y : mq;
		}
		/* one pass of exps: KL = Σ e^xp·(xp − xq) / Sp − (log Sp − log Sq) */
		double sp = 0.0, sq = 0.0, w = 0.0;
		for (int64_t v = 0; v < V; v++) {
			double xp = (double)lms_bf16_to_f32(a[v]) - mp,
			       xq = (double)lms_bf16_to_f32(b[v]) - mq;
			double ep = exp(xp);
			sp += ep;
			sq += exp(xq);
			w += ep * (xp - xq);
		}
		acc[r] += w / sp - (log(sp) - log(sq));
	}
	return LMS_OK;
}

static void cpu_destroy(void *vctx)
{
	struct cpu_ctx *ctx = vctx;
	if (!ctx)
		return;
	free(ctx->gemm_scratch);
	free(ctx);
}

static const struct lms_backend_ops g_cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .memcpy_h2d = cpu_memcpy,
    .memcpy_d2h = cpu_memcpy,
    .memcpy_d2d = cpu_memcpy,
    .memset = cpu_memset,
    .sync = cpu_sync,
    .gemm = lms_cpu_gemm,
    .embedding = cpu_embedding,
    .rmsnorm_forward = lms_cpu_rmsnorm_forward,
    .rmsnorm_backward = lms_cpu_rmsnorm_backward,
    .rope_forward = lms_cpu_rope_forward,
    .rope_backward = lms_cpu_rope_backward,
    .attention_workspace = lms_cpu_attention_workspace,
    .attention_forward = lms_cpu_attention_forward,
    .attention_backward = lms_cpu_attention_backward,
    .swiglu_forward = lms_cpu_swiglu_forward,
    .swiglu_backward = lms_cpu_swiglu_backward,
    .add = cpu_add,
    .cross_entropy = lms_cpu_cross_entropy,
    .absmax_rows = cpu_absmax_rows,
    .sq_dot_accum = cpu_sq_dot_accum,
    .kl_div_accum = cpu_kl_div_accum,
    .fake_quant = lms_quant_cpu_fake, /* src/quant/quant_bf16.c */
    .destroy = cpu_destroy,
};

enum lms_status lms_backend_cpu_init(const struct lms_cpu_options *opts, struct lms_backend **out)
{
	*out = NULL;
	int threads = opts ? opts->threads : 0;
#ifdef _OPENMP
	if (threads <= 0)
		threads = omp_get_max_threads();
#else
	threads = 1;
#endif
	if (threads < 1)
		threads = 1;

	struct lms_backend *be = calloc(1, sizeof *be);
	struct cpu_ctx *ctx = calloc(1, sizeof *ctx);
	if (!be || !ctx)
		goto fail_nomem;
	ctx->threads = threads;
	ctx->gemm_scratch_per_thread = (size_t)CPU_GEMM_IB * CPU_GEMM_NB +
				       (size_t)CPU_GEMM_IB * CPU_GEMM_KB +
				       (size_t)CPU_GEMM_KB * CPU_GEMM_NB;
	ctx->gemm_scratch =
	    aligned_alloc(64, ctx->gemm_scratch_per_thread * sizeof(float) * (size_t)threads);
	if (!ctx->gemm_scratch)
		goto fail_nomem;
	be->ops = g_cpu_ops;
	lms_cpu_debug_wrap(ctx, &be->ops);
	be->ctx = ctx;
	be->is_host = 1;
	be->supports = lms_backend_supports;
	snprintf(be->name, sizeof be->name, "cpu");
	*out = be;
	return LMS_OK;

fail_nomem:
	cpu_destroy(ctx);
	free(be);
	return lms_fail(LMS_ERR_NOMEM, NULL, "cannot allocate the CPU backend's context");
}
