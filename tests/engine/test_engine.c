/* test_engine.c — the engine on the CPU backend with a random in-memory
 * model (GQA, head_dim × heads ≠ hidden, 2 layers):
 *   - every linear's dY is checked by a finite difference of the loss along
 *     a random direction of that linear's weight: the weight gradient
 *     dW = Σ dYᵀ·X built from the hook's tensors predicts the loss change;
 *   - recomputation gives bit-identical losses and dY;
 *   - hook order and HF module names;
 *   - right padding: a padded row's logits equal the unpadded sequence's;
 *   - mean vs sum reduction, no-valid-token NaN, and bad input errors;
 *   - the calibration forward without logits (same X events) and the memory
 *     plan (the sizes init allocates).
 * Tolerances sit next to each check with the worst value measured. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "test.h"

enum { C = 32, F = 48, L = 2, H = 4, G = 2, D = 16, V = 97, BMAX = 3, TMAX = 12 };

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static double urand(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}

struct tmodel {
	struct lms_model_config cfg;
	struct lms_layer_weights layers[L];
	struct lms_lm_weights w;
	lms_bf16 *bufs[64];
	int nbufs;
};

static lms_bf16 *rand_w(struct tmodel *m, size_t n, double center, double scale)
{
	lms_bf16 *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = lms_f32_to_bf16((float)(center + (2 * urand() - 1) * scale));
	m->bufs[m->nbufs++] = p;
	return p;
}

static void make_model_ex(struct tmodel *m, enum lms_model_family fam, int tied)
{
	memset(m, 0, sizeof *m);
	struct lms_model_config *c = &m->cfg;
	c->family = fam;
	snprintf(c->model_type, sizeof c->model_type,
		 fam == LMS_MODEL_QWEN3 ? "qwen3" : "qwen3_vl");
	c->hidden_size = C, c->intermediate_size = F, c->num_layers = L, c->num_heads = H;
	c->num_kv_heads = G, c->head_dim = D, c->vocab_size = V;
	c->rms_norm_eps = 1e-6, c->rope_theta = 5e6, c->tie_word_embeddings = 1;
	snprintf(c->lm_prefix, sizeof c->lm_prefix,
		 fam == LMS_MODEL_QWEN3 ? "model." : "model.language_model.");
	double sc = sqrt(3.0 / C), sf = sqrt(3.0 / F), sh = sqrt(3.0 / (H * D));
	m->w.embed = rand_w(m, (size_t)V * C, 0, 1.0);
	m->w.final_norm = rand_w(m, C, 1.0, 0.3);
	m->w.lm_head = tied ? m->w.embed : rand_w(m, (size_t)V * C, 0, 1.0);
	c->tie_word_embeddings = tied;
	for (int l = 0; l < L; l++) {
		struct lms_layer_weights *x = &m->layers[l];
		x->input_norm = rand_w(m, C, 1.0, 0.3);
		x->q = rand_w(m, (size_t)H * D * C, 0, sc);
		x->k = rand_w(m, (size_t)G * D * C, 0, sc);
		x->v = rand_w(m, (size_t)G * D * C, 0, sc);
		x->o = rand_w(m, (size_t)C * H * D, 0, sh);
		x->q_norm = rand_w(m, D, 1.0, 0.3);
		x->k_norm = rand_w(m, D, 1.0, 0.3);
		x->post_norm = rand_w(m, C, 1.0, 0.3);
		x->gate = rand_w(m, (size_t)F * C, 0, sc);
		x->up = rand_w(m, (size_t)F * C, 0, sc);
		x->down = rand_w(m, (size_t)C * F, 0, sf);
	}
	m->w.layers = m->layers;
}

static void make_model(struct tmodel *m, enum lms_model_family fam)
{
	make_model_ex(m, fam, 1);
}

static void free_model(struct tmodel *m)
{
	for (int i = 0; i < m->nbufs; i++)
		free(m->bufs[i]);
}

/* ---- recording hook ------------------------------------------------------- */

#define NLIN (7 * L + 1)
struct rec {
	int fwd_order[NLIN], bwd_order[NLIN], nf, nb;
	char names[NLIN][96];
	/* copies of X, Y, dY per linear index (CPU backend: host memory) */
	lms_bf16 *x[NLIN], *y[NLIN], *dy[NLIN];
	int M[NLIN], in[NLIN], out[NLIN];
};

