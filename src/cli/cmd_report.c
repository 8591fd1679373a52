/* cmd_report.c — `lmsens report DIR`: rebuild a job's manifest and per-layer
 * reports from its statistics file <scheme>_autoquant_state.h5 (report-only
 * mode, like runner.report_only=true). The output is byte-identical to what
 * the run wrote. Exit 0, 2 for a usage error or an unreadable/corrupt input,
 * 1 when writing fails. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "io/h5stats.h"
#include "report/report.h"

static void help(FILE *f)
{
	fprintf(f, "usage: lmsens report [--out OUT_DIR] RUN_DIR | STATE.h5\n"
		   "       lmsens report --group /jobs/N --out OUT_DIR SWEEP.h5\n\n"
		   "Rebuilds the artifacts of a finished job from its statistics file\n"
		   "<scheme>" LMS_H5STATS_SUFFIX ":\n"
		   "  <scheme>" LMS_REPORT_MANIFEST_SUFFIX "\n"
		   "  " LMS_REPORT_MD ", " LMS_REPORT_JSON ", " LMS_REPORT_SVG "\n"
		   "byte-identical to what the run wrote (same lmsens version). RUN_DIR must hold\n"
		   "exactly one statistics file; give the .h5 path to pick one.\n\n"
		   "options:\n"
		   "  --out DIR    write the artifacts to DIR instead of next to the .h5 file\n"
		   "  --group G    read the job stored under group G of a larger file (a sweep.h5\n"
		   "               made by 'lmsens merge'); needs --out\n"
		   "  -h, --help   this help\n\n"
		   "The file layout is described in docs/outputs.md.\n");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Finds the single <scheme>_autoquant_state.h5 in dir. */
static enum lms_status find_h5(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return lms_fail(LMS_ERR_NOT_FOUND,
				"give the job directory that holds *" LMS_H5STATS_SUFFIX,
				"cannot open run directory '%s'", dir);
	char first[NAME_MAX + 1] = "", second[NAME_MAX + 1] = "";
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!ends_with(e->d_name, LMS_H5STATS_SUFFIX))
			continue;
		/* readdir order is arbitrary: keep the two smallest names for a stable message */
		if (n == 0 || strcmp(e->d_name, first) < 0) {
			snprintf(second, sizeof second, "%s", first);
			snprintf(first, sizeof first, "%s", e->d_name);
		} else if (n == 1 || strcmp(e->d_name, second) < 0) {
			snprintf(second, sizeof second, "%s", e->d_name);
		}
		n++;
	}
	closedir(d);
	if (n == 0)
		return lms_fail(
		    LMS_ERR_NOT_FOUND,
		    "run the job first, or give the directory a job wrote its artifacts to",
		    "no *" LMS_H5STATS_SUFFIX " statistics file in '%s'", dir);
	if (n > 1)
		return lms_fail(LMS_ERR_USAGE, "give the path of the .h5 file to use",
				"'%s' holds %d statistics files ('%s', '%s', ...)", dir, n, first,
				second);
	return lms_path_join(out, cap, dir, first);
}

int lms_cmd_report(int argc, char **argv)
{
	const char *out_dir = NULL, *input = NULL, *group = NULL;
	for (int i = 1; i < argc; i++) {
		if (lms_cli_is_help(argv[i])) {
			help(stdout);
			return 0;
		} else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out_dir = argv[++i];
		} else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
			group = argv[++i];
		} else if (argv[i][0] == '-') {
			help(stderr);
			return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "see 'lmsens report --help'",
						     "unknown or incomplete option '%s'", argv[i]));
		} else if (input) {
			return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "give exactly one RUN_DIR",
						     "unexpected argument '%s'", argv[i]));
		} else {
			input = argv[i];
		}
	}
	if (!input) {
		help(stderr);
		return lms_cli_fail(
		    lms_fail(LMS_ERR_USAGE, "see 'lmsens report --help'", "missing RUN_DIR"));
	}
	if (group && !out_dir)
		return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "add --out DIR",
					     "--group needs --out (a sweep file holds many jobs)"));
	char h5[PATH_MAX], dir[PATH_MAX];
	enum lms_status st = LMS_OK;
	if (lms_is_dir(input) && !group) {
		st = find_h5(input, h5, sizeof h5);
		snprintf(dir, sizeof dir, "%s", input);
	} else {
		snprintf(h5, sizeof h5, "%s", input);
		snprintf(dir, sizeof dir, "%s", input);
		char *slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir] = '\0'; /* "/x.h5" → "/" */
		else
			snprintf(dir, sizeof dir, ".");
	}
	if (st == LMS_OK)
		st = lms_report_from_h5_group(h5, group, out_dir ? out_dir : dir);
	if (st != LMS_OK)
		return lms_cli_fail(st);
	printf("wrote reports for %s to %s\n", h5, out_dir ? out_dir : dir);
	return 0;
}
