/* attention.cu — causal GQA attention with a key padding mask, forward and
 * backward, flash-style: the (B, H, T, T) score/probability tensor is never
 * stored; scores are recomputed from Q and K tile by tile.
 *
 * Numerics are those of src/backend/backend.h (HF eager in bf16):
 *   S = bf16(bf16(q·k)·scale), P = exp(S − m)/l in fp32 with m the row max
 *   and l = Σ exp(S − m), out = bf16(Σ_j bf16(P)·v).
 * To reproduce that exactly (rather than an online-softmax variant whose
 * rounding differs), each kernel makes separate passes over the keys: one
 * for m, one for l, then the pass that uses P. The forward and the backward
 * run the same code for m and l, so the backward sees bit-identical P.
 *
 * Backward: kernel 1 (one block per 16 query rows of one head) recomputes
 * m, l, forms delta_i = Σ_j P·dPb (dPb = bf16(dO·vᵀ)) and dQ, and stores
 * m, l, delta in the workspace; kernel 2 (one block per 16 key rows of one
 * KV head) walks the group's query heads and accumulates dK, dV per head in
 * fp32, rounds each head's term to bf16 and sums the heads in fp32 (the
 * contract's GQA rule).
 *
 * Layout of work: lane `lane` of a warp owns the head dimensions lane + 32·c
 * (c < DPL, DPL = ceil(D/32)); in score passes lane `lane` owns one key (or
 * one query in kernel 2). Tiles are fp32 in shared memory, rows read by one
 * lane each are padded to D + 1 floats (odd stride: no bank conflicts).
 * Sums over keys (out, dQ) and over queries (dK, dV) run in ascending index
 * order, like the CPU's loops (src/backend/cpu_attn.c), and so do the dot
 * products over d and the fp32 sum delta; l is an fp64 sum as on the CPU.
 * What remains between the two backends is CUDA's expf against glibc's (a
 * last-ulp difference now and then) and the fp64 sum's order.
 *
 * Score caches: when a block's ROWS × T scores fit in a shared-memory budget
 * (T up to 224 in the forward, 544 in the backward for D = 128), pass 1
 * stores each rounded score (and kernel 1's delta pass each dPb) and the
 * later passes read them back instead of recomputing the dot products — the
 * same values, so the results do not depend on whether the cache is used.
 *
 * Not here: the tensor-core kernels, which the entry points below pick for
 * D = 32, 64, 128 unless LMSENS_CUDA_ATTN_SIMPLE=1: by default the flash
 * kernels (attention_flash.cu, attention_flash_bwd.cu: online softmax, SDPA
 * numerics), with LMSENS_CUDA_ATTN=eager the eager-exact ones
 * (attention_tc.cu forward, attention_bwd_tc.cu backward); these kernels
 * are the correctness-first reference shape and serve every other head
 * size. */
#include <stdlib.h>

#include "common.cuh"
#include "kernels.h"

#define NWARPS 4
#define RPW 4		    /* rows (queries or keys) per warp */
#define ROWS (NWARPS * RPW) /* rows per block */
#define KT 32		    /* keys (kernel 1) / queries (kernel 2) per tile */

struct attn_shape {
	int T, H, G, D;
	float scale;
	int tp; /* row stride of the score caches, a multiple of KT >= T; 0: no cache */
};

static __device__ __forceinline__ long long qk_index(int b, int t, int heads, int h, int T, int D)
{
	return (((long long)b * T + t) * heads + h) * D;
}

/* Loads rows [r0, r0 + nrows) of head h of x (B,T,heads,D) into dst with
 * row stride `stride`; rows past T are zero. */
