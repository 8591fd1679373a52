/* gemm_cuda.c — the CUDA backend's GEMM: bf16 operands, fp32 accumulation
 * (CUBLAS_COMPUTE_32F), bf16 or fp32 output, transposes and strided batches,
 * through cuBLASLt, with cublasGemmStridedBatchedEx as the fallback when
 * cuBLASLt's heuristic offers no algorithm for a layout.
 *
 * Row-major C(m,n) = op(A)·op(B) is column-major Cᵀ(n,m) = op(B)ᵀ·op(A)ᵀ:
 * cuBLAS's first operand is the caller's B, its second the caller's A, and a
 * row-major (r, c) buffer with leading dimension ld is a column-major (c, r)
 * matrix with the same ld.
 *
 * Plans: the descriptors and the heuristic's algorithm are cached per shape
 * key (sizes, leading dimensions, transposes, output type, batch and
 * strides, beta = 0 or 1, and the pointers' alignment), GEMM_PLANS of them
 * with round-robin replacement, because the engine repeats the same few
 * dozen shapes for every batch and the heuristic query costs tens of
 * microseconds. The choice of algorithm is deterministic for a key, so a
 * result does not depend on the cache's state.
 *
 * Not here: the other ops (backend_cuda.c). */
#include <string.h>

#include "backend/cuda_internal.h"
#include "core/log.h"

/* Largest power of two (<= 256) dividing the address: cuBLASLt's heuristic
 * must not pick a kernel that assumes more alignment than a view has. */
static uint32_t ptr_align(const void *p)
{
	uintptr_t u = (uintptr_t)p;
	uint32_t a = 256;
	while (a > 2 && (u % a) != 0)
		a >>= 1;
	return a;
}

static enum lms_status check_args(const struct cuda_ctx *c, const struct lms_gemm_args *a)
{
	int cols_a = a->trans_a ? a->m : a->k;
	int cols_b = a->trans_b ? a->k : a->n;
	if (a->m < 0 || a->n < 0 || a->k < 0 || a->batch < 1 ||
	    a->lda < (cols_a > 1 ? cols_a : 1) || a->ldb < (cols_b > 1 ? cols_b : 1) ||
	    a->ldc < (a->n > 1 ? a->n : 1) || (a->beta != 0.0f && a->beta != 1.0f) ||
	    (a->c_dtype != LMS_GEMM_OUT_BF16 && a->c_dtype != LMS_GEMM_OUT_F32))
		return lms_fail(
		    LMS_ERR_INTERNAL, NULL,
		    "%s gemm: bad arguments m=%d n=%d k=%d lda=%d ldb=%d ldc=%d trans=%d,%d "
		    "batch=%d beta=%g",
		    c->name, a->m, a->n, a->k, a->lda, a->ldb, a->ldc, a->trans_a, a->trans_b,
		    a->batch, (double)a->beta);
	return LMS_OK;
}

static void make_key(struct gemm_key *k, const struct lms_gemm_args *a)
{
	memset(k, 0, sizeof *k); /* padding too: keys are compared with memcmp */
	k->m = a->m;
	k->n = a->n;
	k->k = a->k;
	k->lda = a->lda;
	k->ldb = a->ldb;
	k->ldc = a->ldc;
	k->trans_a = a->trans_a != 0;
	k->trans_b = a->trans_b != 0;
	k->c_dtype = (int)a->c_dtype;
	k->batch = a->batch;
	k->beta_nonzero = a->beta != 0.0f;
	if (a->batch > 1) {
		k->stride_a = a->stride_a;
		k->stride_b = a->stride_b;
		k->stride_c = a->stride_c;
	}
	k->align_a = ptr_align(a->d_a);
	k->align_b = ptr_align(a->d_b);
	k->align_c = ptr_align(a->d_c);
}

void lms_cuda_lt_release(struct lt_desc *d)
{
	if (d->lc)
		cublasLtMatrixLayoutDestroy(d->lc);
	if (d->lb)
		cublasLtMatrixLayoutDestroy(d->lb);
	if (d->la)
		cublasLtMatrixLayoutDestroy(d->la);
	if (d->op)
		cublasLtMatmulDescDestroy(d->op);
	memset(d, 0, sizeof *d);
}

static void plan_release(struct gemm_plan *p)
{
	lms_cuda_lt_release(&p->d);
	memset(p, 0, sizeof *p);
}

void lms_cuda_gemm_plans_free(struct cuda_ctx *c)
{
	for (int i = 0; i < GEMM_PLANS; i++)
		plan_release(&c->plans[i]);
}

enum lms_status lms_cuda_lt_choose(struct cuda_ctx *c, struct lt_desc *d, const uint32_t *align)
{
	enum lms_status st = LMS_OK;
	cublasLtMatmulPreference_t pref = NULL;
	uint64_t ws = LT_WORKSPACE_BYTES;
	d->have_algo = 0;
	LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
	LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
						    &ws, sizeof ws));
	if (align) {
		static const cublasLtMatmulPreferenceAttributes_t attr[4] = {
		    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
		    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
		    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
		    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
		for (int i = 0; i < 4; i++)
			LT_TRY(cublasLtMatmulPreferenceSetAttribute(
			    pref, attr[i], &align[i < 3 ? i : 2], sizeof align[0]));
	}
	cublasLtMatmulHeuristicResult_t res;
	int found = 0;
	cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(c->lt, d->op, d->la, d->lb, d->lc, d->lc,
							  pref, 1, &res, &found);
	if (s == CUBLAS_STATUS_SUCCESS && found > 0) { /* else: no algorithm, no error */
		d->algo = res.algo;
		d->have_algo = 1;
	}
fail:
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	return st;
}

