/* elementwise.cu — embedding gather, residual add, SwiGLU forward/backward
 * and half-split RoPE forward/backward (src/backend/backend.h has the math
 * and the rounding points; these kernels follow them operation by
 * operation, so they agree with the CPU backend bit for bit except where
 * expf differs in its last ulp between glibc and CUDA).
 *
 * Invariants: one thread per output element (grid-stride loops), no shared
 * memory, no reductions. add, SwiGLU and RoPE have a second form for 16-byte
 * aligned tensors: one thread per 8 consecutive elements (uint4 loads and
 * stores, the scalar kernel for a length's tail), the same operations per
 * element, so the same bits (H100: the scalar forms moved 1.2-1.5 TB/s). In-place use allowed where
 * the contract allows it (each thread reads its inputs before writing its outputs).
 *
 * Not here: anything with a reduction (rmsnorm.cu, reduce.cu, ...). */
#include "common.cuh"
#include "kernels.h"

#define THREADS 256

static __global__ void embedding_kernel(uint16_t *out, const uint16_t *table, const int32_t *ids,
					int N, int C)
{
	long long total = (long long)N * C;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
	     i += (long long)gridDim.x * blockDim.x) {
		long long n = i / C, c = i % C;
		out[i] = table[(long long)ids[n] * C + c];
	}
}

/* 16-byte copies when C is a multiple of 8 bf16 (the real models: C = 2560). */
static __global__ void embedding_kernel_v8(uint4 *out, const uint4 *table, const int32_t *ids,
					   int N, int C8)
{
	long long total = (long long)N * C8;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
	     i += (long long)gridDim.x * blockDim.x) {
		long long n = i / C8, c = i % C8;
		out[i] = table[(long long)ids[n] * C8 + c];
	}
}

extern "C" cudaError_t lms_k_embedding(cudaStream_t stream, uint16_t *out, const uint16_t *table,
				       const int32_t *ids, int N, int C)
{
	if (C % 8 == 0 && ((uintptr_t)out % 16) == 0 && ((uintptr_t)table % 16) == 0) {
		long long total = (long long)N * (C / 8);
		embedding_kernel_v8<<<lms_grid_1d(total, THREADS), THREADS, 0, stream>>>(
		    (uint4 *)out, (const uint4 *)table, ids, N, C / 8);
	} else {
		embedding_kernel<<<lms_grid_1d((long long)N * C, THREADS), THREADS, 0, stream>>>(
		    out, table, ids, N, C);
	}
	return cudaGetLastError();
}

static __global__ void add_kernel(uint16_t *out, const uint16_t *a, const uint16_t *b, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		out[i] = f2bf(bf2f(a[i]) + bf2f(b[i]));
}

static __global__ void add_v8_kernel(uint4 *out, const uint4 *a, const uint4 *b, size_t n8)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8;
	     i += (size_t)gridDim.x * blockDim.x) {
		float x[8], y[8];
		ld8(x, a[i]);
		ld8(y, b[i]);
#pragma unroll
		for (int k = 0; k < 8; k++)
			x[k] = x[k] + y[k];
		out[i] = st8(x);
	}
}

extern "C" cudaError_t lms_k_add(cudaStream_t stream, uint16_t *out, const uint16_t *a,
				 const uint16_t *b, size_t n)
{
	size_t n8 = lms_al16(out) && lms_al16(a) && lms_al16(b) ? n / 8 : 0, t = n8 * 8;
	if (n8)
		add_v8_kernel<<<lms_grid_1d((long long)n8, THREADS), THREADS, 0, stream>>>(
		    (uint4 *)out, (const uint4 *)a, (const uint4 *)b, n8);
	if (n > t)
		add_kernel<<<lms_grid_1d((long long)(n - t), THREADS), THREADS, 0, stream>>>(
		    out + t, a + t, b + t, n - t);
	return cudaGetLastError();
}

/* σ(z) in fp32, the CPU backend's formula: 1 / (1 + exp(−z)); silu itself
 * is computed as z / (1 + exp(−z)), also as the CPU does. */
