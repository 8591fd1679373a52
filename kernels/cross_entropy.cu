/* cross_entropy.cu — per-row cross-entropy over the full vocabulary with the
 * gradient written straight back as bf16 (optionally over the logits).
 *
 * For a valid row n with target t (the contract in src/backend/backend.h):
 *   m = max_v z_v,  s = Σ_v exp(z_v − m) (fp64 sum of fp32 terms),
 *   lse = m + fp32(log s),  loss_n = lse − z_t,
 *   dlogits_v = bf16( (exp(z_v − lse) − [v == t]) · grad_scale ),
 * the same formulas as the CPU backend (src/backend/cpu_nn.c).
 * A row whose target is outside [0, V) (−100: ignored) gets loss 0 and a
 * zero gradient row.
 *
 * Invariants: one block per row; the logits are read three times (max, sum,
 * gradient) straight from bf16, so no fp32 copy of the (N, V) logits ever
 * exists. With dlogits == logits each thread overwrites only elements it
 * has itself just read, after the two reductions and after z_t was read
 * by every thread (a block barrier sits in between), so in-place is safe.
 *
 * Not here: the batch loss (the caller sums d_losses). */
#include "common.cuh"
#include "kernels.h"

#define THREADS 1024

static __global__ void __launch_bounds__(THREADS)
    ce_kernel(float *losses, uint16_t *dlogits, const uint16_t *logits, const int32_t *targets,
	      int V, float grad_scale)
{
	__shared__ float scratch[32];
	__shared__ double dscratch[32];
	long long n = blockIdx.x;
	const uint16_t *z = logits + n * (long long)V;
	int t = targets[n];
	if (t < 0 || t >= V) {
		if (threadIdx.x == 0)
			losses[n] = 0.0f;
		if (dlogits) {
			uint16_t *d = dlogits + n * (long long)V;
			for (int j = threadIdx.x; j < V; j += blockDim.x)
				d[j] = 0;
		}
		return;
	}
	float zt = bf2f(z[t]);
	float m = -INFINITY;
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		m = fmaxf(m, bf2f(z[j]));
	m = block_max(m, scratch);
	double s = 0.0;
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		s += (double)expf(bf2f(z[j]) - m);
	s = block_sum_d(s, dscratch); /* ends with a barrier after every thread read zt */
	float lse = m + (float)log(s);
	if (threadIdx.x == 0)
		losses[n] = lse - zt;
	if (dlogits) {
		uint16_t *d = dlogits + n * (long long)V;
		for (int j = threadIdx.x; j < V; j += blockDim.x) {
			float p = expf(bf2f(z[j]) - lse);
			d[j] = f2bf((p - (j == t ? 1.0f : 0.0f)) * grad_scale);
		}
	}
}

extern "C" cudaError_t lms_k_cross_entropy(cudaStream_t stream, float *losses, uint16_t *dlogits,
					   const uint16_t *logits, const int32_t *targets, int N,
					   int V, float grad_scale)
{
	if (N <= 0)
		return cudaSuccess;
	ce_kernel<<<(unsigned)N, THREADS, 0, stream>>>(losses, dlogits, logits, targets, V,
						       grad_scale);
	return cudaGetLastError();
}
