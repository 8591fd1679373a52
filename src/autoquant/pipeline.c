/* pipeline.c — the AutoQuant job's setup and orchestration (pipeline.h):
 * settings from the config, the synthetic model, model/tokenizer/data/
 * backend/engine, the distinct formats of a bundle, the phases in order with
 * timings, and `lmsens eval`.
 *
 * Invariants: everything the phases allocate hangs off struct aq_ctx and is
 * released by ctx_free on every path; the phases run in the order load →
 * calibrate → score → (per job) search + write.
 * Not here: the phases themselves (calib.c, score.c, bundle.c), progress
 * lines (progress.c), report-only mode (report_only.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/group.h"
#include "autoquant/pipeline_internal.h"
#include "autoquant/result.h"
#include "backend/backend_cuda.h"
#include "config/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "model/mkmodel.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- config helpers ------------------------------------------------------ */

/* Optional int: absent or null gives def. */
static enum lms_status opt_int(const struct lms_cfg *c, const char *path, long long def, long long *out)
{
	const struct lms_cfg *n = lms_cfg_find(c, path);
	if (!n || n->type == LMS_CFG_NULL) {
		*out = def;
		return LMS_OK;
	}
	return lms_cfg_get_int(c, path, out);
}

/* Optional string: absent or null gives NULL. */
static enum lms_status opt_str(const struct lms_cfg *c, const char *path, const char **out)
{
	const struct lms_cfg *n = lms_cfg_find(c, path);
	*out = NULL;
	if (!n || n->type == LMS_CFG_NULL)
		return LMS_OK;
	return lms_cfg_get_str(c, path, out);
}

static enum lms_status positive(const char *key, long long v)
{
	if (v < 1 || v > 1 << 24)
		return lms_fail(LMS_ERR_CONFIG, "give a positive integer", "%s = %lld is out of range", key, v);
	return LMS_OK;
}

enum lms_status lms_aq_pair_formats(const struct lms_cfg *cfg, const char **names, size_t cap, size_t *n)
{
	const struct lms_cfg *f = lms_cfg_find(cfg, "quant_pair.format_name");
	*n = 0;
	if (f && f->type == LMS_CFG_STR) {
		names[(*n)++] = f->s;
		return LMS_OK;
	}
	if (f && f->type == LMS_CFG_SEQ && f->n >= 1 && f->n <= cap) {
		for (size_t k = 0; k < f->n; k++) {
			if (f->kids[k]->type != LMS_CFG_STR)
				goto bad;
			names[(*n)++] = f->kids[k]->s;
		}
		return LMS_OK;
	}
bad:
	return lms_fail(LMS_ERR_CONFIG, "set quant_pair.format_name to a format of conf/formats/ (or a list of them)",
			"quant_pair.format_name is %s", f ? lms_cfg_type_name(f->type) : "missing");
}

int lms_aq_format_index(const struct aq_ctx *c, const char *name)
{
	for (int f = 0; f < c->n_formats; f++)
		if (strcmp(c->fmt[f].name, name) == 0)
			return f;
	return -1;
}

enum lms_status lms_pipeline_scheme(const struct lms_cfg *cfg, char *out, size_t cap)
{
	const char *model = NULL, *pair = NULL, *over = NULL;
	LMS_TRY(opt_str(cfg, "model.name", &model));
	LMS_TRY(opt_str(cfg, "quant_pair.name", &pair));
	LMS_TRY(opt_str(cfg, "quant_pair.scheme_name", &over));
	return lms_aq_scheme_name(model, pair, over, out, cap);
}

/* YAML text of a subtree ("" when absent), for bundle comparison. */
static char *subtree_text(const struct lms_cfg *c, const char *path)
{
	const struct lms_cfg *n = lms_cfg_find(c, path);
	char *y = NULL;
	if (!n)
		return strdup("");
	if (lms_cfg_to_yaml(n, &y) != LMS_OK) {
		lms_error_clear();
		return NULL;
	}
	return y;
}

