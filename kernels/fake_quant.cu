/* fake_quant.cu — the fake quantizers of src/quant/quant.c on the GPU, bit
 * for bit: INT (per tensor / per channel), INT with static blocks, FP8 E4M3
 * (per tensor / per channel), MX (E8M0 blocks of 32) and NVFP4 (E4M3 block
 * scale, fp32 global scale). bf16 in, bf16 out; out == in allowed.
 *
 * Invariants: every arithmetic step is the same single IEEE fp32 operation
 * as in quant.c, in the same order. That holds because the kernels are
 * built without fast math (IEEE division and sqrt, no flush-to-zero) and
 * with --fmad=false (no contraction to FMA): CMakeLists.txt. ldexpf, frexpf,
 * rintf, fminf, fmaxf and copysignf are exact in CUDA. The MX path flushes
 * fp32 denormals explicitly (ftz()), exactly where quant.c does, to model
 * ModelOpt's fast-math MX kernel. quant.c's comment block explains each
 * formula (reference/modelopt-autoquant.md §9).
 *
 * The amax kernel ignores NaN (fmaxf), as lms_quant_amax does.
 *
 * Fast form (fq_elem_v8_kernel): INT and FP8 with a per-tensor or per-row
 * amax on 16-byte aligned tensors whose rows are a multiple of 8 wide take
 * 8 values per thread, with the scale computed once per 8 values (the same
 * division), and the E4M3 rounding's frexpf/ldexpf replaced by exponent
 * bits and products with powers of two, which are exact in the range they
 * are used in (|a| < 448 scaled by at most 2^9 up or 2^4 down; no result
 * leaves fp32's normal range except a subnormal input scaled up, also
 * exact), so the same bits as the scalar form (H100: the scalar kernel took
 * ~80 us for a 2048 x 2560 input, bound by 64-bit divisions and libm calls).
 *
 * Kept in step with src/quant/quant.c as of commit 29535f9 (INT clamp by
 * ternaries, MX block max dropping NaN); test_ops_cuda compares the two.
 *
 * Not here: descriptor parsing and scheme selection (src/quant/). */
#include <float.h>

#include "common.cuh"
#include "kernels.h"

#define THREADS 256

static __device__ float round_minifloat(float a, int e_bits, int m_bits, float maxval)
{
	if (isnan(a))
		return a;
	float m = fabsf(a);
	float q;
	if (m >= maxval) {
		q = maxval;
	} else {
		int bias = (1 << (e_bits - 1)) - 1;
		int emin = 1 - bias;
		int e;
		if (m < ldexpf(1.0f, emin)) {
			e = emin;
		} else {
			(void)frexpf(m, &e);
			e -= 1;
		}
		int qe = e - m_bits;
		q = ldexpf(rintf(ldexpf(m, -qe)), qe);
		if (q > maxval)
			q = maxval;
	}
	return copysignf(q, a);
}

static __device__ __forceinline__ float round_e4m3(float a)
{
	return round_minifloat(a, 4, 3, 448.0f);
}
static __device__ __forceinline__ float round_e2m1(float a)
{
	return round_minifloat(a, 2, 1, 6.0f);
}
static __device__ __forceinline__ float ftz(float v)
{
	return fabsf(v) < FLT_MIN ? copysignf(0.0f, v) : v;
}

static __device__ float fq_int(float x, float amax, int bits)
{
	float bound = (float)((1 << (bits - 1)) - 1);
	if (amax < 0x1p-24f)
		return 0.0f;
	float scale = bound / amax;
	float q = rintf(x * scale);
	/* the kernel's ternaries (a NaN passes through, unlike fminf/fmaxf) */
	q = q > bound ? bound : q;
	q = q < -bound - 1.0f ? -bound - 1.0f : q;
	return q / scale;
}

/* ---- amax (static layouts), NaN ignored --------------------------------- */

/* One CUDA block per segment: a row (seg_len = cols), a static block of a
 * row, or (segments == 1) the whole tensor split over many CUDA blocks. */
