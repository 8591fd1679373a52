/* bench_kl_cuda.c — what one kl_div forward's KL costs on the GPU at the
 * Qwen3-VL-4B shape (B 4 × T 512 = 2048 rows, V 151,936): the backend op
 * kl_div_accum, the once-per-batch kl_prep and kl_accum_p (kl_cuda.c),
 * each as the median over 11 runs (after a warm-up) of 5 queued calls and
 * one sync, divided by 5. The logits are seeded bf16 values of a
 * softmax-like spread (z_p ≈ N(0, 2.5²), z_q = z_p perturbed by ~1 %).
 * Also prints an order-independent checksum of the per-row results (the
 * sum of kl_div_accum's rows, %.17g) so that the binaries of two commits
 * can be compared for the same bits, and checks here that kl_accum_p gives
 * kl_div_accum's bits. Run the previous commit's binary for the baseline
 * (docs/BENCHMARKS.md, v5 kl_div).
 * Label: bench (never in CI); exits 77 without a GPU. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/backend_cuda.h"
#include "core/log.h"
#include "core/numeric.h"
#include "test.h"

#define REPS 11
#define QUEUED 5
#define ROWS 2048
#define VOCAB 151936

static struct lms_backend *g_be;
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static double urand(void)
{
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return (double)((g_rng * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void ok(enum lms_status st, const char *what)
{
	if (st != LMS_OK) {
		fprintf(stderr, "%s failed: %s\n", what, lms_error_message());
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct bufs {
	lms_bf16 *zp, *zq;
	double *acc, *ep, *sp;
	float *mp;
};

/* which: 0 kl_div_accum, 1 kl_prep, 2 kl_accum_p */
static void call(int which, const struct bufs *b)
{
	if (which == 0)
		ok(g_be->ops.kl_div_accum(g_be->ctx, b->acc, b->zp, b->zq, ROWS, VOCAB), "kl_div");
	else if (which == 1)
		ok(lms_backend_cuda_kl_prep(g_be, b->ep, b->mp, b->sp, b->zp, ROWS, VOCAB), "prep");
	else
		ok(lms_backend_cuda_kl_accum_p(g_be, b->acc, b->ep, b->mp, b->sp, b->zp, b->zq,
					       ROWS, VOCAB),
		   "accum_p");
}

static double median_ms(int which, const struct bufs *b)
{
	double t[REPS];
	for (int r = -1; r < REPS; r++) {
		double t0 = now_ms();
		for (int q = 0; q < QUEUED; q++)
			call(which, b);
		ok(g_be->ops.sync(g_be->ctx), "sync");
		if (r >= 0)
			t[r] = (now_ms() - t0) / QUEUED;
	}
	qsort(t, REPS, sizeof t[0], cmp_double);
	return t[REPS / 2];
}

/* One call of `which` (after kl_prep for 2) onto zeroed rows, into h. */
static void rows_of(int which, const struct bufs *b, double *h)
{
	ok(g_be->ops.memset(g_be->ctx, b->acc, 0, ROWS * sizeof(double)), "memset");
	if (which == 2)
		call(1, b);
	call(which, b);
	ok(g_be->ops.memcpy_d2h(g_be->ctx, h, b->acc, ROWS * sizeof(double)), "d2h");
}

int main(void)
{
	lms_log_init_from_env();
	if (lms_cuda_device_count() == 0) {
		printf("no CUDA device visible: skipped\n");
		return LMS_TEST_SKIP;
	}
	ok(lms_backend_cuda_init(0, &g_be), "cuda init");
	size_t n = (size_t)ROWS * VOCAB;
	lms_bf16 *hp = malloc(n * 2), *hq = malloc(n * 2);
	double *ha = malloc(ROWS * sizeof(double)), *hb = malloc(ROWS * sizeof(double));
	if (!hp || !hq || !ha || !hb)
		return 1;
	for (size_t i = 0; i < n; i++) {
		double g = (urand() + urand() + urand() - 1.5) * 2.0 * 2.5; /* ≈ N(0, 2.5²) */
		hp[i] = lms_f32_to_bf16((float)g);
		hq[i] = lms_f32_to_bf16((float)(g * (1.0 + 0.02 * (urand() - 0.5))));
	}
	struct bufs b = {0};
	ok(lms_backend_alloc(g_be, n * 2, "zp", (void **)&b.zp), "alloc");
	ok(lms_backend_alloc(g_be, n * 2, "zq", (void **)&b.zq), "alloc");
	ok(lms_backend_alloc(g_be, n * 8, "ep", (void **)&b.ep), "alloc");
	ok(lms_backend_alloc(g_be, ROWS * sizeof(double), "acc", (void **)&b.acc), "alloc");
	ok(lms_backend_alloc(g_be, ROWS * sizeof(double), "sp", (void **)&b.sp), "alloc");
	ok(lms_backend_alloc(g_be, ROWS * sizeof(float), "mp", (void **)&b.mp), "alloc");
	ok(g_be->ops.memcpy_h2d(g_be->ctx, b.zp, hp, n * 2), "h2d");
	ok(g_be->ops.memcpy_h2d(g_be->ctx, b.zq, hq, n * 2), "h2d");

	rows_of(0, &b, ha);
	rows_of(2, &b, hb);
	double sum = 0.0;
	for (int r = 0; r < ROWS; r++)
		sum += ha[r];
	CHECK(memcmp(ha, hb, ROWS * sizeof(double)) == 0);
	CHECK(sum > 0.0 && isfinite(sum));
	printf("kl rows %d x V %d: checksum sum_r kl_div_accum = %.17g; kl_accum_p %s\n", ROWS,
	       VOCAB, sum,
	       memcmp(ha, hb, ROWS * sizeof(double)) == 0 ? "bit-identical" : "DIFFERENT");
	const char *names[3] = {"kl_div_accum", "kl_prep", "kl_accum_p"};
	double ms[3];
	for (int w = 0; w < 3; w++) {
		if (w == 2)
			call(1, &b);
		ms[w] = median_ms(w, &b);
		printf("  %-13s %8.3f ms per call (%.1f GB/s of bf16 logits read once)\n", names[w],
		       ms[w], (w == 1 ? 2.0 : 4.0) * (double)n / (ms[w] * 1e6));
	}
	printf("  per (group, format) forward: kl_div_accum %.3f ms; with kl_prep once per batch "
	       "(145 forwards) %.3f ms\n",
	       ms[0], ms[2] + ms[1] / 145.0);
	g_be->ops.free(g_be->ctx, b.zp);
	g_be->ops.free(g_be->ctx, b.zq);
	g_be->ops.free(g_be->ctx, b.ep);
	g_be->ops.free(g_be->ctx, b.acc);
	g_be->ops.free(g_be->ctx, b.sp);
	g_be->ops.free(g_be->ctx, b.mp);
	lms_backend_free(g_be);
	free(hp), free(hq), free(ha), free(hb);
	return lms_test_finish();
}
