/* flash.cuh — tensor-core building blocks of the flash attention kernels
 * (attention_flash.cu forward, attention_flash_bwd.cu backward): cp.async
 * tile copies, ldmatrix, mma.sync m16n8k16 (bf16 in, fp32 accumulate) and
 * the fragment layouts they imply.
 *
 * Fragment layouts of mma.m16n8k16 (g = lane / 4, t = lane % 4), each
 * register two bf16 (low half = lower column index):
 *   A (16 x 16, row major): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..),
 *                           a3 (g+8, 2t+8..)
 *   B (16 x 8, k x n):      b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
 *   C (16 x 8, fp32):       c0, c1 (g, 2t, 2t+1), c2, c3 (g+8, 2t, 2t+1)
 * so two C tiles side by side (columns 0-7, 8-15) are, after packing to
 * bf16, the A operand of the next product over those 16 columns.
 *
 * Shared-memory tiles are bf16 rows of D elements padded to D + 8 (a row
 * stride of 16 bytes mod 128): the 8 rows one ldmatrix phase reads fall in
 * distinct bank groups, so there are no bank conflicts.
 *
 * Above the single instructions, the pieces the three kernels (forward,
 * dK/dV, dQ) are made of: the K/V tile copies (fl_load_kv) and the start of
 * a double-buffered step over key tiles (fl_kv_step), the key-visibility
 * bits of a 64-key tile (fl_key_bits, fl_key_visible), the tile products
 * X·Yᵀ (fl_mma_nt16, fl_mma_nt, fl_mma_nt_tile) and bf16(P)·Y with P the
 * fp32 result of an earlier product (fl_mma_pv), zeroed accumulators
 * (fl_zero) and the bf16 store of an accumulator row (fl_store_row). They
 * are force-inlined and fully unrolled: the kernels compiled with them are
 * the same PTX and cubin, byte for byte, as the kernels written out by hand
 * before they were folded in here (checked with nvcc -cubin at sm_90). A
 * change to them is a change to every kernel: keep the order of the
 * ldmatrix/mma calls (volatile asm keeps it as written) and compare the
 * register counts (-Xptxas -v) before and after.
 *
 * Invariant: every helper is warp-synchronous (all 32 lanes call it) except
 * the cp.async copies and fl_kv_step (its __syncthreads), which every
 * thread of the block calls.
 *
 * Not here: the softmax and the masking of scores (each kernel's own), the
 * kernels themselves. */
#ifndef LMS_KERNELS_FLASH_CUH
#define LMS_KERNELS_FLASH_CUH

#include "common.cuh"

#define FL_PAD 8 /* bf16 elements of padding per shared-memory row */

static __device__ __forceinline__ uint32_t smem_u32(const void *p)
{
	return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16-byte asynchronous copy global -> shared; with valid == 0 the 16 bytes
 * are zero-filled and src is not read (it must still be a valid address). */
static __device__ __forceinline__ void cp_async16(void *dst, const void *src, int valid)
{
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)),
		     "l"(src), "r"(valid ? 16 : 0));
}
static __device__ __forceinline__ void cp_async_commit(void)
{
	asm volatile("cp.async.commit_group;\n" ::);
}
template <int N> static __device__ __forceinline__ void cp_async_wait(void)
{
	asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/* Rows [r0, r0 + NROWS) of head h of x (B, T, heads, D) into dst (row
 * stride D + FL_PAD), rows at or past T zero-filled. All threads of a block
 * of NTHREADS call it. */
template <int NROWS, int D, int NTHREADS>
static __device__ __forceinline__ void fl_load_tile(uint16_t *dst, const uint16_t *x, int b, int r0,
						    int heads, int h, int T)
{
	constexpr int C8 = D / 8; /* 16-byte chunks per row */
#pragma unroll
	for (int idx = threadIdx.x; idx < NROWS * C8; idx += NTHREADS) {
		int r = idx / C8, c = (idx % C8) * 8, t = r0 + r;
		int valid = t < T;
		const uint16_t *src =
		    x + ((((long long)b * T + (valid ? t : 0)) * heads + h) * D + c);
		cp_async16(dst + r * (D + FL_PAD) + c, src, valid);
	}
}

static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p)
{
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(smem_u32(p)));
}
static __device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const void *p)
{
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(smem_u32(p)));
}

/* c += a · b (m16n8k16, bf16 x bf16 -> fp32) */
static __device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0,
						uint32_t b1)
{
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Two fp32 to a bf16x2 register (round to nearest even; lo in the low half). */
static __device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
	__nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
	return *(uint32_t *)&v;
}

