/* test_progress.c — the progress lines' fields (progress.c,
 * lms_aq_progress_format): counts, the mean rate, the elapsed time and the
 * ETA from the mean rate, which is absent before the first step, once all
 * steps are done, on the final line and when no time has passed; the two
 * separators (terminal, log); truncation to the buffer. Then one phase
 * through begin/step/end (stderr is no terminal under CTest: log lines). */
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "test.h"

static void check_line(int done, int total, double elapsed, int final, const char *sep,
		       const char *want)
{
	char buf[256];
	lms_aq_progress_format(buf, sizeof buf, done, total, "steps", elapsed, final, sep);
	CHECK_STR_EQ(buf, want);
}

static void test_eta(void)
{
	/* 3 of 12 in 6 s: 0.5 steps/s, 9 left: 18 s */
	check_line(3, 12, 6.0, 0, ", ", "3/12 steps, 0.50 steps/s, 6.0 s, ETA 18 s");
	/* the terminal's separator; the ETA keeps its comma */
	check_line(3, 12, 6.0, 0, "  ", "3/12 steps  0.50 steps/s  6.0 s, ETA 18 s");
	/* 1 of 4 in 3 s: 1/3 step/s, 3 left: 9 s (not 3 s: left / rate, not left x rate) */
	check_line(1, 4, 3.0, 0, ", ", "1/4 steps, 0.33 steps/s, 3.0 s, ETA 9 s");
	/* fast steps: 40 of 100 in 2 s, 60 left at 20/s: 3 s */
	check_line(40, 100, 2.0, 0, ", ", "40/100 steps, 20.00 steps/s, 2.0 s, ETA 3 s");
	/* rounds to the nearest second: 7 left at 2/s = 3.5 s → "4" (%.0f, to even) */
	check_line(1, 8, 0.5, 0, ", ", "1/8 steps, 2.00 steps/s, 0.5 s, ETA 4 s");
	/* hours: 1 of 1000 in 60 s: 999 min */
	check_line(1, 1000, 60.0, 0, ", ", "1/1000 steps, 0.02 steps/s, 60.0 s, ETA 59940 s");
}

static void test_no_eta(void)
{
	check_line(0, 12, 5.0, 0, ", ", "0/12 steps, 0.00 steps/s, 5.0 s");   /* nothing done */
	check_line(12, 12, 6.0, 0, ", ", "12/12 steps, 2.00 steps/s, 6.0 s"); /* all done */
	check_line(12, 12, 6.0, 1, ", ", "12/12 steps, 2.00 steps/s, 6.0 s"); /* final line */
	check_line(5, 12, 6.0, 1, ", ", "5/12 steps, 0.83 steps/s, 6.0 s");   /* final, early */
	check_line(3, 12, 0.0, 0, ", ", "3/12 steps, 0.00 steps/s, 0.0 s");   /* no time yet */
	check_line(3, 12, -1.0, 0, ", ", "3/12 steps, 0.00 steps/s, -1.0 s"); /* clock step back */
	check_line(14, 12, 7.0, 0, ", ", "14/12 steps, 2.00 steps/s, 7.0 s"); /* past the total */
}

static void test_truncation(void)
{
	char buf[12];
	memset(buf, 'x', sizeof buf);
	lms_aq_progress_format(buf, sizeof buf, 3, 12, "steps", 6.0, 0, ", ");
	CHECK_STR_EQ(buf, "3/12 steps,"); /* 11 characters and the terminator */
	char one[1] = {'x'};
	lms_aq_progress_format(one, sizeof one, 3, 12, "steps", 6.0, 0, ", ");
	CHECK_INT_EQ(one[0], 0);
}

static void test_phase(void)
{
	lms_aq_progress_begin("test", 3, "steps");
	for (int i = 1; i <= 3; i++)
		lms_aq_progress_step(i);
	double s = lms_aq_progress_end();
	CHECK(s >= 0.0 && s < 60.0);
}

int main(void)
{
	test_eta();
	test_no_eta();
	test_truncation();
	test_phase();
	return lms_test_finish();
}
