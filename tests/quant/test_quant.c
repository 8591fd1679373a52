/* test_quant.c — hand-computed cases for the CPU fake quantizers at their
 * rounding boundaries (the exhaustive comparison with the PyTorch reference
 * is test_quant_ref.py). Each expected value is worked out in a comment. */
#include <math.h>

#include "core/numeric.h"
#include "quant/quant.h"
#include "test.h"

#define CHECK_F(got, want) CHECK_NEAR((got), (want), 0.0, 0.0)

static struct lms_quantizer_desc spec(const char *s)
{
	struct lms_quantizer_desc d;
	if (lms_quant_desc_parse(s, &d) != LMS_OK)
		lms_quant_desc_disabled(&d);
	return d;
}

static void test_e4m3(void)
{
	CHECK_F(lms_quant_round_e4m3(0x1p-10f), 0.0f);          /* tie between 0 and 2^-9 → even (0) */
	CHECK_F(lms_quant_round_e4m3(3 * 0x1p-10f), 0x1p-8f);   /* 1.5 quanta → 2 quanta */
	CHECK_F(lms_quant_round_e4m3(17.0f), 16.0f);           /* [16,32) step 2: 8.5 → 8 */
	CHECK_F(lms_quant_round_e4m3(19.0f), 20.0f);           /* 9.5 → 10 */
	CHECK_F(lms_quant_round_e4m3(464.0f), 448.0f);         /* tie 448/480 → 448 (even) */
	CHECK_F(lms_quant_round_e4m3(1000.0f), 448.0f);        /* satfinite */
	CHECK_F(lms_quant_round_e4m3(-INFINITY), -448.0f);
	CHECK(signbit(lms_quant_round_e4m3(-0.0f)));
	CHECK(isnan(lms_quant_round_e4m3(NAN)));
}

static void test_e2m1(void)
{
	static const float in[] = {0.25f, 0.26f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 5.01f, 100.0f};
	static const float want[] = {0.0f, 0.5f, 1.0f, 1.0f, 2.0f, 2.0f, 4.0f, 4.0f, 6.0f, 6.0f};
	for (int i = 0; i < 10; i++)
		CHECK_F(lms_quant_round_e2m1(in[i]), want[i]);
}

static void test_int8(void)
{
	struct lms_quantizer_desc d = spec("int8");
	float x[] = {2.5f, 3.5f, -127.5f, 200.0f, -0.25f}, y[5], amax = 127.0f;
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 5, &amax), LMS_OK);
	CHECK_F(y[0], 2.0f);    /* rint: half to even */
	CHECK_F(y[1], 4.0f);
	CHECK_F(y[2], -128.0f); /* −128 is in range (narrow_range false) */
	CHECK_F(y[3], 127.0f);  /* clamp */
	CHECK(signbit(y[4]) && y[4] == 0.0f);
	amax = 0.0f; /* amax < 2^-24 → 0 */
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 5, &amax), LMS_OK);
	CHECK_F(y[0], 0.0f);
	/* per channel: row 1 amax 254 → scale 0.5; 3 → rint(1.5) = 2 → 4 */
	struct lms_quantizer_desc c = spec("int8:axis0");
	float xc[] = {1.0f, 127.0f, 3.0f, 254.0f}, yc[4];
	CHECK_INT_EQ(lms_quant_fake(&c, xc, yc, 2, 2, NULL), LMS_OK);
	CHECK_F(yc[0], 1.0f);
	CHECK_F(yc[2], 4.0f);
	CHECK_F(yc[3], 254.0f);
}

static void test_int4_block(void)
{
	struct lms_quantizer_desc d = spec("int4:block128");
	float x[130], y[130], amax[2];
	for (int i = 0; i < 130; i++)
		x[i] = 0.0f;
	x[0] = 7.0f;   /* block 0 amax 7 → scale 1 */
	x[1] = 2.5f;   /* → 2 */
	x[128] = 1.0f; /* block 1 (2 elements) amax 1 → scale 7 */
	x[129] = -0.5f; /* −3.5 → rint −4 → −4/7 */
	CHECK_INT_EQ(lms_quant_amax_len(&d, 1, 130), 2);
	CHECK_INT_EQ(lms_quant_amax(&d, x, 1, 130, amax), LMS_OK);
	CHECK_F(amax[0], 7.0f);
	CHECK_F(amax[1], 1.0f);
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 130, NULL), LMS_OK);
	CHECK_F(y[1], 2.0f);
	CHECK_F(y[129], lms_round_bf16(-4.0f / 7.0f));
}

