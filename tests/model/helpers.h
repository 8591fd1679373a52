/* helpers.h — temporary directories and raw file writers for the model
 * tests (static functions; include from one test file each). */
#ifndef LMS_TESTS_MODEL_HELPERS_H
#define LMS_TESTS_MODEL_HELPERS_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Removes a directory tree (test scratch only). */
static inline void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new scratch directory under $TMPDIR (or /tmp); written into buf. */
static inline const char *make_tmpdir(char *buf, size_t cap, const char *tag)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, cap, "%s/lmsens-%s-XXXXXX", t && *t ? t : "/tmp", tag);
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		exit(1);
	}
	return buf;
}

/* Writes `len8` as the header length (little endian), then `header`, then
 * data_len bytes of a counting pattern. */
static inline void write_raw_st(const char *path, uint64_t len8, const char *header,
				size_t data_len)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(len8 >> (8 * i));
	fwrite(b, 1, 8, f);
	fwrite(header, 1, strlen(header), f);
	for (size_t i = 0; i < data_len; i++)
		fputc((int)(i & 0xff), f);
	fclose(f);
}

/* The usual case: the header length is the header's length. */
static inline void write_st(const char *path, const char *header, size_t data_len)
{
	write_raw_st(path, strlen(header), header, data_len);
}

static inline void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

#endif
