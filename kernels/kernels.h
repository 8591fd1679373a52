/* kernels.h — C entry points of the CUDA kernels in kernels/<op>.cu.
 *
 * Every launcher enqueues its kernel(s) on `stream` and returns the launch
 * status (cudaGetLastError()); it never synchronizes and never allocates.
 * Pointers are device pointers. The math, shapes and rounding points of each
 * launcher are exactly those of the op of the same name in
 * src/backend/backend.h (the contract); comments here only add what is
 * specific to the CUDA implementation.
 *
 * bf16 tensors are uint16_t (lms_bf16). This header is plain C (it includes
 * only the CUDA runtime's C API), so src/backend/backend_cuda.c can include
 * it; nothing else in src/ does. */
#ifndef LMS_KERNELS_KERNELS_H
#define LMS_KERNELS_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* elementwise.cu */
cudaError_t lms_k_embedding(cudaStream_t stream, uint16_t *out, const uint16_t *table,
			    const int32_t *ids, int N, int C);
cudaError_t lms_k_add(cudaStream_t stream, uint16_t *out, const uint16_t *a, const uint16_t *b,
		      size_t n);
cudaError_t lms_k_swiglu_forward(cudaStream_t stream, uint16_t *out, const uint16_t *gate,
				 const uint16_t *up, size_t n);
cudaError_t lms_k_swiglu_backward(cudaStream_t stream, uint16_t *dgate, uint16_t *dup,
				  const uint16_t *dout, const uint16_t *gate, const uint16_t *up,
				  size_t n);
cudaError_t lms_k_rope(cudaStream_t stream, uint16_t *x, const uint16_t *cos_t,
		       const uint16_t *sin_t, int N, int nh, int D, int backward);

/* rmsnorm.cu */
cudaError_t lms_k_rmsnorm_forward(cudaStream_t stream, uint16_t *out, float *rstd,
				  const uint16_t *x, const uint16_t *w, int rows, int n, float eps);
cudaError_t lms_k_rmsnorm_backward(cudaStream_t stream, uint16_t *dx, const uint16_t *dy,
				   const uint16_t *x, const uint16_t *w, const float *rstd,
				   int rows, int n, float eps);
/* The fused forms (backend.h struct lms_norm_fuse; same members, bf16 as
 * uint16_t). Without the staged form's conditions they run the plain
 * kernels in sequence. */
struct lms_k_norm_fuse {
	const uint16_t *add;
	uint16_t *sum_out;
	const uint16_t *residual;
	const uint16_t *cos, *sin;
	int heads;
};
cudaError_t lms_k_rmsnorm_forward_ex(cudaStream_t stream, uint16_t *out, float *rstd,
				     const uint16_t *x, const uint16_t *w, int rows, int n,
				     float eps, struct lms_k_norm_fuse f);
cudaError_t lms_k_rmsnorm_backward_ex(cudaStream_t stream, uint16_t *dx, uint16_t *dy,
				      const uint16_t *x, const uint16_t *w, const float *rstd,
				      int rows, int n, float eps, struct lms_k_norm_fuse f);

/* reduce.cu. absmax: when accumulate is 0 the launcher first zeroes amax. */
cudaError_t lms_k_absmax_rows(cudaStream_t stream, float *amax, const uint16_t *x, int64_t rows,
			      int64_t cols, int accumulate);
/* sq_dot_accum: acc[0] += Σ(g·bf16(yq − y))², reduced in a fixed order
 * through `partials`: LMS_K_SQ_DOT_SCRATCH bytes of device scratch (the
 * block partials, then a ticket counter), ZEROED once before the first use
 * (each launch leaves the ticket at 0 again) and not shared with a
 * concurrent launch, so the result is bit-reproducible. */
#define LMS_K_SQ_DOT_PARTIALS 2048
#define LMS_K_SQ_DOT_SCRATCH (LMS_K_SQ_DOT_PARTIALS * 8 + 8)
cudaError_t lms_k_sq_dot_accum(cudaStream_t stream, double *acc, const uint16_t *yq,
			       const uint16_t *y, const uint16_t *g, size_t n, double *partials);
/* Counts non-finite values of a bf16 (is_f32 = 0) or fp32 (is_f32 = 1)
 * tensor into *count (a device uint64, accumulated): the debug-mode check. */
cudaError_t lms_k_count_nonfinite(cudaStream_t stream, unsigned long long *count, const void *x,
				  size_t n, int is_f32);

/* cross_entropy.cu. dlogits may be NULL or alias logits. */
cudaError_t lms_k_cross_entropy(cudaStream_t stream, float *losses, uint16_t *dlogits,
				const uint16_t *logits, const int32_t *targets, int N, int V,
				float grad_scale);

/* kl_div.cu: acc[r] += KL(softmax(zp[r]) || softmax(zq[r])) over V, fp64
 * (backend.h kl_div_accum). */
cudaError_t lms_k_kl_div_accum(cudaStream_t stream, double *acc, const uint16_t *zp,
			       const uint16_t *zq, long long rows, long long V);

/* attention.cu. D must be even and at most LMS_K_ATTN_MAX_D. The backward
 * needs lms_k_attention_workspace() bytes of scratch (per-row softmax
 * statistics); the forward needs none. */
#define LMS_K_ATTN_MAX_D 256
size_t lms_k_attention_workspace(int B, int T, int H, int D);
/* The backward picks the tensor-core kernels (attention_bwd_tc.cu) under the
 * same conditions as the forward (dout, q, k, v 16-byte aligned). */
