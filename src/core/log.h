/* log.h — rank-aware logging, the always-on assert and the library check macro.
 *
 * Lines go to stderr as "[host:rank] LEVEL message". The rank is -1 (printed
 * as "-") until src/dist/ calls lms_log_set_rank(). The level comes from
 * LMS_LOG_LEVEL (error|warn|info|debug) or lms_log_set_level().
 *
 * LMS_ASSERT is for invariants (programmer errors): it is never compiled out,
 * prints the condition and aborts through the installed fatal hook (src/dist
 * installs one that calls MPI_Abort).
 *
 * LMS_CHECK_LIB is the one generic check for library calls. Each library gets
 * a thin instance that says what failure looks like for it, e.g.
 *   LMS_YAML_CHECK(yaml_parser_initialize(&p));   0 is failure for libyaml
 *   LMS_H5_CHECK(H5Fclose(f));                     < 0 is failure for HDF5
 * On failure it logs "[host:rank] file:line func: 'call' failed: <msg>",
 * records the error with lms_fail(LMS_ERR_LIBRARY, ...) and returns it. */
#ifndef LMS_CORE_LOG_H
#define LMS_CORE_LOG_H

#include "core/status.h"

enum lms_log_level {
	LMS_LOG_ERROR = 0,
	LMS_LOG_WARN = 1,
	LMS_LOG_INFO = 2,
	LMS_LOG_DEBUG = 3,
};

void lms_log_set_level(enum lms_log_level level);
enum lms_log_level lms_log_get_level(void);
/* Reads LMS_LOG_LEVEL from the environment; unknown values are ignored. */
void lms_log_init_from_env(void);
void lms_log_set_rank(int rank);
int lms_log_get_rank(void);

LMS_PRINTF(2, 3)
void lms_log(enum lms_log_level level, const char *fmt, ...);

#define LMS_ERROR(...) lms_log(LMS_LOG_ERROR, __VA_ARGS__)
#define LMS_WARN(...) lms_log(LMS_LOG_WARN, __VA_ARGS__)
#define LMS_INFO(...) lms_log(LMS_LOG_INFO, __VA_ARGS__)
#define LMS_DEBUG(...) lms_log(LMS_LOG_DEBUG, __VA_ARGS__)

/* Prints the thread's last error as "error: ...\nhint: ..." on stderr. */
void lms_log_last_error(void);

/* Fatal path: called by LMS_ASSERT. The hook (default: abort()) must not return. */
typedef void (*lms_fatal_hook)(void);
void lms_set_fatal_hook(lms_fatal_hook hook);
LMS_NORETURN void lms_fatal(const char *file, int line, const char *func, const char *fmt, ...)
	LMS_PRINTF(4, 5);

#define LMS_ASSERT(cond)                                                                   \
	do {                                                                               \
		if (!(cond))                                                               \
			lms_fatal(__FILE__, __LINE__, __func__, "assertion failed: %s", #cond); \
	} while (0)

/* Generic library check. `failed` is an expression over the result `r_`,
 * `msg` an expression giving a const char * library message. */
#define LMS_CHECK_LIB(type, call, failed, msg)                                              \
	do {                                                                                \
		type r_ = (call);                                                           \
		if (failed) {                                                               \
			lms_log(LMS_LOG_ERROR, "%s:%d %s: '%s' failed: %s", __FILE__, __LINE__, \
				__func__, #call, (msg));                                    \
			return lms_fail(LMS_ERR_LIBRARY, NULL, "'%s' failed: %s", #call,       \
					(msg));                                             \
		}                                                                           \
	} while (0)

/* libyaml: functions return 1 on success and 0 on failure. */
#define LMS_YAML_CHECK(call) LMS_CHECK_LIB(int, call, r_ == 0, "libyaml error")
/* HDF5: negative herr_t / hid_t is failure. */
#define LMS_H5_CHECK(call) LMS_CHECK_LIB(long long, (long long)(call), r_ < 0, "HDF5 error (see the HDF5 error stack above)")
/* jansson: functions returning int use -1 for failure. */
#define LMS_JSON_CHECK(call) LMS_CHECK_LIB(int, call, r_ != 0, "jansson error")

#endif
