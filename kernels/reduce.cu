/* reduce.cu — the reductions the AutoQuant scoring needs: per-row absolute
 * max (activation and weight amax), the fp64 score accumulator
 * Σ(g·bf16(y_q − y))², and the non-finite counter of debug mode.
 *
 * Invariants:
 * - absmax compares the bit patterns of |x| as unsigned integers. For
 *   non-negative IEEE values that order equals the numeric order, and a NaN
 *   (exponent all ones, mantissa non-zero) is larger than +inf, so a NaN
 *   input makes the result NaN (the contract), and the result is exact and
 *   independent of the reduction order.
 * - sq_dot_accum forms each product g·Δ in fp32 exactly as the CPU does and
 *   squares and sums it in fp64 with an ORDERED reduction: the grid size is
 *   a function of n only, each block writes its partial sum to its own slot
 *   of a scratch array, and the last block to finish (an integer ticket)
 *   adds the slots in a fixed order (per-thread strided sums, then a fixed
 *   shuffle tree) and the total to the accumulator, in the same launch. No
 *   floating-point atomics, so two runs give identical bits (fp64 atomics
 *   made the last bits depend on the block order). When yq, y and g are
 *   16-byte aligned a thread takes 8 consecutive elements per load (the
 *   n % 8 tail goes to block 0): a different, equally fixed order of the
 *   fp64 additions than the 2-byte form, so the last bits of a score differ
 *   from that form's (relative ~1e-16), never between two runs.
 *
 * Not here: quantizer-specific block amax (fake_quant.cu). */
#include "common.cuh"
#include "kernels.h"

#define THREADS 256

/* The block's max of m (THREADS threads: a shuffle tree, then the warps in
 * order), atomically max-ed into *amax as the bits of an fp32 (m holds the
 * upper 16 bits of |x|). Every thread calls it; smax is reused after the
 * closing barrier. */
static __device__ void block_umax_to(float *amax, unsigned m, unsigned *smax)
{
	for (int o = LMS_WARP / 2; o > 0; o >>= 1) {
		unsigned other = __shfl_xor_sync(LMS_FULL_MASK, m, o);
		m = other > m ? other : m;
	}
	if (threadIdx.x % LMS_WARP == 0)
		smax[threadIdx.x / LMS_WARP] = m;
	__syncthreads();
	if (threadIdx.x == 0) {
		unsigned bm = 0;
		for (int w = 0; w < THREADS / LMS_WARP; w++)
			bm = smax[w] > bm ? smax[w] : bm;
		atomicMax((unsigned *)amax, bm << 16);
	}
	__syncthreads();
}

/* Blocks per row: enough to fill the GPU for a per-tensor amax, one block
 * per 8 K elements otherwise. */
static __global__ void absmax_kernel(float *amax, const uint16_t *x, int64_t rows, int64_t cols,
				     int64_t blocks_per_row)
{
	__shared__ unsigned smax[THREADS / LMS_WARP];
	int64_t total = rows * blocks_per_row;
	for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {
		int64_t r = b / blocks_per_row, c = b % blocks_per_row;
		int64_t per = (cols + blocks_per_row - 1) / blocks_per_row;
		int64_t c0 = c * per, c1 = c0 + per < cols ? c0 + per : cols;
		const uint16_t *xr = x + r * cols;
		unsigned m = 0;
		for (int64_t j = c0 + threadIdx.x; j < c1; j += blockDim.x) {
			unsigned a = xr[j] & 0x7fffu;
			m = a > m ? a : m;
		}
		block_umax_to(&amax[r], m, smax);
	}
}

/* The per-tensor amax (rows == 1, the calibration's and the dynamic
 * quantizers' case) of a 16-byte aligned x: 8 values per load (the 2-byte
 * loads of absmax_kernel reach ~10 % of the bandwidth); the n % 8 tail goes
 * to block 0. The same unsigned max of |x| bits, so the same result. */