static __device__ void load_rows(float *dst, int stride, const uint16_t *x, int b, int r0,
				 int nrows, int heads, int h, int T, int D)
{
	/* 16-byte loads when rows are 8-element aligned (the real models: D =
	 * 128), unrolled so that several loads are in flight per thread: the
	 * tile loads, not the arithmetic, bound these kernels. */
	if (D % 8 == 0 && ((uintptr_t)x % 16) == 0) {
		int d8 = D / 8, n8 = nrows * d8;
#pragma unroll 4
		for (int idx = threadIdx.x; idx < n8; idx += blockDim.x) {
			int r = idx / d8, c = (idx % d8) * 8, t = r0 + r;
			float *o = dst + r * stride + c;
			if (t < T) {
				uint4 u = *(const uint4 *)(x + qk_index(b, t, heads, h, T, D) + c);
				o[0] = __uint_as_float(u.x << 16);
				o[1] = __uint_as_float(u.x & 0xffff0000u);
				o[2] = __uint_as_float(u.y << 16);
				o[3] = __uint_as_float(u.y & 0xffff0000u);
				o[4] = __uint_as_float(u.z << 16);
				o[5] = __uint_as_float(u.z & 0xffff0000u);
				o[6] = __uint_as_float(u.w << 16);
				o[7] = __uint_as_float(u.w & 0xffff0000u);
			} else {
#pragma unroll
				for (int e = 0; e < 8; e++)
					o[e] = 0.0f;
			}
		}
		return;
	}
	for (int idx = threadIdx.x; idx < nrows * D; idx += blockDim.x) {
		int r = idx / D, d = idx % D, t = r0 + r;
		dst[r * stride + d] = t < T ? bf2f(x[qk_index(b, t, heads, h, T, D) + d]) : 0.0f;
	}
}

/* Scores of this lane's key (row `lane` of Ks, stride D + 1) against the
 * warp's RPW query rows of Qs (stride D). */
static __device__ __forceinline__ void scores4(float s[RPW], const float *Qs, const float *Ks,
					       int D, float scale, int warp, int lane)
{
	float acc[RPW];
#pragma unroll
	for (int r = 0; r < RPW; r++)
		acc[r] = 0.0f;
	const float *kr = Ks + lane * (D + 1);
	const float *q0 = Qs + warp * RPW * D;
	for (int d = 0; d < D; d++) {
		float kd = kr[d];
#pragma unroll
		for (int r = 0; r < RPW; r++)
			acc[r] += q0[r * D + d] * kd;
	}
#pragma unroll
	for (int r = 0; r < RPW; r++)
		s[r] = rbf(rbf(acc[r]) * scale);
}

/* Visibility of key j (tile-local `lane`, flag Ms[lane]) for query i. */
static __device__ __forceinline__ int visible(int i, int j, int T, const int *Ms, int lane)
{
	return i < T && j <= i && Ms[lane];
}

/* Loads the key tile j0.. of K (when Ks) and V (when Vs) and its mask. */
static __device__ __forceinline__ void load_key_tile(float *Ks, float *Vs, int *Ms,
						     const uint16_t *k, const uint16_t *v,
						     const int32_t *mask, int b, int j0, int g,
						     const struct attn_shape sh)
{
	if (Ks)
		load_rows(Ks, sh.D + 1, k, b, j0, KT, sh.G, g, sh.T, sh.D);
	if (Vs)
		load_rows(Vs, sh.D + 1, v, b, j0, KT, sh.G, g, sh.T, sh.D);
	for (int idx = threadIdx.x; idx < KT; idx += blockDim.x) {
		int j = j0 + idx;
		Ms[idx] = j < sh.T && (mask == NULL || mask[(long long)b * sh.T + j] != 0);
	}
}

/* Passes 1 and 2 (shared by forward and backward kernel 1): row max m and
 * row sum l of the warp's RPW query rows. Every thread of the block calls it
 * (it contains barriers). With a cache Sc (ROWS, sh.tp) pass 1 also stores
 * each score, -inf where the key is not visible, and pass 2 reads the cache
 * instead of recomputing q·k (each lane reads back what it wrote). */
