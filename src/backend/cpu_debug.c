/* cpu_debug.c — debug mode of the plain-C backend (runner.debug=true): the
 * same NaN/Inf checks as the CUDA backend's debug mode, so that a CPU run
 * (and CI) reports a non-finite value with the op, the output and the
 * module label (backend.h set_label) in the same words:
 *   "cpu at model.language_model.layers.1.mlp.down_proj: op gemm produced
 *    3 non-finite values in C (of 1024)".
 *
 * How: lms_cpu_debug_wrap keeps the plain ops in ctx->inner and puts a
 * wrapper in every slot that writes a tensor. A wrapper calls the plain op
 * and, only when ctx->debug is set, counts the non-finite values of the
 * op's outputs (the outputs CUDA checks: backend_cuda.c). With debug off the
 * cost is one indirect call and one branch per op; labels are three stored
 * pointers, formatted only when a check fails.
 *
 * Invariant: a wrapper never changes what the plain op computes.
 * Not here: the CUDA checks (backend_cuda.c, kernels/reduce.cu). */
#include <stdint.h>

#include "backend/cpu_internal.h"

/* Count of non-finite values (exponent all ones) in n bf16 or fp32 values. */
static unsigned long long count_nonfinite(const struct cpu_ctx *ctx, const void *x, size_t n,
					  int is_f32)
{
	unsigned long long count = 0;
	if (is_f32) {
		const uint32_t *u = x;
		LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)n)) schedule(static) reduction(+ : count))
		for (size_t i = 0; i < n; i++)
			count += (u[i] & 0x7f800000u) == 0x7f800000u;
	} else {
		const uint16_t *u = x;
		LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)n)) schedule(static) reduction(+ : count))
		for (size_t i = 0; i < n; i++)
			count += (u[i] & 0x7f80u) == 0x7f80u;
	}
	return count;
}

static enum lms_status report(const struct cpu_ctx *ctx, const char *op, const char *what,
			      unsigned long long count, size_t n)
{
	if (count == 0)
		return LMS_OK;
	char label[256];
	lms_backend_label_text(label, sizeof label, ctx->label[0], ctx->label[1], ctx->label[2]);
	return lms_backend_nonfinite_fail("cpu", label, op, what, count, n);
}

static enum lms_status check(const struct cpu_ctx *ctx, const char *op, const char *what,
			     const void *x, size_t n, int is_f32)
{
	if (!ctx->debug || n == 0 || !x)
		return LMS_OK;
	return report(ctx, op, what, count_nonfinite(ctx, x, n, is_f32), n);
}

static void set_label(void *vctx, const char *module, const char *stage, const char *detail)
{
	struct cpu_ctx *ctx = vctx;
	ctx->label[0] = module;
	ctx->label[1] = stage;
	ctx->label[2] = detail;
}

static void set_debug(void *vctx, int on)
{
	((struct cpu_ctx *)vctx)->debug = on != 0;
}

/* ---- wrappers: the plain op, then (debug mode) its outputs --------------- */

static enum lms_status gemm(void *vctx, const struct lms_gemm_args *a)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.gemm(vctx, a));
	if (!ctx->debug)
		return LMS_OK;
	int is_f32 = a->c_dtype == LMS_GEMM_OUT_F32;
	size_t es = is_f32 ? 4 : 2;
	unsigned long long count = 0;
	for (int b = 0; b < a->batch; b++) /* row by row: ldc may exceed n */
		for (int i = 0; i < a->m; i++)
			count += count_nonfinite(
			    ctx,
			    (const char *)a->d_c +
				(size_t)((int64_t)b * a->stride_c + (int64_t)i * a->ldc) * es,
			    (size_t)a->n, is_f32);
	return report(ctx, "gemm", "C", count, (size_t)a->m * (size_t)a->n * (size_t)a->batch);
}

static enum lms_status embedding(void *vctx, lms_bf16 *out, const lms_bf16 *table,
				 const int32_t *ids, int N, int C, int V)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.embedding(vctx, out, table, ids, N, C, V));
	return check(ctx, "embedding", "out", out, (size_t)N * C, 0);
}

static enum lms_status rmsnorm_fwd(void *vctx, lms_bf16 *out, float *rstd, const lms_bf16 *x,
				   const lms_bf16 *w, int rows, int n, float eps)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.rmsnorm_forward(vctx, out, rstd, x, w, rows, n, eps));
	return check(ctx, "rmsnorm_forward", "out", out, (size_t)rows * n, 0);
}

static enum lms_status rmsnorm_bwd(void *vctx, lms_bf16 *dx, const lms_bf16 *dy, const lms_bf16 *x,
				   const lms_bf16 *w, const float *rstd, int rows, int n, float eps)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.rmsnorm_backward(vctx, dx, dy, x, w, rstd, rows, n, eps));
	return check(ctx, "rmsnorm_backward", "dx", dx, (size_t)rows * n, 0);
}

static enum lms_status rope_fwd(void *vctx, lms_bf16 *x, const lms_bf16 *c, const lms_bf16 *s,
				int N, int nh, int D)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.rope_forward(vctx, x, c, s, N, nh, D));
	return check(ctx, "rope_forward", "x", x, (size_t)N * nh * D, 0);
}

