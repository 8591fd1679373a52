/* rmsnorm.cu — RMSNorm forward and backward (dx only), HF order of
 * operations as stated in src/backend/backend.h:
 *   forward   r = 1/sqrt(Σx²/n + eps),  out = bf16( w · bf16(x·r) )
 *   backward  g = bf16(dy·w), x̂ = x·r,  dx = bf16( r·(g − x̂·Σ(g·x̂)/n) )
 *
 * Invariants: one warp per row (rows are 128 wide for q/k norms and a few
 * thousand for the hidden norms, both fine for a warp); the row sums are
 * fp32, accumulated per lane with stride 32 and then combined by a
 * butterfly — the only difference from the CPU's sequential sum. In-place
 * use (out == x, dx == dy) is safe: a thread reads element j before it
 * writes element j, and the reduction pass completes before any write.
 *
 * Not here: the weight gradient (never needed by lmsens). */
#include "common.cuh"
#include "kernels.h"

#define WARPS_PER_BLOCK 8

static __global__ void rmsnorm_fwd_kernel(uint16_t *out, float *rstd, const uint16_t *x,
					  const uint16_t *w, int rows, int n, float eps)
{
	int row = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / LMS_WARP;
	int lane = threadIdx.x % LMS_WARP;
	if (row >= rows)
		return;
	const uint16_t *xr = x + (long long)row * n;
	uint16_t *yr = out + (long long)row * n;
	float ss = 0.0f;
	for (int j = lane; j < n; j += LMS_WARP) {
		float v = bf2f(xr[j]);
		ss += v * v;
	}
	ss = warp_sum(ss);
	float r = 1.0f / sqrtf(ss / (float)n + eps);
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
		float ss = 0.0f;
		for (int j = lane; j < n; j += LMS_WARP) {
			float v = bf2f(xr[j]);
			ss += v * v;
		}
		ss = warp_sum(ss);
		r = 1.0f / sqrtf(ss / (float)n + eps);
	}
	float dot = 0.0f;
	for (int j = lane; j < n; j += LMS_WARP) {
		float g = rbf(bf2f(dyr[j]) * bf2f(w[j]));
		dot += g * (bf2f(xr[j]) * r);
	}
	dot = warp_sum(dot);
	float mean = dot / (float)n;
	for (int j = lane; j < n; j += LMS_WARP) {
		float g = rbf(bf2f(dyr[j]) * bf2f(w[j]));
		float xh = bf2f(xr[j]) * r;
		dxr[j] = f2bf(r * (g - xh * mean));
	}
}

extern "C" cudaError_t lms_k_rmsnorm_backward(cudaStream_t stream, uint16_t *dx,
					      const uint16_t *dy, const uint16_t *x,
					      const uint16_t *w, const float *rstd, int rows, int n,
					      float eps)
{
	unsigned blocks = (unsigned)((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK);
	if (blocks == 0)
		return cudaSuccess;
	rmsnorm_bwd_kernel<<<blocks, WARPS_PER_BLOCK * LMS_WARP, 0, stream>>>(dx, dy, x, w, rstd,
									       rows, n, eps);
	return cudaGetLastError();
}