static enum lms_status on_fwd(void *u, const struct lms_linear_event *ev)
{
	struct rec *r = u;
	if (r->nf < NLIN)
		r->fwd_order[r->nf] = ev->index;
	r->nf++;
	snprintf(r->names[ev->index], sizeof r->names[0], "%s", ev->name);
	return LMS_OK;
}

static enum lms_status on_bwd(void *u, const struct lms_linear_event *ev)
{
	struct rec *r = u;
	int i = ev->index;
	if (r->nb < NLIN)
		r->bwd_order[r->nb] = i;
	r->nb++;
	size_t nx = (size_t)ev->M * ev->in, ny = (size_t)ev->M * ev->out;
	free(r->x[i]), free(r->y[i]), free(r->dy[i]);
	r->x[i] = malloc(nx * 2), r->y[i] = malloc(ny * 2), r->dy[i] = malloc(ny * 2);
	memcpy(r->x[i], ev->d_x, nx * 2);
	memcpy(r->y[i], ev->d_y, ny * 2);
	memcpy(r->dy[i], ev->d_dy, ny * 2);
	r->M[i] = ev->M, r->in[i] = ev->in, r->out[i] = ev->out;
	return LMS_OK;
}

static void free_rec(struct rec *r)
{
	for (int i = 0; i < NLIN; i++)
		free(r->x[i]), free(r->y[i]), free(r->dy[i]);
}

static enum lms_status failing_hook(void *u, const struct lms_linear_event *ev)
{
	(void)u;
	if (ev->kind == LMS_LINEAR_UP)
		return lms_fail(LMS_ERR_NUMERIC, NULL, "hook refused %s", ev->name);
	return LMS_OK;
}

/* ---- batches ----------------------------------------------------------------- */

static int32_t g_ids[BMAX * TMAX], g_mask[BMAX * TMAX];

static struct lms_batch make_batch(int B, int T, int right_pad_row1)
{
	for (int i = 0; i < B * T; i++) {
		g_ids[i] = (int32_t)(urand() * V);
		g_mask[i] = 1;
	}
	if (right_pad_row1 && B > 1)
		for (int t = T - 4; t < T; t++)
			g_mask[T + t] = 0;
	struct lms_batch b = {B, T, g_ids, g_mask, NULL};
	return b;
}

static lms_bf16 *weight_of(struct tmodel *m, int index)
{
	if (index == 7 * L)
		return (lms_bf16 *)m->w.lm_head;
	struct lms_layer_weights *x = &m->layers[index / 7];
	const lms_bf16 *p[7] = {x->q, x->k, x->v, x->o, x->gate, x->up, x->down};
	return (lms_bf16 *)p[index % 7];
}

/* Directional finite difference of the loss along a random ±1 direction of
 * the weight of linear `index`, against Σ dW ⊙ δ with dW = Σ_m dYᵀ·X. */
static double fd_check(struct tmodel *m, struct lms_engine *e, const struct lms_batch *bt,
		       struct rec *r, int index, double eps)
{
	int in = r->in[index], out = r->out[index], M = r->M[index];
	size_t nw = (size_t)in * out;
	lms_bf16 *w = weight_of(m, index), *keep = malloc(nw * 2), *wp = malloc(nw * 2),
		 *wm = malloc(nw * 2);
	memcpy(keep, w, nw * 2);
	for (size_t i = 0; i < nw; i++) {
		float s = urand() < 0.5 ? -1.0f : 1.0f, x = lms_bf16_to_f32(w[i]);
		wp[i] = lms_f32_to_bf16(x + s * (float)eps);
		wm[i] = lms_f32_to_bf16(x - s * (float)eps);
	}
	double pred = 0;
	for (int o = 0; o < out; o++)
		for (int i = 0; i < in; i++) {
			double dw = 0;
			for (int t = 0; t < M; t++)
				dw += (double)lms_bf16_to_f32(r->dy[index][(size_t)t * out + o]) *
				      lms_bf16_to_f32(r->x[index][(size_t)t * in + i]);
			size_t k = (size_t)o * in + i;
			pred += dw * (lms_bf16_to_f32(wp[k]) - lms_bf16_to_f32(wm[k]));
		}
	double lp = 0, lm = 0;
	memcpy(w, wp, nw * 2);
	CHECK_INT_EQ(lms_engine_forward(e, bt, NULL, &lp), LMS_OK);
	memcpy(w, wm, nw * 2);
	CHECK_INT_EQ(lms_engine_forward(e, bt, NULL, &lm), LMS_OK);
	memcpy(w, keep, nw * 2);
	free(keep), free(wp), free(wm);
	double fd = lp - lm, rel = fabs(fd - pred) / fmax(fabs(fd), fabs(pred));
	printf("  fd %-45s pred %+.5f fd %+.5f rel err %.3f\n", r->names[index], pred, fd, rel);
	return rel;
}

