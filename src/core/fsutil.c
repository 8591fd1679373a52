/* fsutil.c — whole-file reads with size limits, atomic writes, mkdir -p. */
#include "core/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum lms_status lms_read_file(const char *path, size_t max_bytes, const char *what, char **out,
			      size_t *out_len)
{
	*out = NULL;
	if (out_len)
		*out_len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return lms_fail(errno == ENOENT ? LMS_ERR_NOT_FOUND : LMS_ERR_IO,
				"check that the path is right and readable",
				"cannot open %s '%s': %s", what, path, strerror(errno));
	struct stat sb;
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return lms_fail(LMS_ERR_INPUT, "give the path of a regular file",
				"%s '%s' is not a regular file", what, path);
	}
	if ((unsigned long long)sb.st_size > (unsigned long long)max_bytes) {
		fclose(f);
		return lms_fail(LMS_ERR_INPUT, "this is not the file lmsens expects here",
				"%s '%s' is %lld bytes, more than the limit of %zu", what, path,
				(long long)sb.st_size, max_bytes);
	}
	size_t n = (size_t)sb.st_size;
	char *buf = malloc(n + 1);
	if (!buf) {
		fclose(f);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory reading %s '%s' (%zu bytes)", what,
				path, n);
	}
	size_t got = fread(buf, 1, n, f);
	int err = ferror(f);
	fclose(f);
	if (got != n || err) {
		free(buf);
		return lms_fail(LMS_ERR_IO, NULL, "short read of %s '%s' (%zu of %zu bytes)", what,
				path, got, n);
	}
	buf[n] = '\0';
	*out = buf;
	if (out_len)
		*out_len = n;
	return LMS_OK;
}

enum lms_status lms_atomic_open(const char *path, char *tmp_path, size_t tmp_cap, FILE **out)
{
	*out = NULL;
	int n = snprintf(tmp_path, tmp_cap, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= tmp_cap)
		return lms_fail(LMS_ERR_INPUT, "use a shorter output directory", "path too long: %s",
				path);
	FILE *f = fopen(tmp_path, "wb");
	if (!f)
		return lms_fail(LMS_ERR_IO, "check that the output directory exists and is writable",
				"cannot create '%s': %s", tmp_path, strerror(errno));
	*out = f;
	return LMS_OK;
}

void lms_atomic_abort(FILE *f, const char *tmp_path)
{
	if (f)
		fclose(f);
	if (tmp_path && tmp_path[0])
		unlink(tmp_path);
}

enum lms_status lms_atomic_commit(FILE *f, const char *tmp_path, const char *path)
{
	int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
	int saved = errno;
	if (fclose(f) != 0 && !bad) {
		bad = 1;
		saved = errno;
	}
	if (bad) {
		unlink(tmp_path);
		return lms_fail(LMS_ERR_IO, "check free space and permissions of the output directory",
				"writing '%s' failed: %s", path, strerror(saved));
	}
	if (rename(tmp_path, path) != 0) {
		saved = errno;
		unlink(tmp_path);
		return lms_fail(LMS_ERR_IO, "check permissions of the output directory",
				"cannot rename '%s' to '%s': %s", tmp_path, path, strerror(saved));
	}
	return LMS_OK;
}

enum lms_status lms_write_file_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	FILE *f;
	LMS_TRY(lms_atomic_open(path, tmp, sizeof tmp, &f));
	if (len && fwrite(data, 1, len, f) != len) {
		int saved = errno;
		lms_atomic_abort(f, tmp);
		return lms_fail(LMS_ERR_IO, "check free space of the output directory",
				"writing '%s' failed: %s", path, strerror(saved));
	}
	return lms_atomic_commit(f, tmp, path);
}

int lms_is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int lms_is_file(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

enum lms_status lms_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return lms_fail(LMS_ERR_INPUT, NULL, "bad directory path '%s'", path);
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return lms_fail(LMS_ERR_IO, "check permissions of the parent directory",
					"cannot create directory '%s': %s", buf, strerror(errno));
		if (!lms_is_dir(buf))
			return lms_fail(LMS_ERR_IO, "remove the file or choose another directory",
					"'%s' exists and is not a directory", buf);
		buf[i] = c;
	}
	return LMS_OK;
}

enum lms_status lms_path_join(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a);
	int slash = la > 0 && a[la - 1] != '/';
	int n = snprintf(out, cap, "%s%s%s", a, slash ? "/" : "", b);
	if (n < 0 || (size_t)n >= cap)
		return lms_fail(LMS_ERR_INPUT, "use shorter paths", "path too long: %s/%s", a, b);
	return LMS_OK;
}
