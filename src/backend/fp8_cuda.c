/* fp8_cuda.c — the FP8 replay GEMM of autoquant.replay_gemm=fp8
 * (backend_cuda.h): E4M3 operands with per-tensor scales through cuBLASLt,
 *   Y (M, out) bf16 = inv_x · inv_w · Σ_k x8[m, k] · w8[o, k]   (fp32 accumulation),
 * and the bf16 → E4M3 operand quantizer (kernels/fp8_quant.cu).
 *
 * Layout: row-major X (M, in) and W (out, in) are both K-major, which is the
 * only layout cuBLASLt's FP8 kernels take ("TN"): column-major Yᵀ (out, M) =
 * op(A)·B with A = W as a column-major (in, out) matrix, transposed, and
 * B = Xᵀ as a column-major (in, M) matrix. The scales are device pointers
 * (A/B_SCALE_POINTER), so a dynamic amax needs no host round trip; fast
 * accumulation is off (the accurate, slower FP8 mode). cuBLASLt refuses
 * ("not supported") scale pointers that are not 16-byte aligned.
 *
 * Plans (descriptors + the heuristic's algorithm) are cached per (cuBLASLt
 * handle, M, in, out), FP8_PLANS of them, like gemm_cuda.c's; the scale
 * pointers are set on the descriptor at every call.
 * Not here: which formats take this path and its accuracy against the exact
 * fake-quant path (src/autoquant/replay.c, docs/BENCHMARKS.md). */
#include <string.h>

#include "backend/backend_cuda.h"
#include "backend/cuda_internal.h"
#include "core/log.h"
#include "fp8_quant.h"

#define FP8_PLANS 32

struct fp8_plan {
	cublasLtHandle_t lt;
	int M, in, out, used;
	struct lt_desc d;
};

static struct fp8_plan g_plans[FP8_PLANS];
static int g_next;

/* The CUDA context of be, or NULL for another backend. */
static struct cuda_ctx *cuda_of(struct lms_backend *be)
{
	if (!be || be->is_host || strncmp(be->name, "cuda", 4) != 0)
		return NULL;
	return be->ctx;
}

static void plan_release(struct fp8_plan *p)
{
	lms_cuda_lt_release(&p->d);
	memset(p, 0, sizeof *p);
}

void lms_backend_cuda_fp8_release(struct lms_backend *be)
{
	struct cuda_ctx *c = cuda_of(be);
	for (int i = 0; c && i < FP8_PLANS; i++)
		if (g_plans[i].used && g_plans[i].lt == c->lt)
			plan_release(&g_plans[i]);
}

static enum lms_status plan_build(struct cuda_ctx *c, int M, int in, int out, struct fp8_plan *p)
{
	enum lms_status st = LMS_OK;
	cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
	int8_t fast = 0;
	struct lt_desc *d = &p->d;
	memset(p, 0, sizeof *p);
	LT_TRY(cublasLtMatmulDescCreate(&d->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	LT_TRY(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
	LT_TRY(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
	LT_TRY(cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast,
					      sizeof fast));
	LT_TRY(cublasLtMatrixLayoutCreate(&d->la, CUDA_R_8F_E4M3, (uint64_t)in, (uint64_t)out, in));
	LT_TRY(cublasLtMatrixLayoutCreate(&d->lb, CUDA_R_8F_E4M3, (uint64_t)in, (uint64_t)M, in));
	LT_TRY(cublasLtMatrixLayoutCreate(&d->lc, CUDA_R_16BF, (uint64_t)out, (uint64_t)M, out));
	st = lms_cuda_lt_choose(c, d, NULL);
	if (st != LMS_OK)
		goto fail;
	p->lt = c->lt;
	p->M = M;
	p->in = in;
	p->out = out;
	p->used = 1;
	return LMS_OK;
fail:
	plan_release(p);
	return st;
}

static enum lms_status plan_get(struct cuda_ctx *c, int M, int in, int out, struct fp8_plan **pp)
{
	for (int i = 0; i < FP8_PLANS; i++) {
		struct fp8_plan *p = &g_plans[i];
		if (p->used && p->lt == c->lt && p->M == M && p->in == in && p->out == out) {
			*pp = p;
			return LMS_OK;
		}
	}
	struct fp8_plan *p = &g_plans[g_next];
	g_next = (g_next + 1) % FP8_PLANS;
	plan_release(p);
	LMS_TRY(plan_build(c, M, in, out, p));
	*pp = p;
	return LMS_OK;
}

int lms_backend_cuda_fp8_shape_ok(int in, int out)
{
	return in > 0 && out > 0 && in % 16 == 0 && out % 16 == 0;
}

enum lms_status lms_backend_cuda_fp8_quant(struct lms_backend *be, uint8_t *d_q, float *d_inv,
					   const lms_bf16 *d_x, int64_t n, const float *d_amax)
{
	struct cuda_ctx *c = cuda_of(be);
	if (!c)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "fp8_quant on a non-CUDA backend");
	lms_cuda_use_device(c);
	lms_cuda_prof_begin(c);
	return lms_cuda_after_launch(c, "fake_quant",
				     lms_k_fp8_quant(c->stream, d_q, d_inv, d_x, n, d_amax));
}

enum lms_status lms_backend_cuda_fp8_linear(struct lms_backend *be, lms_bf16 *d_y, const uint8_t *d_x8,
					    const float *d_inv_x, const uint8_t *d_w8,
					    const float *d_inv_w, int M, int in, int out)
{
	struct cuda_ctx *c = cuda_of(be);
	if (!c)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "fp8_linear on a non-CUDA backend");
	if (M <= 0 || !lms_backend_cuda_fp8_shape_ok(in, out) ||
	    ((uintptr_t)d_x8 | (uintptr_t)d_w8 | (uintptr_t)d_y | (uintptr_t)d_inv_x |
	     (uintptr_t)d_inv_w) % 16 != 0)
		return lms_fail(LMS_ERR_UNSUPPORTED, "use autoquant.replay_gemm=exact",
				"%s: the FP8 GEMM needs in, out multiples of 16 and 16-byte aligned "
				"operands and scales (M %d, in %d, out %d)", c->name, M, in, out);
	lms_cuda_use_device(c);
	lms_cuda_prof_begin(c);
	struct fp8_plan *p = NULL;
	LMS_TRY(plan_get(c, M, in, out, &p));
	if (!p->d.have_algo)
		return lms_fail(LMS_ERR_UNSUPPORTED, "use autoquant.replay_gemm=exact",
				"%s: cuBLASLt offers no FP8 GEMM for M %d, in %d, out %d", c->name, M,
				in, out);
	BLAS_CHECK(c, "gemm",
		   cublasLtMatmulDescSetAttribute(p->d.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &d_inv_w,
						  sizeof d_inv_w));
	BLAS_CHECK(c, "gemm",
		   cublasLtMatmulDescSetAttribute(p->d.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &d_inv_x,
						  sizeof d_inv_x));
	const float alpha = 1.0f, beta = 0.0f;
	BLAS_CHECK(c, "gemm",
		   cublasLtMatmul(c->lt, p->d.op, &alpha, d_w8, p->d.la, d_x8, p->d.lb, &beta, d_y,
				  p->d.lc, d_y, p->d.lc, &p->d.algo, c->d_lt_work, LT_WORKSPACE_BYTES,
				  c->stream));
	LMS_TRY(lms_cuda_after_launch(c, "gemm", cudaSuccess));
	if (c->debug)
		return lms_cuda_check_finite(c, "gemm", "C", d_y, (size_t)M * (size_t)out, 0);
	return LMS_OK;
}