static void test_gradients(void)
{
	struct tmodel m; /* untied: perturbing lm_head must not move the embedding */
	make_model_ex(&m, LMS_MODEL_QWEN3_VL, 0);
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	struct lms_engine_options o = {.recompute = 0, .loss_reduction = LMS_LOSS_SUM};
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, &o, &e), LMS_OK);
	struct lms_batch bt = make_batch(2, 10, 1);
	struct rec r = {0};
	struct lms_linear_hook hk = {on_fwd, on_bwd, &r};
	double loss = 0;
	CHECK_INT_EQ(lms_engine_forward(e, &bt, &hk, &loss), LMS_OK);
	CHECK_INT_EQ(lms_engine_backward(e, &hk), LMS_OK);
	CHECK(isfinite(loss) && loss > 0);
	CHECK_INT_EQ(lms_engine_valid_tokens(e), 9 + 5);

	/* Every linear: forward order q k v o gate up down per layer, lm_head last;
	 * backward: lm_head, then per layer from the last: down up gate o v k q. */
	CHECK_INT_EQ(r.nf, NLIN);
	CHECK_INT_EQ(r.nb, NLIN);
	int fwd_ok = 1, bwd_ok = 1;
	static const int bwd_kind[7] = {6, 5, 4, 3, 2, 1, 0};
	for (int i = 0; i < NLIN; i++)
		fwd_ok &= r.fwd_order[i] == i;
	bwd_ok &= r.bwd_order[0] == 7 * L;
	for (int l = L - 1, j = 1; l >= 0; l--)
		for (int k = 0; k < 7; k++, j++)
			bwd_ok &= r.bwd_order[j] == l * 7 + bwd_kind[k];
	CHECK(fwd_ok);
	CHECK(bwd_ok);
	CHECK_STR_EQ(r.names[0], "model.language_model.layers.0.self_attn.q_proj");
	CHECK_STR_EQ(r.names[7 + 6], "model.language_model.layers.1.mlp.down_proj");
	CHECK_STR_EQ(r.names[7 * L], "lm_head");
	CHECK_STR_EQ(lms_engine_linear_name(e, 4), "model.language_model.layers.0.mlp.gate_proj");
	CHECK(lms_engine_linear_name(e, NLIN) == NULL);

	/* Gradient of every linear by finite differences. The bf16 forward makes
	 * the loss a noisy function of the weights: with eps 5e-3 the relative
	 * error reaches 1.5, with 2e-2 (loss moves by 0.1–2) it stays below 0.35
	 * and larger eps adds curvature error. So this check catches wrong signs,
	 * factors and missing terms; the precise per-linear comparison is the HF
	 * reference test (tests/reference/). Tolerance 0.45; measured worst 0.38. */
	double worst = 0;
	for (int i = 0; i < NLIN; i++)
		worst = fmax(worst, fd_check(&m, e, &bt, &r, i, 2e-2));
	printf("  worst relative error over all linears: %.3f\n", worst);
	CHECK(worst < 0.45);

	/* The forward is deterministic: a repeat gives the same loss bits. */
	double again = 0;
	CHECK_INT_EQ(lms_engine_forward(e, &bt, NULL, &again), LMS_OK);
	CHECK(again == loss);

	/* Recomputation: the same loss and bit-identical dY for every linear. */
	struct lms_engine *e2 = NULL;
	struct lms_engine_options o2 = {.recompute = 1, .loss_reduction = LMS_LOSS_SUM};
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, &o2, &e2), LMS_OK);
	struct rec r2 = {0};
	struct lms_linear_hook hk2 = {NULL, on_bwd, &r2};
	double loss2 = 0;
	CHECK_INT_EQ(lms_engine_forward(e2, &bt, NULL, &loss2), LMS_OK);
	CHECK_INT_EQ(lms_engine_backward(e2, &hk2), LMS_OK);
	CHECK(loss2 == loss);
	int same = 1;
	for (int i = 0; i < NLIN; i++) {
		size_t ny = (size_t)r.M[i] * r.out[i] * 2, nx = (size_t)r.M[i] * r.in[i] * 2;
		same &= memcmp(r.dy[i], r2.dy[i], ny) == 0 && memcmp(r.y[i], r2.y[i], ny) == 0 &&
			memcmp(r.x[i], r2.x[i], nx) == 0;
	}
	CHECK(same);
	struct lms_engine_memory m1, m2;
	lms_engine_memory_usage(e, &m1);
	lms_engine_memory_usage(e2, &m2);
	printf("  activations: %zu bytes without recompute, %zu with\n", m1.activations,
	       m2.activations);
	CHECK(m2.activations < m1.activations);
	CHECK_INT_EQ(m1.weights, 0); /* CPU backend borrows the host weights */

	/* A hook's error stops the pass and is returned. */
	struct lms_linear_hook bad = {failing_hook, NULL, NULL};
	CHECK_FAILS_WITH(lms_engine_forward(e2, &bt, &bad, &loss2), LMS_ERR_NUMERIC,
			 "hook refused model.language_model.layers.0.mlp.up_proj");
	CHECK_FAILS_WITH(lms_engine_backward(e2, NULL), LMS_ERR_INTERNAL,
			 "without a successful forward");

	free_rec(&r), free_rec(&r2);
	lms_engine_free(e), lms_engine_free(e2);
	lms_backend_free(be);
	free_model(&m);
}

