/* rng.h — the portable, seeded random numbers of mkmodel (and of anyone who
 * needs reproducible test data).
 *
 * Generator: xoshiro256++ (Blackman & Vigna), seeded through splitmix64 from
 * (seed, stream), so independent streams can be generated in parallel and the
 * result does not depend on the number of threads.
 * Normal variates: the 256-layer ziggurat of Marsaglia & Tsang (2000) in the
 * form of Doornik (2005), exact N(0,1) (not an approximation such as a sum of
 * uniforms). Its tables, the wedge test and the tail use only +, −, ×, ÷,
 * sqrt, frexp and ldexp (own exp/log below), all exactly rounded in IEEE
 * double, so a (seed, stream) gives the same values on every machine with
 * IEEE doubles and no FMA contraction (C11 mode compiles with
 * -ffp-contract=off).
 * Not for cryptography. */
#ifndef LMS_MODEL_RNG_H
#define LMS_MODEL_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "core/numeric.h"

struct lms_rng {
	uint64_t s[4];
};

/* Seeds r for stream `stream` of `seed` (any values). */
void lms_rng_seed(struct lms_rng *r, uint64_t seed, uint64_t stream);

static inline uint64_t lms_rng_next(struct lms_rng *r)
{
	uint64_t *s = r->s;
	uint64_t x = s[0] + s[3];
	uint64_t result = ((x << 23) | (x >> 41)) + s[0];
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double lms_rng_uniform(struct lms_rng *r)
{
	return (double)(int64_t)(lms_rng_next(r) >> 11) * 0x1p-53;
}

/* One N(0, 1) variate. */
double lms_rng_normal(struct lms_rng *r);

/* out[i] = bf16(float(stddev · z_i)), z_i ~ N(0, 1), n values. */
void lms_rng_normal_bf16(struct lms_rng *r, double stddev, lms_bf16 *out, size_t n);

/* The portable exp and log used by the ziggurat (exposed for the tests):
 * relative error below 2e-16 on their domains. */
double lms_rng_exp(double x); /* x <= 0 */
double lms_rng_log(double x); /* x > 0 */

#endif
