/* test_allocfail.c — allocation-failure injection for config composition,
 * report writing, the statistics file and report-only mode.
 *
 * The binary is linked with GNU ld's --wrap for malloc, calloc, realloc,
 * strdup, strndup and open_memstream (tests/reliability/CMakeLists.txt), so
 * every call that lmsens's own code (the static lmsens_lib) makes goes
 * through the counting wrappers below; libraries (libyaml, jansson, HDF5,
 * libc internals) are not wrapped. For each scenario the wrapper fails the
 * N-th call, for N = 1, 2, ... until a run completes without reaching N.
 * Every run that hit its failure must return a status other than LMS_OK
 * with an error message, must not crash, and must leave no temporary file and
 * no incomplete file under a final name; LeakSanitizer (this test runs in the
 * ASan build too) checks at exit that no failed run leaked.
 *
 * It does not inject failures into libraries' own allocations, or count
 * allocations made while a scenario's inputs are set up (the wrapper is
 * armed only around the call under test). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aq_fixture.h"
#include "config/config.h"
#include "core/fsutil.h"
#include "io/h5stats.h"
#include "report/report.h"
#include "test.h"

/* ---- the counting wrappers ----------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
FILE *__real_open_memstream(char **buf, size_t *len);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
FILE *__wrap_open_memstream(char **buf, size_t *len);

static int armed;    /* count and fail only while the call under test runs */
static long n_calls; /* wrapped calls since arming */
static long fail_at; /* the call that fails (1-based); 0: none */
static int hit;	     /* the failing call was reached */

/* With LMSENS_ALLOCFAIL_STACK set, the stack of each failed call is printed
 * (ASan builds; for finding the call site of a reported failure). */
void __sanitizer_print_stack_trace(void) __attribute__((weak));
static int print_stack = -1;

static int should_fail(void)
{
	if (!armed)
		return 0;
	if (++n_calls == fail_at) {
		hit = 1;
		if (print_stack < 0)
			print_stack = getenv("LMSENS_ALLOCFAIL_STACK") != NULL;
		if (print_stack && __sanitizer_print_stack_trace) {
			fprintf(stderr, "-- allocation %ld fails here:\n", n_calls);
			__sanitizer_print_stack_trace();
		}
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
	return should_fail() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail() ? NULL : __real_strndup(s, n);
}
FILE *__wrap_open_memstream(char **buf, size_t *len)
{
	return should_fail() ? NULL : __real_open_memstream(buf, len);
}

static void arm(long n)
{
	n_calls = 0;
	fail_at = n;
	hit = 0;
	armed = 1;
	lms_error_clear();
}

static void disarm(void)
{
	armed = 0;
}

/* ---- the driver ---------------------------------------------------------- */

struct scenario {
	const char *name;
	/* Runs the call under test once (armed by the driver); returns its status. */
	enum lms_status (*run)(void *ctx);
	/* After a run that hit its failure and still returned LMS_OK: 1 when the
	 * result equals the failure-free one (a cache that was not filled, say).
	 * NULL: such a run is an error (a failure that was swallowed). */
	int (*same_result)(void *ctx);
	/* Checks the state after a failed run (files); may be NULL. */
	void (*after_failure)(void *ctx);
	/* Resets the state before the next run; may be NULL. */
	void (*reset)(void *ctx);
	void *ctx;
};

static long total_sites; /* failures injected over all scenarios */

/* Fails call 1, 2, ... of sc in turn; returns the number of calls of a
 * complete run. */
static long run_scenario(const struct scenario *sc)
{
	long n_status[LMS_STATUS_COUNT] = {0};
	long n, n_degraded = 0;
	for (n = 1;; n++) {
		if (sc->reset)
			sc->reset(sc->ctx);
		arm(n);
		enum lms_status st = sc->run(sc->ctx);
		disarm();
		if (!hit) {
			if (st != LMS_OK) /* state left behind by an earlier failed run? */
				fprintf(stderr, "%s: run %ld failed with nothing injected: %s\n",
					sc->name, n, lms_error_message());
			CHECK_INT_EQ(st, LMS_OK); /* nothing failed: the run must succeed */
			break;
		}
		if (st == LMS_OK) {
			int same = sc->same_result && sc->same_result(sc->ctx);
			if (!same)
				fprintf(stderr,
					"%s: allocation %ld failed, yet the run succeeded%s\n",
					sc->name, n, sc->same_result ? " with another result" : "");
			CHECK(same);
			n_degraded++;
			continue;
		}
		if (lms_error_message()[0] == '\0')
			fprintf(stderr, "%s: allocation %ld failed: status %s, no message\n",
				sc->name, n, lms_status_name(st));
		CHECK(lms_error_message()[0] != '\0');
		if (st < LMS_STATUS_COUNT)
			n_status[st]++;
		if (sc->after_failure)
			sc->after_failure(sc->ctx);
	}
	printf("%s: %ld allocations, each failed once:", sc->name, n - 1);
	for (int s = 0; s < LMS_STATUS_COUNT; s++)
		if (n_status[s])
			printf(" %s=%ld", lms_status_name((enum lms_status)s), n_status[s]);
	printf(" same-result=%ld\n", n_degraded);
	total_sites += n - 1;
	CHECK(n > 5); /* the scenario really allocates (the wrappers are linked in) */
	return n - 1;
}

/* ---- files: no temporary left, nothing incomplete under a final name ----- */

static char workdir[PATH_MAX];

/* Removes every file in dir (one level) and dir itself. */
static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[PATH_MAX + 256];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Every file in dir must be named like one in ref_dir and be identical to it:
 * a failed run may have written some artifacts, but only whole ones. */
static void check_only_complete_files(const char *dir, const char *ref_dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return; /* the directory itself was not created */
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char a[PATH_MAX + 256], b[PATH_MAX + 256];
		snprintf(a, sizeof a, "%s/%s", dir, e->d_name);
		snprintf(b, sizeof b, "%s/%s", ref_dir, e->d_name);
		char *x = NULL, *y = NULL;
		size_t nx = 0, ny = 0;
		int same = lms_read_file(a, 1 << 26, "artifact", &x, &nx) == LMS_OK &&
			   lms_read_file(b, 1 << 26, "reference", &y, &ny) == LMS_OK && nx == ny &&
			   memcmp(x, y, nx) == 0;
		if (!same)
			fprintf(stderr, "%s: temporary, partial or unexpected file\n", a);
		CHECK(same);
		free(x);
		free(y);
	}
	closedir(d);
}

