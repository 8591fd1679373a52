/* attention_flash.cu — the attention forward, FlashAttention-2 style: one
 * pass over the keys with an online softmax, both products on the tensor
 * cores (mma.sync m16n8k16 bf16, fp32 accumulation), K/V tiles double
 * buffered with cp.async. The default CUDA forward for head_dim 32, 64 and
 * 128 (attention.cu dispatches; LMSENS_CUDA_ATTN=eager selects the
 * eager-exact kernels instead).
 *
 * Numerics (SDPA / FlashAttention, not the eager graph of backend.h):
 *   S = q·k in fp32 (not rounded to bf16), the scale folded into the
 *   exponent: p = 2^(S·scale·log2e − m·scale·log2e) with m the running row
 *   max (MUFU ex2), l = Σ p in fp32 over the unrounded p, the output
 *   accumulator rescaled by 2^(m_old − m_new) when the max grows; P·V uses
 *   p rounded to bf16; out = bf16(acc / l); lse = m·scale + log(l) (natural
 *   log, fp32), −inf for a row with no visible key (whose out is 0).
 * HF's default attention (SDPA) keeps the softmax in fp32 the same way
 * (reference/qwen3-vl-lm.md §3.5); against the eager CPU reference the
 * difference is measured in tests/gpu/test_ops_cuda.c and docs/cuda.md.
 *
 * Layout: a block of 4 warps owns 64 query rows of one (batch, head), 16 per
 * warp; key tiles of 64 rows. Blocks with the most key tiles (the last
 * query tiles, causal) are launched first. Key tiles past the block's last
 * row are skipped (causal); inside a tile the mask (causal, padding, T) is
 * applied per element only when the tile needs it.
 *
 * Not here: the backward (attention_flash_bwd.cu), other head sizes and the
 * eager-exact kernels (attention.cu, attention_tc.cu). */
#include <stdlib.h>
#include <string.h>

#include "flash.cuh"
#include "kernels.h"

#define FL_WARPS 4
#define FL_THREADS (FL_WARPS * LMS_WARP)
#define FL_BM 64 /* query rows per block */
#define FL_BN 64 /* keys per tile */
#define FL_LOG2E 1.4426950408889634f

