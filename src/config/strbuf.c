/* strbuf.c — growable strings for the config module (see strbuf.h). */
#include "config/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct lms_sb *b, size_t extra)
{
	if (b->oom)
		return 0;
	if (b->len + extra + 1 <= b->cap)
		return 1;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->oom = 1;
		return 0;
	}
	b->s = s;
	b->cap = cap;
	return 1;
}

void lms_sb_putn(struct lms_sb *b, const char *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void lms_sb_puts(struct lms_sb *b, const char *s)
{
	lms_sb_putn(b, s, strlen(s));
}

void lms_sb_putc(struct lms_sb *b, char c)
{
	lms_sb_putn(b, &c, 1);
}

void lms_sb_printf(struct lms_sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof tmp) {
		lms_sb_putn(b, tmp, (size_t)n);
		return;
	}
	if (!grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

enum lms_status lms_sb_status(struct lms_sb *b)
{
	if (b->oom)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building a string");
	return LMS_OK;
}

char *lms_sb_take(struct lms_sb *b)
{
	char *s = b->s;
	if (!s && !b->oom)
		s = calloc(1, 1);
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
	return s;
}

void lms_sb_free(struct lms_sb *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}
