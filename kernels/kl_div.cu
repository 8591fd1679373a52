/* kl_div.cu — per-row KL divergence of two logit rows for the kl_div
 * scoring method: acc[r] += Σ_v p_v · (log p_v − log q_v) with p, q the
 * softmaxes of the bf16 rows zp[r], zq[r] (src/backend/backend.h), in the
 * CPU's one-pass form (cpu_kl_div_accum in src/backend/cpu.c):
 *   m = fp32 row max; xp = z_p − mp, xq = z_q − mq (fp64);
 *   Sp = Σ exp(xp), Sq = Σ exp(xq), w = Σ exp(xp)·(xp − xq)   (fp64 exp);
 *   kl = w / Sp − (log Sp − log Sq).
 * Two passes over the logits (max, then the three sums), two fp64 exps per
 * element and no division per element; rows whose start is 16-byte aligned
 * with V % 8 == 0 are read 8 bf16 at a time.
 * The summation order (the bits) is that of KL_ORDER = 1024 "logical"
 * threads per row: logical thread t adds, in ascending order, the 8-element
 * chunks t, t + 1024, ... (then the scalar tail's elements n8·8 + t, + 1024,
 * ...), and the row's sum is block_sum_d's over those 1024 partial sums (a
 * butterfly per warp of 32, then one over the 32 warp sums). KL_PT physical
 * threads each run KL_ORDER / KL_PT logical threads (t = p + j·KL_PT) with
 * their own accumulators, so the block has the registers to keep the 8-wide
 * fp64 work without spilling (v4's 1024-thread blocks spilled 292 bytes per
 * thread and ran at 3.5 ms per 2048 × 151,936 call on an H100) and several
 * blocks share an SM; the result is bit-identical to those 1024-thread
 * blocks. The row max is order-independent (fmaxf is exact).
 * Invariants: one block per row; the logits are read straight from bf16 (no
 * fp32 copy); each row's sum goes to its own acc[r], so the caller's totals
 * do not depend on the launch. Only the fp64 summation order differs from the
 * CPU (~1e-16 relative).
 * Not here: the forwards that make the logits (src/autoquant/). */
#include "common.cuh"
#include "kernels.h"
#include "kl_div_p.h"

#define KL_ORDER 1024 /* logical threads per row: the summation order, i.e. the bits */
#define KL_PT 256     /* physical threads per block */
#define KL_R (KL_ORDER / KL_PT)
#define KL_MIN_BLOCKS 2 /* per SM: ≤ 128 registers per thread */

