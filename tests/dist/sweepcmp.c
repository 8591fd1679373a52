/* sweepcmp.c — test driver: compares the job artifacts of two sweep
 * directories, job by job (<dir>/<num>/):
 *   - <scheme>_autoquant_state.h5 exactly (lms_aq_result_equal) after zeroing
 *     the wall-clock timings (and dropping the composed config text with
 *     --ignore-config, for runs that differ in runner.* settings);
 *   - per-layer-sensitivity.{md,json,svg} byte for byte;
 *   - <scheme>_quant_manifest.json as JSON, without its "timings" object
 *     (and "config" with --ignore-config).
 *   sweepcmp [--ignore-config] A B N   → exit 0 equal, 1 different, 2 error */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/result.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "io/h5stats.h"
#include "report/report.h"

static int g_ic;

/* First file in dir ending with suffix. */
static int find(const char *dir, const char *suffix, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t ls = strlen(suffix);
	int hit = 0;
	while (d && !hit && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > ls && strcmp(e->d_name + l - ls, suffix) == 0) {
			snprintf(out, cap, "%s/%s", dir, e->d_name);
			hit = 1;
		}
	}
	if (d)
		closedir(d);
	return hit;
}

static int cmp_h5(const char *a, const char *b)
{
	struct lms_aq_result x, y;
	lms_aq_result_init(&x);
	lms_aq_result_init(&y);
	if (lms_h5stats_read(a, &x) != LMS_OK || lms_h5stats_read(b, &y) != LMS_OK) {
		lms_log_last_error();
		return 2;
	}
	struct lms_aq_result *r[2] = {&x, &y};
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < r[k]->n_timings; i++)
			r[k]->timings[i].seconds = 0.0;
		if (g_ic) {
			free(r[k]->config_yaml);
			r[k]->config_yaml = NULL;
		}
	}
	char why[1024] = "";
	int eq = lms_aq_result_equal(&x, &y, why, sizeof why);
	if (!eq)
		printf("%s vs %s: %s\n", a, b, why);
	lms_aq_result_free(&x);
	lms_aq_result_free(&y);
	return eq ? 0 : 1;
}

static int cmp_bytes(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t nx, ny;
	if (lms_read_file(a, 1 << 28, "artifact", &x, &nx) != LMS_OK ||
	    lms_read_file(b, 1 << 28, "artifact", &y, &ny) != LMS_OK) {
		lms_log_last_error();
		free(x);
		return 2;
	}
	int eq = nx == ny && memcmp(x, y, nx) == 0;
	if (!eq)
		printf("%s and %s differ\n", a, b);
	free(x);
	free(y);
	return eq ? 0 : 1;
}

static int cmp_manifest(const char *a, const char *b)
{
	json_t *x = json_load_file(a, 0, NULL), *y = json_load_file(b, 0, NULL);
	if (!x || !y) {
		printf("cannot read %s or %s\n", a, b);
		json_decref(x);
		json_decref(y);
		return 2;
	}
	json_object_del(x, "timings");
	json_object_del(y, "timings");
	if (g_ic) {
		json_object_del(x, "config");
		json_object_del(y, "config");
	}
	int eq = json_equal(x, y);
	if (!eq)
		printf("%s and %s differ (timings ignored)\n", a, b);
	json_decref(x);
	json_decref(y);
	return eq ? 0 : 1;
}

static int worst(int a, int b)
{
	return a > b ? a : b;
}

int main(int argc, char **argv)
{
	g_ic = argc > 1 && strcmp(argv[1], "--ignore-config") == 0;
	if (argc != 4 + g_ic) {
		fprintf(stderr, "usage: sweepcmp [--ignore-config] A B N\n");
		return 2;
	}
	const char *A = argv[1 + g_ic], *B = argv[2 + g_ic];
	int n = atoi(argv[3 + g_ic]), rc = 0;
	static const char *const same[] = {LMS_REPORT_MD, LMS_REPORT_JSON, LMS_REPORT_SVG};
	for (int k = 0; k < n; k++) {
		char da[4096], db[4096], fa[8192], fb[8192];
		snprintf(da, sizeof da, "%s/%d", A, k);
		snprintf(db, sizeof db, "%s/%d", B, k);
		if (!find(da, LMS_H5STATS_SUFFIX, fa, sizeof fa) ||
		    !find(db, LMS_H5STATS_SUFFIX, fb, sizeof fb)) {
			printf("job %d: no statistics file in %s or %s\n", k, da, db);
			rc = worst(rc, 1);
			continue;
		}
		rc = worst(rc, cmp_h5(fa, fb));
		for (int i = 0; i < 3; i++) {
			snprintf(fa, sizeof fa, "%s/%s", da, same[i]);
			snprintf(fb, sizeof fb, "%s/%s", db, same[i]);
			rc = worst(rc, cmp_bytes(fa, fb));
		}
		if (!find(da, LMS_REPORT_MANIFEST_SUFFIX, fa, sizeof fa) ||
		    !find(db, LMS_REPORT_MANIFEST_SUFFIX, fb, sizeof fb)) {
			printf("job %d: no manifest\n", k);
			rc = worst(rc, 1);
			continue;
		}
		rc = worst(rc, cmp_manifest(fa, fb));
	}
	if (rc == 0)
		printf("%d jobs equal\n", n);
	return rc;
}
