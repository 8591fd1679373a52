/* aq_fixture.h — a synthetic, seeded struct lms_aq_result for the io and
 * report tests: a 2-layer Qwen3-shaped model (hidden 64, intermediate 128,
 * 4 query / 2 KV heads of 16, vocab 256) with realistic module names, groups
 * q/k/v, o, gate/up, down per layer and lm_head disabled, per-step traces,
 * losses, timings, a config text with non-ASCII characters, and the output of
 * an exact exhaustive search (so chosen formats, effective bits and the
 * frontier are consistent with the scores). With n_layers > 2 the shapes
 * are Qwen3-VL-4B's (36 layers = the real model's 145 groups). */
#ifndef LMS_TESTS_AQ_FIXTURE_H
#define LMS_TESTS_AQ_FIXTURE_H

#include <stdint.h>

#include "autoquant/result.h"

struct aq_fixture_opts {
	uint64_t seed;
	int two_formats;    /* pair with W4 (4 bits) and FP8 (8 bits) instead of FP8 only */
	int with_search;    /* run the exhaustive search and fill the search fields */
	int module_scores;  /* give every module its own scores */
	int trace_steps;    /* number of scoring batches (0 = no traces) */
	double target_bits; /* autoquant.effective_bits */
	int n_layers;	    /* > 2: Qwen3-VL-4B shapes (hidden 2560, vocab 151936) with this
			       many layers, searched with lms_search_result; else the tiny 2-layer model
			     */
};

/* Fills r (which must be empty); aborts the test binary on allocation failure. */
void aq_fixture_build(struct lms_aq_result *r, const struct aq_fixture_opts *o);

#endif
