/* svg.c — per-layer-sensitivity.svg: each group's score per candidate format
 * on a log-scale y axis, groups in model order along x, the chosen format of
 * each group circled, groups kept in bf16 marked along the top, disabled
 * groups shaded.
 *
 * Invariants: hand-written SVG 1.1 with no external resources, fonts from the
 * generic "sans-serif" family, coordinates printed with one decimal — the
 * bytes depend only on the result. Zero scores cannot sit on a log axis: they
 * are drawn hollow on the bottom edge and the legend says so.
 *
 * Does not: draw sweeps (the sweep heatmap is the merge command's). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static const char *const k_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
				       "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
#define N_COLORS (sizeof k_colors / sizeof k_colors[0])

/* Plot geometry in SVG user units. */
struct geo {
	double width, height, left, right, top, bottom;
	double step;   /* x distance between groups */
	double lo, hi; /* log10 range of the y axis (whole decades) */
};

static void xml_text(FILE *f, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*p, f);
		}
	}
}

static double gx(const struct geo *g, size_t i)
{
	return g->left + ((double)i + 0.5) * g->step;
}

static double gy(const struct geo *g, double score)
{
	double plot_h = g->height - g->top - g->bottom;
	if (score <= 0)
		return g->height - g->bottom;
	double t = (log10(score) - g->lo) / (g->hi - g->lo);
	return g->height - g->bottom - t * plot_h;
}

static void set_range(const struct lms_aq_result *r, struct geo *g)
{
	double mn = INFINITY, mx = -INFINITY;
	for (size_t i = 0; i < r->n_groups; i++) {
		if (r->groups[i].disabled)
			continue;
		for (size_t f = 0; f + 1 < r->n_formats; f++) {
			double s = r->groups[i].scores[f];
			if (s > 0) {
				mn = s < mn ? s : mn;
				mx = s > mx ? s : mx;
			}
		}
	}
	if (!(mn <= mx)) {
		g->lo = -1;
		g->hi = 0;
		return;
	}
	/* Whole decades with some headroom, so no marker sits on the frame
	 * (and the top row stays free for the "kept bf16" squares). */
	g->lo = floor(log10(mn) - 0.15);
	g->hi = ceil(log10(mx) + 0.15);
	if (g->hi <= g->lo)
		g->hi = g->lo + 1;
}

static void axes(FILE *f, const struct lms_aq_result *r, const struct geo *g)
{
	double x0 = g->left, x1 = g->width - g->right;
	double y0 = g->height - g->bottom, y1 = g->top;
	/* Decade grid lines with labels 1e-5, 1e-4, ... */
	for (int e = (int)g->lo; e <= (int)g->hi; e++) {
		double y = gy(g, pow(10.0, e));
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			x0, y, x1, y);
		fprintf(f,
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
			"font-size=\"11\">1e%d</text>\n",
			x0 - 6, y + 4, e);
	}
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
		"stroke=\"#333\"/>\n",
		x0, y1, x1 - x0, y0 - y1);
	fprintf(f,
		"<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\" "
		"font-size=\"12\">score (log scale, higher = more sensitive)</text>\n",
		x0 - 52, (y0 + y1) / 2);
	fprintf(f,
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">decoder layer "
		"(%zu groups in model order: q/k/v, o, gate/up, down per layer)</text>\n",
		(x0 + x1) / 2, g->height - 14, r->n_groups);
}

/* "q/k/v", "o", "gate/up", "down": member kinds without "_proj", under
 * each group when there is room (small models). */
static void group_label(FILE *f, const struct lms_aq_result *r, const struct geo *g, size_t k,
			double y)
{
	const struct lms_aq_group *gr = &r->groups[k];
	fprintf(f,
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"8\" fill=\"#555\">",
		gx(g, k), y);
	for (size_t i = 0; i < gr->n_members; i++) {
		const char *kind = lms_report_member_label(r, gr->members[i]);
		const char *cut = strstr(kind, "_proj");
		char part[64];
		size_t n = cut ? (size_t)(cut - kind) : strlen(kind);
		snprintf(part, sizeof part, "%.*s", (int)(n < 63 ? n : 63), kind);
		fputs(i ? "/" : "", f);
		xml_text(f, part);
	}
	fprintf(f, "</text>\n");
}

/* Shades every other decoder layer and labels layers along x (thinned so
 * labels never overlap: at most one per 28 units). */
static void layer_bands(FILE *f, const struct lms_aq_result *r, const struct geo *g)
{
	double y0 = g->height - g->bottom, y1 = g->top;
	double last_label = -1e9;
	size_t i = 0;
	while (i < r->n_groups) {
		int layer = r->modules[r->groups[i].members[0]].layer;
		size_t j = i;
		while (j < r->n_groups && r->modules[r->groups[j].members[0]].layer == layer)
			j++;
		double xa = gx(g, i) - g->step / 2, xb = gx(g, j - 1) + g->step / 2;
		if (layer >= 0 && layer % 2 == 1)
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				"fill=\"#f3f3f3\"/>\n",
				xa, y1, xb - xa, y0 - y1);
		double xc = (xa + xb) / 2;
		if (xc - last_label >= 28) {
			fprintf(
			    f,
			    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">",
			    xc, y0 + (g->step >= 36 ? 26 : 14));
			if (layer >= 0)
				fprintf(f, "%d", layer);
			else
				xml_text(f, lms_report_member_label(r, r->groups[i].members[0]));
			fprintf(f, "</text>\n");
			last_label = xc;
		}
		i = j;
	}
	for (size_t k = 0; g->step >= 36 && k < r->n_groups; k++)
		group_label(f, r, g, k, y0 + 12);
	for (size_t k = 0; k < r->n_groups; k++) {
		if (!r->groups[k].disabled)
			continue;
		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"#999\" fill-opacity=\"0.25\"><title>",
			gx(g, k) - g->step / 2, y1, g->step, y0 - y1);
		xml_text(f, r->groups[k].name);
		fprintf(f, " (disabled: kept bf16)</title></rect>\n");
	}
}

