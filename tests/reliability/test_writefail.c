/* test_writefail.c — write failures for every writer of lmsens: the four
 * report artifacts (JSON manifest, JSON/Markdown report, SVG), the HDF5
 * statistics file, report-only mode and the mkmodel checkpoint writer
 * (safetensors shards, index, config.json, tokenizer).
 *
 * A full disk is simulated with RLIMIT_FSIZE (SIGXFSZ ignored): every write
 * past the limit fails with EFBIG, exactly where a full disk fails with
 * ENOSPC, and it needs no privileges (tests/reliability/writefail_fs.sh does
 * the same on a real full tmpfs and a read-only mount when it may mount).
 * Each writer runs under limits from 0 bytes up to a size that lets it
 * finish; every run must succeed or fail with LMS_ERR_IO and a message, and
 * afterwards the output directory must hold no temporary file and only
 * complete files: each file present is byte-identical to the same file of a
 * run without a limit. A final run without a limit into the same directory
 * must succeed (a failed run leaves nothing that blocks the next one). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aq_fixture.h"
#include "core/fsutil.h"
#include "io/h5stats.h"
#include "model/mkmodel.h"
#include "report/report.h"
#include "test.h"

static char workdir[PATH_MAX];
static long n_runs, n_failed_runs;

static void set_fsize(rlim_t limit)
{
	struct rlimit rl;
	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = limit;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		perror("setrlimit");
}

/* Removes dir and everything below it (test-owned temporary trees only). */
static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		unlink(dir);
		return;
	}
	struct dirent *e;
	char p[PATH_MAX + 256];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Every file under dir must also be under ref with the same bytes. */
static int only_complete_files(const char *dir, const char *ref)
{
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	int ok = 1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char a[PATH_MAX + 256], b[PATH_MAX + 256];
		snprintf(a, sizeof a, "%s/%s", dir, e->d_name);
		snprintf(b, sizeof b, "%s/%s", ref, e->d_name);
		struct stat sa;
		if (stat(a, &sa) == 0 && S_ISDIR(sa.st_mode)) {
			ok &= only_complete_files(a, b);
			continue;
		}
		char *x = NULL, *y = NULL;
		size_t nx = 0, ny = 0;
		int same = lms_read_file(a, (size_t)1 << 30, "output", &x, &nx) == LMS_OK &&
			   lms_read_file(b, (size_t)1 << 30, "reference", &y, &ny) == LMS_OK &&
			   nx == ny && memcmp(x, y, nx) == 0;
		if (!same)
			fprintf(stderr, "%s: temporary, partial or unexpected file\n", a);
		ok &= same;
		free(x);
		free(y);
	}
	closedir(d);
	return ok;
}

struct writer {
	const char *name;
	enum lms_status (*run)(void *ctx, const char *dir);
	void *ctx;
};

/* Runs w under growing limits until a run succeeds. */
static void check_writer(const struct writer *w)
{
	char ref[PATH_MAX + 64], out[PATH_MAX + 64];
	snprintf(ref, sizeof ref, "%s/ref", workdir);
	snprintf(out, sizeof out, "%s/out", workdir);
	rm_tree(ref);
	CHECK_INT_EQ(w->run(w->ctx, ref), LMS_OK);
	static const rlim_t limits[] = {0,    1,     7,	    64,	    512,    1000,    2048,
					4096, 10000, 40000, 100000, 400000, 1000000, 4000000};
	int succeeded = 0, failures = 0;
	for (size_t k = 0; k < sizeof limits / sizeof *limits && !succeeded; k++) {
		rm_tree(out);
		lms_error_clear();
		set_fsize(limits[k]);
		enum lms_status st = w->run(w->ctx, out);
		set_fsize(RLIM_INFINITY);
		n_runs++;
		if (st == LMS_OK) {
			succeeded = 1;
		} else {
			failures++;
			n_failed_runs++;
			if (st != LMS_ERR_IO || !lms_error_message()[0])
				fprintf(stderr, "%s, limit %lu: status %s, message \"%s\"\n",
					w->name, (unsigned long)limits[k], lms_status_name(st),
					lms_error_message());
			CHECK_INT_EQ(st, LMS_ERR_IO);
			CHECK(lms_error_message()[0] != '\0');
		}
		CHECK(only_complete_files(out, ref));
	}
	/* A later run into the same directory is not blocked by what a failed
	 * one left. */
	CHECK_INT_EQ(w->run(w->ctx, out), LMS_OK);
	CHECK(only_complete_files(out, ref));
	CHECK(failures >= 2); /* the limits really made writes fail */
	printf("%s: %d runs failed cleanly before one fit\n", w->name, failures);
	rm_tree(out);
	rm_tree(ref);
}