static __global__ void absmax1_v8_kernel(float *amax, const uint4 *x8, int64_t n8,
					 const uint16_t *tail, int64_t ntail)
{
	__shared__ unsigned smax[THREADS / LMS_WARP];
	unsigned m = 0;
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n8;
	     i += (int64_t)gridDim.x * blockDim.x) {
		uint4 v = x8[i];
		const unsigned w[4] = {v.x, v.y, v.z, v.w};
		for (int k = 0; k < 4; k++) {
			unsigned lo = w[k] & 0x7fffu, hi = (w[k] >> 16) & 0x7fffu;
			m = lo > m ? lo : m;
			m = hi > m ? hi : m;
		}
	}
	if (blockIdx.x == 0)
		for (int64_t j = threadIdx.x; j < ntail; j += blockDim.x) {
			unsigned a = tail[j] & 0x7fffu;
			m = a > m ? a : m;
		}
	block_umax_to(amax, m, smax);
}

extern "C" cudaError_t lms_k_absmax_rows(cudaStream_t stream, float *amax, const uint16_t *x,
					 int64_t rows, int64_t cols, int accumulate)
{
	if (rows <= 0)
		return cudaSuccess;
	if (!accumulate) {
		cudaError_t e = cudaMemsetAsync(amax, 0, (size_t)rows * sizeof(float), stream);
		if (e != cudaSuccess)
			return e;
	}
	if (cols <= 0)
		return cudaSuccess;
	if (rows == 1 && (uintptr_t)x % 16 == 0 && cols >= 8 * THREADS) {
		int64_t n8 = cols / 8, blocks = (n8 + THREADS - 1) / THREADS;
		blocks = blocks < 2048 ? blocks : 2048;
		absmax1_v8_kernel<<<(unsigned)blocks, THREADS, 0, stream>>>(
		    amax, (const uint4 *)x, n8, x + n8 * 8, cols - n8 * 8);
		return cudaGetLastError();
	}
	int64_t bpr = (cols + 8191) / 8192;
	if (rows == 1 && bpr < 1024)
		bpr = cols / 1024 > 0 ? (cols / 1024 < 1024 ? cols / 1024 : 1024) : 1;
	int64_t total = rows * bpr;
	unsigned grid = (unsigned)(total < 65536 * 8 ? total : 65536 * 8);
	absmax_kernel<<<grid, THREADS, 0, stream>>>(amax, x, rows, cols, bpr);
	return cudaGetLastError();
}

/* Block sum of v over THREADS threads (fixed shuffle tree, then the warps in
 * order); the result is valid in thread 0. */
static __device__ double block_sum_fixed(double v, double *spart)
{
	v = warp_sum_d(v);
	if (threadIdx.x % LMS_WARP == 0)
		spart[threadIdx.x / LMS_WARP] = v;
	__syncthreads();
	double t = 0.0;
	if (threadIdx.x == 0)
		for (int w = 0; w < THREADS / LMS_WARP; w++)
			t += spart[w];
	return t;
}

static_assert(LMS_K_SQ_DOT_PARTIALS % THREADS == 0, "the last block reads whole strides");

/* One launch: every block writes its partial sum to partials[blockIdx.x];
 * the block that finishes last (an integer ticket, exact) adds all partials
 * in index order and the total to acc[0], then resets the ticket. Which block
 * is last does not matter: the order of the final sum is fixed. */
