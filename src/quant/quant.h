/* quant.h — quantizer descriptors and bit-exact CPU fake quantization.
 *
 * A descriptor is ModelOpt's QuantizerAttributeConfig in C: `num_bits` (an
 * int, or (E, M) for a float format), `axis` (none = per tensor, 0 = per
 * output channel), `block_sizes` (size along the last dim, static/dynamic,
 * scale_bits) and `enable`. The fake quantizers reproduce ModelOpt's kernels
 * (reference/modelopt-autoquant.md §9) on the CPU, value for value:
 *   - INT (§9.2): scale = bound/amax, q = rint(x·scale) clamped to
 *     [−bound−1, bound], y = q/scale (true division); amax < 2^-24 gives 0.
 *   - FP8 E4M3 (§9.3): scale = 448/amax, inv_scale = 1/scale,
 *     y = e4m3_satfinite_rne(x·scale)·inv_scale; amax ≤ 2^-24 is replaced by
 *     1 (HEAD's safe_amax, so a zero amax never gives NaN).
 *   - static blocks (§9.6, INT4 block 128): one amax per block of the last
 *     dim, then INT as above.
 *   - MX (§9.5): dynamic blocks of 32 with an E8M0 scale 2^ceil(log2(bmax/dmax))
 *     taken from the fp32 bit fields, element conversion RNE + saturation; the
 *     kernel is built with --use_fast_math, so fp32 denormals are flushed to
 *     zero at every operation (modelled explicitly here).
 *   - NVFP4 (§9.4, Triton path): dynamic blocks of 16 (or 32), E4M3 block
 *     scale from the static fp32 global amax, the 1e-5 scale floor, E2M1 RNE.
 * Inputs are fp32 buffers holding bf16 values (anything else is rounded to
 * bf16 first, as the model stores bf16); outputs are fp32 buffers holding
 * bf16 values (the kernels compute in fp32 and round to bf16 on the store).
 * Divisions are IEEE on the CPU; where a GPU kernel uses an approximate
 * division (Triton div.full.f32, fast-math MX) results can differ in the last
 * ulp of an intermediate — docs/numerics.md lists those places.
 *
 * Tensors are row-major (R, C): R rows (output channels of a weight, or
 * tokens of an activation), C columns (the last dim, along which blocks run).
 * Nothing here allocates, and nothing here knows the model or CUDA. */
#ifndef LMS_QUANT_QUANT_H
#define LMS_QUANT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "core/numeric.h"
#include "core/status.h"

#define LMS_QAXIS_NONE (-1) /* per tensor */

/* How a descriptor is executed (derived from its fields, like ModelOpt's
 * TensorQuantizer._fake_quantize dispatch). */
enum lms_qscheme {
	LMS_QSCHEME_DISABLED = 0, /* identity (still rounds to bf16) */
	LMS_QSCHEME_INT,          /* integer, per tensor or per channel */
	LMS_QSCHEME_INT_BLOCK,    /* integer with static per-block amax */
	LMS_QSCHEME_FP8,          /* E4M3, per tensor or per channel */
	LMS_QSCHEME_MX,           /* dynamic blocks, E8M0 scale */
	LMS_QSCHEME_NVFP4,        /* dynamic blocks of E2M1, E4M3 scale, global amax */
};

struct lms_quantizer_desc {
	int enabled;
	int num_bits;             /* integer formats: 4 or 8; 0 for float formats */
	int exp_bits, man_bits;   /* float formats (E, M), e.g. (4,3), (2,1); 0 for int */
	int axis;                 /* LMS_QAXIS_NONE or 0 */
	int block_size;           /* along the last dim; 0 = not blocked */
	int block_dynamic;        /* 1: block_sizes.type dynamic; 0: static */
	int scale_exp_bits, scale_man_bits; /* block scale: (8,0) E8M0, (4,3) E4M3 */
	int dynamic_amax;         /* 1: never calibrated, amax = max|x| per call (§9.7) */
	double effective_bits;    /* per-entry override (HEAD), < 0 when absent */
};

/* The execution scheme of d, or fails (LMS_ERR_UNSUPPORTED) with a message
 * naming `where` (e.g. "conf/formats/fp8.yaml: weight") for a combination
 * that ModelOpt does not define or lmsens does not implement. */
LMS_NODISCARD enum lms_status lms_quant_scheme(const struct lms_quantizer_desc *d, const char *where,
					       enum lms_qscheme *out);

