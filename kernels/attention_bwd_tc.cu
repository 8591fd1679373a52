/* attention_bwd_tc.cu — the attention backward on the tensor cores (bf16
 * WMMA, fp32 accumulation) for head_dim 32, 64 or 128 (the real models:
 * 128), the companion of attention_tc.cu's forward.
 *
 * Same numerics as attention.cu's backward (HF eager in bf16, the rounding
 * points of src/backend/backend.h): S = bf16(bf16(q·k)·scale), m = row max,
 * l = Σ exp(S − m) in fp64, P = exp(S − m)/l, dPb = bf16(dO·vᵀ),
 * delta_i = Σ_j P·dPb (fp32, ascending j), dS = bf16(bf16(P·(dPb − delta))
 * ·scale), dQ = bf16(Σ_j dS·k), per query head dV_h = bf16(Σ_i bf16(P)·dO)
 * and dK_h = bf16(Σ_i dS·q), then dK, dV = bf16(Σ_h over the KV head's
 * query heads, fp32, ascending h) — the contract's GQA rule. The products
 * q·k, dO·v, dS·k, bf16(P)·dO and dS·q run on the tensor cores, so only
 * their fp32 accumulation order differs from the CPU (as for the forward and
 * every GEMM); m, l and P are computed by the same per-element code as the
 * tensor-core forward.
 *
 * Kernels (4 warps, 16 rows per warp, tiles of 32 staged as bf16 in shared
 * memory):
 *   1. dq: one block per 64 query rows of one (batch, head): passes over the
 *      key tiles for m, l, delta and dQ; stores m, l, delta in the workspace.
 *   2. dkdv: one block per 64 key rows of one (batch, query head): walks the
 *      query tiles from the block's first key on, rebuilds P and dS from the
 *      statistics and accumulates this head's dK_h, dV_h in fragments; writes
 *      them as bf16 into the workspace (B, T, H, D) ×2.
 *   3. reduce: dK, dV of each KV head = the fp32 sum of its heads' bf16 terms.
 *
 * Workspace: 3·B·H·T floats of statistics, then (aligned to 256 bytes) two
 * (B, T, H, D) bf16 arrays: lms_k_attention_workspace (attention.cu).
 * Not here: the forward, other head sizes and LMSENS_CUDA_ATTN_SIMPLE (the
 * CUDA-core kernels of attention.cu). */
#include <mma.h>
#include <stdlib.h>

#include "common.cuh"
#include "kernels.h"

using namespace nvcuda;

#define BT_WARPS 4
#define BT_RW 16		   /* rows per warp */
#define BT_ROWS (BT_WARPS * BT_RW) /* rows per block */
#define BT_KT 32		   /* tile rows */

static __device__ __forceinline__ long long brow_off(int b, int t, int heads, int h, int T, int D)
{
	return (((long long)b * T + t) * heads + h) * D;
}

/* Rows r0.. of head h of x (B, T, heads, D) into dst (row stride D), zero
 * past T; 16-byte copies (D % 8 == 0, x 16-byte aligned: the caller checks). */
static __device__ __forceinline__ void bcopy_rows(uint16_t *dst, const uint16_t *x, int b, int r0,
						  int nrows, int heads, int h, int T, int D)
{
	int d8 = D / 8, n8 = nrows * d8;
#pragma unroll 4
	for (int idx = threadIdx.x; idx < n8; idx += blockDim.x) {
		int r = idx / d8, c = (idx % d8) * 8, t = r0 + r;
		uint4 u = make_uint4(0u, 0u, 0u, 0u);
		if (t < T)
			u = *(const uint4 *)(x + brow_off(b, t, heads, h, T, D) + c);
		*(uint4 *)(dst + r * D + c) = u;
	}
}

typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> bfrag_acc;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> bfrag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> bfrag_bt;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> bfrag_b;

/* out (16 × 32, fp32, row stride 32) = A (16 rows of stride D) · Bᵀ where B
 * is 32 rows of stride D: the warp's 16 × 32 product tile. */