static int same_subtree(const struct lms_cfg *a, const struct lms_cfg *b, const char *path)
{
	char *x = subtree_text(a, path), *y = subtree_text(b, path);
	int same = x && y && strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

int lms_pipeline_same_bundle(const struct lms_cfg *a, const struct lms_cfg *b)
{
	static const char *const keys[] = {
		"model", "dataset", "autoquant.method", "autoquant.batch_size", "autoquant.score_size",
		"autoquant.calib_steps", "autoquant.loss_reduction", "autoquant.kl_prefix_reuse",
		"autoquant.calib_loss", "autoquant.replay_gemm", "runner.backend", "runner.report_only",
		"runner.debug", "runner.debug_dump",
	};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
		if (!same_subtree(a, b, keys[k]))
			return 0;
	return 1;
}

/* ---- setup --------------------------------------------------------------- */

static enum lms_status read_settings(struct aq_ctx *c)
{
	const struct lms_cfg *cfg = c->cfg;
	long long v;
	LMS_TRY(lms_cfg_get_int(cfg, "autoquant.batch_size", &v));
	LMS_TRY(positive("autoquant.batch_size", v));
	c->batch_size = (int)v;
	LMS_TRY(lms_cfg_get_int(cfg, "dataset.calib_seq_len", &v));
	if (v < 2 || v > 1 << 20)
		return lms_fail(LMS_ERR_CONFIG, "use a sequence length of at least 2",
				"dataset.calib_seq_len = %lld is out of range", v);
	c->seq_len = (int)v;
	LMS_TRY(opt_int(cfg, "autoquant.score_size", 128, &c->score_size));
	LMS_TRY(positive("autoquant.score_size", c->score_size));
	LMS_TRY(opt_int(cfg, "autoquant.calib_steps", 0, &v));
	if (v < 0)
		return lms_fail(LMS_ERR_CONFIG, "use null (all batches) or a positive number",
				"autoquant.calib_steps = %lld is negative", v);
	c->calib_steps_cfg = (int)v;
	LMS_TRY(opt_int(cfg, "dataset.max_calib_samples", -1, &v));
	if (v < 0) { /* null: size_to_max_samples[size] */
		const char *size;
		char key[128];
		LMS_TRY(lms_cfg_get_str(cfg, "dataset.size", &size));
		snprintf(key, sizeof key, "dataset.size_to_max_samples.%s", size);
		LMS_TRY(lms_cfg_get_int(cfg, key, &v));
	}
	LMS_TRY(positive("dataset.max_calib_samples", v));
	c->max_samples = (long)v;
	const char *s = "gradient";
	LMS_TRY(opt_str(cfg, "autoquant.method", &s));
	if (!s || (strcmp(s, "gradient") != 0 && strcmp(s, "kl_div") != 0))
		return lms_fail(LMS_ERR_CONFIG, "use autoquant=gradient_default or autoquant=kl_div_default",
				"autoquant.method = '%s' is not a method (gradient or kl_div)", s ? s : "null");
	c->method = s;
	c->is_kl = strcmp(s, "kl_div") == 0;
	c->kl_prefix_reuse = 1;
	if (lms_cfg_find(cfg, "autoquant.kl_prefix_reuse") && !lms_cfg_is_null(cfg, "autoquant.kl_prefix_reuse"))
		LMS_TRY(lms_cfg_get_bool(cfg, "autoquant.kl_prefix_reuse", &c->kl_prefix_reuse));
	LMS_TRY(lms_aq_read_mem_settings(c));
	c->calib_loss_on = 0;
	if (lms_cfg_find(cfg, "autoquant.calib_loss") && !lms_cfg_is_null(cfg, "autoquant.calib_loss"))
		LMS_TRY(lms_cfg_get_bool(cfg, "autoquant.calib_loss", &c->calib_loss_on));
	s = "mean";
	LMS_TRY(opt_str(cfg, "autoquant.loss_reduction", &s));
	if (s && strcmp(s, "sum") == 0)
		c->loss_reduction = LMS_LOSS_SUM;
	else if (!s || strcmp(s, "mean") == 0)
		c->loss_reduction = LMS_LOSS_MEAN;
	else
		return lms_fail(LMS_ERR_CONFIG, "use mean or sum", "autoquant.loss_reduction = '%s'", s);
	return lms_cfg_get_str(cfg, "dataset.captions_path", &c->captions_path);
}

/* Creates the synthetic checkpoint (model.synthetic = a mkmodel preset) when
 * model.path holds no config.json yet. */
static enum lms_status ensure_model(const struct lms_cfg *cfg, const char *path)
{
	const char *preset = NULL;
	LMS_TRY(opt_str(cfg, "model.synthetic", &preset));
	char cj[4096];
	LMS_TRY(lms_path_join(cj, sizeof cj, path, "config.json"));
	if (!preset || lms_is_file(cj))
		return LMS_OK;
	if (!lms_mkmodel_find_preset(preset))
		return lms_fail(LMS_ERR_CONFIG, "use null or a preset of 'lmsens mkmodel --help'",
				"model.synthetic = '%s' is not a mkmodel preset (%s)", preset,
				lms_mkmodel_preset_names());
	LMS_INFO("creating the synthetic '%s' model at %s (model.synthetic)", preset, path);
	struct lms_mkmodel_opts o = {.preset = preset, .out_dir = path, .seed = 0,
				     .format = LMS_MODEL_QWEN3_VL, .config_v5 = 1};
	struct lms_mkmodel_result r;
	return lms_mkmodel_write(&o, &r);
}

enum lms_status lms_pipeline_ensure_model(const struct lms_cfg *cfg)
{
	const char *path;
	LMS_TRY(lms_cfg_get_str(cfg, "model.path", &path));
	return ensure_model(cfg, path);
}

static enum lms_status open_backend(const struct lms_cfg *cfg, struct lms_backend **out)
{
	const char *want = "auto";
	int debug = 0;
	LMS_TRY(opt_str(cfg, "runner.backend", &want));
	if (!want)
		want = "auto";
	/* the seeds' autoquant.device: "cpu" pins an automatic choice to the CPU;
	 * "cuda" (the shipped default) keeps auto's CPU fallback */
	const char *dev = NULL;
	LMS_TRY(opt_str(cfg, "autoquant.device", &dev));
	if (strcmp(want, "auto") == 0 && dev && strcmp(dev, "cpu") == 0)
		want = "cpu";
	if (lms_cfg_find(cfg, "runner.debug") && !lms_cfg_is_null(cfg, "runner.debug"))
		LMS_TRY(lms_cfg_get_bool(cfg, "runner.debug", &debug));
	int is_auto = strcmp(want, "auto") == 0;
	if (!is_auto && strcmp(want, "cpu") != 0 && strcmp(want, "cuda") != 0)
		return lms_fail(LMS_ERR_CONFIG, "use auto, cpu or cuda", "runner.backend = '%s'", want);
#ifdef LMS_HAVE_CUDA
	const char *method = NULL;
	LMS_TRY(opt_str(cfg, "autoquant.method", &method));
	int kl = method && strcmp(method, "kl_div") == 0;
	if (strcmp(want, "cuda") == 0 || is_auto) {
		if (lms_cuda_device_count() > 0) {
			struct lms_backend *be = NULL;
			enum lms_status st = lms_backend_cuda_init(0, &be);
			if (st == LMS_OK && !(lms_backend_supports(be, LMS_OP_FAKE_QUANT) &&
					      lms_backend_supports(be, LMS_OP_ABSMAX_ROWS) &&
					      lms_backend_supports(be, LMS_OP_SQ_DOT_ACCUM))) {
				lms_backend_free(be);
				be = NULL;
				st = lms_fail(LMS_ERR_UNSUPPORTED, "use runner.backend=cpu",
					      "the CUDA backend lacks the scoring ops (fake_quant, absmax_rows, sq_dot_accum)");
			}
			if (st == LMS_OK && kl && !lms_backend_supports(be, LMS_OP_KL_DIV_ACCUM)) {
				lms_backend_free(be);
				be = NULL;
				st = lms_fail(LMS_ERR_UNSUPPORTED, "use runner.backend=cpu (or auto)",
					      "autoquant.method = kl_div needs the backend op kl_div_accum, which the CUDA backend lacks");
			}
			if (st == LMS_OK) {
				lms_backend_set_debug(be, debug);
				*out = be;
				return LMS_OK;
			}
			if (!is_auto)
				return st;
			LMS_WARN("CUDA backend unavailable (%s); using the CPU backend", lms_error_message());
			lms_error_clear();
		} else if (!is_auto) {
			return lms_fail(LMS_ERR_UNSUPPORTED, "use runner.backend=cpu (or auto)",
					"runner.backend = cuda, but no CUDA device is visible");
		}
	}
#else
	if (!is_auto && strcmp(want, "cuda") == 0)
		return lms_fail(LMS_ERR_UNSUPPORTED,
				"use runner.backend=cpu (or auto), or rebuild with -DLMSENS_CUDA=ON",
				"runner.backend = cuda, but this lmsens was built without CUDA");
#endif
	LMS_TRY(lms_backend_cpu_init(NULL, out));
	lms_backend_set_debug(*out, debug); /* NaN/Inf checks after every op */
	return LMS_OK;
}

/* ---- reuse of the loaded model across bundles ---------------------------- */

/* With lms_pipeline_keep_loaded(1) (a sweep runner in this process), the
 * last bundle's checkpoint, tokenizer and backend stay loaded, and the next
 * bundle with the same model.path, runner.backend and runner.debug reuses
 * them instead of reading the checkpoint again. Everything else a bundle
 * allocates (engine, dataset, backend buffers) is still freed by ctx_free. */
static struct {
	int on;
	char *key; /* "<model.path>\n<runner.backend>\n<runner.debug>" */
	struct lms_model *model;
	struct lms_tokenizer *tok;
	struct lms_backend *be;
} g_keep;

static void keep_drop(void)
{
	lms_backend_free(g_keep.be);
	lms_tokenizer_free(g_keep.tok);
	lms_model_free(g_keep.model);
	free(g_keep.key);
	g_keep.key = NULL;
	g_keep.model = NULL;
	g_keep.tok = NULL;
	g_keep.be = NULL;
}

void lms_pipeline_keep_loaded(int on)
{
	if (!on)
		keep_drop();
	g_keep.on = on;
}

/* New key text for cfg, or NULL when reuse is off (or out of memory). */
static char *keep_key(const struct lms_cfg *cfg, const char *path)
{
	if (!g_keep.on)
		return NULL;
	char *b = subtree_text(cfg, "runner.backend"), *d = subtree_text(cfg, "runner.debug");
	size_t n = strlen(path) + (b ? strlen(b) : 0) + (d ? strlen(d) : 0) + 3;
	char *k = b && d ? malloc(n) : NULL;
	if (k)
		snprintf(k, n, "%s\n%s\n%s", path, b, d);
	free(b);
	free(d);
	return k;
}

/* Model, tokenizer, dataset, backend, engine. */
static enum lms_status load_all(struct aq_ctx *c, int forward_only)
{
	const struct lms_cfg *cfg = c->cfg;
	const char *path;
	LMS_TRY(lms_cfg_get_str(cfg, "model.path", &path));
	LMS_TRY(ensure_model(cfg, path));
	char *key = keep_key(cfg, path);
	int reuse = key && g_keep.key && strcmp(key, g_keep.key) == 0;
	if (key && !reuse)
		keep_drop(); /* another checkpoint: the kept one goes */
	free(key);
	if (reuse) {
		c->model = g_keep.model;
		c->tok = g_keep.tok;
		LMS_INFO("model %s: reusing the checkpoint loaded for the previous bundle", path);
	}
	enum lms_status st = reuse ? LMS_OK : lms_model_load(path, &c->model);
	char tp[4096];
	if (st == LMS_OK && !reuse)
		st = lms_path_join(tp, sizeof tp, path, "tokenizer.json");
	if (st == LMS_OK && !reuse)
		st = lms_tokenizer_load(tp, &c->tok);
	LMS_TRY(st);
	const struct lms_model_config *mc = lms_model_get_config(c->model);

	struct lms_data_opts o;
	lms_data_opts_default(&o);
	o.captions_path = c->captions_path;
	o.max_samples = c->max_samples;
	o.seq_len = c->seq_len;
	o.batch_size = c->batch_size;
	long long pad;
	LMS_TRY(opt_int(cfg, "dataset.pad_token_id", -1, &pad));
	if (pad < 0)
		pad = lms_tokenizer_token_id(c->tok, "<|endoftext|>");
	if (pad < 0)
		pad = mc->pad_token_id >= 0 ? mc->pad_token_id : mc->eos_token_id;
	if (pad < 0 || pad >= mc->vocab_size)
		return lms_fail(LMS_ERR_CONFIG, "set dataset.pad_token_id to a token id of the model",
				"dataset.pad_token_id: no usable padding id (got %lld; vocabulary %d)", pad,
				mc->vocab_size);
	o.pad_token_id = (int32_t)pad;
	int packing = 0;
	if (lms_cfg_find(cfg, "dataset.packing") && !lms_cfg_is_null(cfg, "dataset.packing"))
		LMS_TRY(lms_cfg_get_bool(cfg, "dataset.packing", &packing));
	o.packing = packing;
	int skip = 0;
	if (lms_cfg_find(cfg, "dataset.skip_invalid_utf8") &&
	    !lms_cfg_is_null(cfg, "dataset.skip_invalid_utf8"))
		LMS_TRY(lms_cfg_get_bool(cfg, "dataset.skip_invalid_utf8", &skip));
	o.skip_invalid_utf8 = skip;
	long long seed;
	LMS_TRY(opt_int(cfg, "dataset.shuffle_seed", 0, &seed));
	if (seed < 0)
		return lms_fail(LMS_ERR_CONFIG, "use null (file order) or a seed > 0",
				"dataset.shuffle_seed: %lld is negative", seed);
	o.shuffle_seed = (uint64_t)seed;
	o.calib_steps = c->calib_steps_cfg;
	o.score_steps = lms_data_score_steps(c->score_size, c->batch_size);
	LMS_TRY(lms_dataset_build(&o, c->tok, &c->ds));
	c->n_calib = c->ds->n_calib;
	c->n_score = c->ds->n_score;

	if (reuse)
		c->be = g_keep.be;
	else
		st = open_backend(cfg, &c->be);
	if (st == LMS_OK && !reuse && (g_keep.key = keep_key(cfg, path)) != NULL) {
		g_keep.model = c->model;
		g_keep.tok = c->tok;
		g_keep.be = c->be;
	}
	LMS_TRY(st);
	int max_T = 1;
	for (int b = 0; b < c->ds->n_batches; b++)
		if (c->ds->batches[b].T > max_T)
			max_T = c->ds->batches[b].T;
	struct lms_engine_options eo = {
		.forward_only = forward_only || c->is_kl, /* kl_div: forwards only */
		.loss_reduction = c->loss_reduction,
		.prefix_forward = c->is_kl && !forward_only,
	};
	/* keep every layer's activations or recompute them (memplan.c) */
	LMS_TRY(lms_aq_choose_recompute(c, mc, max_T, &eo, &eo.recompute));
	c->recompute = eo.recompute;
	LMS_TRY(lms_engine_init(c->be, mc, lms_model_get_weights(c->model), c->batch_size, max_T, &eo,
				&c->eng));
	LMS_INFO("model %s: %d layers, hidden %d, vocabulary %d; backend %s", path, mc->num_layers,
		 mc->hidden_size, mc->vocab_size, c->be->name);
	LMS_INFO("data %s: %ld samples, %d batches of <= %d x %d (%ld tokens); calibration %d, scoring %d batches",
		 c->captions_path, c->ds->n_samples, c->ds->n_batches, c->batch_size, c->seq_len,
		 c->ds->n_tokens, c->n_calib, c->n_score);
	return LMS_OK;
}

/* The distinct candidate formats of all jobs, NONE excluded, sorted. */
static enum lms_status load_formats(struct aq_ctx *c, const struct lms_pipeline_job *jobs, size_t n)
{
	const char *names[64];
	size_t cap = 0;
	for (size_t k = 0; k < n; k++) {
		size_t m;
		LMS_TRY(lms_aq_pair_formats(jobs[k].cfg, names, 64, &m));
		cap += m;
	}
	c->fmt = calloc(cap ? cap : 1, sizeof *c->fmt);
	if (!c->fmt)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t k = 0; k < n; k++) {
		size_t m;
		LMS_TRY(lms_aq_pair_formats(jobs[k].cfg, names, 64, &m));
		for (size_t i = 0; i < m; i++) {
			if (strcmp(names[i], LMS_FORMAT_NONE_NAME) == 0 || lms_aq_format_index(c, names[i]) >= 0)
				continue;
			char path[4096];
			if (!jobs[k].plan)
				return lms_fail(LMS_ERR_INTERNAL, NULL, "pipeline job without a plan");
			LMS_TRY(lms_config_format_path(jobs[k].plan, names[i], path, sizeof path));
			/* path = <conf dir>/formats/<name>.yaml */
			char *cut = strstr(path, "/formats/");
			while (cut && strstr(cut + 1, "/formats/"))
				cut = strstr(cut + 1, "/formats/");
			if (!cut)
				return lms_fail(LMS_ERR_INTERNAL, NULL, "unexpected format path '%s'", path);
			*cut = '\0';
			LMS_TRY(lms_format_load(path, names[i], &c->fmt[c->n_formats]));
			int64_t units;
			LMS_TRY(lms_format_bits_units(&c->fmt[c->n_formats], &units));
			c->n_formats++;
		}
	}
	qsort(c->fmt, (size_t)c->n_formats, sizeof *c->fmt, lms_format_cmp);
	return LMS_OK;
}

