/* test_h5stats.c — the HDF5 statistics file: exact round trip, byte-identical
 * rewrites, atomic writing, and clear errors for missing, corrupt, truncated,
 * mis-shaped and inconsistent files.
 *
 * Files go to a fresh directory under $LMSENS_BUILD_DIR (or /tmp). */
#include <hdf5.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aq_fixture.h"
#include "core/fsutil.h"
#include "io/h5stats.h"
#include "test.h"

static char g_dir[PATH_MAX / 2];

static const char *path_in(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
	return buf[k];
}

static char *slurp(const char *path, size_t *n)
{
	char *data = NULL;
	if (lms_read_file(path, 1 << 26, "test file", &data, n) != LMS_OK)
		return NULL;
	return data;
}

static int same_bytes(const char *a, const char *b)
{
	size_t na = 0, nb = 0;
	char *x = slurp(a, &na), *y = slurp(b, &nb);
	int same = x && y && na == nb && memcmp(x, y, na) == 0;
	free(x);
	free(y);
	return same;
}

static void round_trip(const struct aq_fixture_opts *o, const char *name)
{
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	aq_fixture_build(&a, o);
	const char *p = path_in(name);
	CHECK_INT_EQ(lms_h5stats_write(&a, p), LMS_OK);
	CHECK_INT_EQ(lms_h5stats_read(p, &b), LMS_OK);
	char why[256] = "";
	int eq = lms_aq_result_equal(&a, &b, why, sizeof why);
	if (!eq)
		fprintf(stderr, "round trip of %s differs: %s\n", name, why);
	CHECK(eq);
	/* Writing what was read gives the same bytes again. */
	const char *p2 = path_in("rewrite.h5");
	CHECK_INT_EQ(lms_h5stats_write(&b, p2), LMS_OK);
	CHECK(same_bytes(p, p2));
	lms_aq_result_free(&a);
	lms_aq_result_free(&b);
}

static void test_round_trips(void)
{
	struct aq_fixture_opts full = {
	    .seed = 1, .with_search = 1, .module_scores = 1, .trace_steps = 5, .target_bits = 11.0};
	round_trip(&full, "full.h5");
	struct aq_fixture_opts two = {.seed = 2,
				      .two_formats = 1,
				      .with_search = 1,
				      .module_scores = 1,
				      .trace_steps = 3,
				      .target_bits = 7.0};
	round_trip(&two, "two.h5");
	/* kl_div-like: no module scores, no traces, not yet searched. */
	struct aq_fixture_opts bare = {.seed = 3, .trace_steps = 0, .target_bits = 10.0};
	round_trip(&bare, "bare.h5");
	/* Infeasible target: is_satisfied = 0 must survive. */
	struct aq_fixture_opts inf = {
	    .seed = 4, .with_search = 1, .trace_steps = 2, .target_bits = 4.0};
	round_trip(&inf, "infeasible.h5");
}

/* Jobs copied into one sweep file (H5Ocopy, as `lmsens merge` does) are
 * read back from their group exactly. */
