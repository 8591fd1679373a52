/* log.c — rank-aware stderr logging and the fatal path. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum lms_log_level g_level = LMS_LOG_INFO;
static int g_rank = -1;
static lms_fatal_hook g_fatal_hook;

static const char *const g_level_names[] = {"error", "warn", "info", "debug"};

void lms_log_set_level(enum lms_log_level level) { g_level = level; }
enum lms_log_level lms_log_get_level(void) { return g_level; }
void lms_log_set_rank(int rank) { g_rank = rank; }
int lms_log_get_rank(void) { return g_rank; }

void lms_log_init_from_env(void)
{
	const char *v = getenv("LMS_LOG_LEVEL");
	if (!v)
		return;
	for (int i = 0; i <= LMS_LOG_DEBUG; i++)
		if (strcmp(v, g_level_names[i]) == 0)
			g_level = (enum lms_log_level)i;
}

static void prefix(FILE *f)
{
	char host[64];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	char *dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	if (g_rank >= 0)
		fprintf(f, "[%s:%d] ", host, g_rank);
	else
		fprintf(f, "[%s:-] ", host);
}

void lms_log(enum lms_log_level level, const char *fmt, ...)
{
	if (level > g_level)
		return;
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps lines of concurrent ranks whole. */
	char host[64] = "?";
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	char *dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	if (g_rank >= 0)
		fprintf(stderr, "[%s:%d] %s: %s\n", host, g_rank, g_level_names[level], line);
	else
		fprintf(stderr, "[%s:-] %s: %s\n", host, g_level_names[level], line);
}

void lms_log_last_error(void)
{
	const char *msg = lms_error_message();
	const char *hint = lms_error_hint();
	if (!msg[0])
		msg = lms_status_name(lms_error_status());
	fprintf(stderr, "error: %s\n", msg);
	if (hint[0])
		fprintf(stderr, "hint: %s\n", hint);
}

void lms_set_fatal_hook(lms_fatal_hook hook) { g_fatal_hook = hook; }

void lms_fatal(const char *file, int line, const char *func, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	prefix(stderr);
	fprintf(stderr, "fatal: %s:%d %s: %s\n", file, line, func, msg);
	fflush(stderr);
	if (g_fatal_hook)
		g_fatal_hook();
	abort();
}