/* Descriptors and algorithm for key k (see the file comment for the
 * operand swap). On success *p is complete (have_algo may be 0). */
static enum lms_status plan_build(struct cuda_ctx *c, const struct gemm_key *k, struct gemm_plan *p)
{
	enum lms_status st = LMS_OK;
	cudaDataType_t ctype = k->c_dtype == LMS_GEMM_OUT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	cublasOperation_t opa = k->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t opb = k->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
	uint64_t ar = k->trans_b ? (uint64_t)k->k : (uint64_t)k->n;
	uint64_t ac = k->trans_b ? (uint64_t)k->n : (uint64_t)k->k;
	uint64_t br = k->trans_a ? (uint64_t)k->m : (uint64_t)k->k;
	uint64_t bc = k->trans_a ? (uint64_t)k->k : (uint64_t)k->m;
	struct lt_desc *d = &p->d;
	memset(p, 0, sizeof *p);
	p->key = *k;
	LT_TRY(cublasLtMatmulDescCreate(&d->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	LT_TRY(
	    cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
	LT_TRY(
	    cublasLtMatmulDescSetAttribute(d->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
	LT_TRY(cublasLtMatrixLayoutCreate(&d->la, CUDA_R_16BF, ar, ac, k->ldb));
	LT_TRY(cublasLtMatrixLayoutCreate(&d->lb, CUDA_R_16BF, br, bc, k->lda));
	LT_TRY(cublasLtMatrixLayoutCreate(&d->lc, ctype, (uint64_t)k->n, (uint64_t)k->m, k->ldc));
	if (k->batch > 1) {
		int32_t bcount = k->batch;
		int64_t sa = k->stride_b, sb = k->stride_a, sc = k->stride_c;
		cublasLtMatrixLayout_t l3[3] = {d->la, d->lb, d->lc};
		int64_t s3[3] = {sa, sb, sc};
		for (int i = 0; i < 3; i++) {
			LT_TRY(cublasLtMatrixLayoutSetAttribute(
			    l3[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bcount, sizeof bcount));
			LT_TRY(cublasLtMatrixLayoutSetAttribute(
			    l3[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s3[i],
			    sizeof s3[i]));
		}
	}
	/* cuBLASLt's A is the caller's B and vice versa */
	const uint32_t align[3] = {k->align_b, k->align_a, k->align_c};
	st = lms_cuda_lt_choose(c, d, align);
	if (st != LMS_OK)
		goto fail;
	p->used = 1;
	return LMS_OK;
fail:
	plan_release(p);
	return st;
}

static enum lms_status plan_get(struct cuda_ctx *c, const struct lms_gemm_args *a,
				struct gemm_plan **out)
{
	struct gemm_key k;
	make_key(&k, a);
	for (int i = 0; i < GEMM_PLANS; i++)
		if (c->plans[i].used && memcmp(&c->plans[i].key, &k, sizeof k) == 0) {
			*out = &c->plans[i];
			return LMS_OK;
		}
	struct gemm_plan *p = &c->plans[c->next_plan];
	c->next_plan = (c->next_plan + 1) % GEMM_PLANS;
	plan_release(p);
	LMS_TRY(plan_build(c, &k, p));
	*out = p;
	return LMS_OK;
}

enum lms_status lms_cuda_gemm(void *vc, const struct lms_gemm_args *a)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(check_args(c, a));
	if (a->m == 0 || a->n == 0)
		return LMS_OK;
	size_t esz = a->c_dtype == LMS_GEMM_OUT_BF16 ? 2 : 4;
	if (a->k == 0) { /* C = beta·C: nothing to do for beta 1, zeros for beta 0 */
		if (a->beta == 0.0f)
			for (int b = 0; b < a->batch; b++)
				CU_CHECK(c, "gemm",
					 cudaMemset2DAsync(
					     (char *)a->d_c + (size_t)b * a->stride_c * esz,
					     (size_t)a->ldc * esz, 0, (size_t)a->n * esz,
					     (size_t)a->m, c->stream));
		return lms_cuda_after_launch(c, "gemm", cudaSuccess);
	}
	struct gemm_plan *p = NULL;
	LMS_TRY(plan_get(c, a, &p));
	const struct lt_desc *d = &p->d;
	if (d->have_algo) {
		BLAS_CHECK(c, "gemm",
			   cublasLtMatmul(c->lt, d->op, &a->alpha, a->d_b, d->la, a->d_a, d->lb,
					  &a->beta, a->d_c, d->lc, a->d_c, d->lc, &d->algo,
					  c->d_lt_work, LT_WORKSPACE_BYTES, c->stream));
	} else {
		cudaDataType_t ctype = a->c_dtype == LMS_GEMM_OUT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
		BLAS_CHECK(c, "gemm",
			   cublasGemmStridedBatchedEx(
			       c->blas, a->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
			       a->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, a->n, a->m, a->k, &a->alpha,
			       a->d_b, CUDA_R_16BF, a->ldb, a->stride_b, a->d_a, CUDA_R_16BF,
			       a->lda, a->stride_a, &a->beta, a->d_c, ctype, a->ldc, a->stride_c,
			       a->batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
	}
	LMS_TRY(lms_cuda_after_launch(c, "gemm", cudaSuccess));
	if (c->debug && a->ldc == a->n) /* each batch's C (strides may leave gaps) */
		for (int b = 0; b < a->batch; b++)
			LMS_TRY(lms_cuda_check_finite(
			    c, "gemm", "C", (const char *)a->d_c + (size_t)b * a->stride_c * esz,
			    (size_t)a->m * a->n, a->c_dtype == LMS_GEMM_OUT_F32));
	return LMS_OK;
}
