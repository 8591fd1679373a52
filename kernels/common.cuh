/* common.cuh — helpers shared by the kernels in kernels/<op>.cu (CUDA only).
 *
 * Storage convention: every bf16 tensor crosses the C interface as uint16_t
 * (lms_bf16) holding the upper half of an IEEE fp32. Kernels widen with
 * bf2f() (exact) and narrow with f2bf() (round to nearest even, the same as
 * lms_f32_to_bf16 in src/core/numeric.h for every non-NaN value).
 *
 * Invariant: the kernels are compiled with --fmad=false and without fast
 * math (CMakeLists.txt), so every +, *, / and sqrtf below is the IEEE
 * operation that the plain-C CPU backend performs; only the order of
 * reductions differs from the CPU.
 *
 * Not here: anything a kernel file needs alone. */
#ifndef LMS_KERNELS_COMMON_CUH
#define LMS_KERNELS_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#define LMS_WARP 32
#define LMS_FULL_MASK 0xffffffffu

static __device__ __forceinline__ float bf2f(uint16_t h)
{
	return __uint_as_float((uint32_t)h << 16);
}

static __device__ __forceinline__ uint16_t f2bf(float f)
{
	uint32_t u = __float_as_uint(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign, force quiet (as numeric.h) */
		return (uint16_t)((u >> 16) | 0x0040u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* Rounds through bf16 and back. */
static __device__ __forceinline__ float rbf(float f)
{
	return bf2f(f2bf(f));
}

static __device__ __forceinline__ float warp_sum(float v)
{
	for (int o = LMS_WARP / 2; o > 0; o >>= 1)
		v += __shfl_xor_sync(LMS_FULL_MASK, v, o);
	return v;
}

static __device__ __forceinline__ double warp_sum_d(double v)
{
	for (int o = LMS_WARP / 2; o > 0; o >>= 1)
		v += __shfl_xor_sync(LMS_FULL_MASK, v, o);
	return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
	for (int o = LMS_WARP / 2; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(LMS_FULL_MASK, v, o));
	return v;
}

/* Block-wide sum for blockDim.x a multiple of 32 (≤ 1024). Every thread gets
 * the result. `scratch` holds at least 32 floats of shared memory. */
static __device__ __forceinline__ float block_sum(float v, float *scratch)
{
	int lane = threadIdx.x % LMS_WARP, warp = threadIdx.x / LMS_WARP;
	int nwarps = blockDim.x / LMS_WARP;
	v = warp_sum(v);
	__syncthreads(); /* scratch may still be read by a previous call */
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	v = lane < nwarps ? scratch[lane] : 0.0f;
	return warp_sum(v);
}

static __device__ __forceinline__ double block_sum_d(double v, double *scratch)
{
	int lane = threadIdx.x % LMS_WARP, warp = threadIdx.x / LMS_WARP;
	int nwarps = blockDim.x / LMS_WARP;
	v = warp_sum_d(v);
	__syncthreads();
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	v = lane < nwarps ? scratch[lane] : 0.0;
	return warp_sum_d(v);
}

static __device__ __forceinline__ float block_max(float v, float *scratch)
{
	int lane = threadIdx.x % LMS_WARP, warp = threadIdx.x / LMS_WARP;
	int nwarps = blockDim.x / LMS_WARP;
	v = warp_max(v);
	__syncthreads();
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	v = lane < nwarps ? scratch[lane] : -INFINITY;
	return warp_max(v);
}

/* 16-byte vector access: 8 bf16 values as one uint4 (kernels use it when
 * every pointer is 16-byte aligned; lms_al16 tests that). Unpacking is
 * exact, packing rounds each value with f2bf: the same bits as 8 scalar
 * stores. */
static __host__ __device__ __forceinline__ bool lms_al16(const void *p)
{
	return ((uintptr_t)p & 15u) == 0;
}

static __device__ __forceinline__ void ld8(float f[8], uint4 v)
{
	const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
	for (int k = 0; k < 4; k++) {
		f[2 * k] = __uint_as_float(w[k] << 16);
		f[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
	}
}

static __device__ __forceinline__ uint4 st8(const float f[8])
{
	uint32_t w[4];
#pragma unroll
	for (int k = 0; k < 4; k++)
		w[k] = (uint32_t)f2bf(f[2 * k]) | ((uint32_t)f2bf(f[2 * k + 1]) << 16);
	return make_uint4(w[0], w[1], w[2], w[3]);
}

/* Grid size for a 1-D elementwise launch, capped so huge tensors use a
 * grid-stride loop rather than an oversized grid. */
static inline unsigned lms_grid_1d(long long n, int threads)
{
	long long g = (n + threads - 1) / threads;
	if (g < 1)
		g = 1;
	if (g > 65536LL * 4)
		g = 65536LL * 4;
	return (unsigned)g;
}

#endif