static void ctx_free(struct aq_ctx *c)
{
	if (c->be) {
		if (c->d_w_amax)
			for (int i = 0; i < c->n_formats * c->n_linears; i++)
				c->be->ops.free(c->be->ctx, c->d_w_amax[i]);
		c->be->ops.free(c->be->ctx, c->d_act_amax);
		lms_aq_replay_free(c);
		c->be->ops.free(c->be->ctx, c->d_yq);
		c->be->ops.free(c->be->ctx, c->d_acc);
	}
	free(c->d_w_amax);
	free(c->act_amax);
	free(c->weight_amax);
	free(c->calib_loss);
	free(c->scores);
	free(c->step_scores);
	free(c->score_loss);
	free(c->lin);
	free(c->skip);
	free(c->fmt);
	lms_aq_dump_free(c);
	lms_engine_free(c->eng);
	if (c->model && c->model == g_keep.model) { /* kept for the next bundle */
		c->model = NULL;
		c->tok = NULL;
	}
	if (c->be && c->be == g_keep.be)
		c->be = NULL;
	lms_backend_free(c->be);
	lms_dataset_free(c->ds);
	lms_tokenizer_free(c->tok);
	lms_model_free(c->model);
	memset(c, 0, sizeof *c);
}

/* ---- the bundle ------------------------------------------------------------ */

