/* sweep.c — the sweep-level outputs (dist.h: lms_sweep_write), used by the
 * runner at the end of a -m sweep and by `lmsens merge`:
 *   sweep.h5            /jobs/<num>: a copy (H5Ocopy) of each done job's
 *                       statistics file, with attributes num, status, label
 *                       and source; failed jobs get an empty group with
 *                       status and error attributes;
 *   sweep-summary.md    pair × size grid (achieved effective bits / total
 *                       score), per-job table with the three most sensitive
 *                       groups, failures;
 *   sweep-heatmap.svg   group × job heatmap of log10(score) at each job's
 *                       most aggressive format (formats[0]).
 * Invariants: every file is written to a temporary name and renamed; the
 * outputs depend only on the entries and the job files (no clocks), so
 * equal sweeps give equal summaries. Not here: per-job reports (src/report/). */
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoquant/result.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "dist/dist.h"
#include "io/h5stats.h"
#include "report/report.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static enum lms_status attr_str(hid_t loc, const char *name, const char *v)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, strlen(v ? v : "") + 1);
	hid_t sp = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
	herr_t w = a >= 0 ? H5Awrite(a, t, v ? v : "") : -1;
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(t);
	if (w < 0)
		return lms_fail(LMS_ERR_IO, NULL, "sweep.h5: cannot write attribute %s", name);
	return LMS_OK;
}

static enum lms_status attr_int(hid_t loc, const char *name, long long v)
{
	hid_t sp = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	herr_t w = a >= 0 ? H5Awrite(a, H5T_NATIVE_LLONG, &v) : -1;
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(sp);
	if (w < 0)
		return lms_fail(LMS_ERR_IO, NULL, "sweep.h5: cannot write attribute %s", name);
	return LMS_OK;
}