template <int NF>
static __device__ __forceinline__ void tile_abt(float *out, const uint16_t *A, const uint16_t *Bm)
{
	constexpr int D = NF * 16;
	bfrag_acc s0, s1;
	wmma::fill_fragment(s0, 0.0f);
	wmma::fill_fragment(s1, 0.0f);
#pragma unroll
	for (int kk = 0; kk < NF; kk++) {
		bfrag_a a;
		bfrag_bt b0, b1;
		wmma::load_matrix_sync(a, (const __nv_bfloat16 *)(A + kk * 16), D);
		wmma::load_matrix_sync(b0, (const __nv_bfloat16 *)(Bm + kk * 16), D);
		wmma::load_matrix_sync(b1, (const __nv_bfloat16 *)(Bm + 16 * D + kk * 16), D);
		wmma::mma_sync(s0, a, b0, s0);
		wmma::mma_sync(s1, a, b1, s1);
	}
	wmma::store_matrix_sync(out, s0, BT_KT, wmma::mem_row_major);
	wmma::store_matrix_sync(out + 16, s1, BT_KT, wmma::mem_row_major);
}

/* acc[f] += A (16 × 32 bf16, row stride 32) · Bm (32 rows of stride D) */
template <int NF>
static __device__ __forceinline__ void tile_acc(bfrag_acc *acc, const uint16_t *A,
						const uint16_t *Bm)
{
	constexpr int D = NF * 16;
#pragma unroll
	for (int kk = 0; kk < 2; kk++) {
		bfrag_a a;
		wmma::load_matrix_sync(a, (const __nv_bfloat16 *)(A + kk * 16), BT_KT);
#pragma unroll
		for (int f = 0; f < NF; f++) {
			bfrag_b bb;
			wmma::load_matrix_sync(
			    bb, (const __nv_bfloat16 *)(Bm + kk * 16 * D + f * 16), D);
			wmma::mma_sync(acc[f], a, bb, acc[f]);
		}
	}
}

/* Writes acc (the warp's 16 rows × D) as bf16 rows row0.. of head h of x
 * (B, T, heads, D), rows past T skipped; scratch: 16 × 16 fp32 of the warp. */
template <int NF>
static __device__ __forceinline__ void store_rows(uint16_t *x, const bfrag_acc *acc, float *scratch,
						  int b, int row0, int heads, int h, int T)
{
	constexpr int D = NF * 16;
	int lane = threadIdx.x % LMS_WARP;
#pragma unroll
	for (int f = 0; f < NF; f++) {
		wmma::store_matrix_sync(scratch, acc[f], 16, wmma::mem_row_major);
		__syncwarp();
#pragma unroll
		for (int rr = 0; rr < BT_RW; rr += 2) {
			int half = lane >> 4, c = lane & 15;
			int r = rr + half, i = row0 + r;
			if (i < T)
				x[brow_off(b, i, heads, h, T, D) + f * 16 + c] =
				    f2bf(scratch[r * 16 + c]);
		}
		__syncwarp();
	}
}

