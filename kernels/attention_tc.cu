/* attention_tc.cu — the attention forward on the tensor cores (bf16 WMMA,
 * fp32 accumulation) for head_dim a multiple of 16 up to 128 (the real
 * models: 128).
 *
 * Same numerics as attention.cu's forward, with the two products on the
 * tensor cores: S = bf16(bf16(q·k)·scale), m = row max, l = Σ exp(S − m)
 * (fp64 like the CPU), P = bf16(exp(S − m)/l), out = bf16(Σ_j P·v_j). Only
 * the fp32 accumulation order of q·k and of P·v differs from the CPU (the
 * contract allows it; GEMMs differ the same way), so a few elements move by
 * one bf16 ulp. As in attention.cu, separate passes give m, then l, then the
 * output, so P is exactly the eager softmax, and no (T, T) tensor is kept.
 *
 * Layout: a block of 4 warps owns 64 query rows of one (batch, head), 16 per
 * warp; key tiles of 32 rows of K (and V in the last pass) are staged in
 * shared memory as bf16. Each warp computes its 16 × 32 score tile with
 * WMMA, applies the rounding, mask and softmax per element (lane = key),
 * writes P as bf16 and accumulates P·V into NF = D/16 fragments.
 *
 * Not here: the backward (attention.cu), other head sizes (attention.cu). */
#include <mma.h>

#include "common.cuh"
#include "kernels.h"

using namespace nvcuda;

#define TC_WARPS 4
#define TC_RW 16		   /* query rows per warp */
#define TC_ROWS (TC_WARPS * TC_RW) /* query rows per block */
#define TC_KT 32		   /* keys per tile */

static __device__ __forceinline__ long long row_off(int b, int t, int heads, int h, int T, int D)
{
	return (((long long)b * T + t) * heads + h) * D;
}

/* Rows r0.. of head h of x (B, T, heads, D) into dst (row stride D), zero
 * past T; 16-byte copies (D % 8 == 0, x 16-byte aligned: the caller checks). */
static __device__ __forceinline__ void copy_rows(uint16_t *dst, const uint16_t *x, int b, int r0,
						 int nrows, int heads, int h, int T, int D)
{
	int d8 = D / 8, n8 = nrows * d8;
#pragma unroll 4
	for (int idx = threadIdx.x; idx < n8; idx += blockDim.x) {
		int r = idx / d8, c = (idx % d8) * 8, t = r0 + r;
		uint4 u = make_uint4(0u, 0u, 0u, 0u);
		if (t < T)
			u = *(const uint4 *)(x + row_off(b, t, heads, h, T, D) + c);
		*(uint4 *)(dst + r * D + c) = u;
	}
}

typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_acc;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> frag_bt;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> frag_b;

