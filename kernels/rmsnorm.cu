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
 * Staged form (rows a multiple of 8 wide and at most STAGE_MAX_N, 16-byte
 * aligned tensors): each warp copies its row(s) into shared memory with 16-byte
 * loads, then every lane sums the same elements in the same order as above
 * (j = lane, lane + 32, ...) from shared memory, and the outputs are
 * written 8 at a time. The same operations, so the same bits as the 2-byte
 * form, which issued one 2-byte global load per element per lane and
 * reached ~1/3 of the bandwidth at C = 2560.
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

/* Staged form: the row (and for the backward dy's row) in shared memory,
 * 2·n bytes each per warp, at most STAGE_BYTES per block (under the 48 KB
 * that needs no opt-in): 4 warps per block up to n = 2560, 2 up to 5120. */
#define STAGE_BYTES 40960
#define STAGE_MAX_N 5120
static_assert(2 * 2 * STAGE_MAX_N * 2 <= STAGE_BYTES && 4 * 2 * 2560 * 2 <= STAGE_BYTES,
	      "the backward stages two rows per warp");

static int stage_warps(int n)
{
	return n <= 2560 ? 4 : 2;
}

/* Copies n bf16 (n % 8 == 0, 16-byte aligned) from global to shared, the
 * warp's lanes 16 bytes each, as bf16(src + add) when add is given (and
 * that sum also to sum_out); the warp is synchronized after. */
static __device__ __forceinline__ void stage_row(uint16_t *dst, const uint16_t *src,
						 const uint16_t *add, uint16_t *sum_out, int n,
						 int lane)
{
	for (int c = lane; c < n / 8; c += LMS_WARP) {
		uint4 v = __ldg((const uint4 *)src + c);
		if (add) {
			float a[8], b[8];
			ld8(a, v);
			ld8(b, __ldg((const uint4 *)add + c));
#pragma unroll
			for (int k = 0; k < 8; k++)
				a[k] = a[k] + b[k];
			v = st8(a);
			if (sum_out)
				((uint4 *)sum_out)[c] = v;
		}
		((uint4 *)dst)[c] = v;
	}
	__syncwarp();
}

/* rope_kernel's rotation of one staged head row (n = D) in place, token
 * `tok`; the warp is synchronized after. */
static __device__ __forceinline__ void rope_row(uint16_t *xs, const uint16_t *cos_t,
					       const uint16_t *sin_t, long long tok, int n,
					       int backward, int lane)
{
	int half = n / 2;
	for (int c = lane; c < half / 8; c += LMS_WARP) {
		float cv[8], sv[8], x0[8], x1[8], y0[8], y1[8];
		ld8(cv, __ldg((const uint4 *)(cos_t + tok * half) + c));
		ld8(sv, __ldg((const uint4 *)(sin_t + tok * half) + c));
		ld8(x0, ((const uint4 *)xs)[c]);
		ld8(x1, ((const uint4 *)(xs + half))[c]);
#pragma unroll
		for (int k = 0; k < 8; k++) {
			if (!backward) {
				y0[k] = rbf(x0[k] * cv[k]) - rbf(x1[k] * sv[k]);
				y1[k] = rbf(x1[k] * cv[k]) + rbf(x0[k] * sv[k]);
			} else {
				y0[k] = rbf(x0[k] * cv[k]) + rbf(x1[k] * sv[k]);
				y1[k] = rbf(x1[k] * cv[k]) - rbf(x0[k] * sv[k]);
			}
		}
		((uint4 *)xs)[c] = st8(y0);
		((uint4 *)(xs + half))[c] = st8(y1);
	}
	__syncwarp();
}

