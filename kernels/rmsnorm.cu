/* rmsnorm.cu — RMSNorm forward and backward (dx only), HF order of
 * operations as stated in src/backend/backend.h:
 *   forward   r = 1/sqrt(fp32(Σx²/n) + eps),  out = bf16( w · bf16(x·r) )
 *   backward  g = bf16(dy·w), x̂ = x·r,  dx = bf16( r·(g − x̂·Σ(g·x̂)/n) )
 *
 * Invariants: every form sums a row in one warp (the 2-byte form: one warp
 * per row, loads straight from global memory); the row sums are
 * fp64 like the CPU backend's (src/backend/cpu_nn.c), accumulated per lane
 * with stride 32 and combined by a butterfly, so they round to the same
 * fp32 value as the CPU's sequential sum in all but rare ties. In-place
 * use (out == x, dx == dy) is safe: a thread reads element j before it
 * writes element j, and the reduction pass completes before any write.
 *
 * Two faster forms with the same per-lane order and operations, so the same
 * bits (the 2-byte form above is latency-bound: each warp walks its row
 * with one dependent load per step):
 * - head rows (n a multiple of 32, at most 256: the q/k norms, D = 128):
 *   one warp per row, lane L holds x[L + 32k] in registers, all loads in
 *   flight at once; RoPE's pairs (i, i + n/2) are in the same lane when
 *   n/2 is a multiple of 32, so the fused RoPE needs no exchange.
 * - wide rows (n a multiple of 8, at most STAGE_MAX_N: the hidden norms):
 *   one block of STAGE_THREADS per row copies the row into shared memory
 *   with 16-byte loads, warp 0 makes the sums from there in the per-lane
 *   order, and every thread writes 8 outputs at a time.
 * Both take 16-byte aligned tensors (so that ops_forms.c can compare them
 * with the 2-byte form on misaligned views). The fused slots (kernels.h
 * struct lms_k_norm_fuse: the residual add, RoPE) are done inside these
 * forms; where neither applies, the plain kernels run in sequence.
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

/* ---- head rows: registers ------------------------------------------------ */

#define REG_MAX_K 8 /* n <= 32 * REG_MAX_K */

/* RoPE (rope_kernel's arithmetic) on the lane's pairs (k, k + n/64) of a
 * head row held as v[k] = x[lane + 32k]; tok is the row's token. */
static __device__ __forceinline__ void rope_regs(float v[REG_MAX_K], int kn, const uint16_t *cos_t,
						 const uint16_t *sin_t, long long tok, int lane,
						 int backward)
{
	int half = kn * 16, kh = kn / 2; /* n = 32·kn, half = n/2 = 32·kh */
#pragma unroll
	for (int k = 0; k < REG_MAX_K / 2; k++) {
		if (k >= kh)
			break;
		int i = lane + 32 * k;
		float c = bf2f(cos_t[tok * half + i]), s = bf2f(sin_t[tok * half + i]);
		float x0 = v[k], x1 = v[k + kh], y0, y1;
		if (!backward) {
			y0 = rbf(x0 * c) - rbf(x1 * s);
			y1 = rbf(x1 * c) + rbf(x0 * s);
		} else {
			y0 = rbf(x0 * c) + rbf(x1 * s);
			y1 = rbf(x1 * c) - rbf(x0 * s);
		}
		v[k] = rbf(y0);
		v[k + kh] = rbf(y1);
	}
}

static __global__ void rmsnorm_fwd_regs(uint16_t *out, float *rstd, const uint16_t *x,
					const uint16_t *w, int rows, int n, float eps,
					struct lms_k_norm_fuse f)
{
	int row = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / LMS_WARP;
	int lane = threadIdx.x % LMS_WARP, kn = n / LMS_WARP;
	if (row >= rows)
		return;
	long long off = (long long)row * n;
	float v[REG_MAX_K];
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn) {
			int j = lane + 32 * k;
			v[k] = bf2f(x[off + j]);
			if (f.add) {
				uint16_t sb = f2bf(v[k] + bf2f(f.add[off + j]));
				f.sum_out[off + j] = sb;
				v[k] = bf2f(sb);
			}
		}
	double ss = 0.0; /* row_rstd's order */
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn)
			ss += (double)v[k] * v[k];
	ss = warp_sum_d(ss);
	float r = 1.0f / sqrtf((float)(ss / n) + eps);
	if (rstd && lane == 0)
		rstd[row] = r;
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn)
			v[k] = rbf(bf2f(w[lane + 32 * k]) * rbf(v[k] * r));
	if (f.cos)
		rope_regs(v, kn, f.cos, f.sin, row / f.heads, lane, 0);
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn)
			out[off + lane + 32 * k] = f2bf(v[k]);
}