/* 2^x, the MUFU approximation (about 2 ulp; -inf gives +0) as FlashAttention
 * uses; the --fmad=false build would otherwise expand exp2f. */
static __device__ __forceinline__ float fl_exp2(float x)
{
	float y;
	asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
	return y;
}

/* A operand (16 rows x 16 columns at (r0, c0)) of a row-major bf16 tile
 * with row stride ld (elements). */
static __device__ __forceinline__ void ld_a(uint32_t a[4], const uint16_t *tile, int ld, int r0,
					    int c0, int lane)
{
	ldsm_x4(a, tile + (r0 + (lane & 15)) * ld + c0 + (lane >> 4) * 8);
}

/* B operands of X · Yᵀ where Y is a row-major tile (rows = n, columns = k):
 * n-blocks n0..n0+7 and n0+8..n0+15 over k0..k0+15:
 * b[0], b[1] for the first n-block, b[2], b[3] for the second. */
static __device__ __forceinline__ void ld_b_nt(uint32_t b[4], const uint16_t *tile, int ld, int n0,
					       int k0, int lane)
{
	ldsm_x4(b, tile + (n0 + (lane & 7) + ((lane >> 4) << 3)) * ld + k0 + ((lane >> 3) & 1) * 8);
}

/* B operands of X · Y where Y is a row-major tile (rows = k, columns = n):
 * k0..k0+15 by n-blocks n0..n0+7 (b[0], b[1]) and n0+8..n0+15 (b[2], b[3]). */
static __device__ __forceinline__ void ld_b_nn(uint32_t b[4], const uint16_t *tile, int ld, int k0,
					       int n0, int lane)
{
	ldsm_x4_t(b, tile + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n0 + (lane >> 4) * 8);
}

/* A operand (16 x 16 at (m0, k0)) of Xᵀ where X is a row-major tile with
 * rows = k, columns = m (so A[m][k] = X[k][m]). */
static __device__ __forceinline__ void ld_a_t(uint32_t a[4], const uint16_t *tile, int ld, int m0,
					      int k0, int lane)
{
	ldsm_x4_t(a, tile + (k0 + (lane & 7) + (lane >> 4) * 8) * ld + m0 + ((lane >> 3) & 1) * 8);
}

/* K and V rows [j, j + NROWS) of KV head g into Kd and Vd (fl_load_tile). */
template <int NROWS, int D, int NTHREADS>
static __device__ __forceinline__ void fl_load_kv(uint16_t *Kd, uint16_t *Vd, const uint16_t *k,
						  const uint16_t *v, int b, int j, int G, int g,
						  int T)
{
	fl_load_tile<NROWS, D, NTHREADS>(Kd, k, b, j, G, g, T);
	fl_load_tile<NROWS, D, NTHREADS>(Vd, v, b, j, G, g, T);
}

/* N accumulator tiles (16 x 8 each) to zero. */
template <int N> static __device__ __forceinline__ void fl_zero(float c[N][4])
{
#pragma unroll
	for (int n = 0; n < N; n++)
		c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.0f;
}

/* c0, c1 += a · Yᵀ for the n-blocks n0..n0+7 (c0) and n0+8..n0+15 (c1) over
 * k0..k0+15, Y a row-major tile (rows = n, columns = k). */
static __device__ __forceinline__ void fl_mma_nt16(float c0[4], float c1[4], const uint32_t a[4],
						   const uint16_t *tile, int ld, int n0, int k0,
						   int lane)
{
	uint32_t bb[4];
	ld_b_nt(bb, tile, ld, n0, k0, lane);
	mma16816(c0, a, bb[0], bb[1]);
	mma16816(c1, a, bb[2], bb[3]);
}

/* c (16 x 8·NB) += a · Yᵀ over k0..k0+15 for the first 8·NB rows of Y. */
template <int NB>
static __device__ __forceinline__ void fl_mma_nt(float c[NB][4], const uint32_t a[4],
						 const uint16_t *tile, int ld, int k0, int lane)
{
#pragma unroll
	for (int n2 = 0; n2 < NB / 2; n2++)
		fl_mma_nt16(c[2 * n2], c[2 * n2 + 1], a, tile, ld, n2 * 16, k0, lane);
}

/* c (16 x 8·NB) += X[r0 .. r0+15] · Yᵀ over all 16·KD columns, X and Y
 * row-major tiles of row stride ld. */