template <int NF, int MINB>
static __global__ void __launch_bounds__(BT_WARPS *LMS_WARP, MINB)
    attn_bwd_dq_tc_kernel(uint16_t *dq, float *stats, const uint16_t *dout, const uint16_t *q,
			  const uint16_t *k, const uint16_t *v, const int32_t *mask, int B, int T,
			  int H, int G, float scale)
{
	constexpr int D = NF * 16;
	extern __shared__ __align__(128) unsigned char smem[];
	uint16_t *Qs = (uint16_t *)smem;			     /* (ROWS, D) */
	uint16_t *dOs = Qs + BT_ROWS * D;			     /* (ROWS, D) */
	uint16_t *Ks = dOs + BT_ROWS * D;			     /* (KT, D) */
	uint16_t *Vs = Ks + BT_KT * D;				     /* (KT, D) */
	float *Sw = (float *)(Vs + BT_KT * D);			     /* per warp (16, 32) */
	float *DPw = Sw + BT_WARPS * BT_RW * BT_KT;		     /* per warp (16, 32) */
	uint16_t *Pw = (uint16_t *)(DPw + BT_WARPS * BT_RW * BT_KT); /* per warp dS (16, 32) */
	int *Ms = (int *)(Pw + BT_WARPS * BT_RW * BT_KT);	     /* (KT) */
	int b = blockIdx.y / H, h = blockIdx.y % H, g = h / (H / G);
	int q0 = blockIdx.x * BT_ROWS;
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	int row0 = q0 + warp * BT_RW;
	float *S = Sw + warp * BT_RW * BT_KT, *DP = DPw + warp * BT_RW * BT_KT;
	uint16_t *P = Pw + warp * BT_RW * BT_KT;
	bcopy_rows(Qs, q, b, q0, BT_ROWS, H, h, T, D);
	bcopy_rows(dOs, dout, b, q0, BT_ROWS, H, h, T, D);
	int qlast = min(q0 + BT_ROWS, T) - 1;
	int ntiles = qlast / BT_KT + 1;

	float m[BT_RW], l[BT_RW], delta[BT_RW];
	double ls[BT_RW];
#pragma unroll
	for (int r = 0; r < BT_RW; r++) {
		m[r] = -INFINITY;
		l[r] = delta[r] = 0.0f;
		ls[r] = 0.0;
	}
	bfrag_acc acc[NF];
#pragma unroll
	for (int f = 0; f < NF; f++)
		wmma::fill_fragment(acc[f], 0.0f);

	for (int pass = 0; pass < 4; pass++) {
		for (int t = 0; t < ntiles; t++) {
			int j0 = t * BT_KT;
			__syncthreads();
			bcopy_rows(Ks, k, b, j0, BT_KT, G, g, T, D);
			if (pass >= 2)
				bcopy_rows(Vs, v, b, j0, BT_KT, G, g, T, D);
			for (int idx = threadIdx.x; idx < BT_KT; idx += blockDim.x) {
				int j = j0 + idx;
				Ms[idx] =
				    j < T && (mask == NULL || mask[(long long)b * T + j] != 0);
			}
			__syncthreads();
			tile_abt<NF>(S, Qs + warp * BT_RW * D, Ks);
			if (pass >= 2)
				tile_abt<NF>(DP, dOs + warp * BT_RW * D, Vs);
			__syncwarp();
			int j = j0 + lane, kvis = Ms[lane];
#pragma unroll
			for (int r = 0; r < BT_RW; r++) {
				int i = row0 + r;
				int vis = i < T && j <= i && kvis;
				float s = rbf(rbf(S[r * BT_KT + lane]) * scale);
				if (pass == 0) {
					m[r] = fmaxf(m[r], warp_max(vis ? s : -INFINITY));
				} else if (pass == 1) {
					ls[r] += vis ? (double)expf(s - m[r]) : 0.0;
				} else {
					float p = vis ? expf(s - m[r]) / l[r] : 0.0f;
					float dpb = rbf(DP[r * BT_KT + lane]);
					if (pass == 2) { /* Σ_j P·dPb in fp32, ascending j */
						float x = p * dpb;
						for (int jj = 0; jj < BT_KT; jj++)
							delta[r] +=
							    __shfl_sync(LMS_FULL_MASK, x, jj);
					} else {
						P[r * BT_KT + lane] =
						    vis ? f2bf(rbf(p * (dpb - delta[r])) * scale)
							: (uint16_t)0;
					}
				}
			}
			if (pass == 3) {
				__syncwarp();
				tile_acc<NF>(acc, P, Ks);
			}
			__syncwarp(); /* S, DP and P are rewritten by the next tile */
		}
		if (pass == 1) {
#pragma unroll
			for (int r = 0; r < BT_RW; r++)
				l[r] = (float)warp_sum_d(ls[r]);
		}
	}
	store_rows<NF>(dq, acc, S, b, row0, H, h, T);
	long long BHT = (long long)B * H * T;
#pragma unroll
	for (int r = 0; r < BT_RW; r++) {
		int i = row0 + r;
		if (lane == r && i < T) {
			long long si = ((long long)b * H + h) * T + i;
			stats[si] = m[r];
			stats[BHT + si] = l[r];
			stats[2 * BHT + si] = delta[r];
		}
	}
}