static void markers(FILE *f, const struct lms_aq_result *r, const struct geo *g)
{
	int none = (int)r->n_formats - 1;
	for (size_t i = 0; i < r->n_groups; i++) {
		const struct lms_aq_group *gr = &r->groups[i];
		if (gr->disabled)
			continue;
		double x = gx(g, i);
		for (int fi = 0; fi < none; fi++) {
			double s = gr->scores[fi], y = gy(g, s);
			const char *c = k_colors[(size_t)fi % N_COLORS];
			fprintf(f,
				"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" "
				"stroke=\"%s\"><title>",
				x, y, s > 0 ? c : "white", c);
			xml_text(f, gr->name);
			fprintf(f, " %s: %.4e</title></circle>\n", r->formats[fi].name, s);
			if (r->has_search && gr->chosen == fi)
				fprintf(f,
					"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" "
					"stroke=\"#000\" stroke-width=\"1.5\"/>\n",
					x, y);
		}
		if (r->has_search && gr->chosen == none)
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" "
				"fill=\"#000\"/>\n",
				x - 3.5, g->top + 4);
	}
}

static void legend(FILE *f, const struct lms_aq_result *r, const struct geo *g)
{
	double x = g->width - g->right + 16, y = g->top + 10;
	for (size_t fi = 0; fi + 1 < r->n_formats; fi++, y += 18) {
		char bits[40];
		lms_aq_fmt_double(r->formats[fi].bits, bits, sizeof bits);
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", x, y,
			k_colors[fi % N_COLORS]);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", x + 10, y + 4);
		xml_text(f, r->formats[fi].name);
		fprintf(f, " (%s bits)</text>\n", bits);
	}
	if (r->has_search) {
		fprintf(f,
			"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"#000\" "
			"stroke-width=\"1.5\"/>\n",
			x, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">chosen format</text>\n",
			x + 10, y + 4);
		y += 18;
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"#000\"/>\n",
			x - 3.5, y - 3.5);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">kept bf16 (NONE)</text>\n",
			x + 10, y + 4);
		y += 18;
	}
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"10\" fill=\"#999\" "
		"fill-opacity=\"0.25\"/>\n",
		x - 3.5, y - 5);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">disabled layer</text>\n", x + 10,
		y + 4);
	y += 18;
	fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"white\" stroke=\"#333\"/>\n",
		x, y);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">score 0 (on the axis)</text>\n",
		x + 10, y + 4);
}

static void title(FILE *f, const struct lms_aq_result *r, const struct geo *g)
{
	fprintf(f,
		"<text x=\"%.1f\" y=\"20\" font-size=\"15\" font-weight=\"bold\">Per-layer "
		"sensitivity: ",
		g->left);
	xml_text(f, r->job.scheme);
	fprintf(f, "</text>\n<text x=\"%.1f\" y=\"38\" font-size=\"12\">", g->left);
	xml_text(f, r->settings.method);
	fprintf(f, " scores, pair ");
	xml_text(f, r->job.pair_name);
	if (r->has_search)
		fprintf(f, "; chosen formats at target %.3f effective bits (achieved %.3f%s)",
			r->settings.effective_bits, r->search.effective_bits,
			r->search.is_satisfied ? "" : ", NOT satisfied");
	fprintf(f, "</text>\n");
}

enum lms_status lms_report_svg(const struct lms_aq_result *r, char **out)
{
	*out = NULL;
	char *buf = NULL;
	size_t len = 0;
	struct geo g = {.height = 460, .left = 80, .right = 200, .top = 50, .bottom = 60};
	g.step =
	    r->n_groups > 0 && 640.0 / (double)r->n_groups > 10 ? 640.0 / (double)r->n_groups : 10;
	/* The legend needs room for the longest "<format> (<bits> bits)" line
	 * (about 6.5 units per character at font size 11). */
	for (size_t f = 0; f + 1 < r->n_formats; f++) {
		double need = 40 + 6.5 * (double)(strlen(r->formats[f].name) + 12);
		g.right = need > g.right ? need : g.right;
	}
	g.width = g.left + g.right + g.step * (double)(r->n_groups ? r->n_groups : 1);
	set_range(r, &g);
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building %s", LMS_REPORT_SVG);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n",
		g.width, g.height, g.width, g.height);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	title(f, r, &g);
	layer_bands(f, r, &g);
	axes(f, r, &g);
	markers(f, r, &g);
	legend(f, r, &g);
	fprintf(f, "</svg>\n");
	int bad = ferror(f);
	fclose(f);
	if (bad || !buf) {
		free(buf);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building %s", LMS_REPORT_SVG);
	}
	*out = buf;
	return LMS_OK;
}
