/* debug_dump.c — runner.debug_dump: the tensors of one named linear layer
 * during the first `steps` scoring steps of the gradient method, written to
 * <job dir>/debug_dump.h5 (schema: docs/outputs.md), so a user can see what
 * the score of that layer is made of and compare backends:
 *   per step s:            X (M, in), W (out, in), Y (M, out), dY (M, out)
 *   per step and format f: Xq = fq_in(X), Wq = fq_w(W), Yq = Xq·Wqᵀ
 * all bf16 (stored as uint16 bits, io/h5dump.h). Xq and Wq are the replay's
 * own operands (lms_aq_replay_operands: X or W itself where the format
 * leaves it unquantized), Yq is recomputed from them with the same GEMM, so
 * the dump shows exactly what the scoring used.
 *
 * Invariants: nothing is captured or checked unless runner.debug_dump.layer
 * is set; a capture copies to host memory (debug use: a 4B down_proj step is
 * ~0.3 GB with three formats) and does not change any score (the replay
 * caches stay valid: it issues the same ops on the same inputs). Each job of
 * a bundle gets the formats of its own pair. In a data-parallel group each
 * rank captures its own first steps and only the rank that writes the job's
 * artifacts writes the file.
 * Not here: the scoring (score.c), the file format (io/h5dump.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "io/h5dump.h"

#define DUMP_FILE "debug_dump.h5"

struct dump_step {
	int step, B, T;
	int64_t M;
	lms_bf16 *x, *w, *y, *dy; /* host */
	lms_bf16 **xq, **wq, **yq; /* (NF) host */
};

struct aq_dump {
	const char *want; /* runner.debug_dump.layer, borrowed from the config */
	int index;	  /* the linear */
	int max_steps, n_steps;
	int cur_step; /* the scoring step running now */
	struct dump_step *steps; /* (max_steps) */
};

/* 1 when the engine name `name` is `want` or ends with "." + want
 * ("layers.3.mlp.down_proj" for "model.language_model.layers.3..."). */
static int name_matches(const char *name, const char *want)
{
	size_t n = strlen(name), w = strlen(want);
	if (n == w)
		return strcmp(name, want) == 0;
	return n > w && strcmp(name + n - w, want) == 0 && name[n - w - 1] == '.';
}

static enum lms_status bad_layer(const struct aq_ctx *c, const char *want, const char *why)
{
	int L = lms_model_get_config(c->model)->num_layers;
	const char *first = lms_engine_linear_name(c->eng, 0), *cut = strstr(first, "layers.");
	int pre = cut ? (int)(cut - first) : 0;
	char hint[512];
	snprintf(hint, sizeof hint,
		 "valid names are %.*slayers.<0..%d>.self_attn.{q,k,v,o}_proj, "
		 "%.*slayers.<0..%d>.mlp.{gate,up,down}_proj and lm_head; the prefix '%.*s' may "
		 "be left out, e.g. runner.debug_dump.layer=layers.%d.mlp.down_proj",
		 pre, first, L - 1, pre, first, L - 1, pre, first, L > 1 ? 1 : 0);
	return lms_fail(LMS_ERR_CONFIG, hint, "runner.debug_dump.layer = '%s' %s", want, why);
}

enum lms_status lms_aq_dump_setup(struct aq_ctx *c)
{
	const char *want = NULL;
	long long steps = 1;
	const struct lms_cfg *n = lms_cfg_find(c->cfg, "runner.debug_dump.layer");
	if (!n || n->type == LMS_CFG_NULL)
		return LMS_OK;
	LMS_TRY(lms_cfg_get_str(c->cfg, "runner.debug_dump.layer", &want));
	n = lms_cfg_find(c->cfg, "runner.debug_dump.steps");
	if (n && n->type != LMS_CFG_NULL)
		LMS_TRY(lms_cfg_get_int(c->cfg, "runner.debug_dump.steps", &steps));
	if (steps < 1 || steps > 1024)
		return lms_fail(LMS_ERR_CONFIG, "give a number of scoring steps from 1 to 1024",
				"runner.debug_dump.steps = %lld is out of range", steps);
	if (c->is_kl)
		return lms_fail(LMS_ERR_UNSUPPORTED,
				"use autoquant.method=gradient for the dump (kl_div has no dLoss/dY), "
				"or set runner.debug_dump.layer=null",
				"runner.debug_dump needs the gradient method");
	int found = -1, nl = lms_engine_num_linears(c->eng);
	for (int l = 0; l < nl; l++)
		if (name_matches(lms_engine_linear_name(c->eng, l), want)) {
			if (found >= 0)
				return bad_layer(c, want, "matches more than one layer");
			found = l;
		}
	if (found < 0)
		return bad_layer(c, want, "is not a linear layer of the model");
	if (c->skip[found])
		return lms_fail(LMS_ERR_CONFIG,
				"remove it from autoquant.disabled_layers, or dump another layer",
				"runner.debug_dump.layer = '%s': %s is disabled "
				"(autoquant.disabled_layers), so it is not scored",
				want, lms_engine_linear_name(c->eng, found));
	struct aq_dump *d = calloc(1, sizeof *d);
	if (d)
		d->steps = calloc((size_t)steps, sizeof *d->steps);
	if (!d || !d->steps) {
		free(d);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (debug dump)");
	}
	d->want = want;
	d->index = found;
	d->max_steps = (int)steps;
	c->dump = d;
	LMS_INFO("debug dump: %s, the first %lld scoring step%s (runner.debug_dump)",
		 lms_engine_linear_name(c->eng, found), steps, steps == 1 ? "" : "s");
	return LMS_OK;
}

