/* fp8_quant.h — C entry point of kernels/fp8_quant.cu (the FP8 replay GEMM's
 * operand quantizer, src/backend/fp8_cuda.c). Plain C like kernels.h.
 *
 * lms_k_fp8_quant: out[i] = E4M3 bits of e4m3(in[i] · s) with s = 448 / a and
 * a = amax[0] (1 when a <= 2^-24), rounding to nearest even and saturating
 * at ±448: the value fake_quant's per-tensor FP8 scheme (kernels/
 * fake_quant.cu) rounds to before it multiplies by 1/s. *inv = 1/s, the
 * scale that turns the E4M3 value back into fake_quant's (before its bf16
 * rounding). n elements; in bf16 (uint16_t), out one byte each. */
#ifndef LMS_KERNELS_FP8_QUANT_H
#define LMS_KERNELS_FP8_QUANT_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

cudaError_t lms_k_fp8_quant(cudaStream_t stream, uint8_t *out, float *inv, const uint16_t *in,
			    int64_t n, const float *amax);

#ifdef __cplusplus
}
#endif
#endif