static enum lms_status copy_job(hid_t jobs, const struct lms_sweep_entry *e)
{
	char name[32];
	snprintf(name, sizeof name, "%d", e->num);
	hid_t g;
	if (e->h5) {
		hid_t src = H5Fopen(e->h5, H5F_ACC_RDONLY, H5P_DEFAULT);
		if (src < 0)
			return lms_fail(LMS_ERR_INPUT,
					"rerun the job (runner.resume=true) or drop it",
					"sweep.h5: cannot open %s", e->h5);
		herr_t c = H5Ocopy(src, ".", jobs, name, H5P_DEFAULT, H5P_DEFAULT);
		H5Fclose(src);
		if (c < 0)
			return lms_fail(LMS_ERR_IO, NULL, "sweep.h5: cannot copy %s", e->h5);
		g = H5Gopen2(jobs, name, H5P_DEFAULT);
	} else {
		g = H5Gcreate2(jobs, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	}
	if (g < 0)
		return lms_fail(LMS_ERR_IO, NULL, "sweep.h5: cannot create /jobs/%s", name);
	enum lms_status st = attr_int(g, "sweep_num", e->num);
	if (st == LMS_OK)
		st = attr_str(g, "sweep_status", e->status);
	if (st == LMS_OK)
		st = attr_str(g, "sweep_label", e->label);
	if (st == LMS_OK)
		st = attr_str(g, "sweep_source", e->h5 ? e->h5 : "");
	if (st == LMS_OK && e->error)
		st = attr_str(g, "sweep_error", e->error);
	H5Gclose(g);
	return st;
}

static enum lms_status write_h5(const struct lms_sweep_entry *e, size_t n, const char *dir)
{
	char path[4096], tmp[4200];
	LMS_TRY(lms_path_join(path, sizeof path, dir, "sweep.h5"));
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (f < 0)
		return lms_fail(LMS_ERR_IO, "check that the directory is writable",
				"cannot create %s", tmp);
	enum lms_status st = attr_int(f, "n_jobs", (long long)n);
	hid_t jobs = H5Gcreate2(f, "jobs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (jobs < 0 && st == LMS_OK)
		st = lms_fail(LMS_ERR_IO, NULL, "sweep.h5: cannot create /jobs");
	for (size_t k = 0; st == LMS_OK && k < n; k++)
		st = copy_job(jobs, &e[k]);
	if (jobs >= 0)
		H5Gclose(jobs);
	if (H5Fclose(f) < 0 && st == LMS_OK)
		st = lms_fail(LMS_ERR_IO, NULL, "cannot close %s", tmp);
	if (st == LMS_OK && rename(tmp, path) != 0)
		st = lms_fail(LMS_ERR_IO, NULL, "cannot rename %s", tmp);
	if (st != LMS_OK)
		unlink(tmp);
	return st;
}

/* ---- text ------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t n, cap;
	int oom;
};

LMS_PRINTF(2, 3) static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = b->cap - b->n;
		va_start(ap, fmt);
		int k = b->p ? vsnprintf(b->p + b->n, room, fmt, ap) : -2;
		va_end(ap);
		if (k >= 0 && (size_t)k < room) {
			b->n += (size_t)k;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (k >= 0 && cap < b->n + (size_t)k + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

static int find_str(const char **v, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return -1;
}

static void summary_md(struct buf *b, const struct lms_sweep_entry *e, size_t n,
		       const struct lms_aq_result *r, const int *ok)
{
	const char **pairs = calloc(n + 1, sizeof *pairs), **sizes = calloc(n + 1, sizeof *sizes);
	int np = 0, ns = 0;
	for (size_t k = 0; pairs && sizes && k < n; k++) {
		if (!ok[k])
			continue;
		const char *p = r[k].job.pair_name ? r[k].job.pair_name : "";
		const char *s = r[k].job.dataset_size ? r[k].job.dataset_size : "";
		if (find_str(pairs, np, p) < 0)
			pairs[np++] = p;
		if (find_str(sizes, ns, s) < 0)
			sizes[ns++] = s;
	}
	put(b,
	    "# Sweep summary\n\n%zu jobs.\n\n## Achieved effective bits / total score (pair × "
	    "size)\n\n",
	    n);
	put(b, "| quant_pair |");
	for (int s = 0; s < ns; s++)
		put(b, " %s |", sizes[s]);
	put(b, "\n| --- |");
	for (int s = 0; s < ns; s++)
		put(b, " --- |");
	put(b, "\n");
	for (int p = 0; p < np; p++) {
		put(b, "| %s |", pairs[p]);
		for (int s = 0; s < ns; s++) {
			const struct lms_aq_result *hit = NULL;
			for (size_t k = 0; k < n && !hit; k++)
				if (ok[k] &&
				    strcmp(r[k].job.pair_name ? r[k].job.pair_name : "",
					   pairs[p]) == 0 &&
				    strcmp(r[k].job.dataset_size ? r[k].job.dataset_size : "",
					   sizes[s]) == 0)
					hit = &r[k];
			if (hit && hit->has_search)
				put(b, " %.4f / %.6g |", hit->search.effective_bits,
				    hit->search.score);
			else
				put(b, " %s |", hit ? "no search" : "—");
		}
		put(b, "\n");
	}
	put(b, "\n## Jobs\n\n| job | overrides | status | effective bits | score | most sensitive "
	       "groups |\n"
	       "| --- | --- | --- | --- | --- | --- |\n");
	for (size_t k = 0; k < n; k++) {
		put(b, "| %d | %s | %s |", e[k].num, e[k].label ? e[k].label : "", e[k].status);
		if (!ok[k]) {
			put(b, " | | |\n");
			continue;
		}
		if (r[k].has_search)
			put(b, " %.4f | %.6g |", r[k].search.effective_bits, r[k].search.score);
		else
			put(b, " | |");
		size_t *order = calloc(r[k].n_groups + 1, sizeof *order);
		int *rank = calloc(r[k].n_groups + 1, sizeof *rank);
		if (order && rank) {
			lms_report_rank(&r[k], order, rank);
			for (size_t i = 0; i < 3 && i < r[k].n_groups; i++)
				if (!r[k].groups[order[i]].disabled)
					put(b, "%s %s", i ? "," : "", r[k].groups[order[i]].name);
		}
		free(order);
		free(rank);
		put(b, " |\n");
	}
	int failed = 0;
	for (size_t k = 0; k < n; k++)
		if (e[k].error)
			put(b, "%s- job %d (%s): %s: %s\n", failed++ ? "" : "\n## Failures\n\n",
			    e[k].num, e[k].label ? e[k].label : "", e[k].status, e[k].error);
	put(b, "\n![layer × job heatmap](sweep-heatmap.svg)\n");
	free(pairs);
	free(sizes);
}

static void heat_color(double t, char *out, size_t cap)
{
	/* white (least) → dark red (most sensitive) */
	t = t < 0 ? 0 : t > 1 ? 1 : t;
	int r = (int)lround(255 - 75 * t), g = (int)lround(255 - 235 * t),
	    bl = (int)lround(255 - 225 * t);
	snprintf(out, cap, "#%02x%02x%02x", r, g, bl);
}

static void heatmap_svg(struct buf *b, const struct lms_sweep_entry *e, size_t n,
			const struct lms_aq_result *r, const int *ok)
{
	size_t ref = n, rows = 0, cols = 0;
	for (size_t k = 0; k < n; k++)
		if (ok[k]) {
			cols++;
			if (ref == n)
				ref = k;
		}
	rows = ref < n ? r[ref].n_groups : 0;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t k = 0; k < n; k++)
		for (size_t g = 0; ok[k] && g < r[k].n_groups && g < rows; g++) {
			double v = r[k].n_formats ? r[k].groups[g].scores[0] : 0;
			if (v > 0) {
				lo = fmin(lo, log10(v));
				hi = fmax(hi, log10(v));
			}
		}
	int cw = 28, ch = 14, left = 300, top = 40;
	int w = left + (int)cols * cw + 20, h = top + (int)rows * ch + 40;
	put(b,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "font-family=\"sans-serif\" font-size=\"10\">\n",
	    w, h);
	put(b, "<text x=\"4\" y=\"14\" font-size=\"12\">log10 score at the most aggressive format "
	       "(group × job); white = least, red = most sensitive</text>\n");
	size_t c = 0;
	for (size_t k = 0; k < n; k++) {
		if (!ok[k])
			continue;
		put(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n",
		    left + (int)c * cw + cw / 2, top - 4, e[k].num);
		for (size_t g = 0; g < rows && g < r[k].n_groups; g++) {
			double v = r[k].n_formats ? r[k].groups[g].scores[0] : 0;
			char col[16];
			double t =
			    v > 0 && hi > lo ? (log10(v) - lo) / (hi - lo) : (v > 0 ? 1.0 : 0.0);
			heat_color(t, col, sizeof col);
			put(b,
			    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
			    "stroke=\"#ddd\"><title>job %d %s: %.6g</title></rect>\n",
			    left + (int)c * cw, top + (int)g * ch, cw, ch, col, e[k].num,
			    r[k].groups[g].name, v);
		}
		c++;
	}
	for (size_t g = 0; g < rows; g++)
		put(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 4,
		    top + (int)g * ch + ch - 3, r[ref].groups[g].name);
	put(b, "</svg>\n");
}