static void test_sweep_groups(void)
{
	struct aq_fixture_opts o1 = {.seed = 21,
				     .with_search = 1,
				     .module_scores = 1,
				     .trace_steps = 2,
				     .target_bits = 11.0};
	struct aq_fixture_opts o2 = {
	    .seed = 22, .two_formats = 1, .with_search = 1, .trace_steps = 3, .target_bits = 7.0};
	struct lms_aq_result a[2], b;
	lms_aq_result_init(&a[0]);
	lms_aq_result_init(&a[1]);
	aq_fixture_build(&a[0], &o1);
	aq_fixture_build(&a[1], &o2);
	const char *sweep = path_in("sweep.h5");
	hid_t dst = H5Fcreate(sweep, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	for (int k = 0; k < 2; k++) {
		char job[64], dstname[32];
		snprintf(job, sizeof job, "job%d.h5", k);
		snprintf(dstname, sizeof dstname, "/jobs/%d", k);
		const char *p = path_in(job);
		CHECK_INT_EQ(lms_h5stats_write(&a[k], p), LMS_OK);
		hid_t src = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
		CHECK(H5Ocopy(src, "/", dst, dstname, H5P_DEFAULT, lcpl) >= 0);
		H5Fclose(src);
	}
	H5Pclose(lcpl);
	H5Fclose(dst);
	for (int k = 0; k < 2; k++) {
		char g[32], why[128] = "";
		snprintf(g, sizeof g, "/jobs/%d", k);
		CHECK_INT_EQ(lms_h5stats_read_group(sweep, g, &b), LMS_OK);
		CHECK(lms_aq_result_equal(&a[k], &b, why, sizeof why));
		lms_aq_result_free(&b);
	}
	CHECK_FAILS_WITH(lms_h5stats_read_group(sweep, "/jobs/7", &b), LMS_ERR_NOT_FOUND,
			 "no group '/jobs/7'");
	/* The sweep file's root is not a job: a clear message naming file and dataset. */
	CHECK_FAILS_WITH(lms_h5stats_read(sweep, &b), LMS_ERR_INPUT, "schema_version");
	lms_aq_result_free(&a[0]);
	lms_aq_result_free(&a[1]);
}

/* Degenerate but valid: no searched layers at all, only the NONE format. */
static void test_empty(void)
{
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	CHECK_INT_EQ(lms_aq_result_alloc(&a, 1, 0, 0, 0, 0, 0, 0), LMS_OK);
	CHECK_INT_EQ(lms_aq_set_str(&a.formats[0].name, "NONE"), LMS_OK);
	a.formats[0].bits = 16.0;
	const char *p = path_in("empty.h5");
	CHECK_INT_EQ(lms_h5stats_write(&a, p), LMS_OK);
	CHECK_INT_EQ(lms_h5stats_read(p, &b), LMS_OK);
	char why[128] = "";
	CHECK(lms_aq_result_equal(&a, &b, why, sizeof why));
	CHECK_INT_EQ(b.n_groups, 0);
	CHECK_STR_EQ(b.job.model_name, ""); /* NULL strings come back as "" */
	lms_aq_result_free(&a);
	lms_aq_result_free(&b);
}

static void test_deterministic_and_atomic(void)
{
	struct aq_fixture_opts o = {
	    .seed = 7, .with_search = 1, .module_scores = 1, .trace_steps = 4, .target_bits = 11.0};
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	lms_aq_result_init(&b);
	aq_fixture_build(&a, &o);
	aq_fixture_build(&b, &o); /* an independent second "run" with the same inputs */
	CHECK_INT_EQ(lms_h5stats_write(&a, path_in("det1.h5")), LMS_OK);
	sleep(1); /* a timestamp in the file would now differ */
	CHECK_INT_EQ(lms_h5stats_write(&b, path_in("det2.h5")), LMS_OK);
	CHECK(same_bytes(path_in("det1.h5"), path_in("det2.h5")));
	/* Overwriting an existing file works and leaves no temporary behind. */
	CHECK_INT_EQ(lms_h5stats_write(&a, path_in("det1.h5")), LMS_OK);
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path_in("det1.h5"), (long)getpid());
	CHECK(!lms_is_file(tmp));
	/* An inconsistent result is refused before any file is created. */
	a.groups[0].chosen = 99;
	CHECK_FAILS_WITH(lms_h5stats_write(&a, path_in("bad.h5")), LMS_ERR_INPUT,
			 "chose format index 99");
	CHECK(!lms_is_file(path_in("bad.h5")));
	a.groups[0].chosen = 0;
	/* An unwritable destination is an I/O error naming the file, with nothing left. */
	CHECK_FAILS_WITH(lms_h5stats_write(&a, "/nonexistent-dir/x.h5"), LMS_ERR_IO,
			 "/nonexistent-dir/x.h5");
	lms_aq_result_free(&a);
	lms_aq_result_free(&b);
}

/* Edits a written file with the HDF5 API to break it in one specific way. */
static void h5_edit(const char *path, void (*edit)(hid_t))
{
	hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	CHECK(f >= 0);
	if (f >= 0) {
		edit(f);
		H5Fclose(f);
	}
}

static void drop_costs(hid_t f)
{
	CHECK(H5Ldelete(f, "/groups/costs", H5P_DEFAULT) >= 0);
}

