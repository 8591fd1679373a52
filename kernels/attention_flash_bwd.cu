/* attention_flash_bwd.cu — the attention backward, FlashAttention-2 style,
 * for the flash forward (attention_flash.cu): P is recomputed per tile from
 * the forward's stored log-sum-exp, no (T, T) tensor and no extra passes.
 *
 * Kernels:
 *   1. fl_bwd_pre: per row (b, t, h): Dsum = Σ_d dO·O (fp32, from the bf16
 *      values) and lse2 = lse·log2e.
 *   2. fl_bwd_dkdv: one block per (batch, KV head, 64-key tile), 4 warps
 *      of 16 keys. It walks the group's H/G query heads and, per head, the
 *      64-row query tiles from the diagonal to the end (Q, dO, lse2, Dsum
 *      double buffered with cp.async); for long sequences one block per
 *      query head instead, writing fp32 partials that fl_bwd_dkdv_sum adds
 *      in head order (fl_bwd_split):
 *        Sᵀ = K·Qᵀ, Pᵀ = 2^(Sᵀ·scale·log2e − lse2) (masked: 0)
 *        dV += bf16(Pᵀ)·dO;  dPᵀ = V·dOᵀ;  dSᵀ = Pᵀ ∘ (dPᵀ − Dsum)
 *        dK += bf16(dSᵀ)·Q
 *      dK and dV stay in fp32 registers over all heads of the group and are
 *      rounded once: dK = bf16(scale·dK), dV = bf16(dV).
 *   3. fl_bwd_dq: one block per (batch, head, 64-row query tile), 4 warps of
 *      16 rows, over the key tiles up to the diagonal (K, V double
 *      buffered): S, P, dP, dS again, dQ += bf16(dS)·K in registers, then
 *      dQ = bf16(scale·dQ).
 * dQ gets its own kernel instead of fp32 atomics from kernel 2 (which would
 * save recomputing S and dP, 3 of the backward's 8 tile products) so that
 * every output is a fixed-order sum: the backward is bit-reproducible, run
 * to run, like the rest of the CUDA backend.
 * Rounding points are FlashAttention's (P and dS to bf16 as mma operands,
 * everything else fp32), not the eager graph's of backend.h; the GQA sum is
 * one fp32 sum rounded once (the eager contract rounds each head's term).
 *
 * Workspace (lms_k_attention_flash_workspace): lse2 and Dsum (B, H, T) fp32,
 * then the per-head dK and dV partials (B, T, H, D) fp32 each.
 *
 * Not here: the forward (attention_flash.cu), the eager-exact backward
 * (attention_bwd_tc.cu, attention.cu). */
#include <stdlib.h>

#include "flash.cuh"
#include "kernels.h"

#define FB_WARPS 4
#define FB_THREADS (FB_WARPS * LMS_WARP)
#define FB_BN 64 /* keys per block (16 per warp) */
#define FB_BM 64 /* query rows per tile */
#define FB_LOG2E 1.4426950408889634f

static __device__ __forceinline__ void cp_async4(void *dst, const void *src, int valid)
{
	asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(dst)),
		     "l"(src), "r"(valid ? 4 : 0));
}

static size_t align256(size_t x)
{
	return (x + 255) / 256 * 256;
}

/* The dK/dV kernel runs one block per query head (fp32 partials in the
 * workspace, then a fixed-order sum over the group) instead of one block
 * walking the group's heads when the key tiles are many and the blocks few:
 * causal tiles make the per-group blocks very unequal (key tile 0 walks
 * every query tile of every head) and a long sequence leaves SMs idle while
 * the first tiles finish. Measured on an H100 (H 32, G 8, D 128): B 1,
 * T 2048 (256 group blocks) 0.671 -> 0.549 ms; B 8, T 512 (512 blocks, 8
 * tiles) 0.354 -> 0.442 ms (the partials' traffic costs more than the
 * balance gains). LMSENS_CUDA_ATTN_BWD_SPLIT=0 / =1 force either way (for
 * measurements). */