static void test_fp8(void)
{
	struct lms_quantizer_desc d = spec("fp8");
	float x[] = {17.0f, 0.0f, -500.0f}, y[3], amax = 448.0f;
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 3, &amax), LMS_OK);
	CHECK_F(y[0], 16.0f);
	CHECK_F(y[2], -448.0f);
	/* zero amax: HEAD's safe amax 1 → scale 448; never NaN */
	float z[] = {0.0f, 0.5f}, yz[2];
	amax = 0.0f;
	CHECK_INT_EQ(lms_quant_fake(&d, z, yz, 1, 2, &amax), LMS_OK);
	CHECK_F(yz[0], 0.0f);
	CHECK_F(yz[1], 0.5f); /* 0.5·448 = 224 (E4M3 exact) → 224·(1/448) */
	/* dynamic amax ignores a given amax: max|x| = 4 → scale 112; bf16(1.1) =
	 * 1.1015625, ·112 = 123.375 → E4M3 step 8 in [64,128) → 120 */
	struct lms_quantizer_desc dyn = spec("fp8:dynamic");
	float w[] = {4.0f, 1.1f}, yw[2];
	amax = 1.0f;
	CHECK_INT_EQ(lms_quant_fake(&dyn, w, yw, 1, 2, &amax), LMS_OK);
	CHECK_F(yw[0], 4.0f);
	CHECK_F(yw[1], lms_round_bf16(120.0f * (1.0f / (448.0f / 4.0f))));
}

static void test_mx(void)
{
	struct lms_quantizer_desc d = spec("mx:e2m1");
	float x[64] = {0}, y[64];
	x[0] = 0.375f; /* = 6·2^-4 exactly: unscale 2^-4, no bump */
	x[1] = 0.1f;   /* bf16 0.10009765625 · 16 = 1.6015625 → 1.5 → 0.09375 */
	x[32] = 0.376953125f; /* next bf16 above 0.375: ratio > 2^-4 → unscale 2^-3 */
	x[33] = 0.1f;         /* · 8 = 0.80078125 → 1 → 0.125 */
	CHECK_INT_EQ(lms_quant_amax_len(&d, 1, 64), 0);
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 64, NULL), LMS_OK);
	CHECK_F(y[0], 0.375f);
	CHECK_F(y[1], 0.09375f);
	CHECK_F(y[32], 0.375f); /* 3.015625 → 3 → 0.375 */
	CHECK_F(y[33], 0.125f);
	CHECK_F(y[2], 0.0f);
	/* all-zero block → scale 1 → zeros, no NaN */
	float z[32] = {0}, yz[32];
	CHECK_INT_EQ(lms_quant_fake(&d, z, yz, 1, 32, NULL), LMS_OK);
	CHECK_F(yz[5], 0.0f);
	/* fp32 denormals are flushed (fast-math kernel) */
	z[0] = 1e-39f;
	CHECK_INT_EQ(lms_quant_fake(&d, z, yz, 1, 32, NULL), LMS_OK);
	CHECK_F(yz[0], 0.0f);
	/* MX INT8: rint and ±127 (no −128) */
	struct lms_quantizer_desc i8 = spec("mx:int8");
	float a[32] = {0}, ya[32];
	a[0] = 127.0f;  /* ratio 1 → unscale 1 */
	a[1] = -126.5f; /* rint → −126 */
	CHECK_INT_EQ(lms_quant_fake(&i8, a, ya, 1, 32, NULL), LMS_OK);
	CHECK_F(ya[1], -126.0f);
}

static void test_nvfp4(void)
{
	struct lms_quantizer_desc d = spec("nvfp4");
	float x[16] = {6.0f, 2.5f, 3.5f, -1.75f, 0.25f, -0.0f}, y[16], g = 2688.0f;
	/* gs = 1, bmax 6 → s = 1 → s8 = 1 → scale 1 */
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 16, &g), LMS_OK);
	CHECK_F(y[0], 6.0f);
	CHECK_F(y[1], 2.0f);
	CHECK_F(y[2], 4.0f);
	CHECK_F(y[3], -2.0f);
	CHECK_F(y[4], 0.0f);
	CHECK(!signbit(y[5])); /* the sign test is x >= 0, so −0 → +0 */
	/* 1e-5 floor: gs = 0.01/2688, bmax 2e-5 → s ≈ 0.896 → s8 0.875 →
	 * scale ≈ 3.3e-6 < 1e-5 → scale 1 → |x| ≤ 0.25 → 0 */
	float t[16] = {2e-5f, 1e-5f}, yt[16];
	g = 0.01f;
	CHECK_INT_EQ(lms_quant_fake(&d, t, yt, 1, 16, &g), LMS_OK);
	CHECK_F(yt[0], 0.0f);
	/* zero global amax: no NaN */
	g = 0.0f;
	CHECK_INT_EQ(lms_quant_fake(&d, x, y, 1, 16, &g), LMS_OK);
	CHECK(!isnan(y[0]) && !isnan(y[5]));
}