static __global__ void quant_amax_kernel(float *amax, const uint16_t *x, int64_t rows, int64_t cols,
					 int64_t block, int per_tensor)
{
	__shared__ float scratch[32];
	int64_t nb = block > 0 ? (cols + block - 1) / block : 1;
	int64_t nseg = per_tensor ? 1 : rows * nb;
	if (per_tensor) {
		int64_t n = rows * cols;
		float m = 0.0f;
		for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
		     i += (int64_t)gridDim.x * blockDim.x)
			m = fmaxf(m, fabsf(bf2f(x[i])));
		m = block_max(m, scratch);
		if (threadIdx.x == 0)
			atomicMax((unsigned *)amax, __float_as_uint(fmaxf(m, 0.0f)));
		return;
	}
	for (int64_t s = blockIdx.x; s < nseg; s += gridDim.x) {
		int64_t r = s / nb, b = s % nb;
		int64_t c0 = block > 0 ? b * block : 0;
		int64_t c1 = block > 0 ? (c0 + block < cols ? c0 + block : cols) : cols;
		float m = 0.0f;
		for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x)
			m = fmaxf(m, fabsf(bf2f(x[r * cols + c])));
		m = block_max(m, scratch);
		if (threadIdx.x == 0)
			amax[s] = m;
	}
}

extern "C" cudaError_t lms_k_quant_amax(cudaStream_t stream, float *amax, const uint16_t *x,
					int64_t rows, int64_t cols, int layout, int64_t block)
{
	if (rows <= 0 || cols <= 0)
		return cudaSuccess;
	if (layout == LMS_K_QAMAX_TENSOR) {
		cudaError_t e = cudaMemsetAsync(amax, 0, sizeof(float), stream);
		if (e != cudaSuccess)
			return e;
		unsigned grid = lms_grid_1d((rows * cols + 7) / 8, THREADS);
		if (grid > 1024)
			grid = 1024;
		quant_amax_kernel<<<grid, THREADS, 0, stream>>>(amax, x, rows, cols, 0, 1);
	} else {
		int64_t blk = layout == LMS_K_QAMAX_BLOCKS ? block : 0;
		int64_t nseg = rows * (blk > 0 ? (cols + blk - 1) / blk : 1);
		unsigned grid = (unsigned)(nseg < 65536 * 4 ? nseg : 65536 * 4);
		int threads = (blk > 0 && blk <= 128) ? 128 : THREADS;
		quant_amax_kernel<<<grid, threads, 0, stream>>>(amax, x, rows, cols, blk, 0);
	}
	return cudaGetLastError();
}

/* ---- elementwise schemes: INT, INT blocks, FP8 -------------------------- */

static __global__ void fq_elem_kernel(uint16_t *out, const uint16_t *in, int64_t rows, int64_t cols,
				      struct lms_k_quant q, const float *amax)
{
	int64_t n = rows * cols;
	int64_t nb = q.block > 0 ? (cols + q.block - 1) / q.block : 1;
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x) {
		float v = bf2f(in[i]);
		float y;
		int64_t r = i / cols;
		switch (q.scheme) {
		case LMS_K_QS_INT:
			y = fq_int(v, amax[q.axis0 ? r : 0], q.num_bits);
			break;
		case LMS_K_QS_INT_BLOCK:
			y = fq_int(v, amax[r * nb + (i % cols) / q.block], q.num_bits);
			break;
		case LMS_K_QS_FP8: {
			float a = amax[q.axis0 ? r : 0];
			a = a <= 0x1p-24f ? 1.0f : a;
			float sc = 448.0f / a;
			float inv = 1.0f / sc;
			y = round_e4m3(v * sc) * inv;
			break;
		}
		default:
			y = v;
			break;
		}
		out[i] = f2bf(y);
	}
}

/* 2^k for k in [-126, 127], exactly. */
static __device__ __forceinline__ float pow2i(int k)
{
	return __uint_as_float((uint32_t)(k + 127) << 23);
}