/* Right padding: row 1 of a batch (6 tokens + 4 pads) has the same logits at
 * its 6 token positions as the 6 tokens alone; the sum loss of the batch is
 * the sum of the rows' losses. Exact: every op's per-row result does not
 * depend on the other rows or on later (padded) positions. */
static void test_padding(enum lms_model_family fam)
{
	struct tmodel m;
	make_model(&m, fam);
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	struct lms_engine_options o = {.loss_reduction = LMS_LOSS_SUM, .forward_only = 1};
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, &o, &e), LMS_OK);
	struct lms_batch bt = make_batch(2, 10, 1);
	double loss_b = 0, loss_0 = 0, loss_1 = 0;
	CHECK_INT_EQ(lms_engine_forward(e, &bt, NULL, &loss_b), LMS_OK);
	lms_bf16 *lb = malloc((size_t)2 * 10 * V * 2);
	memcpy(lb, lms_engine_logits(e), (size_t)2 * 10 * V * 2);

	int32_t ids1[6], ids0[10];
	memcpy(ids0, g_ids, sizeof ids0);
	memcpy(ids1, g_ids + 10, sizeof ids1);
	struct lms_batch b1 = {1, 6, ids1, NULL, NULL}, b0 = {1, 10, ids0, NULL, NULL};
	CHECK_INT_EQ(lms_engine_forward(e, &b1, NULL, &loss_1), LMS_OK);
	CHECK(memcmp(lms_engine_logits(e), lb + (size_t)10 * V, (size_t)6 * V * 2) == 0);
	CHECK_INT_EQ(lms_engine_forward(e, &b0, NULL, &loss_0), LMS_OK);
	CHECK(memcmp(lms_engine_logits(e), lb, (size_t)10 * V * 2) == 0);
	CHECK_NEAR(loss_b, loss_0 + loss_1, 1e-9, 1e-6);

	/* Mean reduction = sum / valid tokens. */
	struct lms_engine *em = NULL;
	struct lms_engine_options om = {.loss_reduction = LMS_LOSS_MEAN, .forward_only = 1};
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, &om, &em), LMS_OK);
	double mean = 0;
	CHECK_INT_EQ(lms_engine_forward(em, &bt, NULL, &mean), LMS_OK);
	CHECK_NEAR(mean, loss_b / 14.0, 1e-12, 1e-9);
	/* All labels ignored: the mean is NaN (as PyTorch), the sum 0. */
	int32_t lab[20];
	for (int i = 0; i < 20; i++)
		lab[i] = -100;
	struct lms_batch bn = {2, 10, g_ids, g_mask, lab};
	CHECK_INT_EQ(lms_engine_forward(em, &bn, NULL, &mean), LMS_OK);
	CHECK(isnan(mean));
	CHECK_INT_EQ(lms_engine_forward(e, &bn, NULL, &loss_b), LMS_OK);
	CHECK(loss_b == 0.0);
	CHECK_FAILS_WITH(lms_engine_backward(em, NULL), LMS_ERR_INTERNAL, "forward_only");

	free(lb);
	lms_engine_free(e), lms_engine_free(em);
	lms_backend_free(be);
	free_model(&m);
}

