/* rng.c — splitmix64 seeding, the ziggurat normal sampler and its portable
 * exp/log (see rng.h for why they are hand-written).
 *
 * Ziggurat layout (Doornik 2005, as in Rust rand_distr): X[0] = V/f(R) is
 * the width of the base strip (rectangle + tail), X[1] = R, X[i+1] =
 * f⁻¹(f(X[i]) + V/X[i]), X[256] = 0, F[i] = f(X[i]) with f(x) = exp(−x²/2).
 * A sample uses 8 low bits of one 64-bit draw for the layer and its top 53
 * bits for a signed uniform; ~98.8% of samples return after one compare. */
#include "model/rng.h"

#include <math.h>
#include <pthread.h>

#define ZIG_R 3.654152885361008796
#define ZIG_V 0.00492867323399
#define LN2_HI 6.93147180369123816490e-01 /* fdlibm split: k·LN2_HI is exact */
#define LN2_LO 1.90821492927058770002e-10

static double g_x[257], g_f[257];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void lms_rng_seed(struct lms_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t st = seed;
	uint64_t mix = splitmix64(&st) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&mix);
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1; /* the all-zero state is the one forbidden state */
}

double lms_rng_exp(double x)
{
	if (x < -745.0)
		return 0.0;
	if (x > 709.0)
		return HUGE_VAL;
	double kd = floor(x / LN2_HI + 0.5);
	int k = (int)kd;
	double r = (x - kd * LN2_HI) - kd * LN2_LO; /* |r| <= ~0.347 */
	/* Horner on the Taylor series to degree 17 (error < 1e-19 for |r| <= 0.35). */
	double s = 1.0;
	for (int n = 17; n >= 1; n--)
		s = 1.0 + s * r / (double)n;
	return ldexp(s, k);
}

double lms_rng_log(double x)
{
	if (!(x > 0.0))
		return -HUGE_VAL;
	int e;
	double m = frexp(x, &e); /* x = m·2^e, m in [0.5, 1) */
	if (m < 0.70710678118654752440) {
		m *= 2.0;
		e -= 1;
	}
	double s = (m - 1.0) / (m + 1.0); /* |s| <= 0.1716 */
	double s2 = s * s, sum = 0.0;
	for (int n = 29; n >= 3; n -= 2)
		sum = (sum + 1.0 / (double)n) * s2;
	double lm = 2.0 * s + 2.0 * s * sum; /* 2·atanh(s) = log(m) */
	return (double)e * LN2_HI + ((double)e * LN2_LO + lm);
}

static double pdf(double x)
{
	return lms_rng_exp(-0.5 * x * x);
}

static void init_tables(void)
{
	double fr = pdf(ZIG_R);
	g_x[0] = ZIG_V / fr;
	g_x[1] = ZIG_R;
	g_f[0] = pdf(g_x[0]);
	g_f[1] = fr;
	for (int i = 2; i < 256; i++) {
		g_x[i] = sqrt(-2.0 * lms_rng_log(ZIG_V / g_x[i - 1] + g_f[i - 1]));
		g_f[i] = pdf(g_x[i]);
	}
	g_x[256] = 0.0;
	g_f[256] = 1.0;
}

/* The base strip's tail beyond R (Marsaglia 1964). */
static double tail(struct lms_rng *r, int negative)
{
	double x, y;
	do {
		x = lms_rng_log(1.0 - lms_rng_uniform(r)) / ZIG_R; /* log of (0, 1] */
		y = lms_rng_log(1.0 - lms_rng_uniform(r));
	} while (-2.0 * y < x * x);
	return negative ? x - ZIG_R : ZIG_R - x;
}

static inline double normal_fast(struct lms_rng *r)
{
	for (;;) {
		uint64_t b = lms_rng_next(r);
		int i = (int)(b & 0xff);
		double u = (double)(int64_t)(b >> 11) * 0x1p-52 - 1.0; /* [-1, 1); signed: fast cvt */
		double x = u * g_x[i];
		if (fabs(x) < g_x[i + 1])
			return x;
		if (i == 0)
			return tail(r, u < 0);
		if (g_f[i + 1] + (g_f[i] - g_f[i + 1]) * lms_rng_uniform(r) < pdf(x))
			return x;
	}
}

double lms_rng_normal(struct lms_rng *r)
{
	pthread_once(&g_once, init_tables);
	return normal_fast(r);
}

void lms_rng_normal_bf16(struct lms_rng *r, double stddev, lms_bf16 *out, size_t n)
{
	pthread_once(&g_once, init_tables);
	for (size_t i = 0; i < n; i++)
		out[i] = lms_f32_to_bf16((float)(stddev * normal_fast(r)));
}