/* round_e4m3 without libm calls: the same value for every input (file
 * comment). */
static __device__ __forceinline__ float round_e4m3_fast(float a)
{
	if (isnan(a))
		return a;
	float m = fabsf(a);
	float q;
	if (m >= 448.0f) {
		q = 448.0f;
	} else {
		/* emin = -6; above 2^-6, m is a normal fp32 with exponent e */
		int e = m < 0x1p-6f ? -6 : (int)((__float_as_uint(m) >> 23) & 0xffu) - 127;
		int qe = e - 3;
		q = rintf(m * pow2i(-qe)) * pow2i(qe);
		if (q > 448.0f)
			q = 448.0f;
	}
	return copysignf(q, a);
}

/* INT / FP8 with amax per tensor (axis0 == 0) or per row (axis0, cols % 8
 * == 0 so that 8 values never straddle two rows). */
static __global__ void fq_elem_v8_kernel(uint4 *out, const uint4 *in, int64_t n8, int64_t cols,
					 struct lms_k_quant q, const float *amax)
{
	int64_t rcur = -1;
	float sc = 0.0f, inv = 0.0f, a = 0.0f;
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n8;
	     i += (int64_t)gridDim.x * blockDim.x) {
		int64_t r = q.axis0 ? i * 8 / cols : 0;
		if (r != rcur) {
			rcur = r;
			a = amax[r];
			if (q.scheme == LMS_K_QS_FP8) {
				float af = a <= 0x1p-24f ? 1.0f : a;
				sc = 448.0f / af;
				inv = 1.0f / sc;
			}
		}
		float v[8];
		ld8(v, in[i]);
#pragma unroll
		for (int k = 0; k < 8; k++)
			v[k] = q.scheme == LMS_K_QS_FP8 ? round_e4m3_fast(v[k] * sc) * inv
							: fq_int(v[k], a, q.num_bits);
		out[i] = st8(v);
	}
}

/* ---- block schemes: MX and NVFP4, one thread per block ------------------ */

static __device__ float mx_convert(float v, const struct lms_k_quant q)
{
	if (q.num_bits == 8)
		return fminf(rintf(v), 127.0f);
	if (q.exp_bits == 4)
		return round_e4m3(v);
	if (q.exp_bits == 2 && q.man_bits == 1)
		return round_minifloat(isnan(v) ? INFINITY : v, 2, 1, 6.0f);
	if (q.exp_bits == 3)
		return round_minifloat(isnan(v) ? INFINITY : v, 3, 2, 28.0f);
	return round_minifloat(isnan(v) ? INFINITY : v, 2, 3, 7.5f);
}

static __device__ float mx_dmax(const struct lms_k_quant q)
{
	if (q.num_bits == 8)
		return 127.0f;
	if (q.exp_bits == 4)
		return 448.0f;
	if (q.exp_bits == 2 && q.man_bits == 1)
		return 6.0f;
	if (q.exp_bits == 3)
		return 28.0f;
	return 7.5f;
}

static __device__ void mx_scales(float bmax, float dmax, float *scale, float *unscale)
{
	if (bmax == 0.0f || isinf(bmax) || isnan(bmax)) {
		*scale = *unscale = 1.0f;
		return;
	}
	float ratio = ftz(bmax / dmax);
	uint32_t u = __float_as_uint(ratio);
	uint32_t ef = (u >> 23) & 0xffu, sf = u & 0x7fffffu;
	int e = (sf > 0 && ef != 0xfeu && !(ef == 0 && sf <= 0x400000u)) ? (int)ef - 126
									 : (int)ef - 127;
	*scale = ldexpf(1.0f, -e);
	*unscale = ldexpf(1.0f, e);
}

