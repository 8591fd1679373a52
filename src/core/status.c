/* status.c — status names, exit codes and the thread-local last-error record. */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

#define MSG_CAP 2048
#define HINT_CAP 1024

struct last_error {
	enum lms_status st;
	char msg[MSG_CAP];
	char hint[HINT_CAP];
};

static _Thread_local struct last_error g_err;

static const char *const g_names[LMS_STATUS_COUNT] = {
	[LMS_OK] = "ok",
	[LMS_ERR_USAGE] = "usage",
	[LMS_ERR_CONFIG] = "config",
	[LMS_ERR_INPUT] = "input",
	[LMS_ERR_NOT_FOUND] = "not-found",
	[LMS_ERR_IO] = "io",
	[LMS_ERR_NOMEM] = "out-of-memory",
	[LMS_ERR_UNSUPPORTED] = "unsupported",
	[LMS_ERR_NUMERIC] = "numeric",
	[LMS_ERR_LIBRARY] = "library",
	[LMS_ERR_INTERRUPTED] = "interrupted",
	[LMS_ERR_INTERNAL] = "internal",
};

const char *lms_status_name(enum lms_status st)
{
	if ((int)st < 0 || st >= LMS_STATUS_COUNT)
		return "unknown";
	return g_names[st];
}

int lms_status_is_user_error(enum lms_status st)
{
	switch (st) {
	case LMS_ERR_USAGE:
	case LMS_ERR_CONFIG:
	case LMS_ERR_INPUT:
	case LMS_ERR_NOT_FOUND:
	case LMS_ERR_UNSUPPORTED:
		return 1;
	default:
		return 0;
	}
}

int lms_status_exit_code(enum lms_status st)
{
	if (st == LMS_OK)
		return 0;
	if (st == LMS_ERR_INTERRUPTED)
		return 143;
	return lms_status_is_user_error(st) ? 2 : 1;
}

enum lms_status lms_failv(enum lms_status st, const char *hint, const char *fmt, va_list ap)
{
	g_err.st = st;
	vsnprintf(g_err.msg, sizeof g_err.msg, fmt, ap);
	snprintf(g_err.hint, sizeof g_err.hint, "%s", hint ? hint : "");
	return st;
}

enum lms_status lms_fail(enum lms_status st, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lms_failv(st, hint, fmt, ap);
	va_end(ap);
	return st;
}

enum lms_status lms_error_context(const char *fmt, ...)
{
	char buf[MSG_CAP];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t used = n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
	/* Append ": <old message>" by hand; truncation is acceptable here. */
	const char *sep = ": ";
	for (const char *p = sep; *p && used + 1 < sizeof buf; p++)
		buf[used++] = *p;
	for (const char *p = g_err.msg; *p && used + 1 < sizeof buf; p++)
		buf[used++] = *p;
	buf[used] = '\0';
	memcpy(g_err.msg, buf, sizeof buf);
	return g_err.st;
}

enum lms_status lms_error_status(void) { return g_err.st; }
const char *lms_error_message(void) { return g_err.msg; }
const char *lms_error_hint(void) { return g_err.hint; }

void lms_error_clear(void)
{
	g_err.st = LMS_OK;
	g_err.msg[0] = '\0';
	g_err.hint[0] = '\0';
}
