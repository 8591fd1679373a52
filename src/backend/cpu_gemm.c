/* cpu_gemm.c — the plain-C GEMM: C = alpha · op(A) · op(B) + beta · C with
 * bf16 A, B, fp32 accumulation and a bf16 or fp32 C (contract: backend.h).
 *
 * Shape of the loop (cache blocking in the manner of a BLAS micro-kernel,
 * but kept readable): C is cut into IB × NB tiles, one task each. A task
 * walks K in KB steps; for each step it copies the A panel (IB × KB) and the
 * B panel (KB × NB, laid out so that the NB columns are contiguous) to fp32
 * scratch, then does acc[i][0:NB] += a[i][p] · b[p][0:NB] — an axpy over a
 * contiguous row that the compiler vectorizes without reassociating sums.
 *
 * Invariant: each element of C is accumulated by one thread, in increasing
 * p order, so the result does not depend on the blocking or thread count.
 * It does not implement fp32 A/B inputs or any beta other than 0 and 1. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the inner axpy needs the vectorizer */
#endif
#include <string.h>

#include "backend/cpu_internal.h"

/* Loads op(X)[r, c] as fp32 for X stored with leading dim ld. */
static inline float load_op(const lms_bf16 *x, int ld, int trans, int64_t r, int64_t c)
{
	return lms_bf16_to_f32(trans ? x[c * ld + r] : x[r * ld + c]);
}

/* a panel: ap[i][p] = op(A)[i0 + i, p0 + p], zero outside the matrix. */
static void pack_a(float *ap, const lms_bf16 *a, int lda, int trans, int i0, int ib, int p0, int kb)
{
	for (int i = 0; i < ib; i++) {
		float *row = ap + (size_t)i * CPU_GEMM_KB;
		if (!trans) {
			const lms_bf16 *src = a + (int64_t)(i0 + i) * lda + p0;
			for (int p = 0; p < kb; p++)
				row[p] = lms_bf16_to_f32(src[p]);
		} else {
			for (int p = 0; p < kb; p++)
				row[p] = load_op(a, lda, 1, i0 + i, p0 + p);
		}
	}
}

/* b panel: bp[p][j] = op(B)[p0 + p, j0 + j], zero-padded to NB columns. */
static void pack_b(float *bp, const lms_bf16 *b, int ldb, int trans, int p0, int kb, int j0, int nb)
{
	for (int p = 0; p < kb; p++) {
		float *row = bp + (size_t)p * CPU_GEMM_NB;
		if (!trans) {
			const lms_bf16 *src = b + (int64_t)(p0 + p) * ldb + j0;
			for (int j = 0; j < nb; j++)
				row[j] = lms_bf16_to_f32(src[j]);
		} else {
			for (int j = 0; j < nb; j++)
				row[j] = lms_bf16_to_f32(b[(int64_t)(j0 + j) * ldb + p0 + p]);
		}
		for (int j = nb; j < CPU_GEMM_NB; j++)
			row[j] = 0.0f;
	}
}

