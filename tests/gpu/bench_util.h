/* bench_util.h — the set-up the CUDA benchmarks share (bench_ops_cuda.c,
 * bench_score_cuda.c): the start that skips without a GPU, a host clock,
 * abort on a backend error, the median of a set of timings and a device
 * buffer filled from the host.
 *
 * Header-only (static inline): each benchmark is one source file. Every
 * helper exits 1 on a backend error: a benchmark has nothing to salvage.
 *
 * Not here: what is timed and the timing loops (one call per sync in
 * bench_ops_cuda, queued calls in bench_score_cuda), the input values. */
#ifndef LMS_TESTS_GPU_BENCH_UTIL_H
#define LMS_TESTS_GPU_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/backend_cuda.h"
#include "core/log.h"
#include "test.h"

static inline void ok(enum lms_status st, const char *what)
{
	if (st != LMS_OK) {
		fprintf(stderr, "%s failed: %s\n", what, lms_error_message());
		exit(1);
	}
}

/* The CUDA backend on device 0 (new: the caller frees it with
 * lms_backend_free), logging set from the environment; NULL, after a
 * "skipped" line, when no CUDA device is visible (the caller then returns
 * LMS_TEST_SKIP). */
static inline struct lms_backend *bench_cuda_init(void)
{
	struct lms_backend *be = NULL;
	lms_log_init_from_env();
	if (lms_cuda_device_count() == 0) {
		printf("no CUDA device visible: skipped\n");
		return NULL;
	}
	ok(lms_backend_cuda_init(0, &be), "cuda init");
	return be;
}

static inline double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of the n timings t (sorted in place). */
static inline double median_of(double *t, int n)
{
	qsort(t, (size_t)n, sizeof t[0], cmp_double);
	return t[n / 2];
}

/* A new device buffer of be (freed with be->ops.free) holding the n bf16
 * values h (borrowed; the caller frees it). */
static inline void *dev_upload(struct lms_backend *be, const uint16_t *h, size_t n)
{
	void *d = NULL;
	ok(lms_backend_alloc(be, n * 2, "bench", &d), "alloc");
	ok(be->ops.memcpy_h2d(be->ctx, d, h, n * 2), "h2d");
	return d;
}

#endif
