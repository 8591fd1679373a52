/* markdown.c — per-layer-sensitivity.md: summary, layers ranked by
 * sensitivity, the score-vs-bits frontier.
 *
 * Invariants: deterministic text (fixed number formats, "C" style printf with
 * no locale grouping — thousands separators are inserted by hand); module
 * names are shown in backticks so Markdown never reads '_' as emphasis; a '|'
 * inside a name is escaped so tables stay intact.
 *
 * Does not: embed the SVG (it is a separate file, linked at the top). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static const char *S(const char *s)
{
	return s && s[0] ? s : "—";
}

/* 1234567 → "1,234,567". */
static void fmt_int(long long v, char *out, size_t cap)
{
	char digits[32];
	snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
	size_t n = strlen(digits), k = 0;
	char buf[48];
	if (v < 0)
		buf[k++] = '-';
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[k++] = ',';
		buf[k++] = digits[i];
	}
	buf[k] = '\0';
	snprintf(out, cap, "%s", buf);
}

static void fmt_score(double v, char *out, size_t cap)
{
	if (v == 0)
		snprintf(out, cap, "0");
	else
		snprintf(out, cap, "%.4e", v);
}

/* Writes s with '|' escaped, inside backticks. */
static void code(FILE *f, const char *s)
{
	fputc('`', f);
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '|')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('`', f);
}

static void summary(FILE *f, const struct lms_aq_result *r)
{
	const struct lms_aq_job *j = &r->job;
	const struct lms_aq_settings *s = &r->settings;
	char a[48], b[48];
	fprintf(f, "## Summary\n\n| | |\n| --- | --- |\n");
	fprintf(f, "| model | ");
	code(f, S(j->model_name));
	fprintf(f, " (%s, ", S(j->model_type));
	code(f, S(j->model_path));
	fprintf(f, ") |\n| dataset | ");
	code(f, S(j->dataset_name));
	fprintf(f, ", size %s (", S(j->dataset_size));
	code(f, S(j->dataset_path));
	fmt_int(j->samples, a, sizeof a);
	fmt_int(j->tokens, b, sizeof b);
	fprintf(f, ") |\n| samples / tokens used | %s / %s (seq_len %lld, batch size %lld) |\n", a,
		b, (long long)j->seq_len, (long long)j->batch_size);
	fprintf(f, "| quant pair | ");
	code(f, S(j->pair_name));
	fprintf(f, ": weight %s, activation %s |\n| candidate formats | ", S(j->weight),
		S(j->activation));
	for (size_t i = 0; i < r->n_formats; i++) {
		char bits[40];
		lms_aq_fmt_double(r->formats[i].bits, bits, sizeof bits);
		fprintf(f, "%s%s (%s bits)", i ? ", " : "", r->formats[i].name, bits);
	}
	fprintf(f,
		" |\n| method | %s (loss reduction %s; score size %lld, %lld scoring and %lld "
		"calibration batches) |\n",
		S(s->method), S(s->loss_reduction), (long long)s->score_size,
		(long long)s->score_steps, (long long)s->calib_steps);
	fprintf(f, "| disabled layers | ");
	for (size_t i = 0; i < s->n_disabled; i++) {
		fprintf(f, "%s", i ? ", " : "");
		code(f, s->disabled_layers[i]);
	}
	fprintf(f, "%s |\n", s->n_disabled ? "" : "none");
	fprintf(f, "| target effective bits | %.3f |\n", s->effective_bits);
	if (r->has_search) {
		fprintf(f, "| achieved effective bits | %.3f (%s) |\n", r->search.effective_bits,
			r->search.is_satisfied ? "constraint satisfied"
					       : "**constraint NOT satisfied**");
		fmt_score(r->search.score, a, sizeof a);
		fprintf(f, "| total score | %s |\n| chosen formats | ", a);
		for (size_t fi = 0, first = 1; fi < r->n_formats; fi++) {
			size_t n = 0;
			for (size_t g = 0; g < r->n_groups; g++)
				n += r->groups[g].chosen == (int)fi;
			if (!n)
				continue;
			fprintf(f, "%s%s: %zu group%s", first ? "" : ", ", r->formats[fi].name, n,
				n == 1 ? "" : "s");
			first = 0;
		}
		fprintf(f, " |\n");
	} else {
		fprintf(f, "| achieved effective bits | — (search not run) |\n");
	}
	int ok;
	double loss = lms_report_mean_loss(r, &ok);
	if (ok)
		fprintf(f, "| mean loss | %.6f (over %zu %s batches) |\n", loss,
			r->n_score_loss ? r->n_score_loss : r->n_calib_loss,
			r->n_score_loss ? "scoring" : "calibration");
	else
		fprintf(f, "| mean loss | — |\n");
	fprintf(f, "| groups / linear layers | %zu / %zu |\n\n", r->n_groups, r->n_modules);
}

