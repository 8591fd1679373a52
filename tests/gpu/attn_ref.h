/* attn_ref.h — the exact (fp64) attention of backend.h's shapes, for the
 * accuracy checks of tests/gpu/test_ops_cuda.c: no bf16 rounding anywhere
 * (S, P, out and the gradients in fp64 from the bf16 inputs), so both the
 * eager CPU reference and the CUDA flash kernels can be measured against
 * the function they approximate.
 *
 * Shapes and masking as struct lms_attn_dims (causal GQA, mask (B, T), 0 =
 * pad key; a query row with no visible key has out 0 and no gradient).
 * Outputs are caller-allocated doubles: out, dq (B,T,H,D), dk, dv (B,T,G,D).
 * O(B·H·T²·D) time, O(T) extra memory: for the small test cases only.
 *
 * attn_repeat_identical: the run-to-run reproducibility check.
 *
 * Not here: comparisons and tolerances (test_ops_cuda.c). */
#ifndef LMS_TESTS_GPU_ATTN_REF_H
#define LMS_TESTS_GPU_ATTN_REF_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/numeric.h"

void attn_ref_exact(double *out, double *dq, double *dk, double *dv, const lms_bf16 *q,
		    const lms_bf16 *k, const lms_bf16 *v, const lms_bf16 *dout, const int32_t *mask,
		    int B, int T, int H, int G, int D, double scale);

/* NMSE Σ(x − ref)² / Σ ref² of n bf16 values against doubles. */
double attn_ref_nmse(const lms_bf16 *x, const double *ref, size_t n);

/* Runs be's attention forward + backward twice on the same seeded inputs
 * (no padding): 1 when out, lse, dq, dk, dv are bit-identical, 0 when not,
 * -1 when an op or an allocation fails. */
int attn_repeat_identical(struct lms_backend *be, int B, int T, int H, int G, int D);

#endif