/* Left padding: with 4.57 positions (Qwen3-VL: cumsum(mask) − 1) the tokens
 * of a left-padded row are at positions 0.. and their logits match the
 * sequence alone; with 5.x positions (0..T−1, the default) they do not. */
static void test_left_padding(void)
{
	struct tmodel m;
	make_model(&m, LMS_MODEL_QWEN3_VL);
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	struct lms_engine_options o = {
	    .loss_reduction = LMS_LOSS_SUM, .forward_only = 1, .positions = LMS_POSITIONS_HF457};
	struct lms_engine_options o5 = {.loss_reduction = LMS_LOSS_SUM, .forward_only = 1};
	struct lms_engine *e5 = NULL;
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, &o, &e), LMS_OK);
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, &o5, &e5), LMS_OK);
	int32_t ids[8], mask[8] = {0, 0, 0, 1, 1, 1, 1, 1};
	for (int i = 0; i < 8; i++)
		ids[i] = (int32_t)(urand() * V);
	struct lms_batch bl = {1, 8, ids, mask, NULL}, bs = {1, 5, ids + 3, NULL, NULL};
	double l1 = 0, l2 = 0;
	CHECK_INT_EQ(lms_engine_forward(e, &bl, NULL, &l1), LMS_OK);
	lms_bf16 *lg = malloc((size_t)8 * V * 2);
	memcpy(lg, lms_engine_logits(e), (size_t)8 * V * 2);
	CHECK_INT_EQ(lms_engine_forward(e, &bs, NULL, &l2), LMS_OK);
	CHECK(memcmp(lg + (size_t)3 * V, lms_engine_logits(e), (size_t)5 * V * 2) == 0);
	CHECK_INT_EQ(lms_engine_forward(e5, &bl, NULL, &l1), LMS_OK);
	CHECK(memcmp(lg + (size_t)3 * V, lms_engine_logits(e5) + (size_t)3 * V,
		     (size_t)5 * V * 2) != 0);
	lms_engine_free(e5);
	/* (The losses differ: the last pad position is scored against the
	 * first token, as in HF, whose labels are ids where mask else -100.) */
	free(lg);
	lms_engine_free(e);
	lms_backend_free(be);
	free_model(&m);
}