template <int D>
static __global__ void __launch_bounds__(FL_THREADS, 2)
    fl_fwd_kernel(uint16_t *out, float *lse, const uint16_t *q, const uint16_t *k,
		  const uint16_t *v, const int32_t *mask, int T, int H, int G, float scale)
{
	constexpr int LD = D + FL_PAD, KD = D / 16, ND = D / 8, NB = FL_BN / 8;
	extern __shared__ __align__(128) unsigned char smem[];
	uint16_t *Qs = (uint16_t *)smem;    /* (BM, LD) */
	uint16_t *Ks = Qs + FL_BM * LD;	    /* 2 x (BN, LD) */
	uint16_t *Vs = Ks + 2 * FL_BN * LD; /* 2 x (BN, LD) */
	const int nqt = (T + FL_BM - 1) / FL_BM;
	const int qt = nqt - 1 - (int)blockIdx.y; /* most work first */
	const int b = blockIdx.x / H, h = blockIdx.x % H, g = h / (H / G);
	const int q0 = qt * FL_BM;
	const int warp = threadIdx.x / LMS_WARP, lane = threadIdx.x % LMS_WARP;
	const int gr = lane >> 2, tq = lane & 3;
	const int wrow = q0 + warp * 16;       /* the warp's first row */
	const int i0 = wrow + gr, i1 = i0 + 8; /* this thread's two rows */
	const int ntiles = (min(q0 + FL_BM, T) - 1) / FL_BN + 1;
	const int32_t *mrow = mask ? mask + (long long)b * T : NULL;
	const float sl2 = scale * FL_LOG2E;

	fl_load_tile<FL_BM, D, FL_THREADS>(Qs, q, b, q0, H, h, T);
	fl_load_kv<FL_BN, D, FL_THREADS>(Ks, Vs, k, v, b, 0, G, g, T);
	cp_async_commit();

	float o[ND][4];
	fl_zero<ND>(o);
	float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
	uint32_t qf[KD][4];

	for (int t = 0; t < ntiles; t++) {
		const int buf = t & 1, j0 = t * FL_BN;
		/* tile t + 1's copies; tile t's key visibility (padding mask, j < T) */
		unsigned va, vb;
		fl_kv_step<FL_BN, D, FL_THREADS>(&va, &vb, Ks, Vs, k, v, mrow, b, t, ntiles, G, g,
						 T, lane);
		if (t == 0) {
#pragma unroll
			for (int kk = 0; kk < KD; kk++)
				ld_a(qf[kk], Qs, LD, warp * 16, kk * 16, lane);
		}
		const uint16_t *Kt = Ks + buf * FL_BN * LD, *Vt = Vs + buf * FL_BN * LD;
		if (j0 <= wrow + 15) { /* else every key of the tile is after the warp's rows */
			float s[NB][4];
			fl_zero<NB>(s);
#pragma unroll
			for (int kk = 0; kk < KD; kk++)
				fl_mma_nt<NB>(s, qf[kk], Kt, LD, kk * 16, lane);
			if ((va & vb) != LMS_FULL_MASK || j0 + FL_BN - 1 > wrow) {
#pragma unroll
				for (int n = 0; n < NB; n++)
#pragma unroll
					for (int e = 0; e < 4; e++) {
						int jl = n * 8 + 2 * tq + (e & 1);
						int i = e < 2 ? i0 : i1;
						if (!fl_key_visible(va, vb, jl) || j0 + jl > i)
							s[n][e] = -INFINITY;
					}
			}
			float mx[2] = {m[0], m[1]};
#pragma unroll
			for (int n = 0; n < NB; n++) {
				mx[0] = fmaxf(mx[0], fmaxf(s[n][0], s[n][1]));
				mx[1] = fmaxf(mx[1], fmaxf(s[n][2], s[n][3]));
			}
			float ms[2], alpha[2];
#pragma unroll
			for (int r = 0; r < 2; r++) {
				mx[r] = fmaxf(mx[r], __shfl_xor_sync(LMS_FULL_MASK, mx[r], 1));
				mx[r] = fmaxf(mx[r], __shfl_xor_sync(LMS_FULL_MASK, mx[r], 2));
				/* all masked so far: exponents against 0 give p = 0 */
				ms[r] = mx[r] == -INFINITY ? 0.0f : mx[r] * sl2;
				alpha[r] = fl_exp2(m[r] * sl2 - ms[r]); /* m = -inf: 0 */
				m[r] = mx[r];
			}
			float rs[2] = {0.0f, 0.0f};
#pragma unroll
			for (int n = 0; n < NB; n++) {
#pragma unroll
				for (int e = 0; e < 4; e++) {
					s[n][e] = fl_exp2(__fmaf_rn(s[n][e], sl2, -ms[e >> 1]));
					rs[e >> 1] += s[n][e];
				}
			}
#pragma unroll
			for (int r = 0; r < 2; r++)
				l[r] = l[r] * alpha[r] + rs[r]; /* per-thread part of the row */
#pragma unroll
			for (int n = 0; n < ND; n++) {
				o[n][0] *= alpha[0];
				o[n][1] *= alpha[0];
				o[n][2] *= alpha[1];
				o[n][3] *= alpha[1];
			}
			fl_mma_pv<NB, D>(o, s, Vt, LD, lane); /* o += bf16(p) · V */
		}
		__syncthreads(); /* buffer buf is refilled by the next iteration's copies */
	}
	cp_async_wait<0>();

#pragma unroll
	for (int r = 0; r < 2; r++) {
		l[r] += __shfl_xor_sync(LMS_FULL_MASK, l[r], 1);
		l[r] += __shfl_xor_sync(LMS_FULL_MASK, l[r], 2);
	}
	const float inv0 = l[0] > 0.0f ? 1.0f / l[0] : 0.0f;
	const float inv1 = l[1] > 0.0f ? 1.0f / l[1] : 0.0f;
	if (i0 < T) {
		fl_store_row<ND>(out + (((long long)b * T + i0) * H + h) * D + 2 * tq, o, 0, inv0);
		if (lse && tq == 0)
			lse[((long long)b * H + h) * T + i0] =
			    l[0] > 0.0f ? m[0] * scale + logf(l[0]) : -INFINITY;
	}
	if (i1 < T) {
		fl_store_row<ND>(out + (((long long)b * T + i1) * H + h) * D + 2 * tq, o, 1, inv1);
		if (lse && tq == 0)
			lse[((long long)b * H + h) * T + i1] =
			    l[1] > 0.0f ? m[1] * scale + logf(l[1]) : -INFINITY;
	}
}

template <int D>
static cudaError_t launch_fl_fwd(cudaStream_t st, uint16_t *out, float *lse, const uint16_t *q,
				 const uint16_t *k, const uint16_t *v, const int32_t *mask, int B,
				 int T, int H, int G, float scale)
{
	const size_t smem = (size_t)(FL_BM + 4 * FL_BN) * (D + FL_PAD) * sizeof(uint16_t);
	if (smem > 48 * 1024) {
		cudaError_t e = cudaFuncSetAttribute(
		    fl_fwd_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
		if (e != cudaSuccess)
			return e;
	}
	dim3 grid((unsigned)(B * H), (unsigned)((T + FL_BM - 1) / FL_BM));
	fl_fwd_kernel<D><<<grid, FL_THREADS, smem, st>>>(out, lse, q, k, v, mask, T, H, G, scale);
	return cudaGetLastError();
}

extern "C" int lms_k_attention_flash(void)
{
	const char *e = getenv("LMSENS_CUDA_ATTN");
	return !(e && strcmp(e, "eager") == 0);
}

extern "C" int lms_k_attention_flash_ok(const uint16_t *q, const uint16_t *k, const uint16_t *v,
					int D)
{
	uintptr_t a = (uintptr_t)q | (uintptr_t)k | (uintptr_t)v;
	return (D == 32 || D == 64 || D == 128) && a % 16 == 0;
}

extern "C" cudaError_t lms_k_attention_forward_flash(cudaStream_t stream, uint16_t *out, float *lse,
						     const uint16_t *q, const uint16_t *k,
						     const uint16_t *v, const int32_t *mask, int B,
						     int T, int H, int G, int D, float scale)
{
	if (B <= 0 || T <= 0)
		return cudaSuccess;
	if (!lms_k_attention_flash_ok(q, k, v, D) || G <= 0 || H % G != 0 || !(scale > 0.0f))
		return cudaErrorInvalidValue;
	if (D == 32)
		return launch_fl_fwd<32>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
	if (D == 64)
		return launch_fl_fwd<64>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
	return launch_fl_fwd<128>(stream, out, lse, q, k, v, mask, B, T, H, G, scale);
}
