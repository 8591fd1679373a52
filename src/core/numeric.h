/* numeric.h — bf16 / fp16 / fp8 storage conversions shared by every module.
 *
 * bf16 is the upper half of an IEEE fp32. Rounding fp32 → bf16 is
 * round-to-nearest-even, with NaN kept quiet, exactly as PyTorch's
 * `tensor.to(torch.bfloat16)`. These are inline so the CPU backend's inner
 * loops can use them without a call. */
#ifndef LMS_CORE_NUMERIC_H
#define LMS_CORE_NUMERIC_H

#include <stdint.h>
#include <string.h>

typedef uint16_t lms_bf16;

static inline float lms_bf16_to_f32(lms_bf16 h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline lms_bf16 lms_f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign, force quiet */
		return (lms_bf16)((u >> 16) | 0x0040u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (lms_bf16)(u >> 16);
}

/* Rounds an fp32 value to the nearest bf16 and returns it as fp32. */
static inline float lms_round_bf16(float f) { return lms_bf16_to_f32(lms_f32_to_bf16(f)); }

/* IEEE binary16 → fp32 (exact). */
static inline float lms_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;
	uint32_t u;
	if (exp == 0) {
		if (man == 0) {
			u = sign;
		} else { /* subnormal: renormalise */
			exp = 127 - 15 + 1;
			while (!(man & 0x400u)) {
				man <<= 1;
				exp--;
			}
			man &= 0x3ffu;
			u = sign | (exp << 23) | (man << 13);
		}
	} else if (exp == 31) {
		u = sign | 0x7f800000u | (man << 13);
	} else {
		u = sign | ((exp + 127 - 15) << 23) | (man << 13);
	}
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* FP8 E4M3 (OCP "fn": no infinities, 0x7f/0xff are NaN, max 448) → fp32 (exact). */
static inline float lms_e4m3_to_f32(uint8_t v)
{
	uint32_t sign = (uint32_t)(v & 0x80u) << 24;
	uint32_t exp = (v >> 3) & 0xfu;
	uint32_t man = v & 0x7u;
	float f;
	if (exp == 0xf && man == 0x7) {
		uint32_t u = sign | 0x7fc00000u;
		memcpy(&f, &u, sizeof f);
		return f;
	}
	if (exp == 0) {
		f = (float)man * (1.0f / 512.0f); /* man · 2^-9 */
	} else {
		uint32_t u = ((exp + 127 - 7) << 23) | (man << 20);
		memcpy(&f, &u, sizeof f);
	}
	return sign ? -f : f;
}

#endif