static int fl_bwd_split(int hpg, int ntile, long long group_blocks)
{
	const char *e = getenv("LMSENS_CUDA_ATTN_BWD_SPLIT");
	if (hpg <= 1)
		return 0;
	if (e && e[0])
		return e[0] != '0';
	return ntile >= 16 && group_blocks <= 1024;
}

extern "C" size_t lms_k_attention_flash_workspace(int B, int T, int H, int D)
{
	size_t rows = (size_t)B * (size_t)T * (size_t)H;
	/* lse2, Dsum; the per-head dK, dV partials (B, T, H, D) fp32 each */
	return 2 * align256(rows * sizeof(float)) + 2 * align256(rows * (size_t)D * sizeof(float));
}

/* One warp per row (b, t, h); rows = B·T·H. */
template <int D>
static __global__ void fl_bwd_pre(float *lse2, float *dsum, const uint16_t *dout,
				  const uint16_t *out, const float *lse, int T, int H,
				  long long rows)
{
	long long row = (long long)blockIdx.x * (blockDim.x / LMS_WARP) + threadIdx.x / LMS_WARP;
	int lane = threadIdx.x % LMS_WARP;
	if (row >= rows)
		return;
	const uint16_t *po = out + row * D, *pd = dout + row * D;
	float acc = 0.0f;
	for (int d = lane * 2; d < D; d += 2 * LMS_WARP) {
		uint32_t a = *(const uint32_t *)(po + d), c = *(const uint32_t *)(pd + d);
		acc += __uint_as_float(a << 16) * __uint_as_float(c << 16);
		acc += __uint_as_float(a & 0xffff0000u) * __uint_as_float(c & 0xffff0000u);
	}
	acc = warp_sum(acc);
	if (lane == 0) {
		int h = (int)(row % H);
		long long bt = row / H;
		int t = (int)(bt % T);
		long long b = bt / T;
		long long s = (b * H + h) * T + t;
		dsum[s] = acc;
		lse2[s] = lse[s] * FB_LOG2E;
	}
}

