/* ledger.c — the sweep's append-only job ledger (<sweep dir>/ledger.jsonl)
 * and the FNV-1a 64 checksums of artifacts.
 *
 * Each record is one self-contained JSON object on one line, written with a
 * single write(2) to a file opened with O_APPEND and fsync'ed before the
 * call returns, so a crash leaves at most a torn last line, which the reader
 * skips; the next append then starts on a new line. Records are never
 * rewritten.
 *
 * Checksum: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3) over the file's bytes, printed as 16 hex digits. It detects
 * changed or truncated artifacts; it is not a cryptographic hash.
 * Not here: what the records mean (sched.c). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "dist/dist_internal.h"

uint64_t lms_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

enum lms_status lms_dist_file_hash(const char *path, char hex[17])
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return lms_fail(LMS_ERR_NOT_FOUND, NULL, "%s: %s", path, strerror(errno));
	uint64_t h = LMS_FNV_INIT;
	unsigned char buf[1 << 16];
	size_t got;
	while ((got = fread(buf, 1, sizeof buf, f)) > 0)
		h = lms_fnv1a64(h, buf, got);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return lms_fail(LMS_ERR_IO, NULL, "%s: read error", path);
	snprintf(hex, 17, "%016llx", (unsigned long long)h);
	return LMS_OK;
}

enum lms_status lms_ledger_append(const char *path, const void *rec)
{
	char *line = json_dumps((const json_t *)rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return lms_fail(LMS_ERR_NOMEM, NULL, "ledger: cannot encode a record");
	size_t len = strlen(line);
	line[len] = '\n'; /* json_dumps's terminator becomes the newline */
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	enum lms_status st = LMS_OK;
	if (fd < 0) {
		st = lms_fail(LMS_ERR_IO, "check that the sweep directory is writable", "%s: %s",
			      path, strerror(errno));
	} else {
		/* after a torn last line (a writer killed mid-record) start on a
		 * new line, so the torn bytes do not swallow this record */
		struct stat sb;
		char last = '\n';
		if (fstat(fd, &sb) == 0 && sb.st_size > 0 &&
		    pread(fd, &last, 1, sb.st_size - 1) == 1 && last != '\n' &&
		    write(fd, "\n", 1) != 1)
			LMS_WARN("%s: cannot end the torn last line", path);
		ssize_t w = write(fd, line, len + 1);
		if (w != (ssize_t)(len + 1) || fsync(fd) != 0)
			st = lms_fail(LMS_ERR_IO, "check the free space of the sweep directory",
				      "%s: cannot append a record: %s", path, strerror(errno));
		close(fd);
	}
	free(line);
	return st;
}

static int terminal(const char *ev)
{
	return ev && (strcmp(ev, "done") == 0 || strcmp(ev, "failed") == 0 ||
		      strcmp(ev, "interrupted") == 0);
}

enum lms_status lms_ledger_last(const char *path, size_t n_jobs, void **last)
{
	for (size_t k = 0; k < n_jobs; k++)
		last[k] = NULL;
	if (!lms_is_file(path))
		return LMS_OK;
	char *text;
	size_t len;
	LMS_TRY(lms_read_file(path, (size_t)1 << 30, "ledger", &text, &len));
	size_t line_no = 0;
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		line_no++;
		if (!nl) { /* torn last line: the writer died mid-record */
			LMS_WARN("%s:%zu: ignoring an incomplete last record", path, line_no);
			break;
		}
		*nl = '\0';
		json_error_t err;
		json_t *r = json_loads(p, 0, &err);
		p = nl + 1;
		if (!r) {
			LMS_WARN("%s:%zu: ignoring an unreadable record (%s)", path, line_no,
				 err.text);
			continue;
		}
		json_t *job = json_object_get(r, "job");
		const char *ev = json_string_value(json_object_get(r, "event"));
		if (json_is_integer(job) && terminal(ev) && json_integer_value(job) >= 0 &&
		    (size_t)json_integer_value(job) < n_jobs) {
			size_t k = (size_t)json_integer_value(job);
			json_decref(last[k]);
			last[k] = json_incref(r);
		}
		json_decref(r);
	}
	free(text);
	return LMS_OK;
}