static __device__ __forceinline__ void row_stats(float m[RPW], float l[RPW], const float *Qs,
						 float *Ks, int *Ms, float *Sc, const uint16_t *k,
						 const int32_t *mask, int b, int q0, int g,
						 int ntiles, const struct attn_shape sh)
{
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	float s[RPW];
	double lsum[RPW]; /* per-lane part of Σ exp(S − m), fp64 like the CPU's */
#pragma unroll
	for (int r = 0; r < RPW; r++) {
		m[r] = -INFINITY;
		lsum[r] = 0.0;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int t = 0; t < ntiles; t++) {
			int j0 = t * KT;
			if (pass == 1 && Sc) {
#pragma unroll
				for (int r = 0; r < RPW; r++) {
					float sv = Sc[(warp * RPW + r) * sh.tp + j0 + lane];
					if (sv != -INFINITY)
						lsum[r] += (double)expf(sv - m[r]);
				}
				continue;
			}
			__syncthreads();
			load_key_tile(Ks, NULL, Ms, k, NULL, mask, b, j0, g, sh);
			__syncthreads();
			scores4(s, Qs, Ks, sh.D, sh.scale, warp, lane);
#pragma unroll
			for (int r = 0; r < RPW; r++) {
				int i = q0 + warp * RPW + r;
				int vis = visible(i, j0 + lane, sh.T, Ms, lane);
				if (pass == 0) {
					m[r] = fmaxf(m[r], warp_max(vis ? s[r] : -INFINITY));
					if (Sc)
						Sc[(warp * RPW + r) * sh.tp + j0 + lane] =
						    vis ? s[r] : -INFINITY;
				} else if (vis) {
					lsum[r] += (double)expf(s[r] - m[r]);
				}
			}
		}
	}
#pragma unroll
	for (int r = 0; r < RPW; r++)
		l[r] = (float)warp_sum_d(lsum[r]);
}

template <int DPL>
static __global__ void __launch_bounds__(NWARPS *LMS_WARP)
    attn_fwd_kernel(uint16_t *out, float *lse, const uint16_t *q, const uint16_t *k,
		    const uint16_t *v, const int32_t *mask, struct attn_shape sh)
{
	extern __shared__ float sm[];
	int D = sh.D, T = sh.T;
	float *Qs = sm;		       /* (ROWS, D) */
	float *Ks = Qs + ROWS * D;     /* (KT, D+1) */
	float *Vs = Ks + KT * (D + 1); /* (KT, D+1) */
	int *Ms = (int *)(Vs + KT * (D + 1));
	float *Sc = sh.tp ? (float *)(Ms + KT) : NULL; /* (ROWS, tp) score cache */
	int b = blockIdx.y / sh.H, h = blockIdx.y % sh.H, g = h / (sh.H / sh.G);
	int q0 = blockIdx.x * ROWS;
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	load_rows(Qs, D, q, b, q0, ROWS, sh.H, h, T, D);
	int qlast = min(q0 + ROWS, T) - 1;
	int ntiles = qlast / KT + 1;

	float m[RPW], l[RPW], s[RPW], o[RPW][DPL];
	row_stats(m, l, Qs, Ks, Ms, Sc, k, mask, b, q0, g, ntiles, sh);
#pragma unroll
	for (int r = 0; r < RPW; r++)
#pragma unroll
		for (int c = 0; c < DPL; c++)
			o[r][c] = 0.0f;
	for (int t = 0; t < ntiles; t++) {
		int j0 = t * KT;
		__syncthreads();
		load_key_tile(Sc ? NULL : Ks, Vs, Ms, k, v, mask, b, j0, g, sh);
		__syncthreads();
		if (!Sc)
			scores4(s, Qs, Ks, D, sh.scale, warp, lane);
#pragma unroll
		for (int r = 0; r < RPW; r++) {
			int i = q0 + warp * RPW + r;
			int vis;
			if (Sc) {
				s[r] = Sc[(warp * RPW + r) * sh.tp + j0 + lane];
				vis = s[r] != -INFINITY;
			} else {
				vis = visible(i, j0 + lane, T, Ms, lane);
			}
			float pb = vis ? rbf(expf(s[r] - m[r]) / l[r]) : 0.0f;
			for (int jj = 0; jj < KT; jj++) {
				float p = __shfl_sync(LMS_FULL_MASK, pb, jj);
				const float *vr = Vs + jj * (D + 1);
#pragma unroll
				for (int c = 0; c < DPL; c++) {
					int d = lane + LMS_WARP * c;
					if (d < D)
						o[r][c] += p * vr[d];
				}
			}
		}
	}
#pragma unroll
	for (int r = 0; r < RPW; r++) {
		int i = q0 + warp * RPW + r;
		if (i >= T)
			continue;
		uint16_t *orow = out + qk_index(b, i, sh.H, h, T, D);
		int any = l[r] > 0.0f;
#pragma unroll
		for (int c = 0; c < DPL; c++) {
			int d = lane + LMS_WARP * c;
			if (d < D)
				orow[d] = any ? f2bf(o[r][c]) : (uint16_t)0;
		}
		if (lse && lane == 0)
			lse[((long long)b * sh.H + h) * T + i] =
			    any ? m[r] + logf(l[r]) : -INFINITY;
	}
}