template <int D>
static __global__ void __launch_bounds__(FB_THREADS, 2)
    fl_bwd_dkdv(uint16_t *dk, uint16_t *dv, float *dkp, float *dvp, long long nkv,
		const uint16_t *dout, const uint16_t *q, const uint16_t *k, const uint16_t *v,
		const float *lse2, const float *dsum, const int32_t *mask, int T, int H, int G,
		float scale)
{
	constexpr int LD = D + FL_PAD, KD = D / 16, ND = D / 8, NB = FB_BM / 8;
	extern __shared__ __align__(128) unsigned char smem[];
	uint16_t *Ks = (uint16_t *)smem;	    /* (BN, LD) */
	uint16_t *Vs = Ks + FB_BN * LD;		    /* (BN, LD) */
	uint16_t *Qs = Vs + FB_BN * LD;		    /* 2 x (BM, LD) */
	uint16_t *Os = Qs + 2 * FB_BM * LD;	    /* 2 x (BM, LD): dO */
	float *Ls = (float *)(Os + 2 * FB_BM * LD); /* 2 x BM lse2 */
	float *Ds = Ls + 2 * FB_BM;		    /* 2 x BM Dsum */
	const int hpg = H / G, split = dkp != NULL;
	/* split: one query head per block (x = (b·G + g)·hpg + head), fp32
	 * partials; else the block walks the group's heads (x = b·G + g) */
	const int bg = split ? blockIdx.x / hpg : blockIdx.x, hi0 = split ? blockIdx.x % hpg : 0;
	const int b = bg / G, g = bg % G;
	const int kt = blockIdx.y, k0 = kt * FB_BN; /* kt = 0 (most work) first */
	const int nqt = (T + FB_BM - 1) / FB_BM;
	const int per_head = nqt - kt, iters = (split ? 1 : hpg) * per_head;
	const int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	const int gr = lane >> 2, tq = lane & 3;
	const int j0 = k0 + warp * 16 + gr, j1 = j0 + 8; /* this thread's two keys */
	const float sl2 = scale * FB_LOG2E;
	const bool kv0 = j0 < T && (mask == NULL || mask[(long long)b * T + j0] != 0);
	const bool kv1 = j1 < T && (mask == NULL || mask[(long long)b * T + j1] != 0);

	/* one iteration: head g·hpg + hi0 + it / per_head, query tile kt + it % per_head */
	auto issue = [&](int it, int buf) {
		int h = g * hpg + hi0 + it / per_head, q0 = (kt + it % per_head) * FB_BM;
		fl_load_tile<FB_BM, D, FB_THREADS>(Qs + buf * FB_BM * LD, q, b, q0, H, h, T);
		fl_load_tile<FB_BM, D, FB_THREADS>(Os + buf * FB_BM * LD, dout, b, q0, H, h, T);
		if (threadIdx.x < FB_BM) {
			int i = q0 + threadIdx.x, ok = i < T;
			long long s = ((long long)b * H + h) * T + (ok ? i : 0);
			cp_async4(Ls + buf * FB_BM + threadIdx.x, lse2 + s, ok);
			cp_async4(Ds + buf * FB_BM + threadIdx.x, dsum + s, ok);
		}
	};

	fl_load_kv<FB_BN, D, FB_THREADS>(Ks, Vs, k, v, b, k0, G, g, T);
	issue(0, 0);
	cp_async_commit();

	float dka[ND][4], dva[ND][4];
	fl_zero<ND>(dka);
	fl_zero<ND>(dva);

	for (int it = 0; it < iters; it++) {
		const int buf = it & 1;
		const int q0 = (kt + it % per_head) * FB_BM;
		if (it + 1 < iters)
			issue(it + 1, buf ^ 1);
		cp_async_commit();
		cp_async_wait<1>();
		__syncthreads();
		const uint16_t *Qt = Qs + buf * FB_BM * LD, *Ot = Os + buf * FB_BM * LD;
		const float *Lt = Ls + buf * FB_BM, *Dt = Ds + buf * FB_BM;

		/* Sᵀ (16 keys x 64 queries) = K_w · Qᵀ */
		float st[NB][4];
		fl_zero<NB>(st);
		fl_mma_nt_tile<NB, KD>(st, Ks, warp * 16, Qt, LD, lane);
		/* Pᵀ; keys masked by padding, T or causality give 0 */
		const bool diag = q0 == k0;
#pragma unroll
		for (int n = 0; n < NB; n++)
#pragma unroll
			for (int e = 0; e < 4; e++) {
				int il = n * 8 + 2 * tq + (e & 1);
				int j = e < 2 ? j0 : j1;
				bool vis = (e < 2 ? kv0 : kv1) && (!diag || j <= q0 + il);
				float p = fl_exp2(__fmaf_rn(st[n][e], sl2, -Lt[il]));
				st[n][e] = vis ? p : 0.0f;
			}
		fl_mma_pv<NB, D>(dva, st, Ot, LD, lane); /* dV += bf16(Pᵀ) · dO */
		/* dPᵀ = V_w · dOᵀ, then dSᵀ = Pᵀ ∘ (dPᵀ − Dsum) */
		float dp[NB][4];
		fl_zero<NB>(dp);
		fl_mma_nt_tile<NB, KD>(dp, Vs, warp * 16, Ot, LD, lane);
#pragma unroll
		for (int n = 0; n < NB; n++) {
			int il = n * 8 + 2 * tq;
			dp[n][0] = st[n][0] * (dp[n][0] - Dt[il]);
			dp[n][1] = st[n][1] * (dp[n][1] - Dt[il + 1]);
			dp[n][2] = st[n][2] * (dp[n][2] - Dt[il]);
			dp[n][3] = st[n][3] * (dp[n][3] - Dt[il + 1]);
		}
		fl_mma_pv<NB, D>(dka, dp, Qt, LD, lane); /* dK += bf16(dSᵀ) · Q */
		__syncthreads(); /* buffer buf is refilled by the next iteration's copies */
	}
	cp_async_wait<0>();

	if (split) { /* this head's terms; fl_bwd_dkdv_sum adds the heads in order */
#pragma unroll
		for (int r = 0; r < 2; r++) {
			int j = r ? j1 : j0;
			if (j >= T)
				continue;
			long long off = hi0 * nkv + (((long long)b * T + j) * G + g) * D + 2 * tq;
#pragma unroll
			for (int n = 0; n < ND; n++) {
				*(float2 *)(dkp + off + n * 8) =
				    make_float2(dka[n][2 * r], dka[n][2 * r + 1]);
				*(float2 *)(dvp + off + n * 8) =
				    make_float2(dva[n][2 * r], dva[n][2 * r + 1]);
			}
		}
		return;
	}
	if (j0 < T) {
		long long off = (((long long)b * T + j0) * G + g) * D + 2 * tq;
#pragma unroll
		for (int n = 0; n < ND; n++) {
			*(uint32_t *)(dk + off + n * 8) =
			    pack_bf16(dka[n][0] * scale, dka[n][1] * scale);
			*(uint32_t *)(dv + off + n * 8) = pack_bf16(dva[n][0], dva[n][1]);
		}
	}
	if (j1 < T) {
		long long off = (((long long)b * T + j1) * G + g) * D + 2 * tq;
#pragma unroll
		for (int n = 0; n < ND; n++) {
			*(uint32_t *)(dk + off + n * 8) =
			    pack_bf16(dka[n][2] * scale, dka[n][3] * scale);
			*(uint32_t *)(dv + off + n * 8) = pack_bf16(dva[n][2], dva[n][3]);
		}
	}
}