/* Linears whose name matches autoquant.disabled_layers in every job are not
 * scored (their groups stay NONE with score 0 in every result). */
static enum lms_status mark_skipped(struct aq_ctx *c, const struct lms_pipeline_job *jobs, size_t n)
{
	int nl = lms_engine_num_linears(c->eng);
	c->skip = calloc((size_t)nl + 1, 1);
	if (!c->skip)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (int l = 0; l < nl; l++) {
		const char *name = lms_engine_linear_name(c->eng, l);
		int all = 1;
		for (size_t k = 0; k < n && all; k++) {
			const struct lms_cfg *dl = lms_cfg_find(jobs[k].cfg, "autoquant.disabled_layers");
			int hit = 0;
			for (size_t i = 0; dl && dl->type == LMS_CFG_SEQ && i < dl->n && !hit; i++)
				hit = dl->kids[i]->type == LMS_CFG_STR &&
				      lms_aq_name_disabled(name, (const char *const *)&dl->kids[i]->s, 1);
			all = hit;
		}
		c->skip[l] = (unsigned char)all;
	}
	return LMS_OK;
}

static enum lms_status run_shared(struct aq_ctx *c, const struct lms_pipeline_job *jobs, size_t n)
{
	double t0 = lms_aq_now();
	enum lms_status st = read_settings(c);
	if (st == LMS_OK)
		st = load_formats(c, jobs, n);
	if (st == LMS_OK)
		st = load_all(c, 0);
	if (st == LMS_OK)
		st = mark_skipped(c, jobs, n);
	if (st == LMS_OK)
		st = lms_aq_dump_setup(c); /* runner.debug_dump: checks the layer name now */
	/* a rank that failed to load (out of memory) must not leave the others
	 * waiting in the calibration's reductions */
	LMS_TRY(lms_aq_agree(c, st, "load"));
	c->t_load = lms_aq_now() - t0;
	LMS_INFO("load: %.2f s", c->t_load);
	LMS_TRY(lms_aq_calibrate(c));
	return c->is_kl ? lms_aq_score_kl(c) : lms_aq_score(c);
}