/* Number of amax values the quantizer consumes for an (R, C) tensor:
 * 1 (per tensor, and NVFP4's global amax), R (axis 0),
 * R·ceil(C/block) (static blocks), 0 (MX: no amax). */
size_t lms_quant_amax_len(const struct lms_quantizer_desc *d, size_t rows, size_t cols);

/* max |x| in the layouts above. x is (R, C); out has the matching length.
 * NaN inputs are ignored (ModelOpt's calibrator asserts there are none). */
float lms_quant_amax_tensor(const float *x, size_t n);
void lms_quant_amax_rows(const float *x, size_t rows, size_t cols, float *out /* (R) */);
void lms_quant_amax_blocks(const float *x, size_t rows, size_t cols, size_t block,
			   float *out /* (R, ceil(C/block)) */);
/* The static amax d would calibrate from x (max|x| in d's layout); writes
 * lms_quant_amax_len(d, R, C) values. A no-op for MX. */
LMS_NODISCARD enum lms_status lms_quant_amax(const struct lms_quantizer_desc *d, const float *x,
					     size_t rows, size_t cols, float *out);

/* Fake-quantizes x (R, C) into y (R, C); y may equal x. amax holds
 * lms_quant_amax_len(d, R, C) calibrated values (borrowed), or is NULL to
 * compute them from x on the fly (ModelOpt's dynamic _get_amax). Fails only
 * for an unsupported descriptor. */
LMS_NODISCARD enum lms_status lms_quant_fake(const struct lms_quantizer_desc *d, const float *x, float *y,
					     size_t rows, size_t cols, const float *amax);

/* The same on bf16 storage (the model's tensors): identical results to
 * lms_quant_fake, computed in column chunks on the stack (no allocation).
 * out may equal in. Fails for an unsupported descriptor or a block size
 * above 4096. */
LMS_NODISCARD enum lms_status lms_quant_fake_bf16(const struct lms_quantizer_desc *d, const lms_bf16 *in,
						  lms_bf16 *out, size_t rows, size_t cols, const float *amax);

/* What the backends' fake_quant slot (backend/backend.h) receives: the
 * quantizer and its calibrated amax values in backend memory
 * (lms_quant_amax_len of them), or amax NULL to compute them per call. */
struct lms_quant_desc {
	struct lms_quantizer_desc q;
	const float *amax;
};

/* The CPU backend's fake_quant slot: lms_quant_fake_bf16 on host memory;
 * ctx is unused. Set `.fake_quant = lms_quant_cpu_fake` in the CPU table. */
LMS_NODISCARD enum lms_status lms_quant_cpu_fake(void *ctx, lms_bf16 *d_out, const lms_bf16 *d_in, int64_t rows,
						 int64_t cols, const struct lms_quant_desc *desc);

/* Element conversions, exposed for tests and for the CUDA comparison.
 * Round |a| to the nearest value of a sign-less minifloat with E exponent and
 * M mantissa bits (bias 2^(E−1)−1, subnormals, ties to even), saturating at
 * maxval; returns the value with the sign of a. NaN → NaN, ±inf → ±maxval. */
float lms_quant_round_minifloat(float a, int e_bits, int m_bits, float maxval);
/* E4M3 "fn" (max 448) with __NV_SATFINITE round-to-nearest-even. */
float lms_quant_round_e4m3(float a);
/* E2M1 (max 6) ties to even, saturating. */
float lms_quant_round_e2m1(float a);

/* Parses a compact descriptor spec, used by test drivers and debugging:
 *   "none" | "int<b>[:axis0|:block<n>]" | "fp8[:axis0][:dynamic]"
 *   | "mx:<e2m1|e4m3|e3m2|e2m3|int8>" | "nvfp4[:block<n>]"
 * e.g. "int8:axis0", "int4:block128", "fp8:dynamic", "mx:e2m1", "nvfp4". */
LMS_NODISCARD enum lms_status lms_quant_desc_parse(const char *spec, struct lms_quantizer_desc *out);

/* A disabled descriptor (effective_bits −1). */
void lms_quant_desc_disabled(struct lms_quantizer_desc *out);

/* Storage-free bits of one quantizer entry for the cost model (§7.1):
 * 16 when disabled or without num_bits, the per-entry override when set,
 * num_bits for an int, E+M+1 for a float. */
double lms_quant_entry_bits(const struct lms_quantizer_desc *d);

#endif
