/* kl_div.cu — per-row KL divergence of two logit rows for the kl_div
 * scoring method: acc[r] += Σ_v p_v · (log p_v − log q_v) with p, q the
 * softmaxes of the bf16 rows zp[r], zq[r] (src/backend/backend.h), in the
 * CPU's one-pass form (cpu_kl_div_accum in src/backend/cpu.c):
 *   m = fp32 row max; xp = z_p − mp, xq = z_q − mq (fp64);
 *   Sp = Σ exp(xp), Sq = Σ exp(xq), w = Σ exp(xp)·(xp − xq)   (fp64 exp);
 *   kl = w / Sp − (log Sp − log Sq).
 * Two passes over the logits (max, then the three sums), two fp64 exps per
 * element and no division per element (the first version made three passes
 * with three exps and a division each: 4.3 ms per 2048 × 151,936 call on an
 * H100); rows whose start is 16-byte aligned with V % 8 == 0 are read 8 bf16
 * at a time.
 * Invariants: one block per row; the logits are read straight from bf16 (no
 * fp32 copy); each row's sum goes to its own acc[r], so the caller's totals
 * do not depend on the launch. Only the fp64 summation order differs from the
 * CPU (~1e-16 relative).
 * Not here: the forwards that make the logits (src/autoquant/). */
#include "common.cuh"
#include "kernels.h"
#include "kl_div_p.h"

#define KL_THREADS 1024

/* the 8 bf16 of a 16-byte load, in order */
static __device__ __forceinline__ void unpack8(uint4 u, float *f)
{
	const unsigned w[4] = {u.x, u.y, u.z, u.w};
	for (int k = 0; k < 4; k++) {
		f[2 * k] = __uint_as_float(w[k] << 16);
		f[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
	}
}

struct kl_sums {
	double sp, sq, w;
};

static __device__ __forceinline__ void kl_add(struct kl_sums *s, float a, float b, float mp, float mq)
{
	double xp = (double)a - mp, xq = (double)b - mq;
	double ep = exp(xp);
	s->sp += ep;
	s->sq += exp(xq);
	s->w += ep * (xp - xq);
}

template <bool VEC>
static __global__ void __launch_bounds__(KL_THREADS)
    kl_div_kernel(double *acc, const uint16_t *zp, const uint16_t *zq, long long V)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long r = blockIdx.x;
	const uint16_t *a = zp + r * V, *b = zq + r * V;
	const uint4 *a8 = (const uint4 *)a, *b8 = (const uint4 *)b;
	long long n8 = VEC ? V / 8 : 0;
	float mp = -INFINITY, mq = -INFINITY;
	for (long long i = threadIdx.x; i < n8; i += blockDim.x) {
		float fa[8], fb[8];
		unpack8(a8[i], fa);
		unpack8(b8[i], fb);
		for (int k = 0; k < 8; k++) {
			mp = fmaxf(mp, fa[k]);
			mq = fmaxf(mq, fb[k]);
		}
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += blockDim.x) {
		mp = fmaxf(mp, bf2f(a[v]));
		mq = fmaxf(mq, bf2f(b[v]));
	}
	mp = block_max(mp, scratch);
	mq = block_max(mq, scratch);
	struct kl_sums s = {0.0, 0.0, 0.0};
	for (long long i = threadIdx.x; i < n8; i += blockDim.x) {
		float fa[8], fb[8];
		unpack8(a8[i], fa);
		unpack8(b8[i], fb);
		for (int k = 0; k < 8; k++)
			kl_add(&s, fa[k], fb[k], mp, mq);
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += blockDim.x)
		kl_add(&s, bf2f(a[v]), bf2f(b[v]), mp, mq);
	double sp = block_sum_d(s.sp, dscratch);
	double sq = block_sum_d(s.sq, dscratch);
	double w = block_sum_d(s.w, dscratch);
	if (threadIdx.x == 0)
		acc[r] += w / sp - (log(sp) - log(sq));
}

extern "C" cudaError_t lms_k_kl_div_accum(cudaStream_t stream, double *acc, const uint16_t *zp,
					  const uint16_t *zq, long long rows, long long V)
{
	if (rows <= 0)
		return cudaSuccess;
	if (V < 1 || rows > 2147483647LL)
		return cudaErrorInvalidValue;
	/* 16-byte loads when every row starts 16-byte aligned */
	bool vec = V % 8 == 0 && ((uintptr_t)zp % 16) == 0 && ((uintptr_t)zq % 16) == 0;
	if (vec)
		kl_div_kernel<true><<<(unsigned)rows, KL_THREADS, 0, stream>>>(acc, zp, zq, V);
	else
		kl_div_kernel<false><<<(unsigned)rows, KL_THREADS, 0, stream>>>(acc, zp, zq, V);
	return cudaGetLastError();
}

