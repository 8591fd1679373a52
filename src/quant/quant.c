/* quant.c — bit-exact CPU fake quantizers (see quant.h for the formulas).
 *
 * Invariants: every arithmetic step is one IEEE fp32 operation in the order
 * the ModelOpt kernel performs it (the build uses -std=c11, so the compiler
 * does not contract a·b+c into an FMA); rintf runs in the default
 * round-to-nearest-even mode; the final value is rounded to bf16 with RNE.
 * The MX path flushes fp32 denormals to zero at each operation because the
 * ModelOpt MX kernel is compiled with --use_fast_math (ftz=true).
 *
 * Not here: calibration loops over batches, the cost model (format.c), CUDA. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "quant/quant.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numeric.h"

/* ---- element conversions ------------------------------------------------ */

float lms_quant_round_minifloat(float a, int e_bits, int m_bits, float maxval)
{
	if (isnan(a))
		return a;
	float m = fabsf(a);
	float q;
	if (m >= maxval) {
		q = maxval; /* satfinite; also ±inf */
	} else {
		int bias = (1 << (e_bits - 1)) - 1;
		int emin = 1 - bias;
		int e;
		if (m < ldexpf(1.0f, emin)) {
			e = emin; /* subnormal range: fixed quantum 2^(emin−M) */
		} else {
			(void)frexpf(m, &e); /* m = f·2^e, f in [0.5, 1) */
			e -= 1;              /* floor(log2 m) */
		}
		int qe = e - m_bits;
		/* Scaling by a power of two is exact, so this is one RNE step. */
		q = ldexpf(rintf(ldexpf(m, -qe)), qe);
		if (q > maxval)
			q = maxval;
	}
	return copysignf(q, a);
}

float lms_quant_round_e4m3(float a) { return lms_quant_round_minifloat(a, 4, 3, 448.0f); }

float lms_quant_round_e2m1(float a) { return lms_quant_round_minifloat(a, 2, 1, 6.0f); }

/* Flush-to-zero of an fp32 denormal, keeping the sign (CUDA .ftz). */
static float ftz(float v) { return (fabsf(v) < FLT_MIN) ? copysignf(0.0f, v) : v; }

/* ---- amax ---------------------------------------------------------------- */

float lms_quant_amax_tensor(const float *x, size_t n)
{
	float m = 0.0f;
	for (size_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(lms_round_bf16(x[i])));
	return m;
}

void lms_quant_amax_rows(const float *x, size_t rows, size_t cols, float *out)
{
	for (size_t r = 0; r < rows; r++)
		out[r] = lms_quant_amax_tensor(x + r * cols, cols);
}

void lms_quant_amax_blocks(const float *x, size_t rows, size_t cols, size_t block, float *out)
{
	size_t nb = (cols + block - 1) / block;
	for (size_t r = 0; r < rows; r++)
		for (size_t b = 0; b < nb; b++) {
			size_t c0 = b * block, c1 = c0 + block < cols ? c0 + block : cols;
			out[r * nb + b] = lms_quant_amax_tensor(x + r * cols + c0, c1 - c0);
		}
}

