/* test_format.c — the shipped formats registry (conf/formats) parses, every
 * format has the effective bits of reference §7.1 (HEAD, with the registry's
 * effective_bits override), and invalid files fail with the place and key
 * (tests/data/quant/bad/formats). */
#include <stdlib.h>
#include <string.h>

#include "quant/format.h"
#include "test.h"

static const char *src_dir(void)
{
	const char *s = getenv("LMSENS_SOURCE_DIR");
	return s ? s : LMSENS_SOURCE_DIR;
}

static void test_registry(void)
{
	static const struct {
		const char *name;
		double bits;
		enum lms_qscheme w, in;
	} want[] = {
		{"FP8_DEFAULT_CFG", 8, LMS_QSCHEME_FP8, LMS_QSCHEME_FP8},
		{"FP8_WEIGHT_ONLY_CFG", 8, LMS_QSCHEME_FP8, LMS_QSCHEME_DISABLED},
		{"INT4_BLOCKWISE_WEIGHT_ONLY_CFG", 4, LMS_QSCHEME_INT_BLOCK, LMS_QSCHEME_DISABLED},
		{"INT8_DEFAULT_CFG", 8, LMS_QSCHEME_INT, LMS_QSCHEME_INT},
		{"INT8_WEIGHT_FP8_ACT_CFG", 8, LMS_QSCHEME_INT, LMS_QSCHEME_FP8},
		{"INT8_WEIGHT_ONLY_CFG", 8, LMS_QSCHEME_INT, LMS_QSCHEME_DISABLED},
		{"MXFP4_DEFAULT_CFG", 4, LMS_QSCHEME_MX, LMS_QSCHEME_MX},
		{"MXFP4_WEIGHT_ONLY_CFG", 4, LMS_QSCHEME_MX, LMS_QSCHEME_DISABLED},
		{"MXFP8_DEFAULT_CFG", 8, LMS_QSCHEME_MX, LMS_QSCHEME_MX},
		{"MXINT8_DEFAULT_CFG", 8, LMS_QSCHEME_MX, LMS_QSCHEME_MX},
		{"NVFP4_DEFAULT_CFG", 4.5, LMS_QSCHEME_NVFP4, LMS_QSCHEME_NVFP4},
		{"W4A16_NVFP4_CFG", 4.5, LMS_QSCHEME_NVFP4, LMS_QSCHEME_DISABLED},
		{"W4A8_MXFP4_FP8_CFG", 4, LMS_QSCHEME_MX, LMS_QSCHEME_FP8},
	};
	char conf[4096];
	snprintf(conf, sizeof conf, "%s/conf", src_dir());
	struct lms_format f[16];
	size_t n = sizeof want / sizeof want[0];
	for (size_t i = 0; i < n; i++) {
		enum lms_status st = lms_format_load(conf, want[i].name, &f[i]);
		CHECK_INT_EQ(st, LMS_OK);
		if (st != LMS_OK) {
			fprintf(stderr, "  %s: %s\n", want[i].name, lms_error_message());
			lms_format_none(&f[i]);
			continue;
		}
		CHECK_STR_EQ(f[i].name, want[i].name);
		CHECK_NEAR(lms_format_effective_bits(&f[i]), want[i].bits, 0, 0);
		enum lms_qscheme s;
		CHECK_INT_EQ(lms_quant_scheme(&f[i].weight, "w", &s), LMS_OK);
		CHECK_INT_EQ(s, want[i].w);
		CHECK_INT_EQ(lms_quant_scheme(&f[i].input, "i", &s), LMS_OK);
		CHECK_INT_EQ(s, want[i].in);
	}
	/* W4A8_MXFP4_FP8: algorithm null → the FP8 input amax is dynamic */
	CHECK(f[12].input.dynamic_amax);
	CHECK(!f[0].input.dynamic_amax);
	CHECK_INT_EQ(f[3].weight.axis, 0);
	CHECK_INT_EQ(f[2].weight.block_size, 128);
	/* search order: ascending bits, ties by name, NONE last */
	lms_format_none(&f[n]);
	qsort(f, n + 1, sizeof f[0], lms_format_cmp);
	CHECK_STR_EQ(f[0].name, "INT4_BLOCKWISE_WEIGHT_ONLY_CFG");
	CHECK_STR_EQ(f[3].name, "W4A8_MXFP4_FP8_CFG");
	CHECK_STR_EQ(f[4].name, "NVFP4_DEFAULT_CFG");
	CHECK_STR_EQ(f[n].name, "NONE");
	int64_t u;
	CHECK_INT_EQ(lms_format_bits_units(&f[4], &u), LMS_OK);
	CHECK_INT_EQ(u, 288); /* 4.5 · 64 */
	CHECK_INT_EQ(lms_format_bits_units(&f[n], &u), LMS_OK);
	CHECK_INT_EQ(u, 1024);
	CHECK_INT_EQ(lms_format_load(conf, "NO_SUCH_CFG", &f[0]), LMS_ERR_NOT_FOUND);
	CHECK_STR_CONTAINS(lms_error_message(), "unknown format 'NO_SUCH_CFG'");
	CHECK_INT_EQ(lms_format_load(conf, "../x", &f[0]), LMS_ERR_CONFIG);
}

static void test_bad(void)
{
	static const struct {
		const char *name;
		enum lms_status st;
		const char *msg;
	} bad[] = {
		{"UNKNOWN_KEY", LMS_ERR_CONFIG, "UNKNOWN_KEY.yaml:3:44: quant_cfg.*weight_quantizer.axes"},
		{"BAD_BITS", LMS_ERR_CONFIG, "quant_cfg.*weight_quantizer.num_bits: bad num_bits"},
		{"FP8_STATIC_BLOCK", LMS_ERR_UNSUPPORTED, "static float blocks"},
		{"ODD_BITS", LMS_ERR_CONFIG, "effective bits 4.3"},
		{"NAME_MISMATCH", LMS_ERR_CONFIG, "does not match the file name"},
		{"AWQ", LMS_ERR_CONFIG, "algorithm: unsupported algorithm"},
		{"OUTPUT_ENABLED", LMS_ERR_CONFIG, "quant_cfg.*output_quantizer: unsupported enabled quantizer"},
	};
	char conf[4096];
	snprintf(conf, sizeof conf, "%s/tests/data/quant/bad", src_dir());
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct lms_format f;
		CHECK_INT_EQ(lms_format_load(conf, bad[i].name, &f), bad[i].st);
		CHECK_STR_CONTAINS(lms_error_message(), bad[i].msg);
		CHECK(lms_error_hint() && lms_error_hint()[0]);
	}
}

int main(void)
{
	test_registry();
	test_bad();
	return lms_test_finish();
}
