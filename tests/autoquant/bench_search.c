/* bench_search.c — time and size of the exact search on Qwen3-VL-4B's
 * language model shapes: 36 layers × 4 groups (qkv, o, gate/up, down) +
 * lm_head (disabled), hidden 2560, q 4096, kv 1024, ffn 9728, vocab 151936,
 * candidates {4, 4.5, 8, NONE} bits (e.g. MXFP4, NVFP4, FP8), seeded random
 * scores. Prints the frontier size, build time and a few targets.
 * Label bench (not run in CI). Usage: bench_search [n_formats 2..4] */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "autoquant/search.h"
#include "quant/format.h"
#include "test.h"

int main(int argc, char **argv)
{
	int nf = argc > 1 ? atoi(argv[1]) : 4;
	if (nf < 2 || nf > 4)
		nf = 4;
	const double bits_all[4] = {4.0, 4.5, 8.0, 16.0};
	const double *bits = bits_all + (4 - nf);
	enum { L = 36, G = L * 4 + 1 };
	const int64_t H = 2560, Q = 4096, KV = 1024, F = 9728, V = 151936;
	const int64_t per[4] = {(Q + 2 * KV) * H, Q * H, 2 * F * H, F * H};
	static int64_t cost[G][4];
	static double score[G][4];
	struct lms_search_group sg[G];
	uint64_t s = 42;
	int64_t total = 0;
	for (int g = 0; g < G; g++) {
		int64_t numel = g < L * 4 ? per[g % 4] : V * H;
		double prev = INFINITY;
		for (int k = 0; k < nf; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			double raw = k == nf - 1 ? 0.0 : (double)(s >> 11) * 0x1p-53 * pow(10.0, 2.0 - 2.0 * k);
			prev = raw < prev ? raw : prev;
			score[g][k] = prev;
			cost[g][k] = numel * (int64_t)(bits[k] * LMS_FORMAT_BITS_DEN);
		}
		int disabled = g == G - 1;
		sg[g].n_choices = disabled ? 1 : (size_t)nf;
		sg[g].cost = disabled ? &cost[g][nf - 1] : cost[g];
		sg[g].score = disabled ? &score[g][nf - 1] : score[g];
		total += numel * 16 * LMS_FORMAT_BITS_DEN;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct lms_search_frontier *f = NULL;
	if (lms_search_frontier_build(sg, G, &f) != LMS_OK) {
		fprintf(stderr, "%s\n", lms_error_message());
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("groups %d, candidates %d, frontier %zu points, build %.1f ms\n", G, nf, lms_search_frontier_len(f), ms);
	int choice[G];
	for (double t = 5.0; t <= 8.01; t += 1.0) {
		struct lms_search_result r;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (lms_search_solve(f, total, t, choice, &r) != LMS_OK)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
		CHECK(!r.is_satisfied || r.effective_bits <= t);
		printf("target %.2f: achieved %.4f, score %.6g, satisfied %d, solve %.1f us\n", t, r.effective_bits,
		       r.score, r.is_satisfied, us);
	}
	lms_search_frontier_free(f);
	return lms_test_finish();
}
