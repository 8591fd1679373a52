/* report_only.c — runner.report_only=true for one job (pipeline_internal.h):
 * from <scheme>_autoquant_state.h5 (or the directory's only statistics file)
 * the four artifacts, byte-identical to what the run wrote; without a
 * statistics file, the three per-layer reports from <scheme>_quant_manifest.json
 * (or the directory's only manifest, e.g. one of the Python workflow), which
 * is left as it is. No model, data or backend is touched.
 * Not here: rendering (src/report/), reading manifests (manifest_in.c). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/manifest_in.h"
#include "autoquant/pipeline_internal.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "io/h5stats.h"
#include "report/report.h"

/* 1 and the path in out when dir holds exactly one file ending in suffix. */
static int find_single(const char *dir, const char *suffix, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	size_t ls = strlen(suffix);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > ls && strcmp(e->d_name + l - ls, suffix) == 0 && n++ == 0 &&
		    lms_path_join(out, cap, dir, e->d_name) != LMS_OK) {
			lms_error_clear();
			n = 2;
		}
	}
	closedir(d);
	return n == 1;
}

static enum lms_status write_text(const char *dir, const char *name,
				  enum lms_status (*render)(const struct lms_aq_result *, char **),
				  const struct lms_aq_result *r)
{
	char path[4096], *text = NULL;
	LMS_TRY(lms_path_join(path, sizeof path, dir, name));
	LMS_TRY(render(r, &text));
	enum lms_status st = lms_write_file_atomic(path, text, strlen(text));
	free(text);
	return st;
}

/* No statistics file: the per-layer reports from the manifest (which is left
 * as it is: it may come from another tool). */
static enum lms_status report_from_manifest(const struct lms_pipeline_job *job, const char *manifest)
{
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	LMS_TRY(lms_aq_result_from_manifest(manifest, &r));
	enum lms_status st = write_text(job->output_dir, LMS_REPORT_MD, lms_report_markdown, &r);
	if (st == LMS_OK)
		st = write_text(job->output_dir, LMS_REPORT_JSON, lms_report_sensitivity_json, &r);
	if (st == LMS_OK)
		st = write_text(job->output_dir, LMS_REPORT_SVG, lms_report_svg, &r);
	lms_aq_result_free(&r);
	LMS_TRY(st);
	LMS_WARN("job #%d: no statistics file; per-layer reports rebuilt from the manifest %s "
		 "(no module shapes, amaxes, losses or traces)", job->num, manifest);
	return LMS_OK;
}

/* Report-only: from <scheme>_autoquant_state.h5 (or the directory's only
 * statistics file) all four artifacts, byte-identical to the run's; else
 * from <scheme>_quant_manifest.json (or the only manifest) the per-layer
 * reports. */
enum lms_status lms_aq_report_only(const struct lms_pipeline_job *job)
{
	char scheme[256], name[320], h5[4096], man[4096];
	LMS_TRY(lms_pipeline_scheme(job->cfg, scheme, sizeof scheme));
	snprintf(name, sizeof name, "%s%s", scheme, LMS_H5STATS_SUFFIX);
	LMS_TRY(lms_path_join(h5, sizeof h5, job->output_dir, name));
	if (!lms_is_file(h5) && find_single(job->output_dir, LMS_H5STATS_SUFFIX, h5, sizeof h5))
		LMS_INFO("runner.report_only: %s%s not found; using the directory's only statistics file %s",
			 scheme, LMS_H5STATS_SUFFIX, h5);
	if (lms_is_file(h5)) {
		LMS_TRY(lms_report_from_h5(h5, job->output_dir));
		LMS_INFO("job #%d: reports rebuilt from %s", job->num, h5);
		return LMS_OK;
	}
	snprintf(name, sizeof name, "%s%s", scheme, LMS_REPORT_MANIFEST_SUFFIX);
	LMS_TRY(lms_path_join(man, sizeof man, job->output_dir, name));
	if (lms_is_file(man) || find_single(job->output_dir, LMS_REPORT_MANIFEST_SUFFIX, man, sizeof man))
		return report_from_manifest(job, man);
	return lms_fail(LMS_ERR_NOT_FOUND,
			"run the job first (runner.report_only=false), or point runner.output_dir at its directory",
			"runner.report_only: no statistics file %s (nor a *%s manifest in %s)", h5,
			LMS_REPORT_MANIFEST_SUFFIX, job->output_dir);
}

int lms_aq_is_report_only(const struct lms_cfg *cfg)
{
	int ro = 0;
	if (lms_cfg_find(cfg, "runner.report_only") && !lms_cfg_is_null(cfg, "runner.report_only") &&
	    lms_cfg_get_bool(cfg, "runner.report_only", &ro) != LMS_OK) {
		lms_error_clear();
		return 0;
	}
	return ro;
}
