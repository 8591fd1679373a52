/* test.h — the assertion macros of lmsens's C tests (after libuv's task.h).
 *
 * Each check prints both expressions and both values with file:line when it
 * fails, counts, and goes on (so one run shows every failure). A test binary
 * ends with `return lms_test_finish();`, which prints "N passed, N failed"
 * last and returns non-zero when anything failed. A test that needs a GPU and
 * finds none returns LMS_TEST_SKIP (77, CTest's SKIP_RETURN_CODE). Checks in
 * every source file of a binary count towards the one summary. */
#ifndef LMS_TESTS_TEST_H
#define LMS_TESTS_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LMS_TEST_SKIP 77

/* One pair of counters per test binary, however many of its source files
 * include this header and check things (weak definitions merge at link time;
 * static ones would give each file its own uncounted pair). */
__attribute__((weak)) int lms_test_passed_;
__attribute__((weak)) int lms_test_failed_;

static inline void lms_test_result_(int ok, const char *file, int line)
{
	if (ok) {
		lms_test_passed_++;
	} else {
		lms_test_failed_++;
		fprintf(stderr, "  at %s:%d\n", file, line);
	}
}

static inline int lms_test_finish(void)
{
	printf("%d passed, %d failed\n", lms_test_passed_, lms_test_failed_);
	return lms_test_failed_ ? 1 : 0;
}

#define CHECK(cond)                                                               \
	do {                                                                      \
		int ok_ = !!(cond);                                               \
		if (!ok_)                                                         \
			fprintf(stderr, "FAIL: CHECK(%s)\n", #cond);            \
		lms_test_result_(ok_, __FILE__, __LINE__);                        \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                                      \
	do {                                                                                    \
		long long a_ = (long long)(a), b_ = (long long)(b);                             \
		if (a_ != b_)                                                                   \
			fprintf(stderr, "FAIL: %s == %s (%lld vs %lld)\n", #a, #b, a_, b_);    \
		lms_test_result_(a_ == b_, __FILE__, __LINE__);                                 \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                       \
	do {                                                                                     \
		const char *a_ = (a), *b_ = (b);                                                 \
		int ok_ = a_ && b_ && strcmp(a_, b_) == 0;                                       \
		if (!ok_)                                                                        \
			fprintf(stderr, "FAIL: %s == %s\n  got:  \"%s\"\n  want: \"%s\"\n", #a, #b, \
				a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
		lms_test_result_(ok_, __FILE__, __LINE__);                                       \
	} while (0)

/* Substring check, for error messages that embed temporary paths. */
#define CHECK_STR_CONTAINS(hay, needle)                                                          \
	do {                                                                                     \
		const char *h_ = (hay), *n_ = (needle);                                          \
		int ok_ = h_ && n_ && strstr(h_, n_) != NULL;                                    \
		if (!ok_)                                                                        \
			fprintf(stderr, "FAIL: %s contains %s\n  got:  \"%s\"\n  want: \"%s\"\n", \
				#hay, #needle, h_ ? h_ : "(null)", n_ ? n_ : "(null)");          \
		lms_test_result_(ok_, __FILE__, __LINE__);                                       \
	} while (0)

/* |got - want| <= atol + rtol·|want| */
#define CHECK_NEAR(got, want, atol, rtol)                                                          \
	do {                                                                                       \
		double g_ = (double)(got), w_ = (double)(want);                                    \
		int ok_ = fabs(g_ - w_) <= (atol) + (rtol)*fabs(w_);                               \
		if (!ok_)                                                                          \
			fprintf(stderr, "FAIL: %s ≈ %s (%.9g vs %.9g, atol %g rtol %g)\n", #got,   \
				#want, g_, w_, (double)(atol), (double)(rtol));                    \
		lms_test_result_(ok_, __FILE__, __LINE__);                                         \
	} while (0)

/* Checks that an lms_status-returning call fails with `st` and that the
 * recorded message contains `needle`. */
#define CHECK_FAILS_WITH(call, st, needle)                                                      \
	do {                                                                                    \
		lms_error_clear();                                                              \
		enum lms_status got_ = (call);                                                  \
		int ok_ = got_ == (st) && strstr(lms_error_message(), (needle)) != NULL;        \
		if (!ok_)                                                                       \
			fprintf(stderr,                                                         \
				"FAIL: %s\n  status %s (want %s)\n  message: \"%s\"\n  want substring: \"%s\"\n", \
				#call, lms_status_name(got_), lms_status_name(st),              \
				lms_error_message(), (needle));                                 \
		lms_test_result_(ok_, __FILE__, __LINE__);                                      \
	} while (0)

#endif