/* Backward kernel 1: dQ, and the per-row statistics m, l, delta. */
template <int DPL>
static __global__ void __launch_bounds__(NWARPS *LMS_WARP)
    attn_bwd_dq_kernel(uint16_t *dq, float *stats, const uint16_t *dout, const uint16_t *q,
		       const uint16_t *k, const uint16_t *v, const int32_t *mask, int B,
		       struct attn_shape sh)
{
	extern __shared__ float sm[];
	int D = sh.D, T = sh.T;
	float *Qs = sm;		       /* (ROWS, D) */
	float *dOs = Qs + ROWS * D;    /* (ROWS, D) */
	float *Ks = dOs + ROWS * D;    /* (KT, D+1) */
	float *Vs = Ks + KT * (D + 1); /* (KT, D+1) */
	int *Ms = (int *)(Vs + KT * (D + 1));
	float *Sc = sh.tp ? (float *)(Ms + KT) : NULL; /* (ROWS, tp) scores */
	float *Dc = sh.tp ? Sc + ROWS * sh.tp : NULL;  /* (ROWS, tp) dPb */
	int b = blockIdx.y / sh.H, h = blockIdx.y % sh.H, g = h / (sh.H / sh.G);
	int q0 = blockIdx.x * ROWS;
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	load_rows(Qs, D, q, b, q0, ROWS, sh.H, h, T, D);
	load_rows(dOs, D, dout, b, q0, ROWS, sh.H, h, T, D);
	int qlast = min(q0 + ROWS, T) - 1;
	int ntiles = qlast / KT + 1;

	float m[RPW], l[RPW], s[RPW], dpb[RPW], delta[RPW], acc[RPW][DPL];
	row_stats(m, l, Qs, Ks, Ms, Sc, k, mask, b, q0, g, ntiles, sh);
#pragma unroll
	for (int r = 0; r < RPW; r++) {
		delta[r] = 0.0f;
#pragma unroll
		for (int c = 0; c < DPL; c++)
			acc[r][c] = 0.0f;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int t = 0; t < ntiles; t++) {
			int j0 = t * KT;
			/* with the caches, pass 0 needs only V (for dPb), pass 1 only K */
			__syncthreads();
			load_key_tile(Sc && pass == 0 ? NULL : Ks, Sc && pass == 1 ? NULL : Vs, Ms,
				      k, v, mask, b, j0, g, sh);
			__syncthreads();
			if (!Sc)
				scores4(s, Qs, Ks, D, sh.scale, warp, lane);
			if (!Sc || pass == 0)
				scores4(dpb, dOs, Vs, D, 1.0f, warp, lane); /* bf16(bf16(dO·v)·1) */
#pragma unroll
			for (int r = 0; r < RPW; r++) {
				int i = q0 + warp * RPW + r;
				int vis;
				if (Sc) {
					int ci = (warp * RPW + r) * sh.tp + j0 + lane;
					s[r] = Sc[ci];
					vis = s[r] != -INFINITY;
					if (pass == 0)
						Dc[ci] = dpb[r];
					else
						dpb[r] = Dc[ci];
				} else {
					vis = visible(i, j0 + lane, T, Ms, lane);
				}
				float p = vis ? expf(s[r] - m[r]) / l[r] : 0.0f;
				if (pass == 0) {
					/* Σ_j P·dPb in fp32, in ascending j like the CPU */
					float x = p * dpb[r];
					for (int jj = 0; jj < KT; jj++)
						delta[r] += __shfl_sync(LMS_FULL_MASK, x, jj);
					continue;
				}
				float ds =
				    vis ? rbf(rbf(p * (dpb[r] - delta[r])) * sh.scale) : 0.0f;
				for (int jj = 0; jj < KT; jj++) {
					float w = __shfl_sync(LMS_FULL_MASK, ds, jj);
					const float *kr = Ks + jj * (D + 1);
#pragma unroll
					for (int c = 0; c < DPL; c++) {
						int d = lane + LMS_WARP * c;
						if (d < D)
							acc[r][c] += w * kr[d];
					}
				}
			}
		}
	}
	long long BHT = (long long)B * sh.H * T;