static __device__ __forceinline__ float sigmoidf_(float z)
{
	return 1.0f / (1.0f + expf(-z));
}

static __global__ void swiglu_fwd_kernel(uint16_t *out, const uint16_t *gate, const uint16_t *up,
					 size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float g = bf2f(gate[i]);
		float s = rbf(g / (1.0f + expf(-g)));
		out[i] = f2bf(s * bf2f(up[i]));
	}
}

static __global__ void swiglu_fwd_v8_kernel(uint4 *out, const uint4 *gate, const uint4 *up,
					    size_t n8)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8;
	     i += (size_t)gridDim.x * blockDim.x) {
		float g[8], u[8];
		ld8(g, gate[i]);
		ld8(u, up[i]);
#pragma unroll
		for (int k = 0; k < 8; k++) {
			float s = rbf(g[k] / (1.0f + expf(-g[k])));
			g[k] = s * u[k];
		}
		out[i] = st8(g);
	}
}

extern "C" cudaError_t lms_k_swiglu_forward(cudaStream_t stream, uint16_t *out,
					    const uint16_t *gate, const uint16_t *up, size_t n)
{
	size_t n8 = lms_al16(out) && lms_al16(gate) && lms_al16(up) ? n / 8 : 0, t = n8 * 8;
	if (n8)
		swiglu_fwd_v8_kernel<<<lms_grid_1d((long long)n8, THREADS), THREADS, 0, stream>>>(
		    (uint4 *)out, (const uint4 *)gate, (const uint4 *)up, n8);
	if (n > t)
		swiglu_fwd_kernel<<<lms_grid_1d((long long)(n - t), THREADS), THREADS, 0, stream>>>(
		    out + t, gate + t, up + t, n - t);
	return cudaGetLastError();
}

static __global__ void swiglu_bwd_kernel(uint16_t *dgate, uint16_t *dup, const uint16_t *dout,
					 const uint16_t *gate, const uint16_t *up, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		float g = bf2f(gate[i]), u = bf2f(up[i]), dy = bf2f(dout[i]);
		float sg = sigmoidf_(g);
		float s = rbf(g / (1.0f + expf(-g)));
		float dsilu = sg * (1.0f + g * (1.0f - sg));
		float dm_u = rbf(dy * u);
		/* all inputs are read above: dgate/dup may alias gate/up */
		dup[i] = f2bf(dy * s);
		dgate[i] = f2bf(dm_u * dsilu);
	}
}

static __global__ void swiglu_bwd_v8_kernel(uint4 *dgate, uint4 *dup, const uint4 *dout,
					    const uint4 *gate, const uint4 *up, size_t n8)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8;
	     i += (size_t)gridDim.x * blockDim.x) {
		float g[8], u[8], dy[8], dg[8], du[8];
		ld8(g, gate[i]);
		ld8(u, up[i]);
		ld8(dy, dout[i]);
#pragma unroll
		for (int k = 0; k < 8; k++) {
			float sg = sigmoidf_(g[k]);
			float s = rbf(g[k] / (1.0f + expf(-g[k])));
			float dsilu = sg * (1.0f + g[k] * (1.0f - sg));
			float dm_u = rbf(dy[k] * u[k]);
			du[k] = dy[k] * s;
			dg[k] = dm_u * dsilu;
		}
		/* all inputs are read above: dgate/dup may alias gate/up */
		dup[i] = st8(du);
		dgate[i] = st8(dg);
	}
}

extern "C" cudaError_t lms_k_swiglu_backward(cudaStream_t stream, uint16_t *dgate, uint16_t *dup,
					     const uint16_t *dout, const uint16_t *gate,
					     const uint16_t *up, size_t n)
{
	size_t n8 =
	    lms_al16(dgate) && lms_al16(dup) && lms_al16(dout) && lms_al16(gate) && lms_al16(up)
		? n / 8
		: 0;
	size_t t = n8 * 8;
	if (n8)
		swiglu_bwd_v8_kernel<<<lms_grid_1d((long long)n8, THREADS), THREADS, 0, stream>>>(
		    (uint4 *)dgate, (uint4 *)dup, (const uint4 *)dout, (const uint4 *)gate,
		    (const uint4 *)up, n8);
	if (n > t)
		swiglu_bwd_kernel<<<lms_grid_1d((long long)(n - t), THREADS), THREADS, 0, stream>>>(
		    dgate + t, dup + t, dout + t, gate + t, up + t, n - t);
	return cudaGetLastError();
}