enum lms_status lms_sweep_write(const struct lms_sweep_entry *e, size_t n, const char *dir)
{
	LMS_TRY(lms_mkdir_p(dir));
	struct lms_aq_result *r = calloc(n + 1, sizeof *r);
	int *ok = calloc(n + 1, sizeof *ok);
	if (!r || !ok) {
		free(r);
		free(ok);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	enum lms_status st = LMS_OK;
	for (size_t k = 0; k < n; k++) {
		lms_aq_result_init(&r[k]);
		if (e[k].h5 && lms_h5stats_read(e[k].h5, &r[k]) == LMS_OK) {
			ok[k] = 1;
		} else if (e[k].h5) {
			LMS_WARN("sweep summary: skipping job %d: %s", e[k].num,
				 lms_error_message());
			lms_error_clear();
		}
	}
	struct lms_sweep_entry *use = calloc(n + 1, sizeof *use);
	if (!use)
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; use && k < n; k++) {
		use[k] = e[k];
		if (!ok[k])
			use[k].h5 = NULL;
	}
	if (st == LMS_OK)
		st = write_h5(use, n, dir);
	struct buf md = {0}, svg = {0};
	if (st == LMS_OK) {
		summary_md(&md, e, n, r, ok);
		heatmap_svg(&svg, e, n, r, ok);
		if (md.oom || svg.oom)
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	char path[4096];
	if (st == LMS_OK &&
	    (st = lms_path_join(path, sizeof path, dir, "sweep-summary.md")) == LMS_OK)
		st = lms_write_file_atomic(path, md.p, md.n);
	if (st == LMS_OK &&
	    (st = lms_path_join(path, sizeof path, dir, "sweep-heatmap.svg")) == LMS_OK)
		st = lms_write_file_atomic(path, svg.p, svg.n);
	free(md.p);
	free(svg.p);
	for (size_t k = 0; k < n; k++)
		lms_aq_result_free(&r[k]);
	free(r);
	free(ok);
	free(use);
	return st;
}