#pragma unroll
	for (int r = 0; r < RPW; r++) {
		int i = q0 + warp * RPW + r;
		if (i >= T)
			continue;
		uint16_t *row = dq + qk_index(b, i, sh.H, h, T, D);
#pragma unroll
		for (int c = 0; c < DPL; c++) {
			int d = lane + LMS_WARP * c;
			if (d < D)
				row[d] = f2bf(acc[r][c]);
		}
		if (lane == 0) {
			long long si = ((long long)b * sh.H + h) * T + i;
			stats[si] = m[r];
			stats[BHT + si] = l[r];
			stats[2 * BHT + si] = delta[r];
		}
	}
}

/* Backward kernel 2: dK and dV of ROWS keys of one KV head. */
template <int DPL>
static __global__ void __launch_bounds__(NWARPS *LMS_WARP)
    attn_bwd_dkdv_kernel(uint16_t *dk, uint16_t *dv, const float *stats, const uint16_t *dout,
			 const uint16_t *q, const uint16_t *k, const uint16_t *v,
			 const int32_t *mask, int B, struct attn_shape sh)
{
	extern __shared__ float sm[];
	int D = sh.D, T = sh.T;
	float *Ks = sm;			/* (ROWS, D) */
	float *Vs = Ks + ROWS * D;	/* (ROWS, D) */
	float *Qs = Vs + ROWS * D;	/* (KT, D+1) */
	float *dOs = Qs + KT * (D + 1); /* (KT, D+1) */
	float *Ss = dOs + KT * (D + 1); /* (3, KT): m, l, delta of the tile's queries */
	int *Ms = (int *)(Ss + 3 * KT); /* (ROWS) key mask */
	int b = blockIdx.y / sh.G, g = blockIdx.y % sh.G, rep = sh.H / sh.G;
	int k0 = blockIdx.x * ROWS;
	int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	long long BHT = (long long)B * sh.H * T;
	load_rows(Ks, D, k, b, k0, ROWS, sh.G, g, T, D);
	load_rows(Vs, D, v, b, k0, ROWS, sh.G, g, T, D);
	for (int idx = threadIdx.x; idx < ROWS; idx += blockDim.x) {
		int j = k0 + idx;
		Ms[idx] = j < T && (mask == NULL || mask[(long long)b * T + j] != 0);
	}

	float s[RPW], dpb[RPW], ak[RPW][DPL], av[RPW][DPL], sk[RPW][DPL], sv[RPW][DPL];
#pragma unroll
	for (int r = 0; r < RPW; r++)
#pragma unroll
		for (int c = 0; c < DPL; c++)
			sk[r][c] = sv[r][c] = 0.0f;
	for (int hh = 0; hh < rep; hh++) {
		int h = g * rep + hh;
#pragma unroll
		for (int r = 0; r < RPW; r++)
#pragma unroll
			for (int c = 0; c < DPL; c++)
				ak[r][c] = av[r][c] = 0.0f;
		for (int i0 = (k0 / KT) * KT; i0 < T; i0 += KT) {
			__syncthreads();
			load_rows(Qs, D + 1, q, b, i0, KT, sh.H, h, T, D);
			load_rows(dOs, D + 1, dout, b, i0, KT, sh.H, h, T, D);
			for (int idx = threadIdx.x; idx < KT; idx += blockDim.x) {
				int i = i0 + idx;
				long long si = ((long long)b * sh.H + h) * T + i;
				Ss[idx] = i < T ? stats[si] : 0.0f;
				Ss[KT + idx] = i < T ? stats[BHT + si] : 0.0f;
				Ss[2 * KT + idx] = i < T ? stats[2 * BHT + si] : 0.0f;
			}
			__syncthreads();
			/* lane = query i0 + lane; the warp's RPW keys are broadcast rows */
			float accs[RPW], accd[RPW];
#pragma unroll
			for (int r = 0; r < RPW; r++)
				accs[r] = accd[r] = 0.0f;
			const float *qr = Qs + lane * (D + 1), *dr = dOs + lane * (D + 1);
			const float *kb = Ks + warp * RPW * D, *vb = Vs + warp * RPW * D;
			for (int d = 0; d < D; d++) {
				float qd = qr[d], dd = dr[d];
#pragma unroll
				for (int r = 0; r < RPW; r++) {
					accs[r] += qd * kb[r * D + d];
					accd[r] += dd * vb[r * D + d];
				}
			}
			int i = i0 + lane;
			float mi = Ss[lane], li = Ss[KT + lane], di = Ss[2 * KT + lane];
#pragma unroll
			for (int r = 0; r < RPW; r++) {
				int jl = warp * RPW + r, j = k0 + jl;
				int vis = i < T && j <= i && Ms[jl] && li > 0.0f;
				s[r] = rbf(rbf(accs[r]) * sh.scale);
				dpb[r] = rbf(accd[r]);
				float p = vis ? expf(s[r] - mi) / li : 0.0f;
				float pb = rbf(p);
				float ds = vis ? rbf(rbf(p * (dpb[r] - di)) * sh.scale) : 0.0f;
				for (int ll = 0; ll < KT; ll++) {
					float wp = __shfl_sync(LMS_FULL_MASK, pb, ll);
					float ws = __shfl_sync(LMS_FULL_MASK, ds, ll);
					const float *dorow = dOs + ll * (D + 1);
					const float *qrow = Qs + ll * (D + 1);
#pragma unroll
					for (int c = 0; c < DPL; c++) {
						int d = lane + LMS_WARP * c;
						if (d < D) {
							av[r][c] += wp * dorow[d];
							ak[r][c] += ws * qrow[d];
						}
					}
				}
			}
		}
#pragma unroll
		for (int r = 0; r < RPW; r++)
#pragma unroll
			for (int c = 0; c < DPL; c++) {
				sk[r][c] += rbf(ak[r][c]);
				sv[r][c] += rbf(av[r][c]);
			}
	}
#pragma unroll
	for (int r = 0; r < RPW; r++) {
		int j = k0 + warp * RPW + r;
		if (j >= T)
			continue;
		long long off = qk_index(b, j, sh.G, g, T, D);
#pragma unroll
		for (int c = 0; c < DPL; c++) {
			int d = lane + LMS_WARP * c;
			if (d < D) {
				dk[off + d] = f2bf(sk[r][c]);
				dv[off + d] = f2bf(sv[r][c]);
			}
		}
	}
}