/* the 8 bf16 of a 16-byte load, in order */
static __device__ __forceinline__ void unpack8(uint4 u, float *f)
{
	const unsigned w[4] = {u.x, u.y, u.z, u.w};
	for (int k = 0; k < 4; k++) {
		f[2 * k] = __uint_as_float(w[k] << 16);
		f[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
	}
}

/* Max over a row of V bf16 (all physical threads; order-independent). */
template <bool VEC>
static __device__ __forceinline__ float row_max(const uint16_t *a, long long V, float *scratch)
{
	const uint4 *a8 = (const uint4 *)a;
	long long n8 = VEC ? V / 8 : 0;
	float m = -INFINITY;
	for (long long i = threadIdx.x; i < n8; i += KL_PT) {
		float f[8];
		unpack8(a8[i], f);
		for (int k = 0; k < 8; k++)
			m = fmaxf(m, f[k]);
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += KL_PT)
		m = fmaxf(m, bf2f(a[v]));
	return block_max(m, scratch);
}

/* Σ over the KL_ORDER logical threads of v[j] (logical thread
 * threadIdx.x + j·KL_PT) in block_sum_d's order for a block of KL_ORDER
 * threads: a butterfly per logical warp (physical warp w holds the logical
 * warps w + j·KL_PT/32, lane for lane), then one over the 32 warp sums.
 * Valid in warp 0. */
static __device__ __forceinline__ double order_sum(const double *v, double *scratch)
{
	int lane = threadIdx.x % LMS_WARP, warp = threadIdx.x / LMS_WARP;
	__syncthreads(); /* scratch may still be read by the previous call */
#pragma unroll
	for (int j = 0; j < KL_R; j++) {
		double s = warp_sum_d(v[j]);
		if (lane == 0)
			scratch[warp + j * (KL_PT / LMS_WARP)] = s;
	}
	__syncthreads();
	return warp_sum_d(scratch[lane]);
}

struct kl_sums {
	double sp[KL_R], sq[KL_R], w[KL_R];
};

static __device__ __forceinline__ void kl_add(struct kl_sums *s, int j, float a, float b, float mp,
					      float mq)
{
	double xp = (double)a - mp, xq = (double)b - mq;
	double ep = exp(xp);
	s->sp[j] += ep;
	s->sq[j] += exp(xq);
	s->w[j] += ep * (xp - xq);
}

template <bool VEC>
static __global__ void __launch_bounds__(KL_PT, KL_MIN_BLOCKS)
    kl_div_kernel(double *acc, const uint16_t *zp, const uint16_t *zq, long long V)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long r = blockIdx.x;
	const uint16_t *a = zp + r * V, *b = zq + r * V;
	const uint4 *a8 = (const uint4 *)a, *b8 = (const uint4 *)b;
	long long n8 = VEC ? V / 8 : 0;
	float mp = row_max<VEC>(a, V, scratch);
	float mq = row_max<VEC>(b, V, scratch);
	struct kl_sums s;
#pragma unroll
	for (int j = 0; j < KL_R; j++)
		s.sp[j] = s.sq[j] = s.w[j] = 0.0;
	for (long long base = threadIdx.x; base < n8; base += KL_ORDER) {
#pragma unroll
		for (int j = 0; j < KL_R; j++) {
			long long i = base + j * KL_PT;
			if (i < n8) {
				float fa[8], fb[8];
				unpack8(a8[i], fa);
				unpack8(b8[i], fb);
				for (int k = 0; k < 8; k++)
					kl_add(&s, j, fa[k], fb[k], mp, mq);
			}
		}
	}
	for (long long v0 = n8 * 8 + threadIdx.x; v0 < V; v0 += KL_ORDER) {
#pragma unroll
		for (int j = 0; j < KL_R; j++) {
			long long v = v0 + j * KL_PT;
			if (v < V)
				kl_add(&s, j, bf2f(a[v]), bf2f(b[v]), mp, mq);
		}
	}
	double sp = order_sum(s.sp, dscratch);
	double sq = order_sum(s.sq, dscratch);
	double w = order_sum(s.w, dscratch);
	if (threadIdx.x == 0)
		acc[r] += w / sp - (log(sp) - log(sq));
}

