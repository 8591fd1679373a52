/* engine.c — engine construction: config checks, the memory plan (one
 * backend allocation per lifetime class), device copies of the weights,
 * linear names, and teardown. The passes are in engine_pass.c.
 *
 * The plan is computed by running the same carving function twice: once
 * with a NULL base to add up sizes (every tensor aligned to 256 bytes), once
 * over the allocated block to hand out pointers. So sizes and pointers can
 * never disagree.
 *
 * It does not validate weight values (a NaN weight gives NaN logits). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

static const char *const g_kind_names[LMS_LINEAR_KIND_COUNT] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head",
};

const char *lms_linear_kind_name(enum lms_linear_kind kind)
{
	if ((int)kind < 0 || kind >= LMS_LINEAR_KIND_COUNT)
		return "unknown";
	return g_kind_names[kind];
}

/* ---- carving ------------------------------------------------------------ */

struct carve {
	char *base; /* NULL while sizing */
	size_t off;
};

static void *take(struct carve *c, size_t bytes)
{
	size_t at = c->off;
	c->off += (bytes + 255) / 256 * 256;
	return c->base ? c->base + at : NULL;
}

#define TAKE_BF16(c, n) ((lms_bf16 *)take((c), (size_t)(n) * sizeof(lms_bf16)))
#define TAKE_F32(c, n) ((float *)take((c), (size_t)(n) * sizeof(float)))
#define TAKE_I32(c, n) ((int32_t *)take((c), (size_t)(n) * sizeof(int32_t)))

/* One layer's working set except x_in. */
static void carve_layer_set(struct lms_engine *e, struct carve *c, struct eng_layer_acts *A)
{
	size_t N = (size_t)e->max_B * e->max_T;
	size_t C = e->C, F = e->F, HD = (size_t)e->H * e->D, GD = (size_t)e->G * e->D;
	A->a = TAKE_BF16(c, N * C);
	A->rstd_in = TAKE_F32(c, N);
	A->q = TAKE_BF16(c, N * HD);
	A->qr = TAKE_BF16(c, N * HD);
	A->rstd_q = TAKE_F32(c, N * e->H);
	A->k = TAKE_BF16(c, N * GD);
	A->kr = TAKE_BF16(c, N * GD);
	A->rstd_k = TAKE_F32(c, N * e->G);
	A->v = TAKE_BF16(c, N * GD);
	A->att = TAKE_BF16(c, N * HD);
	A->lse = TAKE_F32(c, N * e->H);
	A->o = TAKE_BF16(c, N * C);
	A->x_mid = TAKE_BF16(c, N * C);
	A->b = TAKE_BF16(c, N * C);
	A->rstd_post = TAKE_F32(c, N);
	A->gate = TAKE_BF16(c, N * F);
	A->up = TAKE_BF16(c, N * F);
	A->m = TAKE_BF16(c, N * F);
	A->down = TAKE_BF16(c, N * C);
}

static void carve_acts(struct lms_engine *e, struct carve *c)
{
	size_t N = (size_t)e->max_B * e->max_T;
	int shared = e->opts.recompute || e->opts.forward_only;
	for (int l = 0; l <= e->L; l++)
		e->acts[l].x_in = TAKE_BF16(c, N * e->C);
	for (int l = 0; l < e->L; l++) {
		if (shared && l > 0) {
			lms_bf16 *x_in = e->acts[l].x_in;
			e->acts[l] = e->acts[0];
			e->acts[l].x_in = x_in;
		} else {
			carve_layer_set(e, c, &e->acts[l]);
		}
	}
	/* recompute: each layer keeps its attention output and lse (16 MB per
	 * layer at 2048 tokens of Qwen3-VL-4B) so that the backward does not
	 * recompute the attention (engine_internal.h skip_att) */
	if (e->opts.recompute && !e->opts.forward_only)
		for (int l = 1; l < e->L; l++) {
			e->acts[l].att = TAKE_BF16(c, N * (size_t)e->H * e->D);
			e->acts[l].lse = TAKE_F32(c, N * e->H);
		}
	e->h = TAKE_BF16(c, N * e->C);
	e->rstd_final = TAKE_F32(c, N);
	e->logits = TAKE_BF16(c, N * (size_t)e->V);
}