extern "C" size_t lms_k_attention_workspace(int B, int T, int H, int D)
{
	size_t stats = (size_t)3 * (size_t)B * (size_t)H * (size_t)T * sizeof(float);
	/* the tensor-core backward's per-head dK, dV terms after the statistics */
	size_t eager = (stats + 255) / 256 * 256 + lms_k_attention_bwd_tc_extra(B, T, H, D);
	/* either kind of kernel may run (LMSENS_CUDA_ATTN is read per call) */
	size_t flash = lms_k_attention_flash_workspace(B, T, H, D);
	return eager > flash ? eager : flash;
}

template <typename K> static cudaError_t allow_smem(K kernel, size_t bytes)
{
	if (bytes <= 48 * 1024)
		return cudaSuccess;
	return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
				    (int)bytes);
}

/* Shared memory a block may use with the score caches. The caches make the
 * QKᵀ products run once instead of two or three times, but a large cache
 * lowers the number of resident blocks, and these kernels need many to hide
 * their tile-load latency. Measured on an H100 (bench_ops_cuda, D = 128):
 * forward T = 32 0.053 ms cached / 0.067 ms recomputed, T = 512 (B 8)
 * 8.9 / 8.1 ms, T = 2048 34 / 14.7 ms; backward T = 512 8.0 / 10.3 ms.
 * Hence a tight budget for the forward and a looser one for kernel 1 of the
 * backward. (The forward normally runs on the tensor cores instead:
 * attention_tc.cu.) */