template <int NF, int MINB>
static __global__ void __launch_bounds__(TC_WARPS *LMS_WARP, MINB)
    attn_fwd_tc_kernel(uint16_t *out, float *lse, const uint16_t *q, const uint16_t *k,
		       const uint16_t *v, const int32_t *mask, int T, int H, int G, float scale)
{
	constexpr int D = NF * 16;
	extern __shared__ __align__(128) unsigned char smem[];
	uint16_t *Qs = (uint16_t *)smem;			    /* (TC_ROWS, D) */
	uint16_t *Ks = Qs + TC_ROWS * D;			    /* (TC_KT, D) */
	uint16_t *Vs = Ks + TC_KT * D;				    /* (TC_KT, D) */
	float *Sw = (float *)(Vs + TC_KT * D);			    /* per warp (16, 32) fp32 */
	uint16_t *Pw = (uint16_t *)(Sw + TC_WARPS * TC_RW * TC_KT); /* per warp (16, 32) bf16 */
	int *Ms = (int *)(Pw + TC_WARPS * TC_RW * TC_KT);	    /* (TC_KT) key visible */
	int b = blockIdx.y / H, h = blockIdx.y % H, g = h / (H / G);
	int q0 = blockIdx.x * TC_ROWS;
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	int row0 = q0 + warp * TC_RW; /* the warp's first query row */
	float *S = Sw + warp * TC_RW * TC_KT;
	uint16_t *P = Pw + warp * TC_RW * TC_KT;
	copy_rows(Qs, q, b, q0, TC_ROWS, H, h, T, D);
	int qlast = min(q0 + TC_ROWS, T) - 1;
	int ntiles = qlast / TC_KT + 1;

	float m[TC_RW], l[TC_RW];
	double ls[TC_RW];
#pragma unroll
	for (int r = 0; r < TC_RW; r++) {
		m[r] = -INFINITY;
		l[r] = 0.0f;
		ls[r] = 0.0;
	}
	frag_acc o[NF];
#pragma unroll
	for (int f = 0; f < NF; f++)
		wmma::fill_fragment(o[f], 0.0f);

	for (int pass = 0; pass < 3; pass++) {
		for (int t = 0; t < ntiles; t++) {
			int j0 = t * TC_KT;
			__syncthreads();
			copy_rows(Ks, k, b, j0, TC_KT, G, g, T, D);
			if (pass == 2)
				copy_rows(Vs, v, b, j0, TC_KT, G, g, T, D);
			for (int idx = threadIdx.x; idx < TC_KT; idx += blockDim.x) {
				int j = j0 + idx;
				Ms[idx] =
				    j < T && (mask == NULL || mask[(long long)b * T + j] != 0);
			}
			__syncthreads();
			/* S (16 x 32) = Q_w · K_tileᵀ */
			frag_acc s0, s1;
			wmma::fill_fragment(s0, 0.0f);
			wmma::fill_fragment(s1, 0.0f);
#pragma unroll
			for (int kk = 0; kk < NF; kk++) {
				frag_a a;
				frag_bt b0, b1;
				wmma::load_matrix_sync(
				    a, (const __nv_bfloat16 *)(Qs + warp * TC_RW * D + kk * 16), D);
				wmma::load_matrix_sync(b0, (const __nv_bfloat16 *)(Ks + kk * 16),
						       D);
				wmma::load_matrix_sync(
				    b1, (const __nv_bfloat16 *)(Ks + 16 * D + kk * 16), D);
				wmma::mma_sync(s0, a, b0, s0);
				wmma::mma_sync(s1, a, b1, s1);
			}
			wmma::store_matrix_sync(S, s0, TC_KT, wmma::mem_row_major);
			wmma::store_matrix_sync(S + 16, s1, TC_KT, wmma::mem_row_major);
			__syncwarp();
			int j = j0 + lane, kvis = Ms[lane];
#pragma unroll
			for (int r = 0; r < TC_RW; r++) {
				int i = row0 + r;
				int vis = i < T && j <= i && kvis;
				float s = rbf(rbf(S[r * TC_KT + lane]) * scale);
				if (pass == 0)
					m[r] = fmaxf(m[r], warp_max(vis ? s : -INFINITY));
				else if (pass == 1)
					ls[r] += vis ? (double)expf(s - m[r]) : 0.0;
				else
					P[r * TC_KT + lane] =
					    vis ? f2bf(expf(s - m[r]) / l[r]) : (uint16_t)0;
			}
			if (pass == 2) {
				__syncwarp();
#pragma unroll
				for (int kk = 0; kk < 2; kk++) {
					frag_a pa;
					wmma::load_matrix_sync(
					    pa, (const __nv_bfloat16 *)(P + kk * 16), TC_KT);
#pragma unroll
					for (int f = 0; f < NF; f++) {
						frag_b vb;
						wmma::load_matrix_sync(
						    vb,
						    (const __nv_bfloat16 *)(Vs + kk * 16 * D +
									    f * 16),
						    D);
						wmma::mma_sync(o[f], pa, vb, o[f]);
					}
				}
			}
			__syncwarp(); /* S and P are rewritten by the next tile */
		}
		if (pass == 1) {
#pragma unroll
			for (int r = 0; r < TC_RW; r++)
				l[r] = (float)warp_sum_d(ls[r]);
		}
	}
	/* epilogue: lanes 0-15 write row rr, lanes 16-31 row rr + 1 */
#pragma unroll
	for (int f = 0; f < NF; f++) {
		wmma::store_matrix_sync(S, o[f], 16, wmma::mem_row_major);
		__syncwarp();
#pragma unroll
		for (int rr = 0; rr < TC_RW; rr += 2) {
			int half = lane >> 4, c = lane & 15;
			int r = rr + half, i = row0 + r;
			float lr = half ? l[rr + 1] : l[rr];
			if (i < T)
				out[row_off(b, i, H, h, T, D) + f * 16 + c] =
				    lr > 0.0f ? f2bf(S[r * 16 + c]) : (uint16_t)0;
		}
		__syncwarp();
	}
	if (lse) {
#pragma unroll
		for (int r = 0; r < TC_RW; r++) {
			int i = row0 + r;
			if (lane == r && i < T)
				lse[((long long)b * H + h) * T + i] =
				    l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
		}
	}
}

template <int NF, int MINB>
static cudaError_t launch_tc(cudaStream_t st, uint16_t *out, float *lse, const uint16_t *q,
			     const uint16_t *k, const uint16_t *v, const int32_t *mask, int B,
			     int T, int H, int G, float scale)
{
	const int D = NF * 16;
	size_t smem = (size_t)(TC_ROWS + 2 * TC_KT) * D * 2 + (size_t)TC_WARPS * TC_RW * TC_KT * 6 +
		      TC_KT * 4;
	if (smem > 48 * 1024) {
		cudaError_t e = cudaFuncSetAttribute(
		    attn_fwd_tc_kernel<NF, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
		if (e != cudaSuccess)
			return e;
	}
	dim3 grid((unsigned)((T + TC_ROWS - 1) / TC_ROWS), (unsigned)(B * H));
	attn_fwd_tc_kernel<NF, MINB>
	    <<<grid, TC_WARPS * LMS_WARP, smem, st>>>(out, lse, q, k, v, mask, T, H, G, scale);
	return cudaGetLastError();
}

extern "C" int lms_k_attention_forward_tc_ok(const uint16_t *q, const uint16_t *k,
					     const uint16_t *v, int D)
{
	uintptr_t a = (uintptr_t)q | (uintptr_t)k | (uintptr_t)v;
	return (D == 32 || D == 64 || D == 128) && a % 16 == 0;
}

extern "C" cudaError_t lms_k_attention_forward_tc(cudaStream_t stream, uint16_t *out, float *lse,
						  const uint16_t *q, const uint16_t *k,
						  const uint16_t *v, const int32_t *mask, int B,
						  int T, int H, int G, int D, float scale)
{
	if (B <= 0 || T <= 0)
		return cudaSuccess;
	if (!lms_k_attention_forward_tc_ok(q, k, v, D) || G <= 0 || H % G != 0)
		return cudaErrorInvalidValue;
	if (D == 32)
		return launch_tc<2, 1>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
	if (D == 64)
		return launch_tc<4, 1>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
	if (lms_k_attention_occupancy() >= 3) /* attention_bwd_tc.cu */
		return launch_tc<8, 3>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
	return launch_tc<8, 1>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
}
