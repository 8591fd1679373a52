/* status.h — the one status enum of lmsens and the "last error" record.
 *
 * Every fallible function returns enum lms_status and is marked LMS_NODISCARD.
 * The function that detects a failure records a human message (what is wrong,
 * where: file:line:col, key path or tensor name) and a hint (what to do) with
 * lms_fail(); callers higher up may prefix context with lms_error_context().
 * The CLI prints the record once, as "error: ..." and "hint: ...", and exits
 * with lms_status_exit_code() (2 for user errors).
 *
 * The record is thread-local, so worker threads do not trample each other.
 * It does not allocate: messages longer than the buffer are truncated. */
#ifndef LMS_CORE_STATUS_H
#define LMS_CORE_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define LMS_NODISCARD __attribute__((warn_unused_result))
#define LMS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define LMS_NORETURN __attribute__((noreturn))
#else
#define LMS_NODISCARD
#define LMS_PRINTF(f, a)
#define LMS_NORETURN
#endif

enum lms_status {
	LMS_OK = 0,
	LMS_ERR_USAGE,       /* bad command line: unknown flag, missing argument */
	LMS_ERR_CONFIG,      /* bad configuration: unknown key, bad value, bad YAML */
	LMS_ERR_INPUT,       /* bad input file: corrupt checkpoint, tokenizer, captions */
	LMS_ERR_NOT_FOUND,   /* a named file, tensor, key or format does not exist */
	LMS_ERR_IO,          /* reading or writing failed (disk full, permissions) */
	LMS_ERR_NOMEM,       /* host or device allocation failed */
	LMS_ERR_UNSUPPORTED, /* valid input that this build or backend does not handle */
	LMS_ERR_NUMERIC,     /* NaN/Inf where a finite value is required */
	LMS_ERR_LIBRARY,     /* a library call failed (CUDA, cuBLAS, NCCL, MPI, HDF5, ...) */
	LMS_ERR_INTERRUPTED, /* stopped by a signal (SIGTERM, SIGUSR1) */
	LMS_ERR_INTERNAL,    /* a bug in lmsens */
	LMS_STATUS_COUNT
};

/* Short stable name of a status ("config", "input", ...). Never NULL. */
const char *lms_status_name(enum lms_status st);

/* Process exit code for a status: 0 ok, 2 for errors the user can fix
 * (usage, config, input, not found, unsupported), 1 otherwise, 143 for
 * interrupted (so schedulers see a termination). */
int lms_status_exit_code(enum lms_status st);

/* True for the statuses that lms_status_exit_code maps to 2. */
int lms_status_is_user_error(enum lms_status st);

/* Records st with a formatted message and a hint (hint may be NULL) as the
 * thread's last error, replacing any earlier one, and returns st so that a
 * call site reads `return lms_fail(LMS_ERR_INPUT, "check the path", "...")`. */
LMS_PRINTF(3, 4)
enum lms_status lms_fail(enum lms_status st, const char *hint, const char *fmt, ...);
enum lms_status lms_failv(enum lms_status st, const char *hint, const char *fmt, va_list ap);

/* Prefixes the last error's message with "<context>: " (e.g. a file name the
 * lower layer did not know). Returns the last error's status. */
LMS_PRINTF(1, 2)
enum lms_status lms_error_context(const char *fmt, ...);

/* The last error of this thread. Borrowed; valid until the next lms_fail or
 * lms_error_clear on this thread. Message is "" and status LMS_OK when none. */
enum lms_status lms_error_status(void);
const char *lms_error_message(void);
const char *lms_error_hint(void);
void lms_error_clear(void);

/* Propagates a failing status: LMS_TRY(f(x)); */
#define LMS_TRY(expr)                                   \
	do {                                            \
		enum lms_status lms_try_st_ = (expr);  \
		if (lms_try_st_ != LMS_OK)              \
			return lms_try_st_;             \
	} while (0)

#endif