static __global__ void sq_dot_kernel(double *acc, double *partials, unsigned *ticket,
				     const uint16_t *yq, const uint16_t *y, const uint16_t *g,
				     size_t n, int v8)
{
	__shared__ double spart[THREADS / LMS_WARP];
	__shared__ int last;
	double s = 0.0;
	size_t n8 = v8 ? n / 8 : 0, i0 = n8 * 8;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8;
	     i += (size_t)gridDim.x * blockDim.x) {
		float a[8], b[8], c[8];
		ld8(a, ((const uint4 *)yq)[i]);
		ld8(b, ((const uint4 *)y)[i]);
		ld8(c, ((const uint4 *)g)[i]);
#pragma unroll
		for (int k = 0; k < 8; k++) {
			float p = c[k] * rbf(a[k] - b[k]);
			s += (double)p * (double)p;
		}
	}
	/* the 2-byte form over [i0, n): everything, or block 0 the v8 tail */
	size_t start = v8 ? i0 + threadIdx.x : blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	size_t step = v8 ? blockDim.x : (size_t)gridDim.x * blockDim.x;
	if (!v8 || blockIdx.x == 0)
		for (size_t i = start; i < n; i += step) {
			float delta = rbf(bf2f(yq[i]) - bf2f(y[i]));
			float p = bf2f(g[i]) * delta;
			s += (double)p * (double)p;
		}
	double t = block_sum_fixed(s, spart);
	if (threadIdx.x == 0) {
		partials[blockIdx.x] = t;
		__threadfence(); /* the partial is visible before the ticket counts it */
		last = atomicAdd(ticket, 1u) == gridDim.x - 1;
	}
	__syncthreads();
	if (!last)
		return;
	__threadfence();
	/* L2 loads (__ldcg: the other blocks' partials are in L2 after their
	 * fence), all issued before the adds: a chain of dependent volatile
	 * loads made this tail cost ~4 us at 2048 blocks */
	double v[LMS_K_SQ_DOT_PARTIALS / THREADS];
#pragma unroll
	for (int k = 0; k < LMS_K_SQ_DOT_PARTIALS / THREADS; k++) {
		unsigned i = threadIdx.x + (unsigned)k * THREADS;
		v[k] = i < gridDim.x ? __ldcg(&partials[i]) : 0.0;
	}
	double u = 0.0;
#pragma unroll
	for (int k = 0; k < LMS_K_SQ_DOT_PARTIALS / THREADS; k++)
		u += v[k];
	__syncthreads(); /* spart is reused */
	double total = block_sum_fixed(u, spart);
	if (threadIdx.x == 0) {
		acc[0] += total;
		*ticket = 0; /* ready for the next launch on the stream */
	}
}

extern "C" cudaError_t lms_k_sq_dot_accum(cudaStream_t stream, double *acc, const uint16_t *yq,
					  const uint16_t *y, const uint16_t *g, size_t n,
					  double *partials)
{
	if (n == 0)
		return cudaSuccess;
	unsigned grid = lms_grid_1d((long long)((n + 7) / 8), THREADS);
	if (grid > LMS_K_SQ_DOT_PARTIALS)
		grid = LMS_K_SQ_DOT_PARTIALS;
	unsigned *ticket = (unsigned *)(partials + LMS_K_SQ_DOT_PARTIALS);
	int v8 = lms_al16(yq) && lms_al16(y) && lms_al16(g);
	sq_dot_kernel<<<grid, THREADS, 0, stream>>>(acc, partials, ticket, yq, y, g, n, v8);
	return cudaGetLastError();
}

static __global__ void nonfinite_kernel(unsigned long long *count, const void *x, size_t n,
					int is_f32)
{
	unsigned long long c = 0;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		if (is_f32) {
			uint32_t u = ((const uint32_t *)x)[i];
			c += (u & 0x7f800000u) == 0x7f800000u;
		} else {
			uint16_t u = ((const uint16_t *)x)[i];
			c += (u & 0x7f80u) == 0x7f80u;
		}
	}
	for (int o = LMS_WARP / 2; o > 0; o >>= 1)
		c += __shfl_xor_sync(LMS_FULL_MASK, c, o);
	if (threadIdx.x % LMS_WARP == 0 && c)
		atomicAdd(count, c);
}

extern "C" cudaError_t lms_k_count_nonfinite(cudaStream_t stream, unsigned long long *count,
					     const void *x, size_t n, int is_f32)
{
	if (n == 0)
		return cudaSuccess;
	unsigned grid = lms_grid_1d((long long)((n + 7) / 8), THREADS);
	if (grid > 2048)
		grid = 2048;
	nonfinite_kernel<<<grid, THREADS, 0, stream>>>(count, x, n, is_f32);
	return cudaGetLastError();
}