struct lms_pipeline {
	struct aq_ctx c;
	int report_only;
};

enum lms_status lms_pipeline_open(const struct lms_pipeline_job *jobs, size_t n, struct lms_pipeline **out)
{
	return lms_pipeline_open_dist(jobs, n, NULL, out);
}

enum lms_status lms_pipeline_open_dist(const struct lms_pipeline_job *jobs, size_t n,
				       const struct lms_aq_dist *dist, struct lms_pipeline **out)
{
	*out = NULL;
	struct lms_pipeline *p = calloc(1, sizeof *p);
	if (!p)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	p->c.cfg = jobs[0].cfg;
	p->c.dist = dist;
	p->report_only = lms_aq_is_report_only(jobs[0].cfg);
	enum lms_status st = p->report_only ? LMS_OK : run_shared(&p->c, jobs, n);
	if (st != LMS_OK) {
		lms_pipeline_close(p);
		return st;
	}
	*out = p;
	return LMS_OK;
}

enum lms_status lms_pipeline_finish(struct lms_pipeline *p, const struct lms_pipeline_job *job)
{
	if (p->report_only)
		return lms_aq_report_only(job);
	LMS_TRY(lms_aq_finish_job(&p->c, job));
	return lms_aq_dump_write(&p->c, job); /* a no-op without runner.debug_dump */
}

