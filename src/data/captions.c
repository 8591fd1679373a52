/* captions.c — reads a captions file into lines (one calibration sample each).
 *
 * The file is read whole (lms_read_file, 1 GiB limit), split at '\n', each
 * line stripped of ASCII whitespace at both ends and checked to be UTF-8;
 * blank lines are skipped and counted. Invariant: on success n >= 1 and every
 * line is non-empty, valid UTF-8 and NUL-terminated in place.
 *
 * What it does not do: decode other encodings, or read the file in pieces
 * (captions files are small). */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/data.h"

#define MAX_CAPTIONS_BYTES ((size_t)1 << 30)

static int is_ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void lms_captions_free(struct lms_captions *c)
{
	if (!c)
		return;
	free(c->lines);
	free(c->lens);
	free(c->buf);
	memset(c, 0, sizeof *c);
}

enum lms_status lms_captions_read(const char *path, int skip_invalid_utf8, struct lms_captions *out)
{
	memset(out, 0, sizeof *out);
	size_t len;
	LMS_TRY(lms_read_file(path, MAX_CAPTIONS_BYTES, "captions file", &out->buf, &len));
	size_t n_lines = 1;
	for (size_t i = 0; i < len; i++)
		n_lines += out->buf[i] == '\n';
	out->lines = malloc(n_lines * sizeof *out->lines);
	out->lens = malloc(n_lines * sizeof *out->lens);
	if (!out->lines || !out->lens) {
		lms_captions_free(out);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory reading '%s'", path);
	}
	long lineno = 0;
	for (size_t pos = 0; pos < len;) {
		char *line = out->buf + pos;
		char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		lineno++;
		if (nl)
			*nl = '\0';
		size_t bad = lms_utf8_check(line, n);
		if (bad < n) {
			if (!skip_invalid_utf8) {
				unsigned byte =
				    (unsigned char)line[bad]; /* before the buffer goes */
				lms_captions_free(out);
				return lms_fail(LMS_ERR_INPUT,
						"convert the file to UTF-8, or set "
						"dataset.skip_invalid_utf8=true to skip such lines",
						"%s:%ld:%zu: invalid UTF-8 (byte 0x%02x)", path,
						lineno, bad + 1, byte);
			}
			if (!out->first_invalid)
				out->first_invalid = lineno;
			out->n_invalid++;
			continue;
		}
		while (n > 0 && is_ascii_space(line[n - 1]))
			n--;
		while (n > 0 && is_ascii_space(*line)) {
			line++;
			n--;
		}
		if (n == 0) {
			out->n_blank++;
			continue;
		}
		line[n] = '\0';
		out->lines[out->n] = line;
		out->lens[out->n] = n;
		out->n++;
	}
	if (out->n == 0) {
		long blank = out->n_blank, invalid = out->n_invalid;
		lms_captions_free(out);
		return lms_fail(
		    LMS_ERR_INPUT,
		    "the captions file must have one caption per line; check "
		    "dataset.captions_path",
		    "captions file '%s' has no samples (%ld lines: %ld blank, %ld invalid "
		    "UTF-8 skipped)",
		    path, lineno, blank, invalid);
	}
	return LMS_OK;
}