static void layer_row(FILE *f, const struct lms_aq_result *r, size_t g, int rank)
{
	const struct lms_aq_group *gr = &r->groups[g];
	char buf[48];
	if (rank)
		fprintf(f, "| %d | ", rank);
	else
		fprintf(f, "| — | ");
	code(f, gr->name);
	fprintf(f, " | ");
	for (size_t k = 0; k < gr->n_members; k++)
		fprintf(f, "%s%s", k ? ", " : "", lms_report_member_label(r, gr->members[k]));
	fmt_int(gr->n_params, buf, sizeof buf);
	fprintf(f, " | %s |", buf);
	for (size_t fi = 0; fi + 1 < r->n_formats; fi++) {
		fmt_score(gr->scores[fi], buf, sizeof buf);
		fprintf(f, " %s |", gr->disabled ? "—" : buf);
	}
	if (!r->has_search)
		fprintf(f, " — |\n");
	else if (gr->disabled)
		fprintf(f, " NONE (disabled) |\n");
	else if (gr->chosen == (int)r->n_formats - 1)
		fprintf(f, " **NONE** |\n");
	else
		fprintf(f, " %s |\n", r->formats[gr->chosen].name);
}

static void layers(FILE *f, const struct lms_aq_result *r, const size_t *order, const int *rank)
{
	fprintf(f, "## Layers ranked by sensitivity\n\n");
	int kl = r->settings.method && strcmp(r->settings.method, "kl_div") == 0;
	fprintf(f,
		"A layer is a group of linears that share one format (q/k/v, gate/up, or a single "
		"linear), named after its first linear like ModelOpt's `candidate_stats`. Its score "
		"%s (method %s). Higher is more sensitive; ranked by the score at %s.\n\n",
		kl ? "is KL(P_unquantized ‖ Q) of the output distribution when the group alone is "
		     "quantized, summed over tokens, vocabulary and all scoring batches"
		   : "is the estimated loss increase when the group alone is quantized: "
		     "Σ (∂L/∂Y · ΔY)² over its linears' outputs and all scoring batches",
		S(r->settings.method), r->n_formats > 1 ? r->formats[0].name : "—");
	fprintf(f, "| rank | layer | members | parameters |");
	for (size_t fi = 0; fi + 1 < r->n_formats; fi++)
		fprintf(f, " score %s |", r->formats[fi].name);
	fprintf(f, " chosen |\n| ---: | --- | --- | ---: |");
	for (size_t fi = 0; fi + 1 < r->n_formats; fi++)
		fprintf(f, " ---: |");
	fprintf(f, " --- |\n");
	for (size_t k = 0; k < r->n_groups; k++)
		layer_row(f, r, order[k], rank[order[k]]);
	fprintf(f, "\n");
}

/* The frontier can have thousands of points (one per distinct achievable
 * size); the table shows it at budgets on a grid of 0.25 bits (coarser when
 * that would exceed 48 rows): the best selection whose size fits each
 * budget. The JSON files carry every point. */
static void frontier(FILE *f, const struct lms_aq_result *r)
{
	fprintf(f, "## Frontier\n\n");
	const struct lms_aq_search *s = &r->search;
	if (!r->has_search || s->n_frontier == 0) {
		fprintf(f, "No frontier (the search did not run).\n");
		return;
	}
	double lo = s->frontier_bits[0], step = 0.25;
	while ((16.0 - lo) / step > 48)
		step *= 2;
	double start = ceil(lo / step) * step;
	fprintf(f,
		"The least total score reachable within each effective-bits budget (exact search "
		"over all %zu frontier points, listed in full in `%s`). Pick another "
		"`autoquant.effective_bits` here without re-scoring.\n\n",
		s->n_frontier, LMS_REPORT_JSON);
	fprintf(f, "| budget (effective bits) | achieved effective bits | total score |\n"
		   "| ---: | ---: | ---: |\n");
	size_t prev = (size_t)-1;
	if (start > lo) { /* the smallest achievable size, below the first grid budget */
		char buf[48];
		fmt_score(s->frontier_score[0], buf, sizeof buf);
		fprintf(f, "| minimum | %.4f | %s |\n", lo, buf);
		prev = 0;
	}
	for (int k = 0;; k++) {
		double t = start + step * k;
		if (t > 16.0)
			break;
		size_t i = 0;
		while (i + 1 < s->n_frontier && s->frontier_bits[i + 1] <= t)
			i++;
		if (s->frontier_bits[i] > t || i == prev)
			continue;
		prev = i;
		char buf[48];
		fmt_score(s->frontier_score[i], buf, sizeof buf);
		fprintf(f, "| %.2f | %.4f | %s |\n", t, s->frontier_bits[i], buf);
	}
}

enum lms_status lms_report_markdown(const struct lms_aq_result *r, char **out)
{
	*out = NULL;
	char *buf = NULL;
	size_t len = 0;
	size_t *order = calloc(r->n_groups ? r->n_groups : 1, sizeof *order);
	int *rank = calloc(r->n_groups ? r->n_groups : 1, sizeof *rank);
	FILE *f = order && rank ? open_memstream(&buf, &len) : NULL;
	if (!f) {
		free(order);
		free(rank);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building %s", LMS_REPORT_MD);
	}
	lms_report_rank(r, order, rank);
	fprintf(f, "# Per-layer quantization sensitivity: %s\n\n", S(r->job.scheme));
	fprintf(f, "Written by lmsens %s from the job's statistics (`%s%s`). Plot: [%s](%s).\n\n",
		S(r->job.tool_version), S(r->job.scheme), "_autoquant_state.h5", LMS_REPORT_SVG,
		LMS_REPORT_SVG);
	summary(f, r);
	layers(f, r, order, rank);
	frontier(f, r);
	int bad = ferror(f);
	fclose(f);
	free(order);
	free(rank);
	if (bad || !buf) {
		free(buf);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building %s", LMS_REPORT_MD);
	}
	*out = buf;
	return LMS_OK;
}