enum lms_status lms_quant_scheme(const struct lms_quantizer_desc *d, const char *where, enum lms_qscheme *out)
{
	const char *w = where ? where : "quantizer";
	int is_fp = d->num_bits == 0;
	if (!d->enabled) {
		*out = LMS_QSCHEME_DISABLED;
		return LMS_OK;
	}
	if (d->axis != LMS_QAXIS_NONE && d->axis != 0)
		return lms_fail(LMS_ERR_UNSUPPORTED, "use axis: null (per tensor) or axis: 0 (per output channel)",
				"%s: axis %d is not supported", w, d->axis);
	if (!is_fp && (d->num_bits < 2 || d->num_bits > 16))
		return lms_fail(LMS_ERR_UNSUPPORTED, "integer num_bits must be in [2, 16]", "%s: num_bits %d", w,
				d->num_bits);
	if (d->block_size < 0)
		return lms_fail(LMS_ERR_UNSUPPORTED, "block size must be positive", "%s: block size %d", w,
				d->block_size);
	if (d->block_size > 0 && d->axis != LMS_QAXIS_NONE)
		return lms_fail(LMS_ERR_UNSUPPORTED, "blocked quantizers take axis: null",
				"%s: block_sizes together with axis %d", w, d->axis);
	if (d->block_size > 0 && d->block_dynamic) {
		if (d->scale_exp_bits == 8 && d->scale_man_bits == 0) {
			int ok = (!is_fp && d->num_bits == 8) ||
				 (is_fp && ((d->exp_bits == 2 && d->man_bits == 1) ||
					    (d->exp_bits == 4 && d->man_bits == 3) ||
					    (d->exp_bits == 3 && d->man_bits == 2) ||
					    (d->exp_bits == 2 && d->man_bits == 3)));
			if (!ok)
				return lms_fail(LMS_ERR_UNSUPPORTED,
						"MX element formats are num_bits 8, [2,1], [4,3], [3,2], [2,3]",
						"%s: unsupported MX element format", w);
			*out = LMS_QSCHEME_MX;
			return LMS_OK;
		}
		if (d->scale_exp_bits == 4 && d->scale_man_bits == 3 && is_fp && d->exp_bits == 2 &&
		    d->man_bits == 1) {
			*out = LMS_QSCHEME_NVFP4;
			return LMS_OK;
		}
		return lms_fail(LMS_ERR_UNSUPPORTED,
				"dynamic blocks need scale_bits [8,0] (MX) or [4,3] with num_bits [2,1] (NVFP4)",
				"%s: unsupported dynamic block format (scale_bits [%d,%d])", w, d->scale_exp_bits,
				d->scale_man_bits);
	}
	if (d->block_size > 0) {
		if (is_fp)
			return lms_fail(LMS_ERR_UNSUPPORTED, "static blocks are implemented for integer formats only",
					"%s: static float blocks (e.g. FP8 2D blockwise) are not supported", w);
		*out = LMS_QSCHEME_INT_BLOCK;
		return LMS_OK;
	}
	if (is_fp) {
		if (d->exp_bits == 4 && d->man_bits == 3) {
			*out = LMS_QSCHEME_FP8;
			return LMS_OK;
		}
		return lms_fail(LMS_ERR_UNSUPPORTED, "unblocked float formats must be num_bits: [4, 3] (FP8 E4M3)",
				"%s: num_bits [%d, %d] without blocks", w, d->exp_bits, d->man_bits);
	}
	*out = LMS_QSCHEME_INT;
	return LMS_OK;
}

size_t lms_quant_amax_len(const struct lms_quantizer_desc *d, size_t rows, size_t cols)
{
	enum lms_qscheme s = LMS_QSCHEME_DISABLED;
	if (lms_quant_scheme(d, NULL, &s) != LMS_OK)
		return 0;
	switch (s) {
	case LMS_QSCHEME_INT:
	case LMS_QSCHEME_FP8:
		return d->axis == 0 ? rows : 1;
	case LMS_QSCHEME_INT_BLOCK:
		return rows * ((cols + (size_t)d->block_size - 1) / (size_t)d->block_size);
	case LMS_QSCHEME_NVFP4:
		return 1;
	default:
		return 0;
	}
}

enum lms_status lms_quant_amax(const struct lms_quantizer_desc *d, const float *x, size_t rows, size_t cols,
			       float *out)
{
	enum lms_qscheme s = LMS_QSCHEME_DISABLED;
	LMS_TRY(lms_quant_scheme(d, NULL, &s));
	switch (s) {
	case LMS_QSCHEME_INT:
	case LMS_QSCHEME_FP8:
		if (d->axis == 0)
			lms_quant_amax_rows(x, rows, cols, out);
		else
			out[0] = lms_quant_amax_tensor(x, rows * cols);
		break;
	case LMS_QSCHEME_INT_BLOCK:
		lms_quant_amax_blocks(x, rows, cols, (size_t)d->block_size, out);
		break;
	case LMS_QSCHEME_NVFP4:
		out[0] = lms_quant_amax_tensor(x, rows * cols);
		break;
	default:
		break;
	}
	return LMS_OK;
}