/* dK = bf16(scale·Σ_h dK_h), dV = bf16(Σ_h dV_h) over the hpg per-head fp32
 * partials, heads in ascending order (fixed order: reproducible). */
static __global__ void fl_bwd_dkdv_sum(uint16_t *dk, uint16_t *dv, const float *dkp,
				       const float *dvp, long long nkv, int hpg, float scale)
{
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < nkv / 2;
	     i += (long long)gridDim.x * blockDim.x) {
		float2 a = ((const float2 *)dkp)[i], c = ((const float2 *)dvp)[i];
		for (int h = 1; h < hpg; h++) {
			float2 a2 = ((const float2 *)(dkp + h * nkv))[i];
			float2 c2 = ((const float2 *)(dvp + h * nkv))[i];
			a.x += a2.x, a.y += a2.y, c.x += c2.x, c.y += c2.y;
		}
		((uint32_t *)dk)[i] = pack_bf16(a.x * scale, a.y * scale);
		((uint32_t *)dv)[i] = pack_bf16(c.x, c.y);
	}
}

/* dQ for 64 query rows of one (batch, head): 4 warps of 16 rows over the
 * key tiles 0 .. the diagonal; the forward's loop shape (attention_flash.cu)
 * with the backward's tile products. */
template <int D>
static __global__ void __launch_bounds__(FB_THREADS, 2)
    fl_bwd_dq(uint16_t *dq, const uint16_t *dout, const uint16_t *q, const uint16_t *k,
	      const uint16_t *v, const float *lse2, const float *dsum, const int32_t *mask, int T,
	      int H, int G, float scale)
{
	constexpr int LD = D + FL_PAD, KD = D / 16, ND = D / 8, NB = FB_BN / 8;
	extern __shared__ __align__(128) unsigned char smem[];
	uint16_t *Qs = (uint16_t *)smem;    /* (BM, LD) */
	uint16_t *Os = Qs + FB_BM * LD;	    /* (BM, LD): dO */
	uint16_t *Ks = Os + FB_BM * LD;	    /* 2 x (BN, LD) */
	uint16_t *Vs = Ks + 2 * FB_BN * LD; /* 2 x (BN, LD) */
	const int nqt = (T + FB_BM - 1) / FB_BM;
	const int qt = nqt - 1 - (int)blockIdx.y; /* most work first */
	const int b = blockIdx.x / H, h = blockIdx.x % H, g = h / (H / G);
	const int q0 = qt * FB_BM;
	const int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	const int gr = lane >> 2, tq = lane & 3;
	const int wrow = q0 + warp * 16;
	const int i0 = wrow + gr, i1 = i0 + 8;
	const int ntiles = (min(q0 + FB_BM, T) - 1) / FB_BN + 1;
	const int32_t *mrow = mask ? mask + (long long)b * T : NULL;
	const float sl2 = scale * FB_LOG2E;
	const long long s0 = ((long long)b * H + h) * T;
	/* rows past T: zero Q and dO give dS = 0 whatever lse2 is */
	const float l2[2] = {i0 < T ? lse2[s0 + i0] : 0.0f, i1 < T ? lse2[s0 + i1] : 0.0f};
	const float ds[2] = {i0 < T ? dsum[s0 + i0] : 0.0f, i1 < T ? dsum[s0 + i1] : 0.0f};

	fl_load_tile<FB_BM, D, FB_THREADS>(Qs, q, b, q0, H, h, T);
	fl_load_tile<FB_BM, D, FB_THREADS>(Os, dout, b, q0, H, h, T);
	fl_load_kv<FB_BN, D, FB_THREADS>(Ks, Vs, k, v, b, 0, G, g, T);
	cp_async_commit();

	float acc[ND][4];
	fl_zero<ND>(acc);

	for (int t = 0; t < ntiles; t++) {
		const int buf = t & 1, j0 = t * FB_BN;
		unsigned va, vb;
		fl_kv_step<FB_BN, D, FB_THREADS>(&va, &vb, Ks, Vs, k, v, mrow, b, t, ntiles, G, g,
						 T, lane);
		const uint16_t *Kt = Ks + buf * FB_BN * LD, *Vt = Vs + buf * FB_BN * LD;
		if (j0 <= wrow + 15) {
			/* S = Q_w · Kᵀ and dP = dO_w · Vᵀ (16 rows x 64 keys) */
			float s[NB][4], dp[NB][4];
			fl_zero<NB>(s);
			fl_zero<NB>(dp);
			/* the two products interleaved 16 keys at a time */
#pragma unroll
			for (int kk = 0; kk < KD; kk++) {
				uint32_t qa[4], oa[4];
				ld_a(qa, Qs, LD, warp * 16, kk * 16, lane);
				ld_a(oa, Os, LD, warp * 16, kk * 16, lane);
#pragma unroll
				for (int n2 = 0; n2 < NB / 2; n2++) {
					fl_mma_nt16(s[2 * n2], s[2 * n2 + 1], qa, Kt, LD, n2 * 16,
						    kk * 16, lane);
					fl_mma_nt16(dp[2 * n2], dp[2 * n2 + 1], oa, Vt, LD, n2 * 16,
						    kk * 16, lane);
				}
			}
			/* P, dS = P ∘ (dP − Dsum); masked keys give 0 */
			const bool need = (va & vb) != LMS_FULL_MASK || j0 + FB_BN - 1 > wrow;
#pragma unroll
			for (int n = 0; n < NB; n++)
#pragma unroll
				for (int e = 0; e < 4; e++) {
					int r = e >> 1, jl = n * 8 + 2 * tq + (e & 1);
					float p = fl_exp2(__fmaf_rn(s[n][e], sl2, -l2[r]));
					/* two ifs: one && costs registers */
					if (need) {
						if (!fl_key_visible(va, vb, jl) ||
						    j0 + jl > (r ? i1 : i0))
							p = 0.0f;
					}
					s[n][e] = p * (dp[n][e] - ds[r]);
				}
			fl_mma_pv<NB, D>(acc, s, Kt, LD, lane); /* dQ += bf16(dS) · K */
		}
		__syncthreads(); /* buffer buf is refilled by the next iteration's copies */
	}
	cp_async_wait<0>();
	if (i0 < T) {
		fl_store_row<ND>(dq + (((long long)b * T + i0) * H + h) * D + 2 * tq, acc, 0,
				 scale);
	}
	if (i1 < T) {
		fl_store_row<ND>(dq + (((long long)b * T + i1) * H + h) * D + 2 * tq, acc, 1,
				 scale);
	}
}