#define CACHE_SMEM_FWD (56 * 1024)
#define CACHE_SMEM_BWD (120 * 1024)

/* LMSENS_CUDA_ATTN_SIMPLE=1: CUDA-core kernels without score caches (the
 * reference shape of the algorithm; tests run every case both ways). */
static int simple_kernels(void)
{
	const char *env = getenv("LMSENS_CUDA_ATTN_SIMPLE");
	return env && env[0] && env[0] != '0';
}

static int cache_stride(size_t base_bytes, int T, int ncaches, size_t limit)
{
	if (simple_kernels())
		return 0;
	int tp = (T + KT - 1) / KT * KT;
	size_t bytes = base_bytes + (size_t)ncaches * ROWS * tp * sizeof(float);
	return bytes <= limit ? tp : 0;
}

template <int DPL>
static cudaError_t launch_fwd(cudaStream_t st, uint16_t *out, float *lse, const uint16_t *q,
			      const uint16_t *k, const uint16_t *v, const int32_t *mask, int B,
			      struct attn_shape sh)
{
	size_t smem = (size_t)(ROWS * sh.D + 2 * KT * (sh.D + 1) + KT) * sizeof(float);
	sh.tp = cache_stride(smem, sh.T, 1, CACHE_SMEM_FWD);
	smem += (size_t)ROWS * sh.tp * sizeof(float);
	cudaError_t e = allow_smem(attn_fwd_kernel<DPL>, smem);
	if (e != cudaSuccess)
		return e;
	dim3 grid((unsigned)((sh.T + ROWS - 1) / ROWS), (unsigned)(B * sh.H));
	attn_fwd_kernel<DPL><<<grid, NWARPS * LMS_WARP, smem, st>>>(out, lse, q, k, v, mask, sh);
	return cudaGetLastError();
}

template <int DPL>
static cudaError_t launch_bwd(cudaStream_t st, uint16_t *dq, uint16_t *dk, uint16_t *dv,
			      const uint16_t *dout, const uint16_t *q, const uint16_t *k,
			      const uint16_t *v, const int32_t *mask, int B, struct attn_shape sh,
			      float *stats)
{
	size_t smem1 = (size_t)(2 * ROWS * sh.D + 2 * KT * (sh.D + 1) + KT) * sizeof(float);
	size_t smem2 =
	    (size_t)(2 * ROWS * sh.D + 2 * KT * (sh.D + 1) + 3 * KT + ROWS) * sizeof(float);
	struct attn_shape sh2 = sh; /* kernel 2 has no cache */
	sh2.tp = 0;
	sh.tp = cache_stride(smem1, sh.T, 2, CACHE_SMEM_BWD);
	smem1 += (size_t)2 * ROWS * sh.tp * sizeof(float);
	cudaError_t e = allow_smem(attn_bwd_dq_kernel<DPL>, smem1);
	if (e == cudaSuccess)
		e = allow_smem(attn_bwd_dkdv_kernel<DPL>, smem2);
	if (e != cudaSuccess)
		return e;
	dim3 grid1((unsigned)((sh.T + ROWS - 1) / ROWS), (unsigned)(B * sh.H));
	attn_bwd_dq_kernel<DPL>
	    <<<grid1, NWARPS * LMS_WARP, smem1, st>>>(dq, stats, dout, q, k, v, mask, B, sh);
	e = cudaGetLastError();
	if (e != cudaSuccess)
		return e;
	dim3 grid2((unsigned)((sh.T + ROWS - 1) / ROWS), (unsigned)(B * sh.G));
	attn_bwd_dkdv_kernel<DPL>
	    <<<grid2, NWARPS * LMS_WARP, smem2, st>>>(dk, dv, stats, dout, q, k, v, mask, B, sh2);
	return cudaGetLastError();
}

