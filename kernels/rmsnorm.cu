/* rmsnorm.cu — RMSNorm forward and backward (dx only), HF order of
 * operations as stated in src/backend/backend.h:
 *   forward   r = 1/sqrt(fp32(Σx²/n) + eps),  out = bf16( w · bf16(x·r) )
 *   backward  g = bf16(dy·w), x̂ = x·r,  dx = bf16( r·(g − x̂·Σ(g·x̂)/n) )
 *
 * Invariants: one warp per row (rows are 128 wide for q/k norms and a few
 * thousand for the hidden norms, both fine for a warp); the row sums are
 * fp64 like the CPU backend's (src/backend/cpu_nn.c), accumulated per lane
 * with stride 32 and combined by a butterfly, so they round to the same
 * fp32 value as the CPU's sequential sum in all but rare ties. In-place
 * use (out == x, dx == dy) is safe: a thread reads element j before it
 * writes element j, and the reduction pass completes before any write.
 *
 * Not here: the weight gradient (never needed by lmsens). */
#include "common.cuh"
#include "kernels.h"

#define WARPS_PER_BLOCK 8

/* 1/rms of a row, the CPU backend's way: squares summed in fp64, the mean
 * rounded to fp32, then 1/sqrtf (IEEE: no fast math). */
static __device__ float row_rstd(const uint16_t *xr, int n, float eps, int lane)
{
	double ss = 0.0;
	for (int j = lane; j < n; j += LMS_WARP) {
		float v = bf2f(xr[j]);
		ss += (double)v * v;
	}
	ss = warp_sum_d(ss);
	float var = (float)(ss / n);
	return 1.0f / sqrtf(var + eps);
}

static __global__ void rmsnorm_fwd_kernel(uint16_t *out, float *rstd, const uint16_t *x,
					  const uint16_t *w, int rows, int n, float eps)
{
	int row = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / LMS_WARP;
	int lane = threadIdx.x % LMS_WARP;
	if (row >= rows)
		return;
	const uint16_t *xr = x + (long long)row * n;
	uint16_t *yr = out + (long long)row * n;
	float r = row_rstd(xr, n, eps, lane);
	if (rstd && lane == 0)
		rstd[row] = r;
	for (int j = lane; j < n; j += LMS_WARP) {
		float xh = rbf(bf2f(xr[j]) * r);
		yr[j] = f2bf(bf2f(w[j]) * xh);
	}
}

extern "C" cudaError_t lms_k_rmsnorm_forward(cudaStream_t stream, uint16_t *out, float *rstd,
					     const uint16_t *x, const uint16_t *w, int rows, int n,
					     float eps)
{
	unsigned blocks = (unsigned)((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK);
	if (blocks == 0)
		return cudaSuccess;
	rmsnorm_fwd_kernel<<<blocks, WARPS_PER_BLOCK * LMS_WARP, 0, stream>>>(out, rstd, x, w, rows,
									      n, eps);
	return cudaGetLastError();
}

static __global__ void rmsnorm_bwd_kernel(uint16_t *dx, const uint16_t *dy, const uint16_t *x,
					  const uint16_t *w, const float *rstd, int rows, int n,
					  float eps)
{
	int row = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / LMS_WARP;
	int lane = threadIdx.x % LMS_WARP;
	if (row >= rows)
		return;
	const uint16_t *xr = x + (long long)row * n;
	const uint16_t *dyr = dy + (long long)row * n;
	uint16_t *dxr = dx + (long long)row * n;
	float r;
	if (rstd) {
		r = rstd[row];
	} else {
		r = row_rstd(xr, n, eps, lane);
	}
	double dot = 0.0; /* Σ g·x̂ */
	for (int j = lane; j < n; j += LMS_WARP) {
		float g = rbf(bf2f(dyr[j]) * bf2f(w[j]));
		dot += (double)g * (double)(bf2f(xr[j]) * r);
	}
	dot = warp_sum_d(dot);
	float mean = (float)(dot / n);
	for (int j = lane; j < n; j += LMS_WARP) {
		float g = rbf(bf2f(dyr[j]) * bf2f(w[j]));
		float xh = bf2f(xr[j]) * r;
		dxr[j] = f2bf(r * (g - xh * mean));
	}
}

extern "C" cudaError_t lms_k_rmsnorm_backward(cudaStream_t stream, uint16_t *dx, const uint16_t *dy,
					      const uint16_t *x, const uint16_t *w,
					      const float *rstd, int rows, int n, float eps)
{
	unsigned blocks = (unsigned)((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK);
	if (blocks == 0)
		return cudaSuccess;
	rmsnorm_bwd_kernel<<<blocks, WARPS_PER_BLOCK * LMS_WARP, 0, stream>>>(dx, dy, x, w, rstd,
									      rows, n, eps);
	return cudaGetLastError();
}