template <typename K> static cudaError_t fl_allow_smem(K kernel, size_t bytes)
{
	if (bytes <= 48 * 1024)
		return cudaSuccess;
	return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
				    (int)bytes);
}

template <int D>
static cudaError_t launch_fl_bwd(cudaStream_t st, uint16_t *dq, uint16_t *dk, uint16_t *dv,
				 const uint16_t *dout, const uint16_t *q, const uint16_t *k,
				 const uint16_t *v, const uint16_t *out, const float *lse,
				 const int32_t *mask, int B, int T, int H, int G, float scale,
				 void *work)
{
	long long rows = (long long)B * T * H;
	float *lse2 = (float *)work;
	float *dsum = (float *)((char *)work + align256((size_t)rows * sizeof(float)));
	fl_bwd_pre<D>
	    <<<(unsigned)((rows + 7) / 8), 256, 0, st>>>(lse2, dsum, dout, out, lse, T, H, rows);
	cudaError_t e = cudaGetLastError();
	if (e != cudaSuccess)
		return e;
	constexpr int LD = D + FL_PAD;
	const size_t smem =
	    (size_t)(2 * FB_BN + 4 * FB_BM) * LD * sizeof(uint16_t) + 4 * FB_BM * sizeof(float);
	const size_t smem_q = (size_t)(2 * FB_BM + 4 * FB_BN) * LD * sizeof(uint16_t);
	e = fl_allow_smem(fl_bwd_dkdv<D>, smem);
	if (e == cudaSuccess)
		e = fl_allow_smem(fl_bwd_dq<D>, smem_q);
	if (e != cudaSuccess)
		return e;
	const unsigned ntile = (unsigned)((T + FB_BN - 1) / FB_BN);
	const long long nkv = (long long)B * T * G * D;
	if (fl_bwd_split(H / G, (int)ntile, (long long)B * G * ntile)) {
		float *dkp = (float *)((char *)dsum + align256((size_t)rows * sizeof(float)));
		float *dvp = (float *)((char *)dkp + align256((size_t)rows * D * sizeof(float)));
		fl_bwd_dkdv<D><<<dim3((unsigned)(B * H), ntile), FB_THREADS, smem, st>>>(
		    dk, dv, dkp, dvp, nkv, dout, q, k, v, lse2, dsum, mask, T, H, G, scale);
		e = cudaGetLastError();
		if (e != cudaSuccess)
			return e;
		fl_bwd_dkdv_sum<<<lms_grid_1d(nkv / 2, 256), 256, 0, st>>>(dk, dv, dkp, dvp, nkv,
									   H / G, scale);
	} else {
		fl_bwd_dkdv<D><<<dim3((unsigned)(B * G), ntile), FB_THREADS, smem, st>>>(
		    dk, dv, NULL, NULL, nkv, dout, q, k, v, lse2, dsum, mask, T, H, G, scale);
	}
	e = cudaGetLastError();
	if (e != cudaSuccess)
		return e;
	fl_bwd_dq<D><<<dim3((unsigned)(B * H), ntile), FB_THREADS, smem_q, st>>>(
	    dq, dout, q, k, v, lse2, dsum, mask, T, H, G, scale);
	return cudaGetLastError();
}