void lms_pipeline_get_stats(const struct lms_pipeline *p, struct lms_pipeline_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!p || p->report_only)
		return;
	const struct aq_ctx *c = &p->c;
	out->t_load = c->t_load;
	out->t_calib = c->t_calib;
	out->t_score = c->t_score;
	out->t_search = c->t_search;
	out->t_write = c->t_write;
	out->n_calib = c->n_calib;
	out->n_score = c->n_score;
	out->n_formats = c->n_formats;
	out->recompute = c->recompute;
	out->wcache_bytes = (double)c->rp.wcache_bytes + (double)c->rp.f8.cache_bytes;
	out->wcache_slots = c->rp.wcache_slots + c->rp.f8.cache_slots;
	out->wcache_want = c->rp.wcache_want + c->rp.f8.cache_want;
	for (int b = 0; c->ds && b < c->ds->n_batches; b++) {
		const struct lms_data_batch *db = lms_dataset_batch(c->ds, b);
		long long bt = (long long)db->B * db->T;
		if (b < c->n_calib)
			out->calib_tokens += bt;
		if (b < c->n_score)
			out->score_tokens += bt;
	}
}

void lms_pipeline_close(struct lms_pipeline *p)
{
	if (!p)
		return;
	ctx_free(&p->c);
	free(p);
}

