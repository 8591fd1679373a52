/* test_kl_prep.c — kl_div with the unquantized side once per batch
 * (backend_cuda.h kl_prep + kl_accum_p, src/backend/kl_cuda.c) gives the same
 * bits as the backend op kl_div_accum, accumulated twice onto non-zero
 * values, for the vectorized path (V % 8 == 0) and the scalar one, with
 * perturbed, identical and very different rows (the data of test_ops_cuda's
 * kl_div case). Exits 77 without a CUDA device. Label: gpu. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/backend_cuda.h"
#include "core/log.h"
#include "core/numeric.h"
#include "test.h"

static struct lms_backend *g_gpu;
static uint64_t g_rng = 0x853c49e6748fea9bull;

static double urand(void)
{
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return (double)((g_rng * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}

static void *up(const void *host, size_t bytes)
{
	void *d = NULL;
	if (lms_backend_alloc(g_gpu, bytes ? bytes : 1, "test buffer", &d) != LMS_OK ||
	    (host && g_gpu->ops.memcpy_h2d(g_gpu->ctx, d, host, bytes) != LMS_OK)) {
		lms_log_last_error();
		abort();
	}
	return d;
}

static void case_kl(int rows, int V)
{
	size_t n = (size_t)rows * (size_t)V;
	lms_bf16 *zp = malloc(n * 2), *zq = malloc(n * 2);
	for (size_t i = 0; i < n; i++) {
		size_t r = i / (size_t)V;
		float x = (float)((urand() + urand() + urand() + urand() - 2.0) * 6.9);
		zp[i] = lms_f32_to_bf16(x);
		x = lms_bf16_to_f32(zp[i]);
		zq[i] = r % 3 == 1 ? zp[i]
			: r % 3 == 2 ? lms_f32_to_bf16(-x + 1.0f)
				     : lms_f32_to_bf16(x * (float)(1.0 + 0.02 * (urand() - 0.5)));
	}
	double *init = malloc((size_t)rows * sizeof(double));
	double *a = malloc((size_t)rows * sizeof(double)), *b = malloc((size_t)rows * sizeof(double));
	for (int r = 0; r < rows; r++)
		init[r] = 0.125 * r;
	void *d_p = up(zp, n * 2), *d_q = up(zq, n * 2);
	void *d_a = up(init, (size_t)rows * 8), *d_b = up(init, (size_t)rows * 8);
	void *d_ep = up(NULL, n * 8), *d_mp = up(NULL, (size_t)rows * 4), *d_sp = up(NULL, (size_t)rows * 8);
	for (int k = 0; k < 2; k++)
		CHECK_INT_EQ(g_gpu->ops.kl_div_accum(g_gpu->ctx, d_a, d_p, d_q, rows, V), LMS_OK);
	CHECK_INT_EQ(lms_backend_cuda_kl_prep(g_gpu, d_ep, d_mp, d_sp, d_p, rows, V), LMS_OK);
	for (int k = 0; k < 2; k++)
		CHECK_INT_EQ(lms_backend_cuda_kl_accum_p(g_gpu, d_b, d_ep, d_mp, d_sp, d_p, d_q, rows, V),
			     LMS_OK);
	CHECK_INT_EQ(g_gpu->ops.memcpy_d2h(g_gpu->ctx, a, d_a, (size_t)rows * 8), LMS_OK);
	CHECK_INT_EQ(g_gpu->ops.memcpy_d2h(g_gpu->ctx, b, d_b, (size_t)rows * 8), LMS_OK);
	int same = memcmp(a, b, (size_t)rows * 8) == 0;
	if (!same)
		for (int r = 0; r < rows; r++)
			if (a[r] != b[r])
				fprintf(stderr, "FAIL: row %d kl_div_accum %.17g kl_accum_p %.17g\n", r,
					a[r] - init[r], b[r] - init[r]);
	CHECK(same);
	for (int r = 0; r < rows && V > 1; r++)
		if (r % 3 != 1)
			CHECK(a[r] - init[r] > 0.0);
	printf("  kl_prep + kl_accum_p == kl_div_accum (x2)   rows=%-4d V=%-7d %s\n", rows, V,
	       same ? "bit-identical" : "DIFFERENT");
	void *bufs[] = {d_p, d_q, d_a, d_b, d_ep, d_mp, d_sp};
	for (int i = 0; i < 7; i++)
		g_gpu->ops.free(g_gpu->ctx, bufs[i]);
	free(zp), free(zq), free(init), free(a), free(b);
}

int main(void)
{
	lms_log_init_from_env();
	if (lms_cuda_device_count() == 0) {
		printf("no CUDA device visible: skipped\n");
		return LMS_TEST_SKIP;
	}
	if (lms_backend_cuda_init(0, &g_gpu) != LMS_OK) {
		lms_log_last_error();
		return 1;
	}
	case_kl(6, 151936);
	case_kl(37, 1001);
	case_kl(5, 4096);
	case_kl(1, 1);
	lms_backend_free(g_gpu);
	return lms_test_finish();
}
