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
 * Invariant: every helper is warp-synchronous (all 32 lanes call it) except
 * the cp.async copies, which every thread of the block calls.
 *
 * Not here: softmax, masking, the kernels themselves. */
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

#endif
