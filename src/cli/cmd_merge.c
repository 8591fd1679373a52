/* cmd_merge.c — `lmsens merge DIR... --out DIR`: merges the job results of
 * several sweeps (or single runs, e.g. the tasks of a Slurm job array) into
 * one sweep.h5, sweep-summary.md and sweep-heatmap.svg (dist.h:
 * lms_sweep_write).
 *
 * Each DIR is searched (up to 6 levels deep, in sorted order) for job
 * statistics files (*_autoquant_state.h5); they are numbered 0..N-1 in the
 * order of the DIR arguments, then of their paths, and labelled with their
 * directory. The same file reached twice counts once; nothing under --out is
 * read. Failed jobs have no statistics file and are not part of a merge
 * (their record is in each sweep's ledger.jsonl).
 * Errors: no DIR or no --out (exit 2), a DIR that does not exist, or no
 * statistics file at all (exit 2). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "dist/dist.h"
#include "io/h5stats.h"

struct found {
	char **path;
	size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum lms_status push(struct found *f, const char *s)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		char **p = realloc(f->path, cap * sizeof *p);
		if (!p)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		f->path = p;
		f->cap = cap;
	}
	f->path[f->n] = strdup(s);
	return f->path[f->n++] ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
}

/* Adds a statistics file once (by its real path). */
static enum lms_status add(struct found *f, const char *path)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		snprintf(real, sizeof real, "%s", path);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->path[i], real) == 0)
			return LMS_OK;
	return push(f, real);
}

/* Statistics files under dir, sorted, skipping `skip` (the output). */
static enum lms_status scan(const char *dir, const char *skip, int depth, struct found *f)
{
	char real[PATH_MAX];
	if (depth > 6 || (skip && realpath(dir, real) && strcmp(real, skip) == 0))
		return LMS_OK;
	DIR *d = opendir(dir);
	if (!d)
		return LMS_OK;
	struct found names = {0};
	struct dirent *e;
	enum lms_status st = LMS_OK;
	while (st == LMS_OK && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[4096];
		st = lms_path_join(p, sizeof p, dir, e->d_name);
		if (st == LMS_OK)
			st = push(&names, p);
	}
	closedir(d);
	if (names.path)
		qsort(names.path, names.n, sizeof *names.path, cmp_str);
	size_t ls = strlen(LMS_H5STATS_SUFFIX);
	for (size_t i = 0; st == LMS_OK && i < names.n; i++) {
		const char *p = names.path[i];
		size_t l = strlen(p);
		if (l > ls && strcmp(p + l - ls, LMS_H5STATS_SUFFIX) == 0 && lms_is_file(p))
			st = add(f, p);
		else if (lms_is_dir(p))
			st = scan(p, skip, depth + 1, f);
	}
	for (size_t i = 0; i < names.n; i++)
		free(names.path[i]);
	free(names.path);
	return st;
}

static void usage(FILE *o)
{
	fprintf(o,
		"usage: lmsens merge DIR... --out DIR\n\n"
		"Merges the job results (*_autoquant_state.h5) found under each DIR (sweep\n"
		"directories, single runs, the tasks of a Slurm job array) into\n"
		"  DIR/sweep.h5           every job under /jobs/<n> (n = 0.. in argument order)\n"
		"  DIR/sweep-summary.md   pair x size grid, per-job table, most sensitive layers\n"
		"  DIR/sweep-heatmap.svg  layer x job heatmap\n");
}

int lms_cmd_merge(int argc, char **argv)
{
	const char *out = NULL;
	const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
	size_t nd = 0;
	if (!dirs)
		return lms_cli_fail(lms_fail(LMS_ERR_NOMEM, NULL, "out of memory"));
	for (int i = 1; i < argc; i++) {
		if (lms_cli_is_help(argv[i])) {
			usage(stdout);
			free(dirs);
			return 0;
		} else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (argv[i][0] == '-') {
			free(dirs);
			return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "see 'lmsens merge --help'",
						     "merge: unknown flag '%s'", argv[i]));
		} else {
			dirs[nd++] = argv[i];
		}
	}
	if (!out || nd == 0) {
		free(dirs);
		return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "see 'lmsens merge --help'",
					     "merge: give at least one DIR and --out DIR"));
	}
	/* --out is created only when there is something to write */
	enum lms_status st = LMS_OK;
	char skip[PATH_MAX] = "";
	if (!lms_is_dir(out) || !realpath(out, skip))
		skip[0] = '\0';
	struct found f = {0};
	for (size_t k = 0; st == LMS_OK && k < nd; k++) {
		if (!lms_is_dir(dirs[k]))
			st = lms_fail(LMS_ERR_NOT_FOUND, "give sweep or run directories",
				      "merge: %s is not a directory", dirs[k]);
		else
			st = scan(dirs[k], skip[0] ? skip : NULL, 0, &f);
	}
	if (st == LMS_OK && f.n == 0)
		st = lms_fail(LMS_ERR_NOT_FOUND, "run the sweeps first, or check the directories",
			      "merge: no job statistics (*%s) under the given directories",
			      LMS_H5STATS_SUFFIX);
	struct lms_sweep_entry *e = st == LMS_OK ? calloc(f.n, sizeof *e) : NULL;
	char **labels = st == LMS_OK ? calloc(f.n, sizeof *labels) : NULL;
	if (st == LMS_OK && (!e || !labels))
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; st == LMS_OK && k < f.n; k++) {
		labels[k] = strdup(f.path[k]);
		char *slash = labels[k] ? strrchr(labels[k], '/') : NULL;
		if (slash)
			*slash = '\0'; /* the job's directory */
		e[k] = (struct lms_sweep_entry){(int)k, f.path[k], "done", NULL, labels[k]};
	}
	if (st == LMS_OK)
		st = lms_sweep_write(e, f.n, out);
	if (st == LMS_OK)
		LMS_INFO("merged %zu jobs into %s/sweep.h5", f.n, out);
	for (size_t k = 0; k < f.n; k++) {
		free(f.path[k]);
		if (labels)
			free(labels[k]);
	}
	free(f.path);
	free(labels);
	free(e);
	free(dirs);
	return st == LMS_OK ? 0 : lms_cli_fail(st);
}