template <int NF, int MINB>
static __global__ void __launch_bounds__(BT_WARPS *LMS_WARP, MINB)
    attn_bwd_dkdv_tc_kernel(uint16_t *wk, uint16_t *wv, const float *stats, const uint16_t *dout,
			    const uint16_t *q, const uint16_t *k, const uint16_t *v,
			    const int32_t *mask, int B, int T, int H, int G, float scale)
{
	constexpr int D = NF * 16;
	extern __shared__ __align__(128) unsigned char smem[];
	uint16_t *Kb = (uint16_t *)smem;			      /* (ROWS, D) */
	uint16_t *Vb = Kb + BT_ROWS * D;			      /* (ROWS, D) */
	uint16_t *Qs = Vb + BT_ROWS * D;			      /* (KT, D) */
	uint16_t *dOs = Qs + BT_KT * D;				      /* (KT, D) */
	float *Stw = (float *)(dOs + BT_KT * D);		      /* per warp (16, 32) */
	float *DPw = Stw + BT_WARPS * BT_RW * BT_KT;		      /* per warp (16, 32) */
	uint16_t *Pbw = (uint16_t *)(DPw + BT_WARPS * BT_RW * BT_KT); /* per warp (16, 32) */
	uint16_t *dSw = Pbw + BT_WARPS * BT_RW * BT_KT;		      /* per warp (16, 32) */
	float *Ss = (float *)(dSw + BT_WARPS * BT_RW * BT_KT);	      /* (3, KT) m, l, delta */
	int *Mk = (int *)(Ss + 3 * BT_KT);			      /* (ROWS) key visible */
	int b = blockIdx.y / H, h = blockIdx.y % H, g = h / (H / G);
	int k0 = blockIdx.x * BT_ROWS;
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	int key0 = k0 + warp * BT_RW; /* the warp's first key */
	float *St = Stw + warp * BT_RW * BT_KT, *DP = DPw + warp * BT_RW * BT_KT;
	uint16_t *Pb = Pbw + warp * BT_RW * BT_KT, *dS = dSw + warp * BT_RW * BT_KT;
	long long BHT = (long long)B * H * T;
	bcopy_rows(Kb, k, b, k0, BT_ROWS, G, g, T, D);
	bcopy_rows(Vb, v, b, k0, BT_ROWS, G, g, T, D);
	for (int idx = threadIdx.x; idx < BT_ROWS; idx += blockDim.x) {
		int j = k0 + idx;
		Mk[idx] = j < T && (mask == NULL || mask[(long long)b * T + j] != 0);
	}
	bfrag_acc ak[NF], av[NF];
#pragma unroll
	for (int f = 0; f < NF; f++) {
		wmma::fill_fragment(ak[f], 0.0f);
		wmma::fill_fragment(av[f], 0.0f);
	}
	for (int i0 = k0; i0 < T; i0 += BT_KT) {
		__syncthreads();
		bcopy_rows(Qs, q, b, i0, BT_KT, H, h, T, D);
		bcopy_rows(dOs, dout, b, i0, BT_KT, H, h, T, D);
		for (int idx = threadIdx.x; idx < BT_KT; idx += blockDim.x) {
			int i = i0 + idx;
			long long si = ((long long)b * H + h) * T + i;
			Ss[idx] = i < T ? stats[si] : 0.0f;
			Ss[BT_KT + idx] = i < T ? stats[BHT + si] : 0.0f;
			Ss[2 * BT_KT + idx] = i < T ? stats[2 * BHT + si] : 0.0f;
		}
		__syncthreads();
		if (key0 > i0 + BT_KT - 1)
			continue; /* every query of the tile precedes the warp's keys */
		tile_abt<NF>(St, Kb + warp * BT_RW * D, Qs);  /* (keys, queries) = K·Qᵀ */
		tile_abt<NF>(DP, Vb + warp * BT_RW * D, dOs); /* (keys, queries) = V·dOᵀ */
		__syncwarp();
		int i = i0 + lane;
		float mi = Ss[lane], li = Ss[BT_KT + lane], di = Ss[2 * BT_KT + lane];
#pragma unroll
		for (int r = 0; r < BT_RW; r++) {
			int jl = warp * BT_RW + r, j = k0 + jl;
			int vis = i < T && j <= i && Mk[jl] && li > 0.0f;
			float s = rbf(rbf(St[r * BT_KT + lane]) * scale);
			float dpb = rbf(DP[r * BT_KT + lane]);
			float p = vis ? expf(s - mi) / li : 0.0f;
			Pb[r * BT_KT + lane] = f2bf(p);
			dS[r * BT_KT + lane] =
			    vis ? f2bf(rbf(p * (dpb - di)) * scale) : (uint16_t)0;
		}
		__syncwarp();
		tile_acc<NF>(av, Pb, dOs);
		tile_acc<NF>(ak, dS, Qs);
		__syncwarp();
	}
	store_rows<NF>(wk, ak, St, b, key0, H, h, T);
	store_rows<NF>(wv, av, St, b, key0, H, h, T);
}