extern "C" cudaError_t lms_k_attention_forward(cudaStream_t stream, uint16_t *out, float *lse,
					       const uint16_t *q, const uint16_t *k,
					       const uint16_t *v, const int32_t *mask, int B, int T,
					       int H, int G, int D, float scale)
{
	if (B <= 0 || T <= 0)
		return cudaSuccess;
	if (D <= 0 || D > LMS_K_ATTN_MAX_D || G <= 0 || H % G != 0)
		return cudaErrorInvalidValue;
	if (!simple_kernels() && lms_k_attention_flash() && lms_k_attention_flash_ok(q, k, v, D) &&
	    scale > 0.0f && (uintptr_t)out % 16 == 0)
		return lms_k_attention_forward_flash(stream, out, lse, q, k, v, mask, B, T, H, G, D,
						     scale);
	if (!simple_kernels() && lms_k_attention_forward_tc_ok(q, k, v, D))
		return lms_k_attention_forward_tc(stream, out, lse, q, k, v, mask, B, T, H, G, D,
						  scale);
	struct attn_shape sh = {T, H, G, D, scale, 0};
	if (D <= 32)
		return launch_fwd<1>(stream, out, lse, q, k, v, mask, B, sh);
	if (D <= 64)
		return launch_fwd<2>(stream, out, lse, q, k, v, mask, B, sh);
	if (D <= 128)
		return launch_fwd<4>(stream, out, lse, q, k, v, mask, B, sh);
	return launch_fwd<8>(stream, out, lse, q, k, v, mask, B, sh);
}

extern "C" cudaError_t lms_k_attention_backward(cudaStream_t stream, uint16_t *dq, uint16_t *dk,
						uint16_t *dv, const uint16_t *dout,
						const uint16_t *q, const uint16_t *k,
						const uint16_t *v, const uint16_t *out,
						const float *lse, const int32_t *mask, int B,
						int T, int H, int G, int D, float scale, void *work)
{
	if (B <= 0 || T <= 0)
		return cudaSuccess;
	if (D <= 0 || D > LMS_K_ATTN_MAX_D || G <= 0 || H % G != 0 || work == NULL)
		return cudaErrorInvalidValue;
	/* the same choice as the forward, which wrote out and lse */
	if (!simple_kernels() && lms_k_attention_flash() && lms_k_attention_flash_ok(q, k, v, D) &&
	    scale > 0.0f && out != NULL && lse != NULL &&
	    (((uintptr_t)dout | (uintptr_t)out | (uintptr_t)dq | (uintptr_t)dk | (uintptr_t)dv) %
	     16) == 0)
		return lms_k_attention_backward_flash(stream, dq, dk, dv, dout, q, k, v, out, lse,
						      mask, B, T, H, G, D, scale, work);
	if (!simple_kernels() && lms_k_attention_backward_tc_ok(dout, q, k, v, D))
		return lms_k_attention_backward_tc(stream, dq, dk, dv, dout, q, k, v, mask, B, T, H,
						   G, D, scale, work);
	struct attn_shape sh = {T, H, G, D, scale, 0};
	float *stats = (float *)work;
	if (D <= 32)
		return launch_bwd<1>(stream, dq, dk, dv, dout, q, k, v, mask, B, sh, stats);
	if (D <= 64)
		return launch_bwd<2>(stream, dq, dk, dv, dout, q, k, v, mask, B, sh, stats);
	if (D <= 128)
		return launch_bwd<4>(stream, dq, dk, dv, dout, q, k, v, mask, B, sh, stats);
	return launch_bwd<8>(stream, dq, dk, dv, dout, q, k, v, mask, B, sh, stats);
}