static void carve_grads(struct lms_engine *e, struct carve *c)
{
	size_t N = (size_t)e->max_B * e->max_T;
	size_t C = e->C, F = e->F, HD = (size_t)e->H * e->D, GD = (size_t)e->G * e->D;
	struct eng_grads *g = &e->gr;
	g->dx = TAKE_BF16(c, N * C);
	g->dx2 = TAKE_BF16(c, N * C);
	g->t1 = TAKE_BF16(c, N * C);
	g->t2 = TAKE_BF16(c, N * C);
	g->dh = TAKE_BF16(c, N * C);
	g->dm = TAKE_BF16(c, N * F);
	g->dgate = TAKE_BF16(c, N * F);
	g->dup = TAKE_BF16(c, N * F);
	g->datt = TAKE_BF16(c, N * HD);
	g->dq = TAKE_BF16(c, N * HD);
	g->dk = TAKE_BF16(c, N * GD);
	g->dv = TAKE_BF16(c, N * GD);
	g->dlogits = TAKE_BF16(c, N * (size_t)e->V);
}

static void carve_batch(struct lms_engine *e, struct carve *c)
{
	size_t N = (size_t)e->max_B * e->max_T;
	e->d_ids = TAKE_I32(c, N);
	e->d_mask = TAKE_I32(c, N);
	e->d_targets = TAKE_I32(c, N);
	e->d_cos = TAKE_BF16(c, N * (size_t)(e->D / 2));
	e->d_sin = TAKE_BF16(c, N * (size_t)(e->D / 2));
	e->d_losses = TAKE_F32(c, N);
}

static void carve_prefix(struct lms_engine *e, struct carve *c)
{
	size_t N = (size_t)e->max_B * e->max_T;
	e->pf_x[0] = TAKE_BF16(c, N * e->C);
	e->pf_x[1] = TAKE_BF16(c, N * e->C);
	e->pf_logits = TAKE_BF16(c, N * (size_t)e->V);
}

/* Sizes a class, allocates it, then carves it for real. */
static enum lms_status plan_class(struct lms_engine *e,
				  void (*fn)(struct lms_engine *, struct carve *), const char *what,
				  void **block, size_t *bytes)
{
	struct carve c = {NULL, 0};
	fn(e, &c);
	*bytes = c.off;
	LMS_TRY(lms_backend_alloc(e->be, c.off, what, block));
	c.base = *block;
	c.off = 0;
	fn(e, &c);
	return LMS_OK;
}

/* ---- weights ------------------------------------------------------------- */

static size_t weight_bytes(const struct lms_engine *e, int untied)
{
	size_t C = e->C, F = e->F, HD = (size_t)e->H * e->D, GD = (size_t)e->G * e->D;
	size_t per_layer = 2 * C + HD * C + 2 * GD * C + C * HD + 2 * (size_t)e->D + 3 * F * C;
	return ((size_t)e->V * C * (untied ? 2 : 1) + C + per_layer * e->L) * sizeof(lms_bf16) +
	       256 * (size_t)(12 * e->L + 4);
}

static enum lms_status check_weights(const struct lms_engine *e, const struct lms_lm_weights *w)
{
	if (!w->embed || !w->final_norm || !w->lm_head || !w->layers)
		return lms_fail(
		    LMS_ERR_INPUT, "load the model with lms_model_load",
		    "engine: the model's weights are incomplete (embedding, final norm, "
		    "lm_head or layers missing)");
	for (int l = 0; l < e->L; l++) {
		const struct lms_layer_weights *x = &w->layers[l];
		if (!x->input_norm || !x->q || !x->k || !x->v || !x->o || !x->q_norm ||
		    !x->k_norm || !x->post_norm || !x->gate || !x->up || !x->down)
			return lms_fail(LMS_ERR_INPUT, "load the model with lms_model_load",
					"engine: layer %d's weights are incomplete", l);
	}
	return LMS_OK;
}

static enum lms_status upload(struct lms_engine *e, struct carve *c, const lms_bf16 *src, size_t n,
			      const lms_bf16 **dst)
{
	lms_bf16 *d = TAKE_BF16(c, n);
	LMS_TRY(e->be->ops.memcpy_h2d(e->be->ctx, d, src, n * sizeof(lms_bf16)));
	*dst = d;
	return LMS_OK;
}