/* dk, dv (B, T, G, D) = bf16(Σ_{hh < H/G} bf16 term of query head g·H/G + hh) */
static __global__ void attn_bwd_reduce_kernel(uint16_t *dk, uint16_t *dv, const uint16_t *wk,
					      const uint16_t *wv, long long n, int H, int G, int D)
{
	int rep = H / G;
	for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < n;
	     idx += (long long)gridDim.x * blockDim.x) {
		long long bt = idx / ((long long)G * D);
		int g = (int)(idx / D % G), d = (int)(idx % D);
		long long base = (bt * H + (long long)g * rep) * D + d;
		float sk = 0.0f, sv = 0.0f;
		for (int hh = 0; hh < rep; hh++) {
			sk += bf2f(wk[base + (long long)hh * D]);
			sv += bf2f(wv[base + (long long)hh * D]);
		}
		dk[idx] = f2bf(sk);
		dv[idx] = f2bf(sv);
	}
}

static size_t stats_bytes(int B, int T, int H)
{
	size_t s = (size_t)3 * (size_t)B * (size_t)H * (size_t)T * sizeof(float);
	return (s + 255) / 256 * 256;
}

extern "C" size_t lms_k_attention_bwd_tc_extra(int B, int T, int H, int D)
{
	return (size_t)2 * (size_t)B * (size_t)T * (size_t)H * (size_t)D * sizeof(uint16_t) + 256;
}