/* ---- per-element kernels ------------------------------------------------- */

/* §9.2 fake_tensor_quant_device: IEEE fp32, rint, clamp, true division. */
static float fq_int(float x, float amax, int bits)
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

/* §9.3 fake_e4m3fy with HEAD's safe_amax. */
static void fp8_scales(float amax, float *scale, float *inv_scale)
{
	float a = amax <= 0x1p-24f ? 1.0f : amax;
	*scale = 448.0f / a;
	*inv_scale = 1.0f / *scale;
}

/* MX element conversion (tensor_quant_mx convert_to_types), |v| >= 0. */
static float mx_convert(float v, const struct lms_quantizer_desc *d)
{
	if (d->num_bits == 8)
		return fminf(rintf(v), 127.0f);
	if (d->exp_bits == 4)
		return lms_quant_round_e4m3(v);
	if (d->exp_bits == 2 && d->man_bits == 1)
		return lms_quant_round_minifloat(isnan(v) ? INFINITY : v, 2, 1, 6.0f);
	if (d->exp_bits == 3)
		return lms_quant_round_minifloat(isnan(v) ? INFINITY : v, 3, 2, 28.0f);
	return lms_quant_round_minifloat(isnan(v) ? INFINITY : v, 2, 3, 7.5f);
}

static float mx_dmax(const struct lms_quantizer_desc *d)
{
	if (d->num_bits == 8)
		return 127.0f;
	if (d->exp_bits == 4)
		return 448.0f;
	if (d->exp_bits == 2 && d->man_bits == 1)
		return 6.0f;
	if (d->exp_bits == 3)
		return 28.0f;
	return 7.5f;
}

/* compute_scale → compute_scale_e8m0_NV: unscale = 2^ceil(log2(bmax/dmax))
 * from the fp32 bit fields of the (ftz) ratio. */
static void mx_scales(float bmax, float dmax, float *scale, float *unscale)
{
	if (bmax == 0.0f || isinf(bmax) || isnan(bmax)) {
		*scale = *unscale = 1.0f;
		return;
	}
	float ratio = ftz(bmax / dmax);
	uint32_t u;
	memcpy(&u, &ratio, sizeof u);
	uint32_t ef = (u >> 23) & 0xffu, sf = u & 0x7fffffu;
	int e = (sf > 0 && ef != 0xfeu && !(ef == 0 && sf <= 0x400000u)) ? (int)ef - 126 : (int)ef - 127;
	*scale = ldexpf(1.0f, -e);
	*unscale = ldexpf(1.0f, e);
}

static void fake_mx(const struct lms_quantizer_desc *d, const float *x, float *y, size_t rows, size_t cols)
{
	size_t bs = (size_t)d->block_size;
	float dmax = mx_dmax(d);
	for (size_t r = 0; r < rows; r++) {
		for (size_t c0 = 0; c0 < cols; c0 += bs) {
			size_t c1 = c0 + bs < cols ? c0 + bs : cols;
			const float *xr = x + r * cols;
			float *yr = y + r * cols;
			float bmax = 0.0f; /* padding contributes 0 */
			for (size_t c = c0; c < c1; c++) {
				/* compute_max: a ternary clamp (NaN stays NaN and fmaxf drops it) */
				float a = ftz(fabsf(lms_round_bf16(xr[c])));
				bmax = fmaxf(bmax, a > FLT_MAX ? FLT_MAX : a);
			}
			float scale, unscale;
			mx_scales(bmax, dmax, &scale, &unscale);
			for (size_t c = c0; c < c1; c++) {
				float v = lms_round_bf16(xr[c]);
				float a = ftz(ftz(fabsf(v)) * scale);
				float q = ftz(mx_convert(a, d) * ftz(unscale));
				/* `sign * xabs`: zero inputs give +0 here (the kernel's
				 * sign is uninitialised for them). */
				yr[c] = lms_round_bf16(v < 0.0f ? -q : q);
			}
		}
	}
}