void lms_aq_dump_step(struct aq_ctx *c, int step)
{
	if (c->dump)
		c->dump->cur_step = step;
}

/* New host copy of n bf16 values of backend memory. */
static enum lms_status fetch(struct aq_ctx *c, const lms_bf16 *d_src, size_t n, lms_bf16 **out)
{
	*out = malloc(n ? n * sizeof **out : 1);
	if (!*out)
		return lms_fail(LMS_ERR_NOMEM, "dump fewer steps (runner.debug_dump.steps)",
				"out of host memory for the debug dump (%zu values)", n);
	return c->be->ops.memcpy_d2h(c->be->ctx, *out, d_src, n * sizeof **out);
}

enum lms_status lms_aq_dump_capture(struct aq_ctx *c, const struct lms_linear_event *ev)
{
	struct aq_dump *d = c->dump;
	if (!d || ev->index != d->index || d->n_steps >= d->max_steps)
		return LMS_OK;
	if (!c->d_yq)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "debug dump without the replay output buffer");
	struct dump_step *s = &d->steps[d->n_steps++];
	size_t nf = (size_t)c->n_formats, M = (size_t)ev->M, in = (size_t)ev->in,
	       out = (size_t)ev->out;
	s->step = d->cur_step;
	s->B = ev->B;
	s->T = ev->T;
	s->M = ev->M;
	s->xq = calloc(nf + 1, sizeof *s->xq);
	s->wq = calloc(nf + 1, sizeof *s->wq);
	s->yq = calloc(nf + 1, sizeof *s->yq);
	if (!s->xq || !s->wq || !s->yq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (debug dump)");
	LMS_TRY(fetch(c, ev->d_x, M * in, &s->x));
	LMS_TRY(fetch(c, ev->d_w, out * in, &s->w));
	LMS_TRY(fetch(c, ev->d_y, M * out, &s->y));
	LMS_TRY(fetch(c, ev->d_dy, M * out, &s->dy));
	for (size_t f = 0; f < nf; f++) {
		const lms_bf16 *xq, *wq;
		LMS_TRY(lms_aq_replay_operands(c, (int)f, ev, &xq, &wq));
		LMS_TRY(fetch(c, xq, M * in, &s->xq[f]));
		LMS_TRY(fetch(c, wq, out * in, &s->wq[f]));
		LMS_TRY(lms_backend_linear_forward(c->be, c->d_yq, xq, wq, ev->M, ev->in, ev->out));
		LMS_TRY(fetch(c, c->d_yq, M * out, &s->yq[f]));
	}
	return LMS_OK;
}

/* The job's pair formats as indexes into c->fmt (NONE has no replay). */
static enum lms_status job_formats(const struct aq_ctx *c, const struct lms_pipeline_job *job,
				   int *idx, size_t *n)
{
	const char *names[64];
	size_t m;
	LMS_TRY(lms_aq_pair_formats(job->cfg, names, 64, &m));
	*n = 0;
	for (size_t i = 0; i < m; i++) {
		int f = lms_aq_format_index(c, names[i]);
		if (f >= 0)
			idx[(*n)++] = f;
	}
	return LMS_OK;
}

