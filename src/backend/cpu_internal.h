/* cpu_internal.h — private to the plain-C backend (src/backend/cpu*.c): its
 * context and the op functions each cpu_*.c file contributes to the table.
 *
 * Invariants: ctx->threads >= 1 is the team size every parallel region uses,
 * so per-thread scratch indexed by omp_get_thread_num() never overflows.
 * Nothing here is visible outside src/backend/. */
#ifndef LMS_BACKEND_CPU_INTERNAL_H
#define LMS_BACKEND_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#ifdef _OPENMP
#include <omp.h>
#define LMS_OMP_(x) _Pragma(#x)
#define LMS_OMP(x) LMS_OMP_(omp x)
static inline int cpu_thread_id(void)
{
	return omp_get_thread_num();
}
#else
#define LMS_OMP(x)
static inline int cpu_thread_id(void)
{
	return 0;
}
#endif

/* GEMM blocking: a task computes an IB × NB tile of C, walking K in KB steps
 * over fp32 copies of the A and B panels (cpu_gemm.c). */
enum { CPU_GEMM_IB = 32, CPU_GEMM_NB = 64, CPU_GEMM_KB = 256 };

struct cpu_ctx {
	int threads;
	/* Debug mode (cpu_debug.c): the plain ops the table's wrappers call,
	 * the flag, and the label parts (borrowed, backend.h set_label). */
	struct lms_backend_ops inner;
	int debug;
	const char *label[3];
	/* Per-thread GEMM scratch, allocated once at init:
	 * acc (IB·NB) + a panel (IB·KB) + b panel (KB·NB) floats per thread. */
	float *gemm_scratch;
	size_t gemm_scratch_per_thread; /* floats */
};

/* Team size for a loop doing about `work` scalar operations: small loops
 * run on one thread, because waking a team costs more than they do (and
 * far more when other processes share the cores). */
enum { CPU_PAR_MIN_WORK = 1 << 16 };
static inline int cpu_team(const struct cpu_ctx *ctx, double work)
{
	return work < (double)CPU_PAR_MIN_WORK ? 1 : ctx->threads;
}

/* cpu_debug.c: stores the plain ops of *ops in ctx->inner and replaces the
 * slots that write tensors with wrappers that, in debug mode, check the
 * outputs for NaN/Inf; also sets the set_label and set_debug slots. */
void lms_cpu_debug_wrap(struct cpu_ctx *ctx, struct lms_backend_ops *ops);

/* cpu_gemm.c */
enum lms_status lms_cpu_gemm(void *ctx, const struct lms_gemm_args *args);

/* cpu_nn.c */
enum lms_status lms_cpu_rmsnorm_forward(void *ctx, lms_bf16 *out, float *rstd, const lms_bf16 *x,
					const lms_bf16 *w, int rows, int n, float eps);
enum lms_status lms_cpu_rmsnorm_backward(void *ctx, lms_bf16 *dx, const lms_bf16 *dy,
					 const lms_bf16 *x, const lms_bf16 *w, const float *rstd,
					 int rows, int n, float eps);
enum lms_status lms_cpu_rope_forward(void *ctx, lms_bf16 *x, const lms_bf16 *cos_t,
				     const lms_bf16 *sin_t, int N, int nh, int D);
enum lms_status lms_cpu_rope_backward(void *ctx, lms_bf16 *dx, const lms_bf16 *cos_t,
				      const lms_bf16 *sin_t, int N, int nh, int D);
enum lms_status lms_cpu_swiglu_forward(void *ctx, lms_bf16 *out, const lms_bf16 *gate,
				       const lms_bf16 *up, size_t n);
enum lms_status lms_cpu_swiglu_backward(void *ctx, lms_bf16 *dgate, lms_bf16 *dup,
					const lms_bf16 *dout, const lms_bf16 *gate,
					const lms_bf16 *up, size_t n);
enum lms_status lms_cpu_cross_entropy(void *ctx, float *losses, lms_bf16 *dlogits,
				      const lms_bf16 *logits, const int32_t *targets, int N, int V,
				      float grad_scale);

/* cpu_attn.c */
size_t lms_cpu_attention_workspace(void *ctx, const struct lms_attn_dims *dims);
enum lms_status lms_cpu_attention_forward(void *ctx, lms_bf16 *out, float *lse, const lms_bf16 *q,
					  const lms_bf16 *k, const lms_bf16 *v, const int32_t *mask,
					  const struct lms_attn_dims *dims, void *work,
					  size_t work_bytes);
enum lms_status lms_cpu_attention_backward(void *ctx, lms_bf16 *dq, lms_bf16 *dk, lms_bf16 *dv,
					   const lms_bf16 *dout, const lms_bf16 *q,
					   const lms_bf16 *k, const lms_bf16 *v,
					   const lms_bf16 *out, const float *lse,
					   const int32_t *mask, const struct lms_attn_dims *dims,
					   void *work, size_t work_bytes);

#endif
