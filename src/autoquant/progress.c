/* progress.c — the pipeline's progress lines and clock (pipeline_internal.h):
 * one phase at a time; on a terminal the line "[phase] i/n unit  rate unit/s
 * seconds, ETA s" is rewritten in place, otherwise a plain log line (with the
 * same ETA) is printed at most every 10 s and once at the end of the phase.
 * lms_aq_progress_format makes the fields of both from the counts and the
 * elapsed time alone (no clock, no output: tests/autoquant/test_progress.c).
 * Invariants: single-threaded use (one phase of one pipeline at a time).
 * Not here: what the phases do. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "autoquant/pipeline_internal.h"
#include "core/log.h"

double lms_aq_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress lines ------------------------------------------------------ */

static struct {
	const char *phase, *unit;
	int total, tty, dirty;
	double t0, last;
} g_prog;

void lms_aq_progress_begin(const char *phase, int total, const char *unit)
{
	g_prog.phase = phase;
	g_prog.unit = unit;
	g_prog.total = total;
	g_prog.tty = isatty(2);
	g_prog.dirty = 0;
	g_prog.t0 = g_prog.last = lms_aq_now();
}

void lms_aq_progress_format(char *buf, size_t cap, int done, int total, const char *unit,
			    double elapsed, int final, const char *sep)
{
	double rate = elapsed > 0 ? done / elapsed : 0.0;
	/* ETA from the mean rate so far; none before the first step is done */
	char eta[48] = "";
	if (!final && done > 0 && done < total && rate > 0)
		snprintf(eta, sizeof eta, ", ETA %.0f s", (total - done) / rate);
	snprintf(buf, cap, "%d/%d %s%s%.2f %s/s%s%.1f s%s", done, total, unit, sep, rate, unit, sep,
		 elapsed, eta);
}

static void progress_line(int done, int final)
{
	char text[256];
	/* a terminal line separates its fields with two spaces, a log line with ", " */
	lms_aq_progress_format(text, sizeof text, done, g_prog.total, g_prog.unit,
			       lms_aq_now() - g_prog.t0, final, g_prog.tty ? "  " : ", ");
	if (g_prog.tty) {
		/* the trailing spaces wipe a longer previous line (the ETA shrinks) */
		fprintf(stderr, "\r[%s] %s   %s", g_prog.phase, text, final ? "\n" : "");
		g_prog.dirty = !final;
	} else {
		LMS_INFO("%s: %s", g_prog.phase, text);
	}
	fflush(stderr);
}

void lms_aq_progress_step(int done)
{
	double now = lms_aq_now();
	/* a terminal line is cheap to rewrite; a log file gets a line every 10 s */
	if (done < g_prog.total && now - g_prog.last < (g_prog.tty ? 0.2 : 10.0))
		return;
	g_prog.last = now;
	if (done < g_prog.total)
		progress_line(done, 0);
}

double lms_aq_progress_end(void)
{
	progress_line(g_prog.total, 1);
	return lms_aq_now() - g_prog.t0;
}
