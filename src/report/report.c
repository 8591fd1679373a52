/* report.c — writes the job artifacts (manifest, per-layer Markdown / JSON /
 * SVG) and rebuilds them from the HDF5 statistics (report-only mode).
 *
 * Invariant: nothing here depends on the clock, the locale or the
 * environment; the bytes are a function of the result alone. Each file is
 * written to a temporary name and renamed, so a failure leaves the previous
 * version (or nothing) under the final name. */
#include "report/report.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/search.h"
#include "core/fsutil.h"
#include "io/h5stats.h"

double lms_report_mean_loss(const struct lms_aq_result *r, int *ok)
{
	const double *v = r->n_score_loss ? r->score_loss : r->calib_loss;
	size_t n = r->n_score_loss ? r->n_score_loss : r->n_calib_loss;
	*ok = n > 0;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : 0.0;
}

const char *lms_report_member_label(const struct lms_aq_result *r, size_t module)
{
	const struct lms_aq_module *m = &r->modules[module];
	return m->kind && m->kind[0] ? m->kind : m->name;
}

/* Insertion sort keeps it stable and obviously deterministic; n is at most a
 * few hundred groups. */
void lms_report_rank(const struct lms_aq_result *r, size_t *order, int *rank)
{
	size_t n = 0;
	for (size_t g = 0; g < r->n_groups; g++) {
		if (r->groups[g].disabled)
			continue;
		double s = r->groups[g].scores[0];
		size_t k = n++;
		while (k > 0 && r->groups[order[k - 1]].scores[0] < s) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = g;
	}
	for (size_t g = 0; g < r->n_groups; g++)
		rank[g] = 0;
	for (size_t k = 0; k < n; k++)
		rank[order[k]] = (int)k + 1;
	for (size_t g = 0; g < r->n_groups; g++)
		if (r->groups[g].disabled)
			order[n++] = g;
}

typedef enum lms_status (*renderer)(const struct lms_aq_result *, char **);

static enum lms_status write_one(const char *dir, const char *name, renderer fn,
				 const struct lms_aq_result *r)
{
	char path[PATH_MAX];
	char *text = NULL;
	LMS_TRY(lms_path_join(path, sizeof path, dir, name));
	LMS_TRY(fn(r, &text));
	enum lms_status st = lms_write_file_atomic(path, text, strlen(text));
	free(text);
	return st;
}

enum lms_status lms_report_write_all(const struct lms_aq_result *r, const char *dir,
				     const char *scheme)
{
	LMS_TRY(lms_aq_result_validate(r, "result"));
	if (!scheme || !scheme[0])
		scheme = r->job.scheme;
	if (!scheme || !scheme[0])
		return lms_fail(LMS_ERR_CONFIG,
				"set quant_pair.scheme_name, or model.name and quant_pair.name",
				"cannot name the manifest: the job has no scheme name");
	if (strchr(scheme, '/'))
		return lms_fail(LMS_ERR_CONFIG, "use a scheme name without '/'",
				"scheme name '%s' contains a '/'", scheme);
	LMS_TRY(lms_mkdir_p(dir));
	char manifest[NAME_MAX + 1];
	int n = snprintf(manifest, sizeof manifest, "%s%s", scheme, LMS_REPORT_MANIFEST_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof manifest)
		return lms_fail(LMS_ERR_CONFIG, "use a shorter quant_pair.scheme_name",
				"scheme name '%s' makes a file name longer than %d bytes", scheme,
				NAME_MAX);
	LMS_TRY(write_one(dir, manifest, lms_report_manifest_json, r));
	LMS_TRY(write_one(dir, LMS_REPORT_JSON, lms_report_sensitivity_json, r));
	LMS_TRY(write_one(dir, LMS_REPORT_MD, lms_report_markdown, r));
	return write_one(dir, LMS_REPORT_SVG, lms_report_svg, r);
}

enum lms_status lms_report_from_h5(const char *h5_path, const char *dir)
{
	return lms_report_from_h5_group(h5_path, NULL, dir);
}

enum lms_status lms_report_from_h5_group(const char *h5_path, const char *group, const char *dir)
{
	struct lms_aq_result r;
	LMS_TRY(lms_h5stats_read_group(h5_path, group, &r));
	/* A file written before the search (the leader writes the statistics,
	 * rank 0 searches): the search is exact and deterministic, so running it
	 * again here gives the same selection the run reported. */
	enum lms_status st = r.has_search ? LMS_OK : lms_search_result(&r);
	if (st == LMS_OK)
		st = lms_report_write_all(&r, dir, NULL);
	lms_aq_result_free(&r);
	return st;
}