static void reshape_scores(hid_t f)
{
	CHECK(H5Ldelete(f, "/groups/scores", H5P_DEFAULT) >= 0);
	hsize_t dims[2] = {3, 2};
	double v[6] = {0};
	hid_t s = H5Screate_simple(2, dims, NULL);
	hid_t d = H5Dcreate2(f, "/groups/scores", H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT,
			     H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	H5Sclose(s);
}

static void retype_layer(hid_t f)
{
	CHECK(H5Ldelete(f, "/modules/layer", H5P_DEFAULT) >= 0);
	hsize_t dims[1] = {15};
	double v[15] = {0};
	hid_t s = H5Screate_simple(1, dims, NULL);
	hid_t d = H5Dcreate2(f, "/modules/layer", H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT,
			     H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	H5Sclose(s);
}

static void bump_version(hid_t f)
{
	int64_t v = 99;
	hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
	CHECK(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
	H5Aclose(a);
}

static void bad_group_index(hid_t f)
{
	hid_t d = H5Dopen2(f, "/modules/group", H5P_DEFAULT);
	int64_t v[15];
	H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	v[3] = 1000;
	CHECK(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
	H5Dclose(d);
}

static void misname_group(hid_t f)
{
	/* Same width, different text: groups[0] no longer matches its first module. */
	hid_t d = H5Dopen2(f, "/groups/name", H5P_DEFAULT);
	hid_t t = H5Dget_type(d);
	size_t w = H5Tget_size(t);
	char *buf = calloc(9, w);
	H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
	buf[0] = 'X';
	CHECK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	free(buf);
	H5Tclose(t);
	H5Dclose(d);
}

static void broken_copy(const char *name, void (*edit)(hid_t), enum lms_status want,
			const char *needle)
{
	struct aq_fixture_opts o = {
	    .seed = 5, .with_search = 1, .module_scores = 1, .trace_steps = 2, .target_bits = 11.0};
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	aq_fixture_build(&a, &o);
	const char *p = path_in(name);
	CHECK_INT_EQ(lms_h5stats_write(&a, p), LMS_OK);
	h5_edit(p, edit);
	CHECK_FAILS_WITH(lms_h5stats_read(p, &b), want, needle);
	CHECK_STR_CONTAINS(lms_error_message(), name);
	CHECK(lms_error_hint() && lms_error_hint()[0]);
	CHECK_INT_EQ(b.n_groups, 0); /* left empty */
	lms_aq_result_free(&a);
}

static void test_bad_files(void)
{
	struct lms_aq_result r;
	CHECK_FAILS_WITH(lms_h5stats_read(path_in("absent.h5"), &r), LMS_ERR_NOT_FOUND,
			 "absent.h5");
	/* Not HDF5 at all. */
	const char *junk = path_in("junk.h5");
	CHECK_INT_EQ(lms_write_file_atomic(junk, "this is not HDF5\n", 17), LMS_OK);
	CHECK_FAILS_WITH(lms_h5stats_read(junk, &r), LMS_ERR_INPUT, "not an HDF5 file");
	/* Truncated: the first 3000 bytes of a good file. */
	struct aq_fixture_opts o = {
	    .seed = 6, .with_search = 1, .trace_steps = 2, .target_bits = 11.0};
	struct lms_aq_result a;
	lms_aq_result_init(&a);
	aq_fixture_build(&a, &o);
	const char *good = path_in("good.h5"), *cut = path_in("truncated.h5");
	CHECK_INT_EQ(lms_h5stats_write(&a, good), LMS_OK);
	size_t n = 0;
	char *bytes = slurp(good, &n);
	CHECK(bytes && n > 3000);
	if (bytes && n > 3000)
		CHECK_INT_EQ(lms_write_file_atomic(cut, bytes, 3000), LMS_OK);
	free(bytes);
	lms_error_clear();
	enum lms_status st = lms_h5stats_read(cut, &r);
	CHECK_INT_EQ(st, LMS_ERR_INPUT);
	CHECK_STR_CONTAINS(lms_error_message(), "truncated.h5");
	lms_aq_result_free(&a);

	broken_copy("nocosts.h5", drop_costs, LMS_ERR_INPUT, "dataset '/groups/costs' is missing");
	broken_copy("reshaped.h5", reshape_scores, LMS_ERR_INPUT, "'/groups/scores' has extent 3");
	broken_copy("retyped.h5", retype_layer, LMS_ERR_INPUT,
		    "'/modules/layer' holds floating-point values, expected integer");
	broken_copy("version.h5", bump_version, LMS_ERR_INPUT, "schema_version is 99");
	broken_copy("badgroup.h5", bad_group_index, LMS_ERR_INPUT,
		    "/modules/group[3] = 1000 is not a group index");
	broken_copy("misnamed.h5", misname_group, LMS_ERR_INPUT,
		    "is not named after its first module");
}

/* A flipped byte inside a dataset's data is caught by its Fletcher-32
 * checksum and reported with the dataset's name. */
static void test_checksum(void)
{
	struct aq_fixture_opts o = {.seed = 12,
				    .with_search = 1,
				    .module_scores = 1,
				    .trace_steps = 2,
				    .target_bits = 11.0};
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	aq_fixture_build(&a, &o);
	const char *p = path_in("flipped.h5");
	CHECK_INT_EQ(lms_h5stats_write(&a, p), LMS_OK);
	haddr_t addr = HADDR_UNDEF;
	hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t d = H5Dopen2(f, "/groups/scores", H5P_DEFAULT);
	hsize_t off[2];
	unsigned mask;
	hsize_t size = 0;
	hid_t sp = H5Dget_space(d);
	CHECK(H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size) >= 0);
	H5Sclose(sp);
	H5Dclose(d);
	H5Fclose(f);
	size_t n = 0;
	char *bytes = slurp(p, &n);
	CHECK(bytes && addr != HADDR_UNDEF && addr + 8 < n);
	if (bytes && addr != HADDR_UNDEF && addr + 8 < n) {
		bytes[addr + 5] ^= 0x10; /* one bit of the first score */
		CHECK_INT_EQ(lms_write_file_atomic(p, bytes, n), LMS_OK);
		CHECK_FAILS_WITH(lms_h5stats_read(p, &b), LMS_ERR_INPUT, "/groups/scores");
		CHECK_STR_CONTAINS(lms_error_message(), "checksum");
	}
	free(bytes);
	lms_aq_result_free(&a);
}

/* Random byte corruption anywhere in the file: the reader must either
 * refuse the file with LMS_ERR_INPUT or return a result that validates —
 * never crash (this test runs under ASan/UBSan in the sanitizer build).
 *
 * The reads run in a child process that ends with _exit(): HDF5 itself
 * leaks metadata-cache blocks when it gives up on a corrupt object header
 * (its free lists then make LeakSanitizer blame unrelated allocations), and
 * _exit skips the leak check while ASan still catches memory errors. */
static void fuzz_child(int fd, const char *good, const char *bad, const struct lms_aq_result *a)
{
	size_t n = 0;
	char *orig = slurp(good, &n);
	char *buf = orig ? malloc(n) : NULL;
	int counts[4] = {0}; /* refused, unchanged, changed, wrong status */
	uint64_t x = 0x243f6a8885a308d3ull;
	for (int it = 0; buf && it < 300; it++) {
		memcpy(buf, orig, n);
		for (int k = 0; k < 1 + it % 4; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[x % n] ^= (char)(1u << ((x >> 32) % 8));
		}
		if (lms_write_file_atomic(bad, buf, n) != LMS_OK)
			break;
		struct lms_aq_result b;
		enum lms_status st = lms_h5stats_read(bad, &b);
		if (st == LMS_ERR_INPUT) {
			counts[0]++;
		} else if (st == LMS_OK) {
			char why[128];
			counts[lms_aq_result_equal(a, &b, why, sizeof why) ? 1 : 2]++;
			lms_aq_result_free(&b);
		} else {
			counts[3]++;
			fprintf(stderr, "fuzz %d: status %s: %s\n", it, lms_status_name(st),
				lms_error_message());
		}
	}
	int ok = buf != NULL && write(fd, counts, sizeof counts) == (ssize_t)sizeof counts;
	_exit(ok ? 0 : 1);
}

static void test_fuzz(void)
{
	struct aq_fixture_opts o = {.seed = 13,
				    .with_search = 1,
				    .module_scores = 1,
				    .trace_steps = 3,
				    .target_bits = 11.0};
	struct lms_aq_result a;
	lms_aq_result_init(&a);
	aq_fixture_build(&a, &o);
	const char *good = path_in("fuzz-good.h5"), *bad = path_in("fuzz.h5");
	CHECK_INT_EQ(lms_h5stats_write(&a, good), LMS_OK);
	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		fuzz_child(fds[1], good, bad, &a);
	}
	close(fds[1]);
	int counts[4] = {0, 0, 0, -1}, status = 0;
	CHECK(read(fds[0], counts, sizeof counts) == (ssize_t)sizeof counts);
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("fuzz: 300 corrupted copies: %d refused, %d read unchanged, %d read changed\n",
	       counts[0], counts[1], counts[2]);
	CHECK_INT_EQ(counts[3], 0);
	CHECK(counts[0] > 200);
	CHECK_INT_EQ(counts[2],
		     0); /* nothing silently changed: every byte that matters is checksummed */
	lms_aq_result_free(&a);
}

/* Variable-length strings (what h5py writes by default when someone edits
 * the file) are read as well as the fixed-length ones lmsens writes. */
static void vlen_phases(hid_t f)
{
	CHECK(H5Ldelete(f, "/timings/phase", H5P_DEFAULT) >= 0);
	const char *v[4] = {"load", "calibrate", "score", "search"};
	hsize_t dims[1] = {4};
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	hid_t sp = H5Screate_simple(1, dims, NULL);
	hid_t d = H5Dcreate2(f, "/timings/phase", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	CHECK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
	H5Dclose(d);
	H5Sclose(sp);
	H5Tclose(t);
}

static void test_vlen_strings(void)
{
	struct aq_fixture_opts o = {
	    .seed = 14, .with_search = 1, .trace_steps = 2, .target_bits = 11.0};
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	aq_fixture_build(&a, &o);
	const char *p = path_in("vlen.h5");
	CHECK_INT_EQ(lms_h5stats_write(&a, p), LMS_OK);
	h5_edit(p, vlen_phases);
	CHECK_INT_EQ(lms_h5stats_read(p, &b), LMS_OK);
	char why[128] = "";
	CHECK(lms_aq_result_equal(&a, &b, why, sizeof why));
	lms_aq_result_free(&a);
	lms_aq_result_free(&b);
}

/* Two threads writing and reading their own files at the same time (rank
 * 0's coordinator and worker): every round trip stays exact. The results
 * are built before the threads start (the fixture's generator is global). */
struct thread_arg {
	struct lms_aq_result r;
	char path[PATH_MAX];
	int ok;
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;
	t->ok = 1;
	for (int i = 0; i < 20 && t->ok; i++) {
		struct lms_aq_result b;
		char why[128];
		if (lms_h5stats_write(&t->r, t->path) != LMS_OK ||
		    lms_h5stats_read(t->path, &b) != LMS_OK) {
			t->ok = 0;
			break;
		}
		t->ok = lms_aq_result_equal(&t->r, &b, why, sizeof why);
		lms_aq_result_free(&b);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[2];
	struct thread_arg args[2];
	for (int i = 0; i < 2; i++) {
		struct aq_fixture_opts o = {.seed = 100 + (uint64_t)i,
					    .with_search = 1,
					    .module_scores = 1,
					    .trace_steps = 2,
					    .target_bits = 11.0};
		lms_aq_result_init(&args[i].r);
		aq_fixture_build(&args[i].r, &o);
		snprintf(args[i].path, sizeof args[i].path, "%s",
			 path_in(i ? "thread1.h5" : "thread0.h5"));
	}
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, thread_main, &args[i]) == 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK(args[i].ok);
		lms_aq_result_free(&args[i].r);
	}
}

int main(void)
{
	const char *base = getenv("LMSENS_BUILD_DIR");
	snprintf(g_dir, sizeof g_dir, "%s/test-h5stats.%ld", base && base[0] ? base : "/tmp",
		 (long)getpid());
	if (lms_mkdir_p(g_dir) != LMS_OK) {
		fprintf(stderr, "cannot create %s\n", g_dir);
		return 1;
	}
	test_round_trips();
	test_empty();
	test_sweep_groups();
	test_deterministic_and_atomic();
	test_bad_files();
	test_checksum();
	test_fuzz();
	test_vlen_strings();
	test_threads();
	int rc = lms_test_finish();
	if (rc == 0) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g_dir);
	}
	return rc;
}
