/* ops_util.h — helpers of test_ops_cuda.c shared with its other sources
 * (ops_attn.c, ops_forms.c): the two backends, seeded random bf16 data, device
 * round trips, the per-element + NMSE comparison. Defined in
 * test_ops_cuda.c; every helper aborts on a backend error.
 *
 * Not here: test cases. */
#ifndef LMS_TESTS_GPU_OPS_UTIL_H
#define LMS_TESTS_GPU_OPS_UTIL_H

#include <stddef.h>

#include "backend/backend.h"
#include "core/numeric.h"

extern struct lms_backend *g_cpu, *g_gpu;

/* n roughly normal values times scale, rounded to bf16 (malloc'd). */
lms_bf16 *rand_bf16(size_t n, double scale);
/* A new device buffer of bytes (at least 1), filled from host unless NULL. */
void *up(struct lms_backend *be, const void *host, size_t bytes);
void down(struct lms_backend *be, void *host, const void *d, size_t bytes);
void ok(enum lms_status st, const char *what);
/* Prints one line and checks |got − ref| <= atol + rtol·|ref| per element
 * and the NMSE bound; bf16 when is_bf16, else fp32. */
void compare(const char *name, const void *got, const void *ref, size_t n, int is_bf16, double atol,
	     double rtol, double nmse_max);

/* ops_attn.c */
void run_attention_cases(void);
/* ops_forms.c: the 8-wide kernel forms against the 2-byte ones */
void run_vector_form_cases(void);

#endif