static struct lms_aq_result fixture;
static char h5_input[PATH_MAX + 64];

static enum lms_status w_reports(void *ctx, const char *dir)
{
	(void)ctx;
	return lms_report_write_all(&fixture, dir, NULL);
}

static enum lms_status w_h5(void *ctx, const char *dir)
{
	(void)ctx;
	char p[PATH_MAX + 64];
	LMS_TRY(lms_mkdir_p(dir));
	snprintf(p, sizeof p, "%s/state%s", dir, LMS_H5STATS_SUFFIX);
	return lms_h5stats_write(&fixture, p);
}

static enum lms_status w_report_only(void *ctx, const char *dir)
{
	(void)ctx;
	return lms_report_from_h5(h5_input, dir);
}

static enum lms_status w_atomic(void *ctx, const char *dir)
{
	(void)ctx;
	static char big[50000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	char p[PATH_MAX + 64];
	LMS_TRY(lms_mkdir_p(dir));
	snprintf(p, sizeof p, "%s/big.txt", dir);
	return lms_write_file_atomic(p, big, sizeof big);
}

static enum lms_status w_mkmodel(void *ctx, const char *dir)
{
	(void)ctx;
	struct lms_mkmodel_opts o = {.preset = "tiny",
				     .out_dir = dir,
				     .seed = 1,
				     .format = LMS_MODEL_QWEN3_VL,
				     .shard_bytes = 300000,
				     .threads = 1};
	struct lms_mkmodel_result res;
	return lms_mkmodel_write(&o, &res);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGXFSZ, SIG_IGN);
	const char *base = getenv("TMPDIR");
	snprintf(workdir, sizeof workdir, "%s/lmsens-writefail-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(workdir)) {
		perror("mkdtemp");
		return 1;
	}
	lms_aq_result_init(&fixture);
	struct aq_fixture_opts fo = {.seed = 3,
				     .two_formats = 1,
				     .with_search = 1,
				     .module_scores = 1,
				     .trace_steps = 4,
				     .target_bits = 6.0};
	aq_fixture_build(&fixture, &fo);
	snprintf(h5_input, sizeof h5_input, "%s/input.h5", workdir);
	CHECK_INT_EQ(lms_h5stats_write(&fixture, h5_input), LMS_OK);

	const struct writer writers[] = {
	    {"lms_write_file_atomic (50 kB)", w_atomic, NULL},
	    {"report artifacts (JSON, Markdown, SVG)", w_reports, NULL},
	    {"HDF5 statistics file", w_h5, NULL},
	    {"report-only (HDF5 in, artifacts out)", w_report_only, NULL},
	    {"mkmodel tiny checkpoint (shards, index, config, tokenizer)", w_mkmodel, NULL},
	};
	const char *only = getenv("LMSENS_WRITEFAIL_ONLY"); /* a name substring, for debugging */
	for (size_t i = 0; i < sizeof writers / sizeof *writers; i++)
		if (!only || strstr(writers[i].name, only))
			check_writer(&writers[i]);

	unlink(h5_input);
	rm_tree(workdir);
	lms_aq_result_free(&fixture);
	printf("%ld write runs under a file-size limit, %ld failed cleanly\n", n_runs,
	       n_failed_runs);
	return lms_test_finish();
}