/* ---- the unquantized side computed once per batch (kl_div_p.h) -----------
 * kl_prep: per row, mp and exp(xp) for every v (fp64, rows·V values) and
 * Sp, with the thread/element mapping and summation order of kl_div_kernel;
 * kl_accum_p: kl_div_kernel's result from those and zq, reading zp again
 * only for xp: one fp64 exp per element instead of two. The same operations
 * in the same order, so the same bits as lms_k_kl_div_accum (checked by
 * tests/gpu/test_kl_prep.c). */
template <bool VEC>
static __global__ void __launch_bounds__(KL_THREADS)
    kl_prep_kernel(double *ep, float *mp_out, double *sp_out, const uint16_t *zp, long long V)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long r = blockIdx.x;
	const uint16_t *a = zp + r * V;
	double *e = ep + r * V;
	const uint4 *a8 = (const uint4 *)a;
	long long n8 = VEC ? V / 8 : 0;
	float mp = -INFINITY;
	for (long long i = threadIdx.x; i < n8; i += blockDim.x) {
		float fa[8];
		unpack8(a8[i], fa);
		for (int k = 0; k < 8; k++)
			mp = fmaxf(mp, fa[k]);
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += blockDim.x)
		mp = fmaxf(mp, bf2f(a[v]));
	mp = block_max(mp, scratch);
	double sp = 0.0;
	for (long long i = threadIdx.x; i < n8; i += blockDim.x) {
		float fa[8];
		unpack8(a8[i], fa);
		for (int k = 0; k < 8; k++) {
			double x = exp((double)fa[k] - mp);
			e[i * 8 + k] = x;
			sp += x;
		}
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += blockDim.x) {
		double x = exp((double)bf2f(a[v]) - mp);
		e[v] = x;
		sp += x;
	}
	sp = block_sum_d(sp, dscratch);
	if (threadIdx.x == 0) {
		mp_out[r] = mp;
		sp_out[r] = sp;
	}
}

template <bool VEC>
static __global__ void __launch_bounds__(KL_THREADS)
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
	float mp = mp_in[r], mq = -INFINITY;
	for (long long i = threadIdx.x; i < n8; i += blockDim.x) {
		float fb[8];
		unpack8(b8[i], fb);
		for (int k = 0; k < 8; k++)
			mq = fmaxf(mq, fb[k]);
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += blockDim.x)
		mq = fmaxf(mq, bf2f(b[v]));
	mq = block_max(mq, scratch);
	double sq = 0.0, w = 0.0;
	for (long long i = threadIdx.x; i < n8; i += blockDim.x) {
		float fa[8], fb[8];
		unpack8(a8[i], fa);
		unpack8(b8[i], fb);
		for (int k = 0; k < 8; k++) {
			double xp = (double)fa[k] - mp, xq = (double)fb[k] - mq;
			double e_ = e[i * 8 + k];
			sq += exp(xq);
			w += e_ * (xp - xq);
		}
	}
	for (long long v = n8 * 8 + threadIdx.x; v < V; v += blockDim.x) {
		double xp = (double)bf2f(a[v]) - mp, xq = (double)bf2f(b[v]) - mq;
		sq += exp(xq);
		w += e[v] * (xp - xq);
	}
	double sp = sp_in[r];
	sq = block_sum_d(sq, dscratch);
	w = block_sum_d(w, dscratch);
	if (threadIdx.x == 0)
		acc[r] += w / sp - (log(sp) - log(sq));
}

static bool kl_vec(long long V, const void *p, const void *q)
{
	return V % 8 == 0 && ((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0;
}

extern "C" cudaError_t lms_k_kl_prep(cudaStream_t stream, double *ep, float *mp, double *sp,
				     const uint16_t *zp, long long rows, long long V)
{
	if (rows <= 0)
		return cudaSuccess;
	if (V < 1 || rows > 2147483647LL)
		return cudaErrorInvalidValue;
	if (kl_vec(V, zp, zp))
		kl_prep_kernel<true><<<(unsigned)rows, KL_THREADS, 0, stream>>>(ep, mp, sp, zp, V);
	else
		kl_prep_kernel<false><<<(unsigned)rows, KL_THREADS, 0, stream>>>(ep, mp, sp, zp, V);
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
		    <<<(unsigned)rows, KL_THREADS, 0, stream>>>(acc, ep, mp, sp, zp, zq, V);
	else
		kl_accum_p_kernel<false>
		    <<<(unsigned)rows, KL_THREADS, 0, stream>>>(acc, ep, mp, sp, zp, zq, V);
	return cudaGetLastError();
}