static void test_errors(void)
{
	struct tmodel m;
	make_model(&m, LMS_MODEL_QWEN3);
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	struct lms_model_config bad = m.cfg;
	bad.num_kv_heads = 3;
	CHECK_FAILS_WITH(lms_engine_init(be, &bad, &m.w, 1, 4, NULL, &e), LMS_ERR_CONFIG,
			 "not a multiple of num_key_value_heads 3");
	CHECK(e == NULL);
	bad = m.cfg;
	bad.head_dim = 15;
	CHECK_FAILS_WITH(lms_engine_init(be, &bad, &m.w, 1, 4, NULL, &e), LMS_ERR_CONFIG, "even");
	CHECK_FAILS_WITH(lms_engine_init(be, &m.cfg, &m.w, 0, 4, NULL, &e), LMS_ERR_CONFIG,
			 "maximum batch shape");
	struct lms_lm_weights w = m.w;
	w.final_norm = NULL;
	CHECK_FAILS_WITH(lms_engine_init(be, &m.cfg, &w, 1, 4, NULL, &e), LMS_ERR_INPUT,
			 "incomplete");
	struct lms_backend crippled = *be;
	crippled.ops.attention_backward = NULL;
	CHECK_FAILS_WITH(lms_engine_init(&crippled, &m.cfg, &m.w, 1, 4, NULL, &e),
			 LMS_ERR_UNSUPPORTED, "lacks op attention_backward");

	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, 2, 4, NULL, &e), LMS_OK);
	int32_t ids[4] = {1, 2, V, 3};
	struct lms_batch b = {1, 4, ids, NULL, NULL};
	double loss = 0;
	CHECK_FAILS_WITH(lms_engine_forward(e, &b, NULL, &loss), LMS_ERR_INPUT,
			 "token id 97 at batch row 0, position 2");
	ids[2] = 5;
	int32_t lab[4] = {1, 2, 3, 1000};
	b.labels = lab;
	CHECK_FAILS_WITH(lms_engine_forward(e, &b, NULL, &loss), LMS_ERR_INPUT,
			 "label 1000 at batch row 0, position 3");
	b.labels = NULL;
	b.T = 5;
	CHECK_FAILS_WITH(lms_engine_forward(e, &b, NULL, &loss), LMS_ERR_INPUT, "exceeds");
	CHECK_FAILS_WITH(lms_engine_backward(e, NULL), LMS_ERR_INTERNAL, "without a successful");
	b.T = 4;
	CHECK_INT_EQ(lms_engine_forward(e, &b, NULL, &loss), LMS_OK);
	CHECK_INT_EQ(lms_engine_backward(e, NULL), LMS_OK);
	CHECK_STR_EQ(lms_engine_linear_name(e, 3), "model.layers.0.self_attn.o_proj");
	CHECK_STR_EQ(lms_linear_kind_name(LMS_LINEAR_GATE), "gate_proj");
	lms_engine_free(e);
	lms_engine_free(NULL);
	lms_backend_free(be);
	free_model(&m);
}

/* The device path (weights copied into the engine's weight block, as on
 * CUDA) on the CPU backend marked as non-host: the same bits as borrowing. */
static void test_weight_copy(void)
{
	for (int tied = 0; tied <= 1; tied++) {
		struct tmodel m;
		make_model_ex(&m, LMS_MODEL_QWEN3_VL, tied);
		struct lms_backend *be = NULL;
		struct lms_engine *e1 = NULL, *e2 = NULL;
		CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
		struct lms_backend dev = *be;
		dev.is_host = 0;
		CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, NULL, &e1), LMS_OK);
		CHECK_INT_EQ(lms_engine_init(&dev, &m.cfg, &m.w, BMAX, TMAX, NULL, &e2), LMS_OK);
		struct lms_engine_memory mem;
		lms_engine_memory_usage(e2, &mem);
		CHECK(mem.weights >= ((size_t)V * C * (tied ? 1 : 2)) * 2);
		struct lms_batch bt = make_batch(2, 9, 1);
		double l1 = 0, l2 = 0;
		CHECK_INT_EQ(lms_engine_forward(e1, &bt, NULL, &l1), LMS_OK);
		CHECK_INT_EQ(lms_engine_forward(e2, &bt, NULL, &l2), LMS_OK);
		CHECK(l1 == l2);
		CHECK(memcmp(lms_engine_logits(e1), lms_engine_logits(e2), (size_t)2 * 9 * V * 2) ==
		      0);
		CHECK_INT_EQ(lms_engine_backward(e2, NULL), LMS_OK);
		lms_engine_free(e1), lms_engine_free(e2);
		lms_backend_free(be);
		free_model(&m);
	}
}

/* The calibration forward without logits: every event's X (q..down of each
 * layer, then lm_head's final-norm output) equals the full forward's, lm_head
 * fires with d_y == NULL, and a backward is refused until the next forward. */
struct xcopy {
	lms_bf16 *x[NLIN];
	size_t n[NLIN];
	int null_y[NLIN], count;
};