static enum lms_status load_weights(struct lms_engine *e, const struct lms_lm_weights *w)
{
	LMS_TRY(check_weights(e, w));
	size_t C = e->C, F = e->F, HD = (size_t)e->H * e->D, GD = (size_t)e->G * e->D;
	size_t D = e->D, V = e->V;
	int untied = w->lm_head != w->embed;
	if (e->be->is_host) { /* host backend: borrow the loader's buffers */
		e->embed = w->embed;
		e->final_norm = w->final_norm;
		e->lm_head = w->lm_head;
		for (int l = 0; l < e->L; l++) {
			const struct lms_layer_weights *x = &w->layers[l];
			e->lw[l] = (struct eng_layer_w){
			    x->input_norm, x->q,	 x->k,	  x->v,	 x->o,	 x->q_norm,
			    x->k_norm,	   x->post_norm, x->gate, x->up, x->down};
		}
		return LMS_OK;
	}
	e->mem.weights = weight_bytes(e, untied);
	LMS_TRY(lms_backend_alloc(e->be, e->mem.weights, "engine weights", &e->d_weights_block));
	struct carve c = {e->d_weights_block, 0};
	LMS_TRY(upload(e, &c, w->embed, V * C, &e->embed));
	LMS_TRY(upload(e, &c, w->final_norm, C, &e->final_norm));
	if (untied)
		LMS_TRY(upload(e, &c, w->lm_head, V * C, &e->lm_head));
	else
		e->lm_head = e->embed;
	for (int l = 0; l < e->L; l++) {
		const struct lms_layer_weights *x = &w->layers[l];
		struct eng_layer_w *d = &e->lw[l];
		LMS_TRY(upload(e, &c, x->input_norm, C, &d->input_norm));
		LMS_TRY(upload(e, &c, x->q, HD * C, &d->q));
		LMS_TRY(upload(e, &c, x->k, GD * C, &d->k));
		LMS_TRY(upload(e, &c, x->v, GD * C, &d->v));
		LMS_TRY(upload(e, &c, x->o, C * HD, &d->o));
		LMS_TRY(upload(e, &c, x->q_norm, D, &d->q_norm));
		LMS_TRY(upload(e, &c, x->k_norm, D, &d->k_norm));
		LMS_TRY(upload(e, &c, x->post_norm, C, &d->post_norm));
		LMS_TRY(upload(e, &c, x->gate, F * C, &d->gate));
		LMS_TRY(upload(e, &c, x->up, F * C, &d->up));
		LMS_TRY(upload(e, &c, x->down, C * F, &d->down));
	}
	if (c.off > e->mem.weights)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "engine: weight plan overflow (%zu > %zu)",
				c.off, e->mem.weights);
	return LMS_OK;
}

/* ---- config checks --------------------------------------------------------- */

static enum lms_status check_config(const struct lms_model_config *cfg, int max_B, int max_T)
{
	const char *hint = "check the model's config.json";
	if (cfg->hidden_size <= 0 || cfg->intermediate_size <= 0 || cfg->num_layers <= 0 ||
	    cfg->num_heads <= 0 || cfg->num_kv_heads <= 0 || cfg->head_dim <= 0 ||
	    cfg->vocab_size <= 0)
		return lms_fail(
		    LMS_ERR_CONFIG, hint,
		    "engine: model dimensions must be positive (hidden %d, intermediate "
		    "%d, layers %d, heads %d, kv heads %d, head_dim %d, vocab %d)",
		    cfg->hidden_size, cfg->intermediate_size, cfg->num_layers, cfg->num_heads,
		    cfg->num_kv_heads, cfg->head_dim, cfg->vocab_size);
	if (cfg->num_heads % cfg->num_kv_heads != 0)
		return lms_fail(LMS_ERR_CONFIG, hint,
				"engine: num_attention_heads %d is not a multiple of "
				"num_key_value_heads %d",
				cfg->num_heads, cfg->num_kv_heads);
	if (cfg->head_dim % 2 != 0)
		return lms_fail(LMS_ERR_CONFIG, hint, "engine: head_dim %d must be even for RoPE",
				cfg->head_dim);
	if (!(cfg->rms_norm_eps > 0) || !(cfg->rope_theta > 0))
		return lms_fail(LMS_ERR_CONFIG, hint,
				"engine: rms_norm_eps (%g) and rope_theta (%g) must be positive",
				cfg->rms_norm_eps, cfg->rope_theta);
	if (max_B <= 0 || max_T <= 0 || (int64_t)max_B * max_T > (1 << 30))
		return lms_fail(LMS_ERR_CONFIG, "use a batch size and sequence length >= 1",
				"engine: bad maximum batch shape %d x %d", max_B, max_T);
	return LMS_OK;
}

