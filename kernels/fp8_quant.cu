/* fp8_quant.cu — bf16 → E4M3 bytes with a per-tensor scale, for the FP8
 * replay GEMM (autoquant.replay_gemm=fp8; kernels/fp8_quant.h says what it
 * computes). The rounding is the hardware conversion (__nv_cvt_float_to_fp8,
 * round to nearest even, saturating to finite), which gives fake_quant's
 * round_e4m3 values: tests/gpu/test_fp8_replay.c checks that decoding the
 * bytes and multiplying by *inv reproduces fake_quant's output bit for bit.
 * Not here: the GEMM (src/backend/fp8_cuda.c, cuBLASLt). */
#include <cuda_fp8.h>

#include "common.cuh"
#include "fp8_quant.h"

static __global__ void fp8_quant_kernel(uint8_t *out, float *inv, const uint16_t *in, int64_t n,
					const float *amax)
{
	float a = amax[0];
	a = a <= 0x1p-24f ? 1.0f : a; /* as fake_quant's FP8 scheme */
	float sc = 448.0f / a;
	if (blockIdx.x == 0 && threadIdx.x == 0)
		*inv = 1.0f / sc;
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x)
		out[i] = (uint8_t)__nv_cvt_float_to_fp8(bf2f(in[i]) * sc, __NV_SATFINITE, __NV_E4M3);
}

extern "C" cudaError_t lms_k_fp8_quant(cudaStream_t stream, uint8_t *out, float *inv,
				       const uint16_t *in, int64_t n, const float *amax)
{
	if (n <= 0)
		return cudaSuccess;
	int64_t blocks = (n + 255) / 256;
	if (blocks > 4096)
		blocks = 4096;
	fp8_quant_kernel<<<(unsigned)blocks, 256, 0, stream>>>(out, inv, in, n, amax);
	return cudaGetLastError();
}
