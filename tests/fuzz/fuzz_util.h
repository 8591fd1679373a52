/* fuzz_util.h — helpers shared by the libFuzzer targets: the fuzz input as a
 * file (for the readers that take a path) and as a NUL-terminated string.
 *
 * Files are memfds named through /proc/self/fd, so a target does no disk I/O
 * per input; a target that needs a directory (the checkpoint index) makes one
 * with fuzz_tmpdir() at start-up and removes it at exit. */
#ifndef LMS_TESTS_FUZZ_UTIL_H
#define LMS_TESTS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/status.h"

/* A failing parser must say why: an empty error message is a bug. */
static inline void fuzz_check_error(enum lms_status st)
{
	if (st != LMS_OK && lms_error_message()[0] == '\0') {
		fprintf(stderr, "status %d with no error message\n", (int)st);
		abort();
	}
}

/* A memfd holding the bytes of the current input; path is /proc/self/fd/N. */
struct fuzz_file {
	int fd;
	char path[64];
};

static inline void fuzz_file_init(struct fuzz_file *f, const char *name)
{
	f->fd = memfd_create(name, 0);
	if (f->fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* The same on a real file in /dev/shm (or /tmp), for libraries that resolve
 * the real path of what they open (libhdf5); removed at exit. */
static char fuzz_disk_path_[64];
static void fuzz_disk_cleanup_(void)
{
	unlink(fuzz_disk_path_);
}
static inline void fuzz_file_init_disk(struct fuzz_file *f)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_disk_path_, sizeof fuzz_disk_path_, "%s/lmsens-fuzz-XXXXXX", dir);
	f->fd = mkstemp(fuzz_disk_path_);
	if (f->fd < 0) {
		perror("mkstemp");
		abort();
	}
	snprintf(f->path, sizeof f->path, "%s", fuzz_disk_path_);
	atexit(fuzz_disk_cleanup_);
}

static inline void fuzz_file_set(struct fuzz_file *f, const uint8_t *data, size_t size)
{
	if (ftruncate(f->fd, 0) != 0 || (size && pwrite(f->fd, data, size, 0) != (ssize_t)size)) {
		perror("memfd write");
		abort();
	}
}

/* A new NUL-terminated copy of the input (caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Writes len bytes to dir/name, aborting on failure (set-up only). */
static inline void fuzz_write(const char *dir, const char *name, const void *data, size_t len)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(p);
		abort();
	}
}

#endif