static void test_desc(void)
{
	struct lms_quantizer_desc d;
	enum lms_qscheme s;
	CHECK_INT_EQ(lms_quant_desc_parse("fp9", &d), LMS_ERR_USAGE);
	CHECK_INT_EQ(lms_quant_desc_parse("fp8:block128", &d), LMS_ERR_UNSUPPORTED);
	CHECK_STR_CONTAINS(lms_error_message(), "static float blocks");
	CHECK_INT_EQ(lms_quant_desc_parse("mx:e5m2", &d), LMS_ERR_USAGE);
	d = spec("nvfp4");
	CHECK_INT_EQ(lms_quant_scheme(&d, "w", &s), LMS_OK);
	CHECK_INT_EQ(s, LMS_QSCHEME_NVFP4);
	CHECK_F(lms_quant_entry_bits(&d), 4.0);
	d.effective_bits = 4.5;
	CHECK_F(lms_quant_entry_bits(&d), 4.5);
	d = spec("int8:axis0");
	CHECK_F(lms_quant_entry_bits(&d), 8.0);
	d = spec("none");
	CHECK_F(lms_quant_entry_bits(&d), 16.0);
	d = spec("fp8");
	d.axis = 1;
	CHECK_INT_EQ(lms_quant_scheme(&d, "conf/formats/x.yaml: weight", &s), LMS_ERR_UNSUPPORTED);
	CHECK_STR_CONTAINS(lms_error_message(), "conf/formats/x.yaml: weight");
}

/* The bf16-storage path (column chunks of 4096) equals the fp32 path bit
 * for bit, with amax computed on the fly and given, also in place. */
static void test_bf16_path(void)
{
	static const char *specs[] = {"none", "int8", "int8:axis0", "int4:block128", "fp8", "fp8:axis0",
				      "fp8:dynamic", "mx:e2m1", "mx:e4m3", "mx:int8", "nvfp4", "nvfp4:block32"};
	enum { R = 3, C = 9000 };
	static float x[R * C], y[R * C], amax[R * ((C + 15) / 16)];
	static lms_bf16 xb[R * C], yb[R * C];
	uint32_t st = 12345u;
	for (size_t i = 0; i < R * C; i++) {
		st = st * 1664525u + 1013904223u;
		float u = (float)(st >> 8) / 16777216.0f - 0.5f;
		x[i] = lms_round_bf16(u * (i % 997 == 0 ? 50.0f : 1.0f) * (i < C ? 1e-3f : 1.0f));
		xb[i] = lms_f32_to_bf16(x[i]);
	}
	for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
		struct lms_quantizer_desc d = spec(specs[k]);
		for (int given = 0; given < 2; given++) {
			const float *a = NULL;
			if (given) {
				CHECK_INT_EQ(lms_quant_amax(&d, x, R, C, amax), LMS_OK);
				for (size_t i = 0; i < lms_quant_amax_len(&d, R, C); i++)
					amax[i] *= 0.75f; /* clip a little so the given amax matters */
				a = amax;
			}
			CHECK_INT_EQ(lms_quant_fake(&d, x, y, R, C, a), LMS_OK);
			CHECK_INT_EQ(lms_quant_fake_bf16(&d, xb, yb, R, C, a), LMS_OK);
			size_t bad = 0;
			for (size_t i = 0; i < R * C; i++)
				bad += lms_f32_to_bf16(y[i]) != yb[i];
			if (bad)
				fprintf(stderr, "  spec %s given %d: %zu differ\n", specs[k], given, bad);
			CHECK_INT_EQ(bad, 0);
		}
	}
	/* in place, through the backend slot */
	struct lms_quant_desc qd = {spec("nvfp4"), NULL};
	memcpy(yb, xb, sizeof yb);
	CHECK_INT_EQ(lms_quant_cpu_fake(NULL, yb, yb, R, C, &qd), LMS_OK);
	CHECK_INT_EQ(lms_quant_fake(&qd.q, x, y, R, C, NULL), LMS_OK);
	size_t bad = 0;
	for (size_t i = 0; i < R * C; i++)
		bad += lms_f32_to_bf16(y[i]) != yb[i];
	CHECK_INT_EQ(bad, 0);
}

int main(void)
{
	test_bf16_path();
	test_e4m3();
	test_e2m1();
	test_int8();
	test_int4_block();
	test_fp8();
	test_mx();
	test_nvfp4();
	test_desc();
	return lms_test_finish();
}