template <int NF, int MINB>
static cudaError_t launch_bwd_tc(cudaStream_t st, uint16_t *dq, uint16_t *dk, uint16_t *dv,
				 const uint16_t *dout, const uint16_t *q, const uint16_t *k,
				 const uint16_t *v, const int32_t *mask, int B, int T, int H, int G,
				 float scale, void *work)
{
	const int D = NF * 16;
	float *stats = (float *)work;
	uint16_t *wk = (uint16_t *)((char *)work + stats_bytes(B, T, H));
	uint16_t *wv = wk + (size_t)B * T * H * D;
	size_t tile = (size_t)BT_WARPS * BT_RW * BT_KT;
	size_t smem1 = (size_t)(2 * BT_ROWS + 2 * BT_KT) * D * 2 + tile * (4 + 4 + 2) + BT_KT * 4;
	size_t smem2 = (size_t)(2 * BT_ROWS + 2 * BT_KT) * D * 2 + tile * (4 + 4 + 2 + 2) +
		       3 * BT_KT * 4 + BT_ROWS * 4;
	cudaError_t e = cudaSuccess;
	if (smem1 > 48 * 1024)
		e = cudaFuncSetAttribute(attn_bwd_dq_tc_kernel<NF, MINB>,
					 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem1);
	if (e == cudaSuccess && smem2 > 48 * 1024)
		e = cudaFuncSetAttribute(attn_bwd_dkdv_tc_kernel<NF, MINB>,
					 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem2);
	if (e != cudaSuccess)
		return e;
	dim3 grid((unsigned)((T + BT_ROWS - 1) / BT_ROWS), (unsigned)(B * H));
	attn_bwd_dq_tc_kernel<NF, MINB><<<grid, BT_WARPS * LMS_WARP, smem1, st>>>(
	    dq, stats, dout, q, k, v, mask, B, T, H, G, scale);
	if ((e = cudaGetLastError()) != cudaSuccess)
		return e;
	attn_bwd_dkdv_tc_kernel<NF, MINB><<<grid, BT_WARPS * LMS_WARP, smem2, st>>>(
	    wk, wv, stats, dout, q, k, v, mask, B, T, H, G, scale);
	if ((e = cudaGetLastError()) != cudaSuccess)
		return e;
	long long n = (long long)B * T * G * D;
	unsigned blocks = (unsigned)((n + 255) / 256 < 65535 ? (n + 255) / 256 : 65535);
	attn_bwd_reduce_kernel<<<blocks, 256, 0, st>>>(dk, dv, wk, wv, n, H, G, D);
	return cudaGetLastError();
}

/* The D = 128 tensor-core attention kernels (forward and backward) are
 * compiled for 3 resident blocks per SM (at most 168 registers, a few bytes
 * spilled) rather than 2 (up to 255 registers): measured on an H100 at
 * B 8, T 512, the backward 5.05 -> 4.32 ms and the forward 1.83 -> 1.67 ms,
 * bit-identical results. LMSENS_CUDA_ATTN_OCC=1 selects the 255-register
 * builds (for comparisons). Read once. */
extern "C" int lms_k_attention_occupancy(void)
{
	static int occ = -1;
	if (occ < 0) {
		const char *e = getenv("LMSENS_CUDA_ATTN_OCC");
		occ = e && e[0] == '1' ? 1 : 3;
	}
	return occ;
}

extern "C" int lms_k_attention_backward_tc_ok(const uint16_t *dout, const uint16_t *q,
					      const uint16_t *k, const uint16_t *v, int D)
{
	uintptr_t a = (uintptr_t)dout | (uintptr_t)q | (uintptr_t)k | (uintptr_t)v;
	return (D == 32 || D == 64 || D == 128) && a % 16 == 0;
}

extern "C" cudaError_t lms_k_attention_backward_tc(cudaStream_t stream, uint16_t *dq, uint16_t *dk,
						   uint16_t *dv, const uint16_t *dout,
						   const uint16_t *q, const uint16_t *k,
						   const uint16_t *v, const int32_t *mask, int B,
						   int T, int H, int G, int D, float scale,
						   void *work)
{
	if (B <= 0 || T <= 0)
		return cudaSuccess;
	if (!lms_k_attention_backward_tc_ok(dout, q, k, v, D) || G <= 0 || H % G != 0 || !work)
		return cudaErrorInvalidValue;
	if (D == 32)
		return launch_bwd_tc<2, 1>(stream, dq, dk, dv, dout, q, k, v, mask, B, T, H, G,
					   scale, work);
	if (D == 64)
		return launch_bwd_tc<4, 1>(stream, dq, dk, dv, dout, q, k, v, mask, B, T, H, G,
					   scale, work);
	if (lms_k_attention_occupancy() >= 3)
		return launch_bwd_tc<8, 3>(stream, dq, dk, dv, dout, q, k, v, mask, B, T, H, G,
					   scale, work);
	return launch_bwd_tc<8, 1>(stream, dq, dk, dv, dout, q, k, v, mask, B, T, H, G, scale,
				   work);
}