/* §9.4 Triton fp4_fake_quant_block. */
static void fake_nvfp4(const struct lms_quantizer_desc *d, const float *x, float *y, size_t rows, size_t cols,
		       float global_amax)
{
	size_t bs = (size_t)d->block_size;
	float gs = global_amax / 2688.0f;
	float gs_safe = gs > 0.0f ? gs : 1e-12f;
	for (size_t r = 0; r < rows; r++) {
		for (size_t c0 = 0; c0 < cols; c0 += bs) {
			size_t c1 = c0 + bs < cols ? c0 + bs : cols;
			const float *xr = x + r * cols;
			float *yr = y + r * cols;
			float bmax = 0.0f;
			for (size_t c = c0; c < c1; c++)
				bmax = fmaxf(bmax, fabsf(lms_round_bf16(xr[c])));
			float s = fminf(bmax / (6.0f * gs_safe), 448.0f);
			float scale = lms_quant_round_e4m3(s) * gs_safe;
			if (!(scale >= 1e-5f))
				scale = 1.0f;
			for (size_t c = c0; c < c1; c++) {
				float v = lms_round_bf16(xr[c]);
				float q = lms_quant_round_e2m1(fabsf(v) / scale) * scale;
				yr[c] = lms_round_bf16(v >= 0.0f ? q : -q);
			}
		}
	}
}

enum lms_status lms_quant_fake(const struct lms_quantizer_desc *d, const float *x, float *y, size_t rows,
			       size_t cols, const float *amax)
{
	enum lms_qscheme s = LMS_QSCHEME_DISABLED;
	LMS_TRY(lms_quant_scheme(d, NULL, &s));
	size_t n = rows * cols;
	if (n == 0)
		return LMS_OK;
	float one_amax;
	float *dyn = NULL;
	if (d->dynamic_amax)
		amax = NULL; /* never calibrated: always from the current tensor */
	size_t na = lms_quant_amax_len(d, rows, cols);
	if (!amax && na > 0) {
		if (na == 1) {
			dyn = &one_amax;
		} else {
			dyn = malloc(na * sizeof *dyn);
			if (!dyn)
				return lms_fail(LMS_ERR_NOMEM, NULL, "fake quant: out of memory for %zu amax values", na);
		}
		LMS_TRY(lms_quant_amax(d, x, rows, cols, dyn));
		amax = dyn;
	}
	switch (s) {
	case LMS_QSCHEME_DISABLED:
		for (size_t i = 0; i < n; i++)
			y[i] = lms_round_bf16(x[i]);
		break;
	case LMS_QSCHEME_INT:
		for (size_t i = 0; i < n; i++)
			y[i] = lms_round_bf16(fq_int(lms_round_bf16(x[i]), amax[d->axis == 0 ? i / cols : 0], d->num_bits));
		break;
	case LMS_QSCHEME_INT_BLOCK: {
		size_t nb = (cols + (size_t)d->block_size - 1) / (size_t)d->block_size;
		for (size_t i = 0; i < n; i++) {
			size_t r = i / cols, b = (i % cols) / (size_t)d->block_size;
			y[i] = lms_round_bf16(fq_int(lms_round_bf16(x[i]), amax[r * nb + b], d->num_bits));
		}
		break;
	}
	case LMS_QSCHEME_FP8:
		for (size_t i = 0; i < n; i++) {
			float sc, inv;
			fp8_scales(amax[d->axis == 0 ? i / cols : 0], &sc, &inv);
			y[i] = lms_round_bf16(lms_quant_round_e4m3(lms_round_bf16(x[i]) * sc) * inv);
		}
		break;
	case LMS_QSCHEME_MX:
		fake_mx(d, x, y, rows, cols);
		break;
	case LMS_QSCHEME_NVFP4:
		fake_nvfp4(d, x, y, rows, cols, amax[0]);
		break;
	}
	if (dyn && dyn != &one_amax)
		free(dyn);
	return LMS_OK;
}