/* One thread per (token, head, i < half): rotates the pair (i, i + half). */
static __global__ void rope_kernel(uint16_t *x, const uint16_t *cos_t, const uint16_t *sin_t, int N,
				   int nh, int D, int backward)
{
	int half = D / 2;
	long long total = (long long)N * nh * half;
	for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
	     t += (long long)gridDim.x * blockDim.x) {
		int i = (int)(t % half);
		long long row = t / half; /* n·nh + head */
		long long n = row / nh;
		float c = bf2f(cos_t[n * half + i]), s = bf2f(sin_t[n * half + i]);
		uint16_t *p = x + row * D;
		float x0 = bf2f(p[i]), x1 = bf2f(p[i + half]);
		if (!backward) {
			p[i] = f2bf(rbf(x0 * c) - rbf(x1 * s));
			p[i + half] = f2bf(rbf(x1 * c) + rbf(x0 * s));
		} else {
			p[i] = f2bf(rbf(x0 * c) + rbf(x1 * s));
			p[i + half] = f2bf(rbf(x1 * c) - rbf(x0 * s));
		}
	}
}

/* One thread per (token, head, 8 consecutive i < half): half % 8 == 0 and
 * x, cos_t, sin_t 16-byte aligned (D = 128: rows of 256 bytes). */
static __global__ void rope_v8_kernel(uint16_t *x, const uint16_t *cos_t, const uint16_t *sin_t,
				      int N, int nh, int D, int backward)
{
	int half = D / 2, h8 = half / 8;
	long long total = (long long)N * nh * h8;
	for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
	     t += (long long)gridDim.x * blockDim.x) {
		int i = (int)(t % h8) * 8;
		long long row = t / h8; /* n·nh + head */
		long long n = row / nh;
		float c[8], s[8], x0[8], x1[8], y0[8], y1[8];
		ld8(c, *(const uint4 *)(cos_t + n * half + i));
		ld8(s, *(const uint4 *)(sin_t + n * half + i));
		uint16_t *p = x + row * D;
		ld8(x0, *(const uint4 *)(p + i));
		ld8(x1, *(const uint4 *)(p + i + half));
#pragma unroll
		for (int k = 0; k < 8; k++) {
			if (!backward) {
				y0[k] = rbf(x0[k] * c[k]) - rbf(x1[k] * s[k]);
				y1[k] = rbf(x1[k] * c[k]) + rbf(x0[k] * s[k]);
			} else {
				y0[k] = rbf(x0[k] * c[k]) + rbf(x1[k] * s[k]);
				y1[k] = rbf(x1[k] * c[k]) - rbf(x0[k] * s[k]);
			}
		}
		*(uint4 *)(p + i) = st8(y0);
		*(uint4 *)(p + i + half) = st8(y1);
	}
}

extern "C" cudaError_t lms_k_rope(cudaStream_t stream, uint16_t *x, const uint16_t *cos_t,
				  const uint16_t *sin_t, int N, int nh, int D, int backward)
{
	if ((D / 2) % 8 == 0 && lms_al16(x) && lms_al16(cos_t) && lms_al16(sin_t)) {
		long long total8 = (long long)N * nh * (D / 16);
		rope_v8_kernel<<<lms_grid_1d(total8, THREADS), THREADS, 0, stream>>>(
		    x, cos_t, sin_t, N, nh, D, backward);
		return cudaGetLastError();
	}
	long long total = (long long)N * nh * (D / 2);
	rope_kernel<<<lms_grid_1d(total, THREADS), THREADS, 0, stream>>>(x, cos_t, sin_t, N, nh, D,
									 backward);
	return cudaGetLastError();
}