static __global__ void rmsnorm_bwd_regs(uint16_t *dx, const uint16_t *dy, const uint16_t *x,
					const uint16_t *w, const float *rstd, int rows, int n,
					float eps, struct lms_k_norm_fuse f)
{
	int row = blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / LMS_WARP;
	int lane = threadIdx.x % LMS_WARP, kn = n / LMS_WARP;
	if (row >= rows)
		return;
	long long off = (long long)row * n;
	float xv[REG_MAX_K], dv[REG_MAX_K];
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn) {
			int j = lane + 32 * k;
			xv[k] = bf2f(x[off + j]);
			dv[k] = bf2f(dy[off + j]);
			if (f.add)
				dv[k] = rbf(dv[k] + bf2f(f.add[off + j]));
		}
	if (f.cos)
		rope_regs(dv, kn, f.cos, f.sin, row / f.heads, lane, 1);
	float r;
	if (rstd) {
		r = rstd[row];
	} else {
		double ss = 0.0;
#pragma unroll
		for (int k = 0; k < REG_MAX_K; k++)
			if (k < kn)
				ss += (double)xv[k] * xv[k];
		ss = warp_sum_d(ss);
		r = 1.0f / sqrtf((float)(ss / n) + eps);
	}
	float g[REG_MAX_K];
	double dot = 0.0;
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn) {
			g[k] = rbf(dv[k] * bf2f(w[lane + 32 * k]));
			dot += (double)g[k] * (double)(xv[k] * r);
		}
	dot = warp_sum_d(dot);
	float mean = (float)(dot / n);
#pragma unroll
	for (int k = 0; k < REG_MAX_K; k++)
		if (k < kn) {
			int j = lane + 32 * k;
			float xh = xv[k] * r;
			float o = r * (g[k] - xh * mean);
			if (f.residual)
				o = bf2f(f.residual[off + j]) + rbf(o);
			dx[off + j] = f2bf(o);
		}
}

/* ---- wide rows: one block per row, staged in shared memory --------------- */

#define STAGE_THREADS 256
#define STAGE_MAX_N 8192 /* the backward stages 2 rows: 32 KB */

/* Block-wide copy of a row (n % 8 == 0, 16-byte aligned) into shared memory,
 * as bf16(src + add) when add is given (that sum also to sum_out). */
