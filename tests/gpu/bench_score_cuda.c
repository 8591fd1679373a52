/* bench_score_cuda.c — what the ordered score reduction costs: the time of
 * sq_dot_accum (per-block partials + a one-block ordered sum, no atomics)
 * next to the replay GEMM it follows, at Qwen3-VL-4B shapes (M = 8·512
 * tokens and a short batch M = 256): median over 21 runs (after a warm-up)
 * of 20 queued calls and one sync, divided by 20 — the cost per call in a
 * busy stream, as in the scoring loop. Run the binary of the commit before
 * the ordered reduction for the baseline (docs/cuda.md).
 * Label: bench (never in CI); exits 77 without a GPU. Numbers: docs/cuda.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define REPS 21
#define QUEUED 20 /* calls per timed run, then one sync: the time per call of a busy stream */

static struct lms_backend *g_be;

static void *dev_fill(size_t n, uint16_t bits)
{
	uint16_t *h = malloc(n * 2);
	for (size_t i = 0; i < n; i++)
		h[i] = (uint16_t)(bits + (i * 7919u) % 97u); /* varied, finite values */
	void *d = dev_upload(g_be, h, n);
	free(h);
	return d;
}

static double median_ms(int which, void *y, void *yq, void *g, void *x, void *w, double *acc,
			int M, int N, int K)
{
	struct lms_gemm_args a = {.m = M, .n = N, .k = K, .d_a = x, .lda = K, .d_b = w, .ldb = K,
				  .trans_b = 1, .d_c = yq, .ldc = N, .c_dtype = LMS_GEMM_OUT_BF16,
				  .alpha = 1.0f, .beta = 0.0f, .batch = 1};
	double t[REPS];
	for (int r = -1; r < REPS; r++) {
		double t0 = now_ms();
		for (int q = 0; q < QUEUED; q++) { /* queued as in the scoring loop, one sync */
			if (which == 0)
				ok(g_be->ops.sq_dot_accum(g_be->ctx, acc, yq, y, g, (size_t)M * N),
				   "sq_dot");
			else
				ok(g_be->ops.gemm(g_be->ctx, &a), "gemm");
		}
		ok(g_be->ops.sync(g_be->ctx), "sync");
		if (r >= 0)
			t[r] = (now_ms() - t0) / QUEUED;
	}
	return median_of(t, REPS);
}

static void bench(const char *what, int M, int N, int K)
{
	void *y = dev_fill((size_t)M * N, 0x3f00), *yq = dev_fill((size_t)M * N, 0x3f01);
	void *g = dev_fill((size_t)M * N, 0x3a00), *x = dev_fill((size_t)M * K, 0x3e00);
	void *w = dev_fill((size_t)N * K, 0x3c00);
	double *acc = NULL;
	ok(lms_backend_alloc(g_be, sizeof *acc, "acc", (void **)&acc), "alloc");
	ok(g_be->ops.memset(g_be->ctx, acc, 0, sizeof *acc), "memset");
	double ts = median_ms(0, y, yq, g, x, w, acc, M, N, K);
	double tg = median_ms(1, y, yq, g, x, w, acc, M, N, K);
	printf("%-10s M %-5d N %-5d K %-5d sq_dot_accum %8.4f ms (%5.0f GB/s)  replay gemm %8.4f ms  "
	       "ratio %.3f\n",
	       what, M, N, K, ts, 3.0 * 2.0 * M * N / ts * 1e-6, tg, ts / tg);
	void *p[] = {y, yq, g, x, w, acc};
	for (int i = 0; i < 6; i++)
		g_be->ops.free(g_be->ctx, p[i]);
}

int main(void)
{
	if (!(g_be = bench_cuda_init()))
		return LMS_TEST_SKIP;
	bench("q_proj", 4096, 4096, 2560);
	bench("gate_proj", 4096, 9728, 2560);
	bench("down_proj", 4096, 2560, 9728);
	bench("k_proj", 4096, 1024, 2560);
	bench("gate short", 256, 9728, 2560);
	bench("k short", 256, 1024, 2560);
	lms_backend_free(g_be);
	return lms_test_finish();
}
