/* progress.c — the pipeline's progress lines and clock (pipeline_internal.h):
 * one phase at a time; on a terminal the line "[phase] i/n unit  rate unit/s
 * seconds, ETA s" is rewritten in place, otherwise a plain log line (with the
 * same ETA) is printed at most every 10 s and once at the end of the phase.
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

static void progress_line(int done, int final)
{
	double dt = lms_aq_now() - g_prog.t0;
	double rate = dt > 0 ? done / dt : 0.0;
	/* ETA from the mean rate so far; none before the first step is done */
	char eta[48] = "";
	if (!final && done > 0 && done < g_prog.total && rate > 0)
		snprintf(eta, sizeof eta, ", ETA %.0f s", (g_prog.total - done) / rate);
	if (g_prog.tty) {
		/* the trailing spaces wipe a longer previous line (the ETA shrinks) */
		fprintf(stderr, "\r[%s] %d/%d %s  %.2f %s/s  %.1f s%s   %s", g_prog.phase, done, g_prog.total,
			g_prog.unit, rate, g_prog.unit, dt, eta, final ? "\n" : "");
		g_prog.dirty = !final;
	} else {
		LMS_INFO("%s: %d/%d %s, %.2f %s/s, %.1f s%s", g_prog.phase, done, g_prog.total, g_prog.unit,
			 rate, g_prog.unit, dt, eta);
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