size_t lms_k_attention_bwd_tc_extra(int B, int T, int H, int D);
/* 3 (the D = 128 tensor-core kernels built for 3 blocks per SM), or 1 with
 * LMSENS_CUDA_ATTN_OCC=1 (up to 255 registers); read once. */
int lms_k_attention_occupancy(void);
int lms_k_attention_backward_tc_ok(const uint16_t *dout, const uint16_t *q, const uint16_t *k,
				   const uint16_t *v, int D);
cudaError_t lms_k_attention_backward_tc(cudaStream_t stream, uint16_t *dq, uint16_t *dk,
					uint16_t *dv, const uint16_t *dout, const uint16_t *q,
					const uint16_t *k, const uint16_t *v, const int32_t *mask,
					int B, int T, int H, int G, int D, float scale, void *work);
/* The forward picks the tensor-core kernel (attention_tc.cu) when
 * lms_k_attention_forward_tc_ok() (D = 32, 64 or 128, 16-byte aligned
 * q, k, v) and LMSENS_CUDA_ATTN_SIMPLE is not set; the "simple" kernels of
 * attention.cu (CUDA cores, no score caches) otherwise or when it is. */
int lms_k_attention_forward_tc_ok(const uint16_t *q, const uint16_t *k, const uint16_t *v, int D);
cudaError_t lms_k_attention_forward_tc(cudaStream_t stream, uint16_t *out, float *lse,
				       const uint16_t *q, const uint16_t *k, const uint16_t *v,
				       const int32_t *mask, int B, int T, int H, int G, int D,
				       float scale);
cudaError_t lms_k_attention_forward(cudaStream_t stream, uint16_t *out, float *lse,
				    const uint16_t *q, const uint16_t *k, const uint16_t *v,
				    const int32_t *mask, int B, int T, int H, int G, int D,
				    float scale);
/* The backward takes the forward's out and lse (B, H, T): the flash
 * backward needs them (the eager-exact kernels recompute the statistics
 * and ignore them). */
cudaError_t lms_k_attention_backward(cudaStream_t stream, uint16_t *dq, uint16_t *dk, uint16_t *dv,
				     const uint16_t *dout, const uint16_t *q, const uint16_t *k,
				     const uint16_t *v, const uint16_t *out, const float *lse,
				     const int32_t *mask, int B, int T, int H, int G, int D,
				     float scale, void *work);

/* attention_flash.cu, attention_flash_bwd.cu: FlashAttention-2 style
 * kernels (one pass, online softmax, fp32 S, exp2; SDPA numerics, not the
 * eager graph's), the default for D = 32, 64, 128 with 16-byte aligned
 * tensors and scale > 0. lms_k_attention_flash() is 0 when
 * LMSENS_CUDA_ATTN=eager (read at every call), else 1. The backward needs
 * out and lse from the flash forward and lms_k_attention_flash_workspace()
 * bytes (lms_k_attention_workspace() covers it). */
int lms_k_attention_flash(void);
int lms_k_attention_flash_ok(const uint16_t *q, const uint16_t *k, const uint16_t *v, int D);
size_t lms_k_attention_flash_workspace(int B, int T, int H, int D);
cudaError_t lms_k_attention_forward_flash(cudaStream_t stream, uint16_t *out, float *lse,
					  const uint16_t *q, const uint16_t *k, const uint16_t *v,
					  const int32_t *mask, int B, int T, int H, int G, int D,
					  float scale);
cudaError_t lms_k_attention_backward_flash(cudaStream_t stream, uint16_t *dq, uint16_t *dk,
					   uint16_t *dv, const uint16_t *dout, const uint16_t *q,
					   const uint16_t *k, const uint16_t *v, const uint16_t *out,
					   const float *lse, const int32_t *mask, int B, int T,
					   int H, int G, int D, float scale, void *work);

/* fake_quant.cu — bit-exact ports of src/quant/quant.c. The host maps a
 * struct lms_quantizer_desc (quant/quant.h) to this plain description. */
enum {
	LMS_K_QS_DISABLED = 0,
	LMS_K_QS_INT = 1,	/* per tensor, or per row with axis0 */
	LMS_K_QS_INT_BLOCK = 2, /* static amax per (row, block) */
	LMS_K_QS_FP8 = 3,	/* E4M3, per tensor or per row */
	LMS_K_QS_MX = 4,	/* dynamic blocks, E8M0 scale; no amax */
	LMS_K_QS_NVFP4 = 5,	/* dynamic blocks, E4M3 scale, amax[0] = global amax */
};
struct lms_k_quant {
	int scheme; /* LMS_K_QS_* */
	int num_bits, exp_bits, man_bits;
	int axis0; /* 1: one amax per row */
	int block; /* block size along the last dim, 0 when not blocked */
};
/* amax (device) holds the calibrated values in the layout quant.h's
 * lms_quant_amax_len describes; NULL only for MX and DISABLED. */
cudaError_t lms_k_fake_quant(cudaStream_t stream, uint16_t *out, const uint16_t *in, int64_t rows,
			     int64_t cols, struct lms_k_quant q, const float *amax);
/* max|x| ignoring NaN, in one of the static layouts (lms_quant_amax). */
enum { LMS_K_QAMAX_TENSOR = 0, LMS_K_QAMAX_ROWS = 1, LMS_K_QAMAX_BLOCKS = 2 };
cudaError_t lms_k_quant_amax(cudaStream_t stream, float *amax, const uint16_t *x, int64_t rows,
			     int64_t cols, int layout, int64_t block);

#ifdef __cplusplus
}
#endif

#endif