static enum lms_status rope_bwd(void *vctx, lms_bf16 *dx, const lms_bf16 *c, const lms_bf16 *s,
				int N, int nh, int D)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.rope_backward(vctx, dx, c, s, N, nh, D));
	return check(ctx, "rope_backward", "x", dx, (size_t)N * nh * D, 0);
}

static enum lms_status attn_fwd(void *vctx, lms_bf16 *out, float *lse, const lms_bf16 *q,
				const lms_bf16 *k, const lms_bf16 *v, const int32_t *mask,
				const struct lms_attn_dims *d, void *work, size_t work_bytes)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.attention_forward(vctx, out, lse, q, k, v, mask, d, work, work_bytes));
	return check(ctx, "attention_forward", "out", out, (size_t)d->B * d->T * d->H * d->D, 0);
}

static enum lms_status attn_bwd(void *vctx, lms_bf16 *dq, lms_bf16 *dk, lms_bf16 *dv,
				const lms_bf16 *dout, const lms_bf16 *q, const lms_bf16 *k,
				const lms_bf16 *v, const lms_bf16 *out, const float *lse,
				const int32_t *mask, const struct lms_attn_dims *d, void *work,
				size_t work_bytes)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.attention_backward(vctx, dq, dk, dv, dout, q, k, v, out, lse, mask, d,
					      work, work_bytes));
	size_t nq = (size_t)d->B * d->T * d->H * d->D, nk = (size_t)d->B * d->T * d->G * d->D;
	LMS_TRY(check(ctx, "attention_backward", "dq", dq, nq, 0));
	LMS_TRY(check(ctx, "attention_backward", "dk", dk, nk, 0));
	return check(ctx, "attention_backward", "dv", dv, nk, 0);
}

static enum lms_status swiglu_fwd(void *vctx, lms_bf16 *out, const lms_bf16 *gate,
				  const lms_bf16 *up, size_t n)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.swiglu_forward(vctx, out, gate, up, n));
	return check(ctx, "swiglu_forward", "out", out, n, 0);
}

static enum lms_status swiglu_bwd(void *vctx, lms_bf16 *dgate, lms_bf16 *dup, const lms_bf16 *dout,
				  const lms_bf16 *gate, const lms_bf16 *up, size_t n)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.swiglu_backward(vctx, dgate, dup, dout, gate, up, n));
	LMS_TRY(check(ctx, "swiglu_backward", "dgate", dgate, n, 0));
	return check(ctx, "swiglu_backward", "dup", dup, n, 0);
}

static enum lms_status add(void *vctx, lms_bf16 *out, const lms_bf16 *a, const lms_bf16 *b,
			   size_t n)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.add(vctx, out, a, b, n));
	return check(ctx, "add", "out", out, n, 0);
}

static enum lms_status cross_entropy(void *vctx, float *losses, lms_bf16 *dlogits,
				     const lms_bf16 *logits, const int32_t *targets, int N, int V,
				     float grad_scale)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(check(ctx, "cross_entropy", "logits (input)", logits, (size_t)N * V, 0));
	LMS_TRY(ctx->inner.cross_entropy(vctx, losses, dlogits, logits, targets, N, V, grad_scale));
	LMS_TRY(check(ctx, "cross_entropy", "losses", losses, (size_t)N, 1));
	return check(ctx, "cross_entropy", "dlogits", dlogits, dlogits ? (size_t)N * V : 0, 0);
}

static enum lms_status absmax_rows(void *vctx, float *amax, const lms_bf16 *x, int64_t rows,
				   int64_t cols, int accumulate)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.absmax_rows(vctx, amax, x, rows, cols, accumulate));
	return check(ctx, "absmax_rows", "amax", amax, rows > 0 ? (size_t)rows : 0, 1);
}

static enum lms_status fake_quant(void *vctx, lms_bf16 *out, const lms_bf16 *in, int64_t rows,
				  int64_t cols, const struct lms_quant_desc *desc)
{
	struct cpu_ctx *ctx = vctx;
	LMS_TRY(ctx->inner.fake_quant(vctx, out, in, rows, cols, desc));
	return check(ctx, "fake_quant", "out", out, (size_t)(rows * cols), 0);
}

void lms_cpu_debug_wrap(struct cpu_ctx *ctx, struct lms_backend_ops *o)
{
	ctx->inner = *o;
	o->gemm = gemm;
	o->embedding = embedding;
	o->rmsnorm_forward = rmsnorm_fwd;
	o->rmsnorm_backward = rmsnorm_bwd;
	o->rope_forward = rope_fwd;
	o->rope_backward = rope_bwd;
	o->attention_forward = attn_fwd;
	o->attention_backward = attn_bwd;
	o->swiglu_forward = swiglu_fwd;
	o->swiglu_backward = swiglu_bwd;
	o->add = add;
	o->cross_entropy = cross_entropy;
	o->absmax_rows = absmax_rows;
	if (o->fake_quant)
		o->fake_quant = fake_quant;
	o->set_label = set_label;
	o->set_debug = set_debug;
}