static enum lms_status check_backend(const struct lms_backend *be, int backward)
{
	static const enum lms_backend_op fwd[] = {
	    LMS_OP_ALLOC,	    LMS_OP_GEMM,	 LMS_OP_EMBEDDING,
	    LMS_OP_RMSNORM_FORWARD, LMS_OP_ROPE_FORWARD, LMS_OP_ATTENTION_FORWARD,
	    LMS_OP_SWIGLU_FORWARD,  LMS_OP_ADD,		 LMS_OP_CROSS_ENTROPY,
	};
	static const enum lms_backend_op bwd[] = {
	    LMS_OP_RMSNORM_BACKWARD,
	    LMS_OP_ROPE_BACKWARD,
	    LMS_OP_ATTENTION_BACKWARD,
	    LMS_OP_SWIGLU_BACKWARD,
	};
	for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++)
		if (!lms_backend_supports(be, fwd[i]))
			return lms_fail(LMS_ERR_UNSUPPORTED, "use the cpu backend",
					"backend %s lacks op %s", be->name,
					lms_backend_op_name(fwd[i]));
	for (size_t i = 0; backward && i < sizeof bwd / sizeof bwd[0]; i++)
		if (!lms_backend_supports(be, bwd[i]))
			return lms_fail(LMS_ERR_UNSUPPORTED, "use the cpu backend",
					"backend %s lacks op %s", be->name,
					lms_backend_op_name(bwd[i]));
	return LMS_OK;
}

/* ---- planning without allocating -------------------------------------------- */

enum lms_status lms_engine_memory_plan(const struct lms_model_config *cfg, int max_B, int max_T,
				       const struct lms_engine_options *opts,
				       struct lms_engine_memory *out)
{
	memset(out, 0, sizeof *out);
	LMS_TRY(check_config(cfg, max_B, max_T));
	/* the carving functions on a scratch engine with a NULL base only add up sizes */
	struct lms_engine e = {.cfg = *cfg, .max_B = max_B, .max_T = max_T};
	if (opts)
		e.opts = *opts;
	e.C = cfg->hidden_size;
	e.F = cfg->intermediate_size;
	e.H = cfg->num_heads;
	e.G = cfg->num_kv_heads;
	e.D = cfg->head_dim;
	e.V = cfg->vocab_size;
	e.L = cfg->num_layers;
	e.acts = calloc((size_t)e.L + 1, sizeof *e.acts);
	if (!e.acts)
		return lms_fail(LMS_ERR_NOMEM, NULL, "engine: cannot allocate host tables");
	struct carve c = {NULL, 0};
	out->weights = weight_bytes(&e, !cfg->tie_word_embeddings);
	carve_acts(&e, &c);
	out->activations = c.off;
	c.off = 0;
	if (!e.opts.forward_only) {
		carve_grads(&e, &c);
		out->gradients = c.off;
		c.off = 0;
	}
	carve_batch(&e, &c);
	out->batch = c.off;
	c.off = 0;
	if (e.opts.prefix_forward) {
		carve_prefix(&e, &c);
		out->prefix = c.off;
	}
	free(e.acts);
	return LMS_OK;
}

/* ---- init / free ----------------------------------------------------------- */

static enum lms_status alloc_host(struct lms_engine *e)
{
	size_t N = (size_t)e->max_B * e->max_T, half = (size_t)e->D / 2;
	int n_names = LMS_LINEARS_PER_LAYER * e->L + 1;
	e->lw = calloc((size_t)e->L, sizeof *e->lw);
	e->acts = calloc((size_t)e->L + 1, sizeof *e->acts);
	e->h_mask = malloc(N * sizeof *e->h_mask);
	e->h_targets = malloc(N * sizeof *e->h_targets);
	e->h_cos = malloc(N * half * sizeof *e->h_cos);
	e->h_sin = malloc(N * half * sizeof *e->h_sin);
	e->h_losses = malloc(N * sizeof *e->h_losses);
	e->h_inv_freq = malloc(half * sizeof *e->h_inv_freq);
	e->names = calloc((size_t)n_names, sizeof *e->names);
	e->lnames = calloc((size_t)e->L + 2, sizeof *e->lnames);
	if (!e->lw || !e->acts || !e->h_mask || !e->h_targets || !e->h_cos || !e->h_sin ||
	    !e->h_losses || !e->h_inv_freq || !e->names || !e->lnames)
		return lms_fail(LMS_ERR_NOMEM, NULL, "engine: cannot allocate host tables");
	static const char *const part[LMS_LINEARS_PER_LAYER] = {
	    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
	    "mlp.gate_proj",	"mlp.up_proj",	    "mlp.down_proj",
	};
	for (int l = 0; l < e->L; l++)
		for (int k = 0; k < LMS_LINEARS_PER_LAYER; k++)
			snprintf(e->names[l * LMS_LINEARS_PER_LAYER + k], sizeof e->names[0],
				 "%slayers.%d.%s", e->cfg.lm_prefix, l, part[k]);
	snprintf(e->names[n_names - 1], sizeof e->names[0], "lm_head");
	for (int l = 0; l < e->L; l++)
		snprintf(e->lnames[l], sizeof e->lnames[0], "%slayers.%d", e->cfg.lm_prefix, l);
	snprintf(e->lnames[e->L], sizeof e->lnames[0], "%snorm", e->cfg.lm_prefix);
	snprintf(e->lnames[e->L + 1], sizeof e->lnames[0], "%sembed_tokens", e->cfg.lm_prefix);
	/* HF: inv_freq = 1 / theta^(arange(0, D, 2) / D), all in fp32. */
	for (size_t j = 0; j < half; j++) {
		float ex = (float)(2 * j) / (float)e->D;
		e->h_inv_freq[j] = 1.0f / powf((float)e->cfg.rope_theta, ex);
	}
	return LMS_OK;
}

