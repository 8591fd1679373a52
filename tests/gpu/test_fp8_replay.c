/* test_fp8_replay.c — the FP8 replay GEMM of autoquant.replay_gemm=fp8
 * (src/backend/fp8_cuda.c, kernels/fp8_quant.cu) on seeded random data:
 *   1. the E4M3 bytes and scale reproduce the per-tensor FP8 fake quantizer
 *      bit for bit: bf16(decode(q) · inv) == fake_quant(x) for every element
 *      (static amax below, at and above the data's max|x|, and a zero one);
 *   2. the FP8 GEMM against an fp64 reference of the same E4M3 values,
 *      inv_x · inv_w · Σ q_x·q_w: within the one bf16 rounding of Y plus
 *      the accumulation (|err| <= 2^-8·|ref| + 1e-4·Σ|terms|: a wrong layout
 *      or scale is off by O(1));
 *   3. the FP8 GEMM against the exact replay (bf16 GEMM of the fake-
 *      quantized operands): the NMSE Σ(fp8 − exact)² / Σ exact² is printed
 *      (the exact path rounds each dequantized operand to bf16; the FP8 GEMM
 *      does not) and bounded by 1e-4;
 *   4. shapes the FP8 GEMM refuses and scale pointers that are not 16-byte
 *      aligned give LMS_ERR_UNSUPPORTED.
 * Exits 77 without a CUDA device. Label: gpu. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/backend_cuda.h"
#include "core/log.h"
#include "core/numeric.h"
#include "quant/quant.h"
#include "test.h"

static struct lms_backend *g_gpu;
static uint64_t g_rng = 0x5851f42d4c957f2dull;

static double urand(void)
{
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return (double)((g_rng * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}

static lms_bf16 *rand_bf16(size_t n, double scale)
{
	lms_bf16 *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = lms_f32_to_bf16((float)((urand() + urand() + urand() - 1.5) * 2.0 * scale));
	return x;
}

static void *up(const void *host, size_t bytes)
{
	void *d = NULL;
	if (lms_backend_alloc(g_gpu, bytes, "test buffer", &d) != LMS_OK ||
	    (host && g_gpu->ops.memcpy_h2d(g_gpu->ctx, d, host, bytes) != LMS_OK)) {
		lms_log_last_error();
		abort();
	}
	return d;
}

static void down(void *host, const void *d, size_t bytes)
{
	if (g_gpu->ops.memcpy_d2h(g_gpu->ctx, host, d, bytes) != LMS_OK) {
		lms_log_last_error();
		abort();
	}
}

/* E4M3 (bias 7, no infinities, S.1111.111 = NaN) to float. */
static float e4m3(uint8_t b)
{
	int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
	float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
	if (e == 15 && m == 7)
		v = NAN;
	return s ? -v : v;
}

static float max_abs(const lms_bf16 *x, size_t n)
{
	float m = 0.0f;
	for (size_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(lms_bf16_to_f32(x[i])));
	return m;
}

/* Quantizes x (n) both ways on the GPU; checks the bytes against fake_quant;
 * returns the bytes and the scale (host). */
static void quant_both(const lms_bf16 *x, size_t n, float amax, uint8_t *q, float *inv)
{
	struct lms_quantizer_desc d;
	CHECK_INT_EQ(lms_quant_desc_parse("fp8", &d), LMS_OK);
	void *dx = up(x, n * 2), *dy = up(NULL, n * 2), *dq = up(NULL, n), *dinv = up(NULL, 4);
	void *da = up(&amax, 4);
	CHECK_INT_EQ(lms_backend_cuda_fake_quant(g_gpu, dy, dx, 1, (int64_t)n, &d, da), LMS_OK);
	CHECK_INT_EQ(lms_backend_cuda_fp8_quant(g_gpu, dq, dinv, dx, (int64_t)n, da), LMS_OK);
	lms_bf16 *y = malloc(n * 2);
	down(y, dy, n * 2);
	down(q, dq, n);
	down(inv, dinv, 4);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += lms_f32_to_bf16(e4m3(q[i]) * *inv) != y[i];
	if (bad)
		fprintf(stderr, "FAIL: fp8_quant amax %g: %zu of %zu values differ from fake_quant\n",
			(double)amax, bad, n);
	CHECK(bad == 0);
	free(y);
	void *bufs[] = {dx, dy, dq, dinv, da};
	for (int i = 0; i < 5; i++)
		g_gpu->ops.free(g_gpu->ctx, bufs[i]);
}

static void case_quant(size_t n)
{
	lms_bf16 *x = rand_bf16(n, 3.0);
	uint8_t *q = malloc(n);
	float inv, m = max_abs(x, n);
	const float amaxes[] = {m, 0.25f * m, 4.0f * m, 0.0f};
	for (int k = 0; k < 4; k++)
		quant_both(x, n, amaxes[k], q, &inv);
	printf("  fp8_quant == fake_quant (4 amax values)    n=%zu\n", n);
	free(q);
	free(x);
}

