/* fsutil.h — file helpers with the project's error conventions.
 *
 * Every output file of lmsens is written through lms_atomic_* : the bytes go
 * to "<path>.tmp.<pid>" in the same directory, are flushed and fsync'ed, and
 * the file is renamed onto <path>. A failure at any point removes the
 * temporary file, so no partial file ever appears under a final name. */
#ifndef LMS_CORE_FSUTIL_H
#define LMS_CORE_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

/* Reads a whole file into a new NUL-terminated buffer (caller frees with
 * free()). Files larger than max_bytes are refused with LMS_ERR_INPUT.
 * `what` names the file's role in messages ("tokenizer file", "config.json"). */
LMS_NODISCARD enum lms_status lms_read_file(const char *path, size_t max_bytes, const char *what,
					    char **out, size_t *out_len);

/* Writes len bytes atomically to path (see above). */
LMS_NODISCARD enum lms_status lms_write_file_atomic(const char *path, const void *data, size_t len);

/* Atomic writing through a FILE*: open gives a stream on the temporary name;
 * commit flushes, fsyncs, closes and renames; abort closes and unlinks.
 * tmp_path must have room for PATH_MAX bytes. */
LMS_NODISCARD enum lms_status lms_atomic_open(const char *path, char *tmp_path, size_t tmp_cap,
					      FILE **out);
LMS_NODISCARD enum lms_status lms_atomic_commit(FILE *f, const char *tmp_path, const char *path);
void lms_atomic_abort(FILE *f, const char *tmp_path);

/* mkdir -p with mode 0777 & ~umask. */
LMS_NODISCARD enum lms_status lms_mkdir_p(const char *path);

/* 1 if path exists and is a directory / a regular file, else 0. */
int lms_is_dir(const char *path);
int lms_is_file(const char *path);

/* Joins a and b with one '/' into out (cap bytes). LMS_ERR_INPUT if too long. */
LMS_NODISCARD enum lms_status lms_path_join(char *out, size_t cap, const char *a, const char *b);

#endif