template <int NB, int KD>
static __device__ __forceinline__ void fl_mma_nt_tile(float c[NB][4], const uint16_t *x, int r0,
						      const uint16_t *y, int ld, int lane)
{
#pragma unroll
	for (int kk = 0; kk < KD; kk++) {
		uint32_t a[4];
		ld_a(a, x, ld, r0, kk * 16, lane);
		fl_mma_nt<NB>(c, a, y, ld, kk * 16, lane);
	}
}

/* acc (16 x D) += bf16(p) · Y: p (16 x 8·NB) is the fp32 result of an
 * earlier product, rounded to bf16 as the A operand (two C tiles side by side
 * per 16 columns); Y a row-major tile of 8·NB rows and D columns. */
template <int NB, int D>
static __device__ __forceinline__ void fl_mma_pv(float acc[D / 8][4], const float p[NB][4],
						 const uint16_t *tile, int ld, int lane)
{
#pragma unroll
	for (int kk = 0; kk < NB / 2; kk++) {
		uint32_t pa[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]),
				  pack_bf16(p[2 * kk][2], p[2 * kk][3]),
				  pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]),
				  pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
		for (int n2 = 0; n2 < D / 16; n2++) {
			uint32_t bb[4];
			ld_b_nn(bb, tile, ld, kk * 16, n2 * 16, lane);
			mma16816(acc[2 * n2], pa, bb[0], bb[1]);
			mma16816(acc[2 * n2 + 1], pa, bb[2], bb[3]);
		}
	}
}

/* Which of the 64 keys j0 .. j0+63 are visible (j < T, and mrow[j] != 0
 * where there is a padding mask): bit l of *lo for key j0 + l, of *hi for
 * key j0 + 32 + l. */
static __device__ __forceinline__ void fl_key_bits(unsigned *lo, unsigned *hi, const int32_t *mrow,
						   int j0, int T, int lane)
{
	int ja = j0 + lane, jb = j0 + LMS_WARP + lane;
	*lo = __ballot_sync(LMS_FULL_MASK, ja < T && (mrow == NULL || mrow[ja] != 0));
	*hi = __ballot_sync(LMS_FULL_MASK, jb < T && (mrow == NULL || mrow[jb] != 0));
}

/* Key j0 + jl visible, from fl_key_bits' two words (0 <= jl < 64). */
static __device__ __forceinline__ unsigned fl_key_visible(unsigned lo, unsigned hi, int jl)
{
	return (jl < 32 ? (lo >> jl) : (hi >> (jl - 32))) & 1u;
}

/* The start of step t of the loop over 64-key tiles both ways
 * double-buffered (K, V tiles t in buffer t & 1 of Ks, Vs, NKEYS rows of
 * stride D + FL_PAD each): copies tile t + 1 into the other buffer (when
 * there is one), computes tile t's key-visibility bits (fl_key_bits), waits
 * for tile t's copies and synchronises the block. All threads call it. */
template <int NKEYS, int D, int NTHREADS>
static __device__ __forceinline__ void fl_kv_step(unsigned *lo, unsigned *hi, uint16_t *Ks,
						  uint16_t *Vs, const uint16_t *k,
						  const uint16_t *v, const int32_t *mrow, int b,
						  int t, int ntiles, int G, int g, int T, int lane)
{
	static_assert(NKEYS == 64, "fl_key_bits covers 64 keys");
	constexpr int TILE = NKEYS * (D + FL_PAD);
	const int buf = t & 1, j0 = t * NKEYS;
	if (t + 1 < ntiles)
		fl_load_kv<NKEYS, D, NTHREADS>(Ks + (buf ^ 1) * TILE, Vs + (buf ^ 1) * TILE, k, v,
					       b, j0 + NKEYS, G, g, T);
	cp_async_commit();
	fl_key_bits(lo, hi, mrow, j0, T, lane);
	cp_async_wait<1>();
	__syncthreads();
}

/* Row r (0: the thread's row g, 1: row g + 8) of the accumulator c
 * (16 x 8·N) times mul, as bf16 to p (the row's column 2t; then every 8). */
template <int N>
static __device__ __forceinline__ void fl_store_row(uint16_t *p, const float c[N][4], int r,
						    float mul)
{
#pragma unroll
	for (int n = 0; n < N; n++)
		*(uint32_t *)(p + n * 8) = pack_bf16(c[n][2 * r] * mul, c[n][2 * r + 1] * mul);
}

#endif
