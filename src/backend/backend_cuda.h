/* backend_cuda.h — what the CUDA backend offers beyond the op table of
 * backend/backend.h: device discovery, debug mode and the op label used in
 * its messages. Plain C, no CUDA types: any module may include it, but the
 * functions exist only in builds with LMS_HAVE_CUDA (src/backend/
 * backend_cuda.c); callers guard their use with #ifdef LMS_HAVE_CUDA.
 *
 * Device selection: lms_backend_cuda_init(device) (declared in backend.h)
 * takes an index among the devices CUDA_VISIBLE_DEVICES leaves visible; an
 * MPI rank picks its device as local_rank % lms_cuda_device_count().
 *
 * Debug mode (runner.debug=true, or the environment variable
 * LMSENS_CUDA_DEBUG=1 at init): after every op the backend synchronizes,
 * checks for a pending CUDA error and counts the non-finite values of the
 * op's outputs; either failure returns an error that names the op and the
 * current label (e.g. "layers.3.mlp.down_proj"). */
#ifndef LMS_BACKEND_BACKEND_CUDA_H
#define LMS_BACKEND_BACKEND_CUDA_H

#include "backend/backend.h"

#ifdef LMS_HAVE_CUDA

/* Number of visible CUDA devices; 0 when there is none or the driver is
 * missing (never fails, records no error). */
int lms_cuda_device_count(void);

/* The highest device memory in use (bytes, cudaMemGetInfo's total - free,
 * so the CUDA context, libraries and other processes count) seen after any
 * backend allocation since the last reset; reset = 1 restarts the count from
 * the memory in use now. Process-wide, not thread-safe (for benchmarks). */
size_t lms_cuda_mem_peak(int reset);
/* Free and total memory of be's device now (cudaMemGetInfo), for sizing
 * optional buffers (the AutoQuant pipeline's recompute and weight-cache
 * choices). LMS_ERR_INTERNAL for a backend not made by lms_backend_cuda_init. */
LMS_NODISCARD enum lms_status lms_backend_cuda_mem_info(struct lms_backend *be, size_t *free_b,
							size_t *total_b);
/* The FP8 replay GEMM (fp8_cuda.c; autoquant.replay_gemm=fp8):
 * fp8_quant writes the E4M3 bytes of x (n bf16) scaled by 448 / amax[0] and
 * *d_inv = amax[0] / 448 (the per-tensor FP8 fake quantizer's values before
 * its rescale; kernels/fp8_quant.h); fp8_linear computes
 * Y (M, out) bf16 = inv_x · inv_w · X8 (M, in) · W8 (out, in)ᵀ with fp32
 * accumulation (cuBLASLt, fast accumulation off). All pointers are device
 * memory; the scales stay on the device. fp8_linear needs
 * lms_backend_cuda_fp8_shape_ok(in, out) and 16-byte aligned operands and
 * scales, else
 * LMS_ERR_UNSUPPORTED. fp8_release frees its cached plans for be (call
 * before lms_backend_free; harmless when none). */
LMS_NODISCARD enum lms_status lms_backend_cuda_fp8_quant(struct lms_backend *be, uint8_t *d_q,
							 float *d_inv, const lms_bf16 *d_x,
							 int64_t n, const float *d_amax);
LMS_NODISCARD enum lms_status lms_backend_cuda_fp8_linear(struct lms_backend *be, lms_bf16 *d_y,
							  const uint8_t *d_x8, const float *d_inv_x,
							  const uint8_t *d_w8, const float *d_inv_w,
							  int M, int in, int out);
int lms_backend_cuda_fp8_shape_ok(int in, int out);
void lms_backend_cuda_fp8_release(struct lms_backend *be);
/* kl_div with the unquantized side once per batch (kl_cuda.c): kl_prep
 * writes, for zp (rows, V) bf16, the row max d_mp (rows, fp32), exp(zp − mp)
 * d_ep (rows·V, fp64) and the row sums d_sp (rows, fp64); kl_accum_p then
 * adds to d_acc exactly what the op kl_div_accum(d_acc, zp, zq) adds (same
 * bits) with one fp64 exp per element. Device pointers; zp must be the same
 * logits for both calls. */
LMS_NODISCARD enum lms_status lms_backend_cuda_kl_prep(struct lms_backend *be, double *d_ep,
						       float *d_mp, double *d_sp,
						       const lms_bf16 *d_zp, int64_t rows, int64_t V);
LMS_NODISCARD enum lms_status lms_backend_cuda_kl_accum_p(struct lms_backend *be, double *d_acc,
							  const double *d_ep, const float *d_mp,
							  const double *d_sp, const lms_bf16 *d_zp,
							  const lms_bf16 *d_zq, int64_t rows,
							  int64_t V);
/* Turns debug mode on (1) or off (0) for a backend made by
 * lms_backend_cuda_init. A no-op for any other backend. */
void lms_backend_cuda_set_debug(struct lms_backend *be, int on);

/* Sets the label that debug-mode and error messages name as the place of an
 * op (copied; NULL clears it). A no-op for any other backend. */
void lms_backend_cuda_set_label(struct lms_backend *be, const char *label);

/* Fake-quantizes in (rows, cols) bf16 into out (out == in allowed) with the
 * quantizer `desc` (quant/quant.h), bit-identical to lms_quant_fake on the
 * CPU. d_amax (device, borrowed) holds lms_quant_amax_len(desc, rows, cols)
 * calibrated values, or is NULL to take them from `in` (ModelOpt's dynamic
 * amax; forced when desc->dynamic_amax). NULL needs at most 1 Mi amax values
 * (the backend's scratch). Fails with LMS_ERR_UNSUPPORTED for a descriptor
 * lms_quant_scheme rejects. The backend table's fake_quant slot (with a
 * struct lms_quant_desc) runs the same code. */
struct lms_quantizer_desc;
LMS_NODISCARD enum lms_status lms_backend_cuda_fake_quant(struct lms_backend *be, lms_bf16 *d_out,
							  const lms_bf16 *d_in, int64_t rows,
							  int64_t cols,
							  const struct lms_quantizer_desc *desc,
							  const float *d_amax);

#endif
#endif