/* ---- scenario: config composition ---------------------------------------- */

struct compose_ctx {
	const char *const *overrides;
	size_t n;
	int multirun;
	const char *config_name; /* -cn, or NULL */
	char *ref;		 /* text of the failure-free plan */
	char *got;		 /* text of the last successful run's plan */
};

/* The plan as text: every job's output directory, overrides and resolved
 * config (new string, or NULL when out of memory outside the armed call). */
static char *plan_text(const struct lms_plan *plan)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = __real_open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t j = 0; j < plan->n_jobs; j++) {
		const struct lms_job *job = &plan->jobs[j];
		char *y = NULL;
		if (lms_cfg_to_yaml(job->cfg, &y) != LMS_OK)
			y = NULL;
		fprintf(f, "job %zu %s %s\n", j, job->run_dir, job->output_dir);
		for (size_t k = 0; k < job->n_overrides; k++)
			fprintf(f, "  %s\n", job->overrides[k]);
		fprintf(f, "%s\n", y ? y : "(yaml failed)");
		free(y);
	}
	fprintf(f, "%s %s %s\n", plan->sweep_dir ? plan->sweep_dir : "-", plan->primary_dir,
		plan->config_name);
	fclose(f);
	return buf;
}

static int compose_same(void *p)
{
	struct compose_ctx *c = p;
	int same = c->ref && c->got && strcmp(c->ref, c->got) == 0;
	if (!same && print_stack > 0 && c->got) { /* for the diff by hand */
		FILE *f = fopen("allocfail-ref.txt", "w"), *g = fopen("allocfail-got.txt", "w");
		if (f)
			fputs(c->ref ? c->ref : "", f);
		if (g)
			fputs(c->got, g);
		if (f)
			fclose(f);
		if (g)
			fclose(g);
	}
	return same;
}

static enum lms_status compose_run(void *p)
{
	struct compose_ctx *c = p;
	struct lms_compose_opts o = {.overrides = c->overrides,
				     .n_overrides = c->n,
				     .multirun = c->multirun,
				     .config_name = c->config_name,
				     .cwd = "/allocfail",
				     .now = 1700000000};
	struct lms_plan *plan = NULL;
	enum lms_status st = lms_config_compose(&o, &plan);
	if (st != LMS_OK && plan)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "compose failed but returned a plan");
	free(c->got);
	c->got = NULL;
	if (plan) {
		int was = armed;
		armed = 0; /* the comparison text is not under test */
		c->got = plan_text(plan);
		armed = was;
	}
	lms_plan_free(plan);
	return st;
}

/* ---- scenario: report writing, statistics file, report-only --------------- */