enum lms_status lms_pipeline_run(const struct lms_pipeline_job *jobs, size_t n, enum lms_status *job_st)
{
	struct lms_pipeline *p;
	enum lms_status st = lms_pipeline_open(jobs, n, &p);
	for (size_t k = 0; k < n; k++) {
		job_st[k] = st == LMS_OK ? lms_pipeline_finish(p, &jobs[k]) : st;
		if (job_st[k] != LMS_OK && k + 1 < n)
			lms_log_last_error();
	}
	lms_pipeline_close(p);
	for (size_t k = 0; k < n; k++)
		if (job_st[k] != LMS_OK)
			return job_st[k];
	return LMS_OK;
}

/* ---- eval ------------------------------------------------------------------ */

enum lms_status lms_pipeline_eval(const struct lms_cfg *cfg, FILE *out)
{
	struct aq_ctx c;
	memset(&c, 0, sizeof c);
	c.cfg = cfg;
	enum lms_status st = read_settings(&c);
	if (st == LMS_OK)
		st = load_all(&c, 1);
	for (int b = 0; st == LMS_OK && b < c.ds->n_batches; b++) {
		const struct lms_data_batch *db = lms_dataset_batch(c.ds, b);
		struct lms_batch eb = {db->B, db->T, db->ids, db->mask, db->labels};
		double loss;
		st = lms_engine_forward(c.eng, &eb, NULL, &loss);
		if (st != LMS_OK)
			break;
		char lb[64];
		lms_aq_fmt_double(loss, lb, sizeof lb);
		fprintf(out, "{\"batch\": %d, \"loss\": %s, \"tokens\": %lld}\n", b,
			isfinite(loss) ? lb : "null", (long long)lms_engine_valid_tokens(c.eng));
		fflush(out);
	}
	ctx_free(&c);
	return st;
}