static __device__ __forceinline__ void stage_row(uint16_t *dst, const uint16_t *src,
						 const uint16_t *add, uint16_t *sum_out, int n)
{
	for (int c = threadIdx.x; c < n / 8; c += blockDim.x) {
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
}

static __global__ void rmsnorm_fwd_block(uint16_t *out, float *rstd, const uint16_t *x,
					 const uint16_t *w, int n, float eps,
					 struct lms_k_norm_fuse f)
{
	extern __shared__ uint4 smem_fwd[];
	__shared__ float s_r;
	long long off = (long long)blockIdx.x * n;
	uint16_t *xs = (uint16_t *)smem_fwd;
	stage_row(xs, x + off, f.add ? f.add + off : NULL, f.sum_out ? f.sum_out + off : NULL, n);
	__syncthreads();
	if (threadIdx.x < LMS_WARP) {
		float r = row_rstd(xs, n, eps, threadIdx.x);
		if (threadIdx.x == 0) {
			s_r = r;
			if (rstd)
				rstd[blockIdx.x] = r;
		}
	}
	__syncthreads();
	float r = s_r;
	uint4 *yr = (uint4 *)(out + off);
	for (int c = threadIdx.x; c < n / 8; c += blockDim.x) {
		float xv[8], wv[8];
		ld8(xv, ((const uint4 *)xs)[c]);
		ld8(wv, __ldg((const uint4 *)w + c));
#pragma unroll
		for (int k = 0; k < 8; k++)
			xv[k] = wv[k] * rbf(xv[k] * r);
		yr[c] = st8(xv);
	}
}

static __global__ void rmsnorm_bwd_block(uint16_t *dx, const uint16_t *dy, const uint16_t *x,
					 const uint16_t *w, const float *rstd, int n, float eps,
					 struct lms_k_norm_fuse f)
{
	extern __shared__ uint4 smem_bwd[];
	__shared__ float s_r, s_mean;
	long long off = (long long)blockIdx.x * n;
	uint16_t *xs = (uint16_t *)smem_bwd, *ds = xs + n;
	stage_row(xs, x + off, NULL, NULL, n);
	stage_row(ds, dy + off, f.add ? f.add + off : NULL, NULL, n);
	__syncthreads();
	if (threadIdx.x < LMS_WARP) {
		int lane = threadIdx.x;
		float r = rstd ? rstd[blockIdx.x] : row_rstd(xs, n, eps, lane);
		double dot = 0.0; /* Σ g·x̂, in rmsnorm_bwd_kernel's order */
		for (int j = lane; j < n; j += LMS_WARP) {
			float g = rbf(bf2f(ds[j]) * bf2f(__ldg(&w[j])));
			dot += (double)g * (double)(bf2f(xs[j]) * r);
		}
		dot = warp_sum_d(dot);
		if (lane == 0) {
			s_r = r;
			s_mean = (float)(dot / n);
		}
	}
	__syncthreads();
	float r = s_r, mean = s_mean;
	uint4 *dxr = (uint4 *)(dx + off); /* may be dy: ds holds it */
	for (int c = threadIdx.x; c < n / 8; c += blockDim.x) {
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

/* ---- dispatch --------------------------------------------------------------- */

enum form { FORM_PLAIN, FORM_REGS, FORM_BLOCK };

/* Which form takes rows of n with these pointers (NULL ones pass) and f. */
static enum form pick(int n, const void *const *p, int np, const struct lms_k_norm_fuse *f)
{
	for (int i = 0; i < np; i++)
		if (p[i] && !lms_al16(p[i]))
			return FORM_PLAIN;
	const void *q[] = {f->add, f->sum_out, f->residual, f->cos, f->sin};
	for (int i = 0; i < 5; i++)
		if (q[i] && !lms_al16(q[i]))
			return FORM_PLAIN;
	if (n % LMS_WARP == 0 && n <= LMS_WARP * REG_MAX_K &&
	    (!f->cos || ((n / 2) % LMS_WARP == 0 && f->heads > 0)))
		return FORM_REGS;
	if (n % 8 == 0 && n <= STAGE_MAX_N && !f->cos)
		return FORM_BLOCK;
	return FORM_PLAIN;
}

static cudaError_t fwd_fast(cudaStream_t stream, enum form fm, uint16_t *out, float *rstd,
			    const uint16_t *x, const uint16_t *w, int rows, int n, float eps,
			    struct lms_k_norm_fuse f)
{
	if (fm == FORM_REGS)
		rmsnorm_fwd_regs<<<(unsigned)((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK),
				   WARPS_PER_BLOCK * LMS_WARP, 0, stream>>>(out, rstd, x, w, rows,
									    n, eps, f);
	else
		rmsnorm_fwd_block<<<(unsigned)rows, STAGE_THREADS, (size_t)n * sizeof(uint16_t),
				    stream>>>(out, rstd, x, w, n, eps, f);
	return cudaGetLastError();
}

static cudaError_t bwd_fast(cudaStream_t stream, enum form fm, uint16_t *dx, const uint16_t *dy,
			    const uint16_t *x, const uint16_t *w, const float *rstd, int rows,
			    int n, float eps, struct lms_k_norm_fuse f)
{
	if (fm == FORM_REGS)
		rmsnorm_bwd_regs<<<(unsigned)((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK),
				   WARPS_PER_BLOCK * LMS_WARP, 0, stream>>>(dx, dy, x, w, rstd,
									    rows, n, eps, f);
	else
		rmsnorm_bwd_block<<<(unsigned)rows, STAGE_THREADS, (size_t)2 * n * sizeof(uint16_t),
				    stream>>>(dx, dy, x, w, rstd, n, eps, f);
	return cudaGetLastError();
}

extern "C" cudaError_t lms_k_rmsnorm_forward(cudaStream_t stream, uint16_t *out, float *rstd,
					     const uint16_t *x, const uint16_t *w, int rows, int n,
					     float eps)
{
	struct lms_k_norm_fuse none = {};
	const void *p[] = {out, x, w};
	enum form fm = pick(n, p, 3, &none);
	if (rows > 0 && fm != FORM_PLAIN)
		return fwd_fast(stream, fm, out, rstd, x, w, rows, n, eps, none);
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
	const void *p[] = {dx, dy, x, w};
	enum form fm = pick(n, p, 4, &none);
	if (rows > 0 && fm != FORM_PLAIN)
		return bwd_fast(stream, fm, dx, dy, x, w, rstd, rows, n, eps, none);
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
	const void *p[] = {out, x, w};
	enum form fm = pick(n, p, 3, &f);
	if (fm != FORM_PLAIN)
		return fwd_fast(stream, fm, out, rstd, x, w, rows, n, eps, f);
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
	const void *p[] = {dx, dy, x, w};
	enum form fm = pick(n, p, 4, &f);
	if (fm != FORM_PLAIN)
		return bwd_fast(stream, fm, dx, dy, x, w, rstd, rows, n, eps, f);
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