static __global__ void rmsnorm_fwd_staged(uint16_t *out, float *rstd, const uint16_t *x,
					  const uint16_t *w, int rows, int n, float eps,
					  struct lms_k_norm_fuse f)
{
	extern __shared__ uint4 smem_fwd[];
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	int row = blockIdx.x * (blockDim.x / LMS_WARP) + warp;
	if (row >= rows)
		return;
	long long off = (long long)row * n;
	uint16_t *xs = (uint16_t *)smem_fwd + (size_t)warp * n;
	stage_row(xs, x + off, f.add ? f.add + off : NULL, f.sum_out ? f.sum_out + off : NULL, n,
		  lane);
	float r = row_rstd(xs, n, eps, lane);
	if (rstd && lane == 0)
		rstd[row] = r;
	__syncwarp(); /* every lane has read xs: with RoPE it takes the output */
	uint4 *yr = (uint4 *)(out + off);
	for (int c = lane; c < n / 8; c += LMS_WARP) {
		float xv[8], wv[8];
		ld8(xv, ((const uint4 *)xs)[c]);
		ld8(wv, __ldg((const uint4 *)w + c));
#pragma unroll
		for (int k = 0; k < 8; k++)
			xv[k] = wv[k] * rbf(xv[k] * r);
		if (f.cos)
			((uint4 *)xs)[c] = st8(xv);
		else
			yr[c] = st8(xv);
	}
	if (!f.cos)
		return;
	__syncwarp();
	rope_row(xs, f.cos, f.sin, row / f.heads, n, 0, lane);
	for (int c = lane; c < n / 8; c += LMS_WARP)
		yr[c] = ((const uint4 *)xs)[c];
}

static __global__ void rmsnorm_bwd_staged(uint16_t *dx, const uint16_t *dy, const uint16_t *x,
					  const uint16_t *w, const float *rstd, int rows, int n,
					  float eps, struct lms_k_norm_fuse f)
{
	extern __shared__ uint4 smem_bwd[];
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	int row = blockIdx.x * (blockDim.x / LMS_WARP) + warp;
	if (row >= rows)
		return;
	long long off = (long long)row * n;
	uint16_t *xs = (uint16_t *)smem_bwd + (size_t)warp * 2 * n, *ds = xs + n;
	stage_row(xs, x + off, NULL, NULL, n, lane);
	stage_row(ds, dy + off, f.add ? f.add + off : NULL, NULL, n, lane);
	if (f.cos)
		rope_row(ds, f.cos, f.sin, row / f.heads, n, 1, lane);
	float r = rstd ? rstd[row] : row_rstd(xs, n, eps, lane);
	double dot = 0.0; /* Σ g·x̂, in rmsnorm_bwd_kernel's order */
	for (int j = lane; j < n; j += LMS_WARP) {
		float g = rbf(bf2f(ds[j]) * bf2f(__ldg(&w[j])));
		dot += (double)g * (double)(bf2f(xs[j]) * r);
	}
	dot = warp_sum_d(dot);
	float mean = (float)(dot / n);
	uint4 *dxr = (uint4 *)(dx + off); /* may be dy: ds holds it */
	for (int c = lane; c < n / 8; c += LMS_WARP) {
		float xv[8], dv[8], wv[8];
		ld8(xv, ((const uint4 *)xs)[c]);
		ld8(dv, ((const uint4 *)ds)[c]);
		ld8(wv, __ldg((const uint4 *)w + c));
#pragma unroll
		for (int k = 0; k < 8; k++) {
			float g = rbf(dv[k] * wv[k]);
			float xh = xv[k] * r;
			xv[k] = r * (g - xh * mean);
		}
		if (f.residual) {
			float rv[8];
			ld8(rv, __ldg((const uint4 *)(f.residual + off) + c));
#pragma unroll
			for (int k = 0; k < 8; k++)
				xv[k] = rv[k] + rbf(xv[k]);
		}
		dxr[c] = st8(xv);
	}
}

static bool staged_ok(int n, const void *a, const void *b, const void *c, const void *d)
{
	return n % 8 == 0 && n <= STAGE_MAX_N && lms_al16(a) && lms_al16(b) && lms_al16(c) &&
	       lms_al16(d);
}

/* The fused members' conditions for the staged form (NULL members pass). */
static bool fuse_ok(int n, const struct lms_k_norm_fuse *f)
{
	const void *p[] = {f->add, f->sum_out, f->residual, f->cos, f->sin};
	for (int i = 0; i < 5; i++)
		if (p[i] && !lms_al16(p[i]))
			return false;
	return !f->cos || ((n / 2) % 8 == 0 && n % 2 == 0 && f->heads > 0);
}