enum lms_status lms_aq_dump_write(struct aq_ctx *c, const struct lms_pipeline_job *job)
{
	struct aq_dump *d = c->dump;
	if (!d)
		return LMS_OK;
	const struct aq_linear *lin = &c->lin[d->index];
	int fidx[64];
	size_t nf = 0;
	LMS_TRY(job_formats(c, job, fidx, &nf));
	size_t nt = (size_t)d->n_steps * (4 + 3 * nf), na = 6 + 3 * (size_t)d->n_steps + nf;
	struct lms_h5dump_tensor *t = calloc(nt + 1, sizeof *t);
	struct lms_h5dump_attr *a = calloc(na + 1, sizeof *a);
	char(*paths)[128] = calloc(nt + (size_t)d->n_steps + nf + 1, sizeof *paths);
	char fmt_list[1024] = "";
	enum lms_status st = t && a && paths ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t it = 0, ia = 0, ip = 0;
	for (size_t k = 0; k < nf; k++)
		snprintf(fmt_list + strlen(fmt_list), sizeof fmt_list - strlen(fmt_list), "%s%s",
			 k ? "," : "", c->fmt[fidx[k]].name);
	for (int k = 0; st == LMS_OK && k < d->n_steps; k++) {
		const struct dump_step *s = &d->steps[k];
		static const char *const nm[4] = {"X", "W", "Y", "dY"};
		const lms_bf16 *data[4] = {s->x, s->w, s->y, s->dy};
		int64_t rows[4] = {s->M, lin->out, s->M, s->M};
		int64_t cols[4] = {lin->in, lin->in, lin->out, lin->out};
		for (int i = 0; i < 4; i++) {
			snprintf(paths[ip], sizeof paths[0], "/steps/%d/%s", k, nm[i]);
			t[it++] = (struct lms_h5dump_tensor){paths[ip++], data[i], rows[i], cols[i]};
		}
		for (size_t j = 0; j < nf; j++) {
			int f = fidx[j];
			static const char *const qn[3] = {"Xq", "Wq", "Yq"};
			const lms_bf16 *qd[3] = {s->xq[f], s->wq[f], s->yq[f]};
			int64_t qr[3] = {s->M, lin->out, s->M}, qc[3] = {lin->in, lin->in, lin->out};
			for (int i = 0; i < 3; i++) {
				snprintf(paths[ip], sizeof paths[0], "/steps/%d/%s/%s", k,
					 c->fmt[f].name, qn[i]);
				t[it++] = (struct lms_h5dump_tensor){paths[ip++], qd[i], qr[i], qc[i]};
			}
		}
		snprintf(paths[ip], sizeof paths[0], "/steps/%d", k);
		a[ia++] = (struct lms_h5dump_attr){paths[ip], "scoring_batch", NULL, s->step};
		a[ia++] = (struct lms_h5dump_attr){paths[ip], "B", NULL, s->B};
		a[ia++] = (struct lms_h5dump_attr){paths[ip++], "T", NULL, s->T};
	}
	if (st == LMS_OK) {
		a[ia++] = (struct lms_h5dump_attr){"/", "schema", "lmsens debug_dump 1", 0};
		a[ia++] = (struct lms_h5dump_attr){"/", "layer", lin->name, 0};
		a[ia++] = (struct lms_h5dump_attr){"/", "backend", c->be->name, 0};
		a[ia++] = (struct lms_h5dump_attr){"/", "method", c->method, 0};
		a[ia++] = (struct lms_h5dump_attr){"/", "formats", fmt_list, 0};
		a[ia++] = (struct lms_h5dump_attr){"/", "steps", NULL, d->n_steps};
	}
	char path[4096];
	if (st == LMS_OK)
		st = lms_mkdir_p(job->output_dir);
	if (st == LMS_OK)
		st = lms_path_join(path, sizeof path, job->output_dir, DUMP_FILE);
	if (st == LMS_OK)
		st = lms_h5dump_write(path, t, it, a, ia);
	if (st == LMS_OK)
		LMS_INFO("debug dump: %s (%s, %d step%s, formats %s)", path, lin->name, d->n_steps,
			 d->n_steps == 1 ? "" : "s", fmt_list);
	free(t);
	free(a);
	free(paths);
	return st;
}

void lms_aq_dump_free(struct aq_ctx *c)
{
	struct aq_dump *d = c->dump;
	if (!d)
		return;
	for (int k = 0; k < d->n_steps; k++) {
		struct dump_step *s = &d->steps[k];
		free(s->x);
		free(s->w);
		free(s->y);
		free(s->dy);
		for (int f = 0; f < c->n_formats; f++) {
			free(s->xq ? s->xq[f] : NULL);
			free(s->wq ? s->wq[f] : NULL);
			free(s->yq ? s->yq[f] : NULL);
		}
		free(s->xq);
		free(s->wq);
		free(s->yq);
	}
	free(d->steps);
	free(d);
	c->dump = NULL;
}