/* ---- descriptors ---------------------------------------------------------- */

void lms_quant_desc_disabled(struct lms_quantizer_desc *out)
{
	memset(out, 0, sizeof *out);
	out->axis = LMS_QAXIS_NONE;
	out->effective_bits = -1.0;
}

double lms_quant_entry_bits(const struct lms_quantizer_desc *d)
{
	if (!d->enabled)
		return 16.0;
	if (d->effective_bits >= 0.0)
		return d->effective_bits;
	if (d->num_bits > 0)
		return (double)d->num_bits;
	if (d->exp_bits > 0 || d->man_bits > 0)
		return (double)(d->exp_bits + d->man_bits + 1);
	return 16.0;
}

/* Parses ":<word>" options after the head of a spec. */
static int parse_opt(const char *opt, struct lms_quantizer_desc *d)
{
	int n;
	if (strcmp(opt, "axis0") == 0) {
		d->axis = 0;
	} else if (strcmp(opt, "dynamic") == 0) {
		d->dynamic_amax = 1;
	} else if (sscanf(opt, "block%d", &n) == 1 && n > 0) {
		d->block_size = n;
	} else {
		return 0;
	}
	return 1;
}

enum lms_status lms_quant_desc_parse(const char *spec, struct lms_quantizer_desc *out)
{
	const char *hint = "use none, int<b>[:axis0|:block<n>], fp8[:axis0][:dynamic], "
			   "mx:<e2m1|e4m3|e3m2|e2m3|int8> or nvfp4[:block<n>]";
	char buf[64];
	if (!spec || strlen(spec) >= sizeof buf)
		return lms_fail(LMS_ERR_USAGE, hint, "quantizer spec missing or too long");
	strcpy(buf, spec);
	lms_quant_desc_disabled(out);
	char *save = NULL, *tok = strtok_r(buf, ":", &save);
	int bits;
	if (!tok)
		return lms_fail(LMS_ERR_USAGE, hint, "empty quantizer spec");
	if (strcmp(tok, "none") == 0)
		return LMS_OK;
	out->enabled = 1;
	if (strcmp(tok, "fp8") == 0) {
		out->exp_bits = 4;
		out->man_bits = 3;
	} else if (strcmp(tok, "nvfp4") == 0) {
		out->exp_bits = 2;
		out->man_bits = 1;
		out->block_size = 16;
		out->block_dynamic = 1;
		out->scale_exp_bits = 4;
		out->scale_man_bits = 3;
	} else if (strcmp(tok, "mx") == 0) {
		char *el = strtok_r(NULL, ":", &save);
		static const struct { const char *n; int e, m, b; } els[] = {
			{"e2m1", 2, 1, 0}, {"e4m3", 4, 3, 0}, {"e3m2", 3, 2, 0}, {"e2m3", 2, 3, 0}, {"int8", 0, 0, 8}};
		size_t i;
		for (i = 0; el && i < sizeof els / sizeof els[0]; i++)
			if (strcmp(el, els[i].n) == 0)
				break;
		if (!el || i == sizeof els / sizeof els[0])
			return lms_fail(LMS_ERR_USAGE, hint, "quantizer spec '%s': unknown MX element format", spec);
		out->exp_bits = els[i].e;
		out->man_bits = els[i].m;
		out->num_bits = els[i].b;
		out->block_size = 32;
		out->block_dynamic = 1;
		out->scale_exp_bits = 8;
	} else if (sscanf(tok, "int%d", &bits) == 1) {
		out->num_bits = bits;
	} else {
		return lms_fail(LMS_ERR_USAGE, hint, "quantizer spec '%s': unknown kind '%s'", spec, tok);
	}
	while ((tok = strtok_r(NULL, ":", &save)) != NULL)
		if (!parse_opt(tok, out))
			return lms_fail(LMS_ERR_USAGE, hint, "quantizer spec '%s': unknown option '%s'", spec, tok);
	enum lms_qscheme s = LMS_QSCHEME_DISABLED;
	return lms_quant_scheme(out, spec, &s);
}