/* Wider vectors where the CPU has them. The per-element operation order is
 * the same in every clone and ISO C mode does not contract a·b + c into an
 * FMA, so all clones give the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void tile_kernel(float *restrict acc, const float *restrict ap, const float *restrict bp,
			int ib, int kb)
{
	for (int i = 0; i < ib; i++) {
		float *restrict c = acc + (size_t)i * CPU_GEMM_NB;
		const float *restrict arow = ap + (size_t)i * CPU_GEMM_KB;
		for (int p = 0; p < kb; p++) {
			const float av = arow[p];
			const float *restrict brow = bp + (size_t)p * CPU_GEMM_NB;
			for (int j = 0; j < CPU_GEMM_NB; j++)
				c[j] += av * brow[j];
		}
	}
}

static void store_tile(const struct lms_gemm_args *g, void *cbase, const float *acc, int i0, int ib,
		       int j0, int nb)
{
	for (int i = 0; i < ib; i++) {
		const float *src = acc + (size_t)i * CPU_GEMM_NB;
		int64_t off = (int64_t)(i0 + i) * g->ldc + j0;
		if (g->c_dtype == LMS_GEMM_OUT_F32) {
			float *c = (float *)cbase + off;
			for (int j = 0; j < nb; j++)
				c[j] =
				    g->alpha * src[j] + (g->beta != 0.0f ? g->beta * c[j] : 0.0f);
		} else {
			lms_bf16 *c = (lms_bf16 *)cbase + off;
			for (int j = 0; j < nb; j++) {
				float v = g->alpha * src[j];
				if (g->beta != 0.0f)
					v += g->beta * lms_bf16_to_f32(c[j]);
				c[j] = lms_f32_to_bf16(v);
			}
		}
	}
}

static void gemm_tile(const struct lms_gemm_args *g, int bidx, int i0, int j0, float *scratch)
{
	const lms_bf16 *a = g->d_a + (g->batch > 1 ? (int64_t)bidx * g->stride_a : 0);
	const lms_bf16 *b = g->d_b + (g->batch > 1 ? (int64_t)bidx * g->stride_b : 0);
	size_t esz = g->c_dtype == LMS_GEMM_OUT_F32 ? sizeof(float) : sizeof(lms_bf16);
	char *c = (char *)g->d_c + (g->batch > 1 ? (int64_t)bidx * g->stride_c : 0) * (int64_t)esz;
	int ib = g->m - i0 < CPU_GEMM_IB ? g->m - i0 : CPU_GEMM_IB;
	int nb = g->n - j0 < CPU_GEMM_NB ? g->n - j0 : CPU_GEMM_NB;
	float *acc = scratch;
	float *ap = acc + CPU_GEMM_IB * CPU_GEMM_NB;
	float *bp = ap + CPU_GEMM_IB * CPU_GEMM_KB;

	memset(acc, 0, sizeof(float) * CPU_GEMM_IB * CPU_GEMM_NB);
	for (int p0 = 0; p0 < g->k; p0 += CPU_GEMM_KB) {
		int kb = g->k - p0 < CPU_GEMM_KB ? g->k - p0 : CPU_GEMM_KB;
		pack_a(ap, a, g->lda, g->trans_a, i0, ib, p0, kb);
		pack_b(bp, b, g->ldb, g->trans_b, p0, kb, j0, nb);
		tile_kernel(acc, ap, bp, ib, kb);
	}
	store_tile(g, c, acc, i0, ib, j0, nb);
}

enum lms_status lms_cpu_gemm(void *vctx, const struct lms_gemm_args *g)
{
	struct cpu_ctx *ctx = vctx;
	int batch = g->batch < 1 ? 1 : g->batch;
	if (g->m < 0 || g->n < 0 || g->k < 0)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "gemm: negative shape (%d, %d, %d)", g->m,
				g->n, g->k);
	if (g->beta != 0.0f && g->beta != 1.0f)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "gemm: beta must be 0 or 1, got %g",
				(double)g->beta);
	if (g->m == 0 || g->n == 0)
		return LMS_OK;
	int64_t mt = (g->m + CPU_GEMM_IB - 1) / CPU_GEMM_IB;
	int64_t nt = (g->n + CPU_GEMM_NB - 1) / CPU_GEMM_NB;
	int64_t tasks = (int64_t)batch * mt * nt;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)batch * g->m * g->n * g->k)) schedule(dynamic, 1))
	for (int64_t t = 0; t < tasks; t++) {
		int bidx = (int)(t / (mt * nt));
		int64_t r = t % (mt * nt);
		/* n-tiles outermost within a batch: neighbouring tasks share the
		 * A panel, which is the smaller operand for the lm_head GEMM. */
		int j0 = (int)(r / mt) * CPU_GEMM_NB;
		int i0 = (int)(r % mt) * CPU_GEMM_IB;
		float *scratch =
		    ctx->gemm_scratch + (size_t)cpu_thread_id() * ctx->gemm_scratch_per_thread;
		gemm_tile(g, bidx, i0, j0, scratch);
	}
	return LMS_OK;
}