static void case_gemm(int M, int in, int out)
{
	size_t nx = (size_t)M * in, nw = (size_t)out * in, ny = (size_t)M * out;
	lms_bf16 *x = rand_bf16(nx, 1.0), *w = rand_bf16(nw, 0.05);
	uint8_t *qx = malloc(nx), *qw = malloc(nw);
	float ix, iw, ax = max_abs(x, nx), aw = max_abs(w, nw);
	quant_both(x, nx, ax, qx, &ix);
	quant_both(w, nw, aw, qw, &iw);
	/* the FP8 GEMM */
	void *dqx = up(qx, nx), *dqw = up(qw, nw), *dix = up(&ix, 4), *diw = up(&iw, 4);
	void *dy = up(NULL, ny * 2);
	CHECK_INT_EQ(lms_backend_cuda_fp8_linear(g_gpu, dy, dqx, dix, dqw, diw, M, in, out), LMS_OK);
	lms_bf16 *y8 = malloc(ny * 2), *ye = malloc(ny * 2);
	down(y8, dy, ny * 2);
	/* the exact replay: bf16 GEMM of the fake-quantized operands */
	lms_bf16 *fx = malloc(nx * 2), *fw = malloc(nw * 2);
	for (size_t i = 0; i < nx; i++)
		fx[i] = lms_f32_to_bf16(e4m3(qx[i]) * ix);
	for (size_t i = 0; i < nw; i++)
		fw[i] = lms_f32_to_bf16(e4m3(qw[i]) * iw);
	void *dfx = up(fx, nx * 2), *dfw = up(fw, nw * 2);
	CHECK_INT_EQ(lms_backend_linear_forward(g_gpu, dy, dfx, dfw, M, in, out), LMS_OK);
	down(ye, dy, ny * 2);
	double worst = 0.0, se = 0.0, sr = 0.0;
	size_t bad = 0;
	for (int m = 0; m < M; m++)
		for (int o = 0; o < out; o++) {
			double ref = 0.0, mag = 0.0;
			for (int k = 0; k < in; k++) {
				double t = (double)e4m3(qx[(size_t)m * in + k]) * e4m3(qw[(size_t)o * in + k]);
				ref += t;
				mag += fabs(t);
			}
			ref *= (double)ix * iw;
			mag *= (double)ix * iw;
			double g = lms_bf16_to_f32(y8[(size_t)m * out + o]);
			double e = fabs(g - ref);
			bad += !(e <= ldexp(fabs(ref), -8) + 1e-4 * mag);
			worst = fmax(worst, e / fmax(fabs(ref), 1e-30));
			double ex = lms_bf16_to_f32(ye[(size_t)m * out + o]);
			se += (g - ex) * (g - ex);
			sr += ex * ex;
		}
	if (bad)
		fprintf(stderr, "FAIL: fp8 GEMM %dx%dx%d: %zu values off the fp64 reference\n", M, in,
			out, bad);
	CHECK(bad == 0);
	double nmse = sr > 0 ? se / sr : 0.0;
	CHECK(nmse <= 1e-4);
	printf("  fp8 GEMM M=%-5d in=%-5d out=%-5d  vs fp64: worst rel %.3g; vs exact replay: nmse %.3g\n",
	       M, in, out, worst, nmse);
	void *bufs[] = {dqx, dqw, dix, diw, dy, dfx, dfw};
	for (int i = 0; i < 7; i++)
		g_gpu->ops.free(g_gpu->ctx, bufs[i]);
	free(x), free(w), free(qx), free(qw), free(y8), free(ye), free(fx), free(fw);
}

int main(void)
{
	lms_log_init_from_env();
	if (lms_cuda_device_count() == 0) {
		printf("no CUDA device visible: skipped\n");
		return LMS_TEST_SKIP;
	}
	if (lms_backend_cuda_init(0, &g_gpu) != LMS_OK) {
		lms_log_last_error();
		return 1;
	}
	case_quant(1);
	case_quant(4099);
	case_quant(1 << 20);
	case_gemm(64, 256, 128);
	case_gemm(37, 512, 96);
	case_gemm(256, 2560, 1024);
	CHECK(!lms_backend_cuda_fp8_shape_ok(2560, 100));
	void *d = up(NULL, 4096);
	CHECK_INT_EQ(lms_backend_cuda_fp8_linear(g_gpu, d, d, d, d, d, 8, 24, 16), LMS_ERR_UNSUPPORTED);
	lms_error_clear();
	/* a scale pointer off 16 bytes (cuBLASLt would say "not supported") */
	CHECK_INT_EQ(lms_backend_cuda_fp8_linear(g_gpu, d, d, (float *)d + 1, d, d, 8, 32, 16),
		     LMS_ERR_UNSUPPORTED);
	lms_error_clear();
	g_gpu->ops.free(g_gpu->ctx, d);
	lms_backend_cuda_fp8_release(g_gpu);
	lms_backend_free(g_gpu);
	return lms_test_finish();
}
