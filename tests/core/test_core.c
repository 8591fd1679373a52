/* test_core.c — status record, bf16/fp16/e4m3 conversions, atomic files. */
#include <limits.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/numeric.h"
#include "core/status.h"
#include "test.h"

static void test_status(void)
{
	CHECK_INT_EQ(lms_status_exit_code(LMS_OK), 0);
	CHECK_INT_EQ(lms_status_exit_code(LMS_ERR_CONFIG), 2);
	CHECK_INT_EQ(lms_status_exit_code(LMS_ERR_INPUT), 2);
	CHECK_INT_EQ(lms_status_exit_code(LMS_ERR_IO), 1);
	CHECK_INT_EQ(lms_status_exit_code(LMS_ERR_INTERRUPTED), 143);
	CHECK_STR_EQ(lms_status_name(LMS_ERR_NOT_FOUND), "not-found");
	enum lms_status st = lms_fail(LMS_ERR_INPUT, "fix it", "bad thing %d", 7);
	CHECK_INT_EQ(st, LMS_ERR_INPUT);
	CHECK_STR_EQ(lms_error_message(), "bad thing 7");
	CHECK_STR_EQ(lms_error_hint(), "fix it");
	lms_error_context("file '%s'", "x.json");
	CHECK_STR_EQ(lms_error_message(), "file 'x.json': bad thing 7");
	lms_error_clear();
	CHECK_INT_EQ(lms_error_status(), LMS_OK);
	CHECK_STR_EQ(lms_error_message(), "");
}

static void test_bf16(void)
{
	/* Round to nearest even at the halfway point between two bf16 values. */
	CHECK_INT_EQ(lms_f32_to_bf16(1.0f), 0x3f80);
	float half_up; /* 1 + 2^-8: exactly between 1 and 1+2^-7 → even (1.0) */
	uint32_t u = 0x3f808000u;
	memcpy(&half_up, &u, 4);
	CHECK_INT_EQ(lms_f32_to_bf16(half_up), 0x3f80);
	u = 0x3f818000u; /* between 0x3f81 and 0x3f82 → even 0x3f82 */
	memcpy(&half_up, &u, 4);
	CHECK_INT_EQ(lms_f32_to_bf16(half_up), 0x3f82);
	u = 0x3f808001u; /* just above half → up */
	memcpy(&half_up, &u, 4);
	CHECK_INT_EQ(lms_f32_to_bf16(half_up), 0x3f81);
	CHECK_INT_EQ(lms_f32_to_bf16(-2.5f), 0xc020);
	CHECK(isnan(lms_bf16_to_f32(lms_f32_to_bf16(NAN))));
	CHECK(isinf(lms_bf16_to_f32(lms_f32_to_bf16(3.4e38f * 10.0f))));
	/* Largest finite fp32 rounds up to infinity in bf16, as PyTorch does. */
	CHECK(isinf(lms_round_bf16(3.4028235e38f)));
	CHECK_NEAR(lms_f16_to_f32(0x3c00), 1.0, 0, 0);
	CHECK_NEAR(lms_f16_to_f32(0x0001), 5.960464477539063e-08, 0, 0);
	CHECK_NEAR(lms_f16_to_f32(0xc000), -2.0, 0, 0);
	CHECK_NEAR(lms_f16_to_f32(0x7bff), 65504.0, 0, 0);
	CHECK_NEAR(lms_e4m3_to_f32(0x7e), 448.0, 0, 0);
	CHECK_NEAR(lms_e4m3_to_f32(0x01), 0.001953125, 0, 0);
	CHECK_NEAR(lms_e4m3_to_f32(0xb8), -1.0, 0, 0);
	CHECK(isnan(lms_e4m3_to_f32(0x7f)));
}

static void test_files(void)
{
	char dir[] = "/tmp/lmsens-test-core-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char sub[PATH_MAX], file[PATH_MAX];
	CHECK_INT_EQ(lms_path_join(sub, sizeof sub, dir, "a/b/c"), LMS_OK);
	CHECK_INT_EQ(lms_mkdir_p(sub), LMS_OK);
	CHECK(lms_is_dir(sub));
	CHECK_INT_EQ(lms_path_join(file, sizeof file, sub, "out.txt"), LMS_OK);
	CHECK_INT_EQ(lms_write_file_atomic(file, "hello", 5), LMS_OK);
	char *buf = NULL;
	size_t n = 0;
	CHECK_INT_EQ(lms_read_file(file, 100, "test file", &buf, &n), LMS_OK);
	CHECK_INT_EQ(n, 5);
	CHECK_STR_EQ(buf, "hello");
	free(buf);
	CHECK_FAILS_WITH(lms_read_file(file, 4, "test file", &buf, &n), LMS_ERR_INPUT,
			 "more than the limit of 4");
	char missing[PATH_MAX];
	CHECK_INT_EQ(lms_path_join(missing, sizeof missing, dir, "nope"), LMS_OK);
	CHECK_FAILS_WITH(lms_read_file(missing, 4, "captions file", &buf, &n), LMS_ERR_NOT_FOUND,
			 "cannot open captions file");
	/* Writing into a missing directory fails and leaves nothing behind. */
	char bad[PATH_MAX];
	CHECK_INT_EQ(lms_path_join(bad, sizeof bad, missing, "x.json"), LMS_OK);
	CHECK_FAILS_WITH(lms_write_file_atomic(bad, "x", 1), LMS_ERR_IO, "cannot create");
	CHECK(!lms_is_file(bad));
	unlink(file);
}

int main(void)
{
	test_status();
	test_bf16();
	test_files();
	return lms_test_finish();
}
