/* cuda_internal.h — private to the CUDA backend (src/backend/<name>_cuda.c): its
 * context, the error/debug/profile helpers and memory ops every op goes
 * through (runtime_cuda.c), and the GEMM entry (gemm_cuda.c). Includes the
 * CUDA headers, so nothing outside the CUDA backend's own files may include
 * it.
 *
 * Invariants: every op calls lms_cuda_prof_begin() first and
 * lms_cuda_after_launch() after each of its launches; every CUDA / cuBLAS
 * failure is reported through lms_cuda_fail() (message: device, label, op,
 * call, library message). */
#ifndef LMS_BACKEND_CUDA_INTERNAL_H
#define LMS_BACKEND_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/backend.h"

#define LT_WORKSPACE_BYTES (32u << 20)
#define STAGE_BYTES (32u << 20)	  /* each of the two pinned staging buffers */
#define STAGE_MIN_COPY (4u << 20) /* smaller h2d copies go straight through */
#define QAMAX_CAP (1u << 20)	  /* floats of dynamic-amax scratch */
#define PROF_OPS 24
#define GEMM_PLANS 64 /* cached cuBLASLt plans (descriptors + algorithm) */

/* One cached GEMM: the shape key, its cuBLASLt descriptors and the algorithm
 * the heuristic chose (have_algo 0: cuBLASLt offered none, use cublasGemmEx). */
struct gemm_key {
	int m, n, k, lda, ldb, ldc, trans_a, trans_b, c_dtype, batch, beta_nonzero;
	int64_t stride_a, stride_b, stride_c;
	uint32_t align_a, align_b, align_c;
};

/* A cuBLASLt operation: its descriptors and the heuristic's algorithm
 * (shared by gemm_cuda.c's and fp8_cuda.c's plan caches). */
struct lt_desc {
	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t la, lb, lc;
	cublasLtMatmulAlgo_t algo;
	int have_algo;
};

struct gemm_plan {
	int used;
	struct gemm_key key;
	struct lt_desc d;
};

struct cuda_ctx {
	int device;
	cudaStream_t stream; /* where ops go now: main, or side within side_begin/end */
	cublasHandle_t blas;
	cublasLtHandle_t lt;
	void *d_lt_work; /* the current stream's cuBLASLt workspace */
	/* stream_cuda.c: the two streams, each with its own cuBLASLt workspace
	 * (two GEMMs in flight must not share one); side is NULL with
	 * LMSENS_CUDA_STREAMS=1 (everything in line). */
	cudaStream_t main_stream, side;
	void *d_lt_main, *d_lt_side;
	cudaEvent_t fork, mark[LMS_SIDE_SLOTS];
	int marked[LMS_SIDE_SLOTS]; /* mark[i] recorded since the last settle */
	int on_side;		    /* between side_begin and side_end */
	void *stage[2]; /* pinned host buffers, STAGE_BYTES each (may be NULL) */
	cudaEvent_t stage_done[2];
	unsigned long long *d_count; /* debug mode: non-finite counter */
	float *d_qamax;		     /* QAMAX_CAP floats: dynamic amax of fake_quant */
	double *d_sq_partials;	     /* LMS_K_SQ_DOT_SCRATCH bytes: sq_dot_accum's block
				      * sums and ticket (zeroed at init) */
	int debug;
	int profile; /* LMSENS_CUDA_PROFILE=1: per-op GPU time */
	cudaEvent_t prof_start, prof_stop;
	double prof_ms[PROF_OPS];
	long prof_calls[PROF_OPS];
	const char *label[3]; /* backend.h set_label: borrowed parts */
	char label_own[128];  /* lms_backend_cuda_set_label's copy */
	char name[32];
	struct gemm_plan plans[GEMM_PLANS]; /* gemm_cuda.c's cache */
	int next_plan;			    /* round-robin replacement */
};

#define CU_CHECK(c, op, call)                                                                      \
	do {                                                                                       \
		cudaError_t e_ = (call);                                                           \
		if (e_ != cudaSuccess)                                                             \
			return lms_cuda_fail((c), (op), #call, cudaGetErrorString(e_),             \
					     e_ == cudaErrorMemoryAllocation);                     \
	} while (0)