extern "C" cudaError_t lms_k_attention_backward_flash(
    cudaStream_t stream, uint16_t *dq, uint16_t *dk, uint16_t *dv, const uint16_t *dout,
    const uint16_t *q, const uint16_t *k, const uint16_t *v, const uint16_t *out, const float *lse,
    const int32_t *mask, int B, int T, int H, int G, int D, float scale, void *work)
{
	if (B <= 0 || T <= 0)
		return cudaSuccess;
	uintptr_t a =
	    (uintptr_t)dout | (uintptr_t)out | (uintptr_t)dq | (uintptr_t)dk | (uintptr_t)dv;
	if (!lms_k_attention_flash_ok(q, k, v, D) || a % 16 != 0 || !lse || !work || G <= 0 ||
	    H % G != 0 || !(scale > 0.0f))
		return cudaErrorInvalidValue;
	if (D == 32)
		return launch_fl_bwd<32>(stream, dq, dk, dv, dout, q, k, v, out, lse, mask, B, T, H,
					 G, scale, work);
	if (D == 64)
		return launch_fl_bwd<64>(stream, dq, dk, dv, dout, q, k, v, out, lse, mask, B, T, H,
					 G, scale, work);
	return launch_fl_bwd<128>(stream, dq, dk, dv, dout, q, k, v, out, lse, mask, B, T, H, G,
				  scale, work);
}