static bool kl_vec(long long V, const void *p, const void *q)
{
	return V % 8 == 0 && ((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0;
}

extern "C" cudaError_t lms_k_kl_div_accum(cudaStream_t stream, double *acc, const uint16_t *zp,
					  const uint16_t *zq, long long rows, long long V)
{
	if (rows <= 0)
		return cudaSuccess;
	if (V < 1 || rows > 2147483647LL)
		return cudaErrorInvalidValue;
	/* 16-byte loads when every row starts 16-byte aligned */
	if (kl_vec(V, zp, zq))
		kl_div_kernel<true><<<(unsigned)rows, KL_PT, 0, stream>>>(acc, zp, zq, V);
	else
		kl_div_kernel<false><<<(unsigned)rows, KL_PT, 0, stream>>>(acc, zp, zq, V);
	return cudaGetLastError();
}

/* ---- the unquantized side computed once per batch (kl_div_p.h) -----------
 * kl_prep: per row, mp and exp(xp) for every v (fp64, rows·V values) and
 * Sp, with the logical-thread order of kl_div_kernel; kl_accum_p:
 * kl_div_kernel's result from those and zq, reading zp again only for xp:
 * one fp64 exp per element instead of two. The same operations in the same
 * order, so the same bits as lms_k_kl_div_accum (checked by
 * tests/gpu/test_kl_prep.c). */
template <bool VEC>
static __global__ void __launch_bounds__(KL_PT, KL_MIN_BLOCKS)
    kl_prep_kernel(double *ep, float *mp_out, double *sp_out, const uint16_t *zp, long long V)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long r = blockIdx.x;
	const uint16_t *a = zp + r * V;
	double *e = ep + r * V;
	const uint4 *a8 = (const uint4 *)a;
	long long n8 = VEC ? V / 8 : 0;
	float mp = row_max<VEC>(a, V, scratch);
	double sp[KL_R];
#pragma unroll
	for (int j = 0; j < KL_R; j++)
		sp[j] = 0.0;
	for (long long base = threadIdx.x; base < n8; base += KL_ORDER) {
#pragma unroll
		for (int j = 0; j < KL_R; j++) {
			long long i = base + j * KL_PT;
			if (i < n8) {
				float fa[8];
				unpack8(a8[i], fa);
				for (int k = 0; k < 8; k++) {
					double x = exp((double)fa[k] - mp);
					e[i * 8 + k] = x;
					sp[j] += x;
				}
			}
		}
	}
	for (long long v0 = n8 * 8 + threadIdx.x; v0 < V; v0 += KL_ORDER) {
#pragma unroll
		for (int j = 0; j < KL_R; j++) {
			long long v = v0 + j * KL_PT;
			if (v < V) {
				double x = exp((double)bf2f(a[v]) - mp);
				e[v] = x;
				sp[j] += x;
			}
		}
	}
	double sum = order_sum(sp, dscratch);
	if (threadIdx.x == 0) {
		mp_out[r] = mp;
		sp_out[r] = sum;
	}
}

template <bool VEC>
static __global__ void __launch_bounds__(KL_PT, KL_MIN_BLOCKS)
    kl_accum_p_kernel(double *acc, const double *ep, const float *mp_in, const double *sp_in,
		      const uint16_t *zp, const uint16_t *zq, long long V)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long r = blockIdx.x;
	const uint16_t *a = zp + r * V, *b = zq + r * V;
	const double *e = ep + r * V;
	const uint4 *a8 = (const uint4 *)a, *b8 = (const uint4 *)b;
	long long n8 = VEC ? V / 8 : 0;
	float mp = mp_in[r];
	float mq = row_max<VEC>(b, V, scratch);
	double sq[KL_R], w[KL_R];
#pragma unroll
	for (int j = 0; j < KL_R; j++)
		sq[j] = w[j] = 0.0;
	for (long long base = threadIdx.x; base < n8; base += KL_ORDER) {
#pragma unroll
		for (int j = 0; j < KL_R; j++) {
			long long i = base + j * KL_PT;
			if (i < n8) {
				float fa[8], fb[8];
				unpack8(a8[i], fa);
				unpack8(b8[i], fb);
				for (int k = 0; k < 8; k++) {
					double xp = (double)fa[k] - mp, xq = (double)fb[k] - mq;
					sq[j] += exp(xq);
					w[j] += e[i * 8 + k] * (xp - xq);
				}
			}
		}
	}
	for (long long v0 = n8 * 8 + threadIdx.x; v0 < V; v0 += KL_ORDER) {
#pragma unroll
		for (int j = 0; j < KL_R; j++) {
			long long v = v0 + j * KL_PT;
			if (v < V) {
				double xp = (double)bf2f(a[v]) - mp, xq = (double)bf2f(b[v]) - mq;
				sq[j] += exp(xq);
				w[j] += e[v] * (xp - xq);
			}
		}
	}
	double sp = sp_in[r];
	double sqs = order_sum(sq, dscratch);
	double ws = order_sum(w, dscratch);
	if (threadIdx.x == 0)
		acc[r] += ws / sp - (log(sp) - log(sqs));
}

extern "C" cudaError_t lms_k_kl_prep(cudaStream_t stream, double *ep, float *mp, double *sp,
				     const uint16_t *zp, long long rows, long long V)
{
	if (rows <= 0)
		return cudaSuccess;
	if (V < 1 || rows > 2147483647LL)
		return cudaErrorInvalidValue;
	if (kl_vec(V, zp, zp))
		kl_prep_kernel<true><<<(unsigned)rows, KL_PT, 0, stream>>>(ep, mp, sp, zp, V);
	else
		kl_prep_kernel<false><<<(unsigned)rows, KL_PT, 0, stream>>>(ep, mp, sp, zp, V);
	return cudaGetLastError();
}

extern "C" cudaError_t lms_k_kl_accum_p(cudaStream_t stream, double *acc, const double *ep,
					const float *mp, const double *sp, const uint16_t *zp,
					const uint16_t *zq, long long rows, long long V)
{
	if (rows <= 0)
		return cudaSuccess;
	if (V < 1 || rows > 2147483647LL)
		return cudaErrorInvalidValue;
	if (kl_vec(V, zp, zq))
		kl_accum_p_kernel<true>
		    <<<(unsigned)rows, KL_PT, 0, stream>>>(acc, ep, mp, sp, zp, zq, V);
	else
		kl_accum_p_kernel<false>
		    <<<(unsigned)rows, KL_PT, 0, stream>>>(acc, ep, mp, sp, zp, zq, V);
	return cudaGetLastError();
}