struct report_ctx {
	struct lms_aq_result r;
	char dir[PATH_MAX];	/* output of the run under test */
	char ref_dir[PATH_MAX]; /* the same outputs written without failures */
	char h5[PATH_MAX + 64]; /* statistics file: output (write) or input (read) */
	int mode;		/* 0 write_all, 1 h5stats_write, 2 report_from_h5 */
};

static enum lms_status report_run(void *p)
{
	struct report_ctx *c = p;
	switch (c->mode) {
	case 0:
		return lms_report_write_all(&c->r, c->dir, NULL);
	case 1: {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof path, "%s/state.h5", c->dir);
		if (mkdir(c->dir, 0700) != 0)
			return lms_fail(LMS_ERR_IO, NULL, "mkdir %s", c->dir);
		return lms_h5stats_write(&c->r, path);
	}
	default:
		return lms_report_from_h5(c->h5, c->dir);
	}
}

static void report_reset(void *p)
{
	struct report_ctx *c = p;
	rm_dir(c->dir);
}

static void report_after_failure(void *p)
{
	struct report_ctx *c = p;
	check_only_complete_files(c->dir, c->ref_dir);
}

/* Composes once without failures (the reference), then fails each call. */
static void compose_scenario(const char *name, struct compose_ctx *c)
{
	CHECK_INT_EQ(compose_run(c), LMS_OK);
	c->ref = c->got;
	c->got = NULL;
	CHECK(c->ref != NULL);
	struct scenario s = {name, compose_run, compose_same, NULL, NULL, c};
	run_scenario(&s);
	free(c->ref);
	free(c->got);
}

static void test_compose(void)
{
	static const char *const single[] = {"quant_pair=wint8_afp8", "dataset.size=small",
					     "+runner.extra=[1,{a: ${dataset.size}}]"};
	struct compose_ctx c1 = {single, 3, 0, NULL, NULL, NULL};
	compose_scenario("compose (default preset, 3 overrides)", &c1);

	static const char *const sweep[] = {"quant_pair=wfp8_afp8,wint8_afp16",
					    "dataset.size=small,medium"};
	struct compose_ctx c2 = {sweep, 2, 1, NULL, NULL, NULL};
	compose_scenario("compose (-m sweep, 4 jobs)", &c2);

	static const char *const demo[] = {"autoquant.batch_size=2"};
	struct compose_ctx c3 = {demo, 1, 0, "demo", NULL, NULL};
	compose_scenario("compose (-cn demo)", &c3);
}

static void test_reports(void)
{
	struct report_ctx c;
	memset(&c, 0, sizeof c);
	lms_aq_result_init(&c.r);
	struct aq_fixture_opts fo = {.seed = 7,
				     .two_formats = 1,
				     .with_search = 1,
				     .module_scores = 1,
				     .trace_steps = 3,
				     .target_bits = 6.0};
	aq_fixture_build(&c.r, &fo);
	CHECK(snprintf(c.dir, sizeof c.dir, "%s/out", workdir) < (int)sizeof c.dir);
	CHECK(snprintf(c.ref_dir, sizeof c.ref_dir, "%s/ref", workdir) < (int)sizeof c.ref_dir);

	/* Reference outputs, written without failures. */
	CHECK_INT_EQ(lms_report_write_all(&c.r, c.ref_dir, NULL), LMS_OK);
	snprintf(c.h5, sizeof c.h5, "%s/state.h5", c.ref_dir);
	CHECK_INT_EQ(lms_h5stats_write(&c.r, c.h5), LMS_OK);

	struct scenario s = {"report write_all (4 artifacts)",
			     report_run,
			     NULL,
			     report_after_failure,
			     report_reset,
			     &c};
	c.mode = 0;
	run_scenario(&s);
	s.name = "h5stats write";
	c.mode = 1;
	run_scenario(&s);

	/* Report-only reads the file written above; its outputs are compared with
	 * a failure-free report-only run. */
	char h5_in[PATH_MAX + 64];
	snprintf(h5_in, sizeof h5_in, "%s/input.h5", workdir);
	CHECK_INT_EQ(rename(c.h5, h5_in), 0);
	snprintf(c.h5, sizeof c.h5, "%s", h5_in);
	rm_dir(c.ref_dir);
	CHECK_INT_EQ(lms_report_from_h5(c.h5, c.ref_dir), LMS_OK);
	s.name = "report-only (read + search + write)";
	c.mode = 2;
	run_scenario(&s);

	rm_dir(c.dir);
	rm_dir(c.ref_dir);
	unlink(h5_in);
	lms_aq_result_free(&c.r);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(workdir, sizeof workdir, "%s/lmsens-allocfail-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(workdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_compose();
	test_reports();
	rmdir(workdir);
	printf("%ld allocation failures injected in total\n", total_sites);
	return lms_test_finish();
}