static __global__ void fq_block_kernel(uint16_t *out, const uint16_t *in, int64_t rows,
				       int64_t cols, struct lms_k_quant q, const float *amax)
{
	int64_t bs = q.block, nb = (cols + bs - 1) / bs;
	int64_t total = rows * nb;
	float global = q.scheme == LMS_K_QS_NVFP4 ? amax[0] : 0.0f;
	for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total;
	     t += (int64_t)gridDim.x * blockDim.x) {
		int64_t r = t / nb, c0 = (t % nb) * bs;
		int64_t c1 = c0 + bs < cols ? c0 + bs : cols;
		const uint16_t *xr = in + r * cols;
		uint16_t *yr = out + r * cols;
		float bmax = 0.0f;
		if (q.scheme == LMS_K_QS_MX) {
			for (int64_t c = c0; c < c1; c++) {
				/* compute_max: a ternary clamp (NaN stays NaN, fmaxf drops it) */
				float a = ftz(fabsf(bf2f(xr[c])));
				bmax = fmaxf(bmax, a > FLT_MAX ? FLT_MAX : a);
			}
			float scale, unscale;
			mx_scales(bmax, mx_dmax(q), &scale, &unscale);
			for (int64_t c = c0; c < c1; c++) {
				float v = bf2f(xr[c]);
				float a = ftz(ftz(fabsf(v)) * scale);
				float qv = ftz(mx_convert(a, q) * ftz(unscale));
				yr[c] = f2bf(v < 0.0f ? -qv : qv);
			}
		} else { /* NVFP4, Triton path */
			float gs = global / 2688.0f;
			float gs_safe = gs > 0.0f ? gs : 1e-12f;
			for (int64_t c = c0; c < c1; c++)
				bmax = fmaxf(bmax, fabsf(bf2f(xr[c])));
			float s = fminf(bmax / (6.0f * gs_safe), 448.0f);
			float scale = round_e4m3(s) * gs_safe;
			if (!(scale >= 1e-5f))
				scale = 1.0f;
			for (int64_t c = c0; c < c1; c++) {
				float v = bf2f(xr[c]);
				float qv = round_e2m1(fabsf(v) / scale) * scale;
				yr[c] = f2bf(v >= 0.0f ? qv : -qv);
			}
		}
	}
}

extern "C" cudaError_t lms_k_fake_quant(cudaStream_t stream, uint16_t *out, const uint16_t *in,
					int64_t rows, int64_t cols, struct lms_k_quant q,
					const float *amax)
{
	if (rows <= 0 || cols <= 0)
		return cudaSuccess;
	if (q.scheme == LMS_K_QS_MX || q.scheme == LMS_K_QS_NVFP4) {
		if (q.block <= 0)
			return cudaErrorInvalidValue;
		int64_t total = rows * ((cols + q.block - 1) / q.block);
		fq_block_kernel<<<lms_grid_1d(total, THREADS), THREADS, 0, stream>>>(out, in, rows,
										     cols, q, amax);
	} else {
		if ((q.scheme == LMS_K_QS_INT_BLOCK && q.block <= 0) ||
		    (q.scheme != LMS_K_QS_DISABLED && amax == NULL))
			return cudaErrorInvalidValue;
		int64_t n = rows * cols, n8 = 0;
		if ((q.scheme == LMS_K_QS_FP8 || q.scheme == LMS_K_QS_INT) && lms_al16(out) &&
		    lms_al16(in) && (!q.axis0 || cols % 8 == 0))
			n8 = n / 8;
		if (n8)
			fq_elem_v8_kernel<<<lms_grid_1d(n8, THREADS), THREADS, 0, stream>>>(
			    (uint4 *)out, (const uint4 *)in, n8, cols, q, amax);
		if (n8 == 0) /* the scalar form */
			fq_elem_kernel<<<lms_grid_1d(n, THREADS), THREADS, 0, stream>>>(
			    out, in, rows, cols, q, amax);
		else if (n > n8 * 8) /* a per-tensor amax (axis0: n % 8 == 0): the tail */
			fq_elem_kernel<<<1, THREADS, 0, stream>>>(out + n8 * 8, in + n8 * 8, 1,
								  n - n8 * 8, q, amax);
	}
	return cudaGetLastError();
}