#define BLAS_CHECK(c, op, call)                                                                    \
	do {                                                                                       \
		cublasStatus_t s_ = (call);                                                        \
		if (s_ != CUBLAS_STATUS_SUCCESS)                                                   \
			return lms_cuda_fail((c), (op), #call, cublasGetStatusString(s_),          \
					     s_ == CUBLAS_STATUS_ALLOC_FAILED);                    \
	} while (0)

extern const char *const LMS_CUDA_OOM_HINT;

/* Logs and records a failed CUDA/cuBLAS call of `op` (LMS_ERR_NOMEM when
 * is_oom, else LMS_ERR_LIBRARY) and returns the status. */
enum lms_status lms_cuda_fail(struct cuda_ctx *c, const char *op, const char *call, const char *msg,
			      int is_oom);
/* After each launch of an op: the launch status; profile and debug mode. */
enum lms_status lms_cuda_after_launch(struct cuda_ctx *c, const char *op, cudaError_t launch);
/* Debug mode: LMS_ERR_NUMERIC when the n values at d_x hold NaN/Inf. */
enum lms_status lms_cuda_check_finite(struct cuda_ctx *c, const char *op, const char *what,
				      const void *d_x, size_t n, int is_f32);
/* Profile mode: marks the start of an op. */
void lms_cuda_prof_begin(struct cuda_ctx *c);

/* runtime_cuda.c: makes c's device current for this thread (a process may
 * hold backends on several devices; CUDA's current device is per thread). */
void lms_cuda_use_device(const struct cuda_ctx *c);
/* runtime_cuda.c: profile mode's per-op table, logged (at destroy). */
void lms_cuda_prof_report(const struct cuda_ctx *c);
/* runtime_cuda.c: the table's set_label and set_debug slots. */
void lms_cuda_set_label(void *c, const char *module, const char *stage, const char *detail);
void lms_cuda_set_debug(void *c, int on);
/* runtime_cuda.c: the table's memory slots (backend.h). */
enum lms_status lms_cuda_alloc(void *c, size_t bytes, void **d_out);
void lms_cuda_free(void *c, void *d_ptr);
enum lms_status lms_cuda_h2d(void *c, void *d_dst, const void *src, size_t bytes);
enum lms_status lms_cuda_d2h(void *c, void *dst, const void *d_src, size_t bytes);
enum lms_status lms_cuda_d2d(void *c, void *d_dst, const void *d_src, size_t bytes);
enum lms_status lms_cuda_memset(void *c, void *d_dst, int byte, size_t bytes);
enum lms_status lms_cuda_sync(void *c);

/* stream_cuda.c: the side stream and its marks (after the main stream and
 * its workspace exist), the table's side_* slots, the main stream's wait for
 * every mark (settle: before a copy to the host), and their release. */
enum lms_status lms_cuda_streams_init(struct cuda_ctx *c);
void lms_cuda_streams_free(struct cuda_ctx *c);
enum lms_status lms_cuda_side_begin(void *c);
enum lms_status lms_cuda_side_end(void *c, int slot);
enum lms_status lms_cuda_side_join(void *c, int slot);
enum lms_status lms_cuda_side_settle(struct cuda_ctx *c);

/* gemm_cuda.c: the table's gemm slot, and the release of its plan cache. */
enum lms_status lms_cuda_gemm(void *ctx, const struct lms_gemm_args *args);
void lms_cuda_gemm_plans_free(struct cuda_ctx *c);
/* Destroys d's descriptors (NULL ones skipped) and zeroes it. */
void lms_cuda_lt_release(struct lt_desc *d);
/* The heuristic's first algorithm for d's descriptors (D laid out as C)
 * within the backend's workspace, with the operands' minimum alignments in
 * bytes when align is given ({A, B, C/D}, cuBLASLt's operand order); sets
 * d->have_algo (0: none offered). Fails only on a cuBLASLt error. */
enum lms_status lms_cuda_lt_choose(struct cuda_ctx *c, struct lt_desc *d, const uint32_t *align);

/* A cuBLASLt call in a builder with `enum lms_status st`, `struct cuda_ctx
 * *c` and a `fail:` label. */
#define LT_TRY(call)                                                                               \
	do {                                                                                       \
		cublasStatus_t s_ = (call);                                                        \
		if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
			st = lms_cuda_fail(c, "gemm", #call, cublasLtGetStatusString(s_),          \
					   s_ == CUBLAS_STATUS_ALLOC_FAILED);                      \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

#endif