static cudaError_t fwd_staged(cudaStream_t stream, uint16_t *out, float *rstd, const uint16_t *x,
			      const uint16_t *w, int rows, int n, float eps,
			      struct lms_k_norm_fuse f)
{
	int wpb = stage_warps(n);
	unsigned blocks = (unsigned)((rows + wpb - 1) / wpb);
	rmsnorm_fwd_staged<<<blocks, wpb * LMS_WARP, (size_t)wpb * n * sizeof(uint16_t), stream>>>(
	    out, rstd, x, w, rows, n, eps, f);
	return cudaGetLastError();
}

static cudaError_t bwd_staged(cudaStream_t stream, uint16_t *dx, const uint16_t *dy,
			      const uint16_t *x, const uint16_t *w, const float *rstd, int rows,
			      int n, float eps, struct lms_k_norm_fuse f)
{
	int wpb = stage_warps(n);
	unsigned blocks = (unsigned)((rows + wpb - 1) / wpb);
	rmsnorm_bwd_staged<<<blocks, wpb * LMS_WARP, (size_t)wpb * 2 * n * sizeof(uint16_t),
			     stream>>>(dx, dy, x, w, rstd, rows, n, eps, f);
	return cudaGetLastError();
}

extern "C" cudaError_t lms_k_rmsnorm_forward(cudaStream_t stream, uint16_t *out, float *rstd,
					     const uint16_t *x, const uint16_t *w, int rows, int n,
					     float eps)
{
	struct lms_k_norm_fuse none = {};
	if (rows > 0 && staged_ok(n, out, x, w, w))
		return fwd_staged(stream, out, rstd, x, w, rows, n, eps, none);
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
	struct lms_k_norm_fuse none = {};
	if (rows > 0 && staged_ok(n, dx, dy, x, w))
		return bwd_staged(stream, dx, dy, x, w, rstd, rows, n, eps, none);
	unsigned blocks = (unsigned)((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK);
	if (blocks == 0)
		return cudaSuccess;
	rmsnorm_bwd_kernel<<<blocks, WARPS_PER_BLOCK * LMS_WARP, 0, stream>>>(dx, dy, x, w, rstd,
									      rows, n, eps);
	return cudaGetLastError();
}

extern "C" cudaError_t lms_k_rmsnorm_forward_ex(cudaStream_t stream, uint16_t *out, float *rstd,
						const uint16_t *x, const uint16_t *w, int rows,
						int n, float eps, struct lms_k_norm_fuse f)
{
	if (rows <= 0)
		return cudaSuccess;
	if (f.add && !f.sum_out)
		return cudaErrorInvalidValue;
	if (staged_ok(n, out, x, w, w) && fuse_ok(n, &f))
		return fwd_staged(stream, out, rstd, x, w, rows, n, eps, f);
	cudaError_t e = cudaSuccess; /* the plain kernels in sequence */
	if (f.add) {
		e = lms_k_add(stream, f.sum_out, x, f.add, (size_t)rows * n);
		x = f.sum_out;
	}
	if (e == cudaSuccess)
		e = lms_k_rmsnorm_forward(stream, out, rstd, x, w, rows, n, eps);
	if (e == cudaSuccess && f.cos)
		e = lms_k_rope(stream, out, f.cos, f.sin, rows / f.heads, f.heads, n, 0);
	return e;
}

extern "C" cudaError_t lms_k_rmsnorm_backward_ex(cudaStream_t stream, uint16_t *dx, uint16_t *dy,
						 const uint16_t *x, const uint16_t *w,
						 const float *rstd, int rows, int n, float eps,
						 struct lms_k_norm_fuse f)
{
	if (rows <= 0)
		return cudaSuccess;
	if (staged_ok(n, dx, dy, x, w) && fuse_ok(n, &f))
		return bwd_staged(stream, dx, dy, x, w, rstd, rows, n, eps, f);
	cudaError_t e = cudaSuccess; /* the plain kernels in sequence, through dy */
	size_t len = (size_t)rows * n;
	if (f.add)
		e = lms_k_add(stream, dy, dy, f.add, len);
	if (e == cudaSuccess && f.cos)
		e = lms_k_rope(stream, dy, f.cos, f.sin, rows / f.heads, f.heads, n, 1);
	if (e == cudaSuccess)
		e = lms_k_rmsnorm_backward(stream, f.residual ? dy : dx, dy, x, w, rstd, rows, n,
					   eps);
	if (e == cudaSuccess && f.residual)
		e = lms_k_add(stream, dx, f.residual, dy, len);
	return e;
}
