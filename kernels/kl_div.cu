/* kl_div.cu — per-row KL divergence of two logit rows for the kl_div
 * scoring method: acc[r] += Σ_v p_v · (log p_v − log q_v) with p, q the
 * softmaxes of the bf16 rows zp[r], zq[r] (src/backend/backend.h, the CPU's
 * cpu_kl_div_accum in src/backend/cpu.c):
 *   m = fp32 row max, S = Σ exp(z − m) in fp64 (fp64 exp),
 *   dl = log Sp − log Sq,
 *   kl = Σ exp(xp)/Sp · ((xp − xq) − dl), xp = z_p − mp, xq = z_q − mq (fp64).
 * Invariants: one block per row; the logits are read three times straight
 * from bf16 (no fp32 copy); each row's sum goes to its own acc[r], so the
 * caller's totals do not depend on the launch. Only the fp64 summation order
 * differs from the CPU (~1e-16 relative).
 * Not here: the forwards that make the logits (src/autoquant/). */
#include "common.cuh"
#include "kernels.h"

#define KL_THREADS 1024

static __global__ void __launch_bounds__(KL_THREADS)
    kl_div_kernel(double *acc, const uint16_t *zp, const uint16_t *zq, long long V)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long r = blockIdx.x;
	const uint16_t *a = zp + r * V, *b = zq + r * V;
	float mp = -INFINITY, mq = -INFINITY;
	for (long long v = threadIdx.x; v < V; v += blockDim.x) {
		mp = fmaxf(mp, bf2f(a[v]));
		mq = fmaxf(mq, bf2f(b[v]));
	}
	mp = block_max(mp, scratch);
	mq = block_max(mq, scratch);
	double sp = 0.0, sq = 0.0;
	for (long long v = threadIdx.x; v < V; v += blockDim.x) {
		sp += exp((double)bf2f(a[v]) - mp);
		sq += exp((double)bf2f(b[v]) - mq);
	}
	sp = block_sum_d(sp, dscratch);
	sq = block_sum_d(sq, dscratch);
	double dl = log(sp) - log(sq), kl = 0.0;
	for (long long v = threadIdx.x; v < V; v += blockDim.x) {
		double xp = (double)bf2f(a[v]) - mp, xq = (double)bf2f(b[v]) - mq;
		kl += exp(xp) / sp * ((xp - xq) - dl);
	}
	kl = block_sum_d(kl, dscratch);
	if (threadIdx.x == 0)
		acc[r] += kl;
}

extern "C" cudaError_t lms_k_kl_div_accum(cudaStream_t stream, double *acc, const uint16_t *zp,
					  const uint16_t *zq, long long rows, long long V)
{
	if (rows <= 0)
		return cudaSuccess;
	if (V < 1 || rows > 2147483647LL)
		return cudaErrorInvalidValue;
	kl_div_kernel<<<(unsigned)rows, KL_THREADS, 0, stream>>>(acc, zp, zq, V);
	return cudaGetLastError();
}
