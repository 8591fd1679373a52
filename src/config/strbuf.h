/* strbuf.h — a growable string used inside src/config/ (not a public API).
 *
 * Invariant: s is always NUL-terminated once anything was appended; on an
 * allocation failure `oom` is set and later appends are ignored, so callers
 * check once at the end (lms_sb_status). */
#ifndef LMS_CONFIG_STRBUF_H
#define LMS_CONFIG_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/status.h"

struct lms_sb {
	char *s;
	size_t len, cap;
	int oom;
};

void lms_sb_putn(struct lms_sb *b, const char *s, size_t n);
void lms_sb_puts(struct lms_sb *b, const char *s);
void lms_sb_putc(struct lms_sb *b, char c);
LMS_PRINTF(2, 3) void lms_sb_printf(struct lms_sb *b, const char *fmt, ...);
/* LMS_OK, or LMS_ERR_NOMEM (recorded) when an append failed. */
LMS_NODISCARD enum lms_status lms_sb_status(struct lms_sb *b);
/* Returns the string (new, caller frees; "" when empty) and resets b. */
char *lms_sb_take(struct lms_sb *b);
void lms_sb_free(struct lms_sb *b);

#endif