static enum lms_status copy_x(void *u, const struct lms_linear_event *ev)
{
	struct xcopy *r = u;
	size_t n = (size_t)ev->M * ev->in;
	free(r->x[ev->index]);
	r->x[ev->index] = malloc(n * 2);
	memcpy(r->x[ev->index], ev->d_x, n * 2);
	r->n[ev->index] = n;
	r->null_y[ev->index] = ev->d_y == NULL;
	r->count++;
	return LMS_OK;
}

static void test_nologits(void)
{
	struct tmodel m;
	make_model(&m, LMS_MODEL_QWEN3_VL);
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	CHECK_INT_EQ(lms_engine_init(be, &m.cfg, &m.w, BMAX, TMAX, NULL, &e), LMS_OK);
	struct lms_batch bt = make_batch(3, 11, 1);
	struct xcopy a = {0}, b = {0};
	struct lms_linear_hook ha = {.on_forward = copy_x, .user = &a};
	struct lms_linear_hook hb = {.on_forward = copy_x, .user = &b};
	double loss = 0;
	CHECK_INT_EQ(lms_engine_forward(e, &bt, &ha, &loss), LMS_OK);
	CHECK_INT_EQ(lms_engine_forward_nologits(e, &bt, &hb), LMS_OK);
	CHECK_INT_EQ(a.count, NLIN);
	CHECK_INT_EQ(b.count, NLIN);
	for (int i = 0; i < NLIN; i++) {
		CHECK(a.n[i] == b.n[i] && a.x[i] && b.x[i] && memcmp(a.x[i], b.x[i], a.n[i] * 2) == 0);
		CHECK_INT_EQ(a.null_y[i], 0);
		CHECK_INT_EQ(b.null_y[i], i == NLIN - 1); /* lm_head only */
	}
	CHECK_INT_EQ(lms_engine_backward(e, NULL), LMS_ERR_INTERNAL);
	lms_error_clear();
	CHECK_INT_EQ(lms_engine_forward(e, &bt, NULL, &loss), LMS_OK);
	CHECK_INT_EQ(lms_engine_backward(e, NULL), LMS_OK);
	for (int i = 0; i < NLIN; i++)
		free(a.x[i]), free(b.x[i]);
	lms_engine_free(e);
	lms_backend_free(be);
	free_model(&m);
}

/* lms_engine_memory_plan gives the sizes lms_engine_init allocates, for
 * recompute on and off, forward-only and prefix-forward engines. */
static void test_memory_plan(void)
{
	struct tmodel m;
	make_model(&m, LMS_MODEL_QWEN3_VL);
	struct lms_backend *be = NULL;
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	struct lms_backend dev = *be; /* weights copied, as on a GPU */
	dev.is_host = 0;
	const struct lms_engine_options opts[] = {
	    {.recompute = 0}, {.recompute = 1}, {.forward_only = 1, .prefix_forward = 1}};
	size_t acts[2] = {0, 0};
	for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
		struct lms_engine *e = NULL;
		struct lms_engine_memory got, plan;
		CHECK_INT_EQ(lms_engine_init(&dev, &m.cfg, &m.w, BMAX, TMAX, &opts[k], &e), LMS_OK);
		CHECK_INT_EQ(lms_engine_memory_plan(&m.cfg, BMAX, TMAX, &opts[k], &plan), LMS_OK);
		lms_engine_memory_usage(e, &got);
		CHECK(plan.weights == got.weights && plan.activations == got.activations &&
		      plan.gradients == got.gradients && plan.batch == got.batch &&
		      plan.prefix == got.prefix);
		if (k < 2)
			acts[k] = plan.activations;
		lms_engine_free(e);
	}
	/* recompute keeps one layer's working set instead of L */
	CHECK(acts[0] > acts[1]);
	struct lms_engine_memory bad;
	CHECK_INT_EQ(lms_engine_memory_plan(&m.cfg, 0, TMAX, NULL, &bad), LMS_ERR_CONFIG);
	lms_error_clear();
	lms_backend_free(be);
	free_model(&m);
}

int main(void)
{
	test_nologits();
	test_memory_plan();
	test_gradients();
	test_padding(LMS_MODEL_QWEN3_VL);
	test_padding(LMS_MODEL_QWEN3);
	test_left_padding();
	test_errors();
	test_weight_copy();
	return lms_test_finish();
}