enum lms_status lms_engine_init(struct lms_backend *be, const struct lms_model_config *cfg,
				const struct lms_lm_weights *weights, int max_B, int max_T,
				const struct lms_engine_options *opts, struct lms_engine **out)
{
	*out = NULL;
	LMS_TRY(check_config(cfg, max_B, max_T));
	struct lms_engine_options o = {0};
	if (opts)
		o = *opts;
	LMS_TRY(check_backend(be, !o.forward_only));
	struct lms_engine *e = calloc(1, sizeof *e);
	if (!e)
		return lms_fail(LMS_ERR_NOMEM, NULL, "engine: cannot allocate its state");
	e->be = be;
	e->cfg = *cfg;
	e->opts = o;
	e->max_B = max_B;
	e->max_T = max_T;
	e->C = cfg->hidden_size;
	e->F = cfg->intermediate_size;
	e->H = cfg->num_heads;
	e->G = cfg->num_kv_heads;
	e->D = cfg->head_dim;
	e->V = cfg->vocab_size;
	e->L = cfg->num_layers;

	enum lms_status st = alloc_host(e);
	if (st == LMS_OK)
		st = load_weights(e, weights);
	if (st == LMS_OK)
		st = plan_class(e, carve_acts, "engine activations", &e->d_acts_block,
				&e->mem.activations);
	if (st == LMS_OK && !o.forward_only)
		st = plan_class(e, carve_grads, "engine gradients", &e->d_grads_block,
				&e->mem.gradients);
	if (st == LMS_OK)
		st = plan_class(e, carve_batch, "engine batch inputs", &e->d_batch_block,
				&e->mem.batch);
	if (st == LMS_OK && o.prefix_forward)
		st = plan_class(e, carve_prefix, "engine prefix-forward buffers",
				&e->d_prefix_block, &e->mem.prefix);
	if (st == LMS_OK) {
		struct lms_attn_dims dm = {max_B, max_T, e->H, e->G, e->D, 0.0f};
		e->mem.workspace = be->ops.attention_workspace(be->ctx, &dm);
		st = lms_backend_alloc(be, e->mem.workspace, "engine attention workspace",
				       &e->d_work);
	}
	if (st != LMS_OK) {
		lms_engine_free(e);
		return st;
	}
	*out = e;
	return LMS_OK;
}

void lms_engine_free(struct lms_engine *e)
{
	if (!e)
		return;
	if (e->be) {
		e->be->ops.free(e->be->ctx, e->d_weights_block);
		e->be->ops.free(e->be->ctx, e->d_acts_block);
		e->be->ops.free(e->be->ctx, e->d_grads_block);
		e->be->ops.free(e->be->ctx, e->d_batch_block);
		e->be->ops.free(e->be->ctx, e->d_work);
		e->be->ops.free(e->be->ctx, e->d_prefix_block);
	}
	free(e->lw);
	free(e->acts);
	free(e->h_mask);
	free(e->h_targets);
	free(e->h_cos);
	free(e->h_sin);
	free(e->h_losses);
	free(e->h_inv_freq);
	free(e->names);
	free(e->lnames);
	free(e);
}

int64_t lms_engine_valid_tokens(const struct lms_engine *e)
{
	return e->n_valid;
}

const lms_bf16 *lms_engine_logits(const struct lms_engine *e)
{
	return e->logits;
}

const lms_bf16 *lms_engine_logits_from(const struct lms_engine *e)
{
	return e->pf_logits;
}

void lms_engine_memory_usage(const struct lms_engine *e, struct lms_engine_memory *out)
{
	*out = e->mem;
}

int lms_engine_num_linears(const struct lms_engine *e)
{
	return LMS_LINEARS_PER_LAYER * e->L + 1;
}

const char *lms_engine_linear_name(const struct lms_engine *e, int index)
{
	if (index < 0 || index >= lms_engine_num_linears(e))
		return NULL;
	return e->names[index];
}
