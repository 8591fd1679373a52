/* quant_bf16.c — fake quantization on bf16 storage, and the CPU backend slot.
 *
 * Runs lms_quant_fake on column chunks converted to fp32 on the stack, so the
 * results are those of quant.c exactly. Invariants: a chunk is a whole number
 * of blocks (blocks never straddle chunks); amax values that span more than a
 * chunk (per tensor, per row, NVFP4's global amax) are computed over the whole
 * tensor or row before the chunks are processed.
 * Not here: the formulas (quant.c), device memory (the CUDA backend). */
#include <string.h>

#include "quant/quant.h"

#define CHUNK 4096 /* a multiple of 16, 32 and 128 */

static float amax_bf16(const lms_bf16 *x, size_t n)
{
	float m = 0.0f;
	for (size_t i = 0; i < n; i++) {
		float v = lms_bf16_to_f32(x[i]);
		v = v < 0.0f ? -v : v;
		if (v > m) /* NaN never wins, as in lms_quant_amax_tensor */
			m = v;
	}
	return m;
}

enum lms_status lms_quant_fake_bf16(const struct lms_quantizer_desc *d, const lms_bf16 *in, lms_bf16 *out,
				    size_t rows, size_t cols, const float *amax)
{
	enum lms_qscheme s;
	LMS_TRY(lms_quant_scheme(d, NULL, &s));
	size_t bs = d->block_size > 0 ? (size_t)d->block_size : 1;
	if (bs > CHUNK)
		return lms_fail(LMS_ERR_UNSUPPORTED, "use a block size of at most 4096",
				"fake quant: block size %zu", bs);
	size_t chunk = CHUNK / bs * bs;
	struct lms_quantizer_desc sub = *d;
	sub.dynamic_amax = 0; /* amax is resolved here, over the whole tensor */
	if (d->dynamic_amax)
		amax = NULL;
	int per_tensor = s == LMS_QSCHEME_NVFP4 || ((s == LMS_QSCHEME_INT || s == LMS_QSCHEME_FP8) && d->axis != 0);
	int per_row = (s == LMS_QSCHEME_INT || s == LMS_QSCHEME_FP8) && d->axis == 0;
	float whole = 0.0f;
	if (per_tensor && !amax) {
		whole = amax_bf16(in, rows * cols);
		amax = &whole;
	}
	size_t nb = (cols + bs - 1) / bs;
	float x[CHUNK], y[CHUNK];
	for (size_t r = 0; r < rows; r++) {
		float row_amax = 0.0f;
		if (per_row)
			row_amax = amax ? amax[r] : amax_bf16(in + r * cols, cols);
		for (size_t c0 = 0; c0 < cols; c0 += chunk) {
			size_t n = cols - c0 < chunk ? cols - c0 : chunk;
			const lms_bf16 *src = in + r * cols + c0;
			for (size_t i = 0; i < n; i++)
				x[i] = lms_bf16_to_f32(src[i]);
			const float *a = NULL;
			if (per_tensor)
				a = amax;
			else if (per_row)
				a = &row_amax;
			else if (s == LMS_QSCHEME_INT_BLOCK && amax)
				a = amax + r * nb + c0 / bs;
			LMS_TRY(lms_quant_fake(&sub, x, y, 1, n, a));
			lms_bf16 *dst = out + r * cols + c0;
			for (size_t i = 0; i < n; i++)
				dst[i] = lms_f32_to_bf16(y[i]);
		}
	}
	return LMS_OK;
}

enum lms_status lms_quant_cpu_fake(void *ctx, lms_bf16 *d_out, const lms_bf16 *d_in, int64_t rows, int64_t cols,
				   const struct lms_quant_desc *desc)
{
	(void)ctx;
	if (rows < 0 || cols < 0)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "fake_quant: negative shape (%lld, %lld)", (long long)rows,
				(long long)cols);
	return lms_quant_fake_bf16(&desc->q, d_in, d_out, (size_t)rows, (size_t)cols, desc->amax);
}
