/* test_engine_overlap.c — lms_engine_set_overlap's join points, in CI
 * (no GPU): the CPU backend's op table is wrapped with a simulated side
 * stream that runs as LATE as the contract allows. Ops a hook issues
 * between side_begin and side_end (here sq_dot_accum and absmax_rows) are
 * queued instead of run; side_end(slot) marks the queue's length; they run,
 * in issue order, only when the main stream joins that mark (side_join) or
 * settles (sync, memcpy_d2h). Meanwhile the engine's own ops run at once, as
 * a main stream that never waits would. So a hook's queued op reads its
 * buffers when the engine says it may be late at the latest: if the engine
 * overwrote them before its join, the result differs.
 *
 * Checks, for kept activations and recomputation, and for the calibration
 * forward of a forward_only engine (one working set for all layers):
 *   - the hooks' results (per linear: Σ(dY·Y)², Σ(X·X)², max|X|, Σ(Y·Y)²)
 *     with overlap on equal those with it off, bit for bit, and the queue
 *     was really deferred (ops were pending at some side_end);
 *   - sensitivity: with the joins ignored (only sync and d2h run the queue)
 *     the backward's results differ — the check above can fail.
 * Not here: the CUDA side stream itself (tests/gpu/test_pipeline_cuda.sh
 * compares LMSENS_CUDA_STREAMS=1 with the default on a GPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "test.h"

enum { C = 32, F = 48, L = 2, H = 4, G = 2, D = 16, V = 97, B = 3, T = 12 };
enum { NLIN = 7 * L + 1, QCAP = 4096 };

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- the model ------------------------------------------------------------ */

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
	for (size_t i = 0; p && i < n; i++)
		p[i] = lms_f32_to_bf16((float)(center + (2 * urand() - 1) * scale));
	m->bufs[m->nbufs++] = p;
	return p;
}

static void make_model(struct tmodel *m)
{
	memset(m, 0, sizeof *m);
	struct lms_model_config *c = &m->cfg;
	c->family = LMS_MODEL_QWEN3;
	snprintf(c->model_type, sizeof c->model_type, "qwen3");
	c->hidden_size = C, c->intermediate_size = F, c->num_layers = L, c->num_heads = H;
	c->num_kv_heads = G, c->head_dim = D, c->vocab_size = V;
	c->rms_norm_eps = 1e-6, c->rope_theta = 1e6, c->tie_word_embeddings = 0;
	snprintf(c->lm_prefix, sizeof c->lm_prefix, "model.");
	double sc = sqrt(3.0 / C), sf = sqrt(3.0 / F), sh = sqrt(3.0 / (H * D));
	m->w.embed = rand_w(m, (size_t)V * C, 0, 1.0);
	m->w.final_norm = rand_w(m, C, 1.0, 0.3);
	m->w.lm_head = rand_w(m, (size_t)V * C, 0, 1.0);
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

static void free_model(struct tmodel *m)
{
	for (int i = 0; i < m->nbufs; i++)
		free(m->bufs[i]);
}

/* ---- the simulated side stream ----------------------------------------- */

struct qop {
	int absmax; /* 1: absmax_rows, 0: sq_dot_accum */
	void *acc;
	const lms_bf16 *a, *b, *c;
	size_t n;
};

static struct {
	struct lms_backend_ops base; /* the CPU backend's own table */
	void *ctx;
	struct qop q[QCAP];
	size_t head, len; /* q[head..len) pending */
	size_t mark[LMS_SIDE_SLOTS];
	int on_side, ignore_joins, overflow;
	size_t deferred_max; /* most ops pending at a side_end */
} g_s;

static enum lms_status run_until(size_t end)
{
	for (; g_s.head < end; g_s.head++) {
		struct qop *o = &g_s.q[g_s.head];
		if (o->absmax)
			LMS_TRY(g_s.base.absmax_rows(g_s.ctx, o->acc, o->a, 1, (int64_t)o->n, 1));
		else
			LMS_TRY(g_s.base.sq_dot_accum(g_s.ctx, o->acc, o->a, o->b, o->c, o->n));
	}
	return LMS_OK;
}

static enum lms_status push(struct qop op)
{
	if (g_s.len == QCAP) {
		g_s.overflow = 1;
		return lms_fail(LMS_ERR_INTERNAL, NULL, "test queue full");
	}
	g_s.q[g_s.len++] = op;
	return LMS_OK;
}

static enum lms_status w_side_begin(void *ctx)
{
	(void)ctx;
	g_s.on_side = 1;
	return LMS_OK;
}

static enum lms_status w_side_end(void *ctx, int slot)
{
	(void)ctx;
	g_s.on_side = 0;
	g_s.mark[slot] = g_s.len;
	if (g_s.len - g_s.head > g_s.deferred_max)
		g_s.deferred_max = g_s.len - g_s.head;
	return LMS_OK;
}

static enum lms_status w_side_join(void *ctx, int slot)
{
	(void)ctx;
	if (g_s.ignore_joins || g_s.mark[slot] <= g_s.head)
		return LMS_OK;
	return run_until(g_s.mark[slot]);
}

static enum lms_status w_sync(void *ctx)
{
	LMS_TRY(run_until(g_s.len));
	return g_s.base.sync(ctx);
}

static enum lms_status w_d2h(void *ctx, void *dst, const void *src, size_t bytes)
{
	LMS_TRY(run_until(g_s.len));
	return g_s.base.memcpy_d2h(ctx, dst, src, bytes);
}

static enum lms_status w_sq_dot(void *ctx, double *acc, const lms_bf16 *yq, const lms_bf16 *y,
				const lms_bf16 *g, size_t n)
{
	if (!g_s.on_side)
		return g_s.base.sq_dot_accum(ctx, acc, yq, y, g, n);
	return push((struct qop){0, acc, yq, y, g, n});
}

static enum lms_status w_absmax(void *ctx, float *amax, const lms_bf16 *x, int64_t rows,
				int64_t cols, int accumulate)
{
	if (!g_s.on_side || rows != 1 || !accumulate)
		return g_s.base.absmax_rows(ctx, amax, x, rows, cols, accumulate);
	return push((struct qop){1, amax, x, NULL, NULL, (size_t)cols});
}

static void wrap(struct lms_backend *be)
{
	memset(&g_s, 0, sizeof g_s);
	g_s.base = be->ops;
	g_s.ctx = be->ctx;
	be->ops.side_begin = w_side_begin;
	be->ops.side_end = w_side_end;
	be->ops.side_join = w_side_join;
	be->ops.sync = w_sync;
	be->ops.memcpy_d2h = w_d2h;
	be->ops.sq_dot_accum = w_sq_dot;
	be->ops.absmax_rows = w_absmax;
}

/* ---- hooks: per linear, what a replay or an amax would read ------------- */

static lms_bf16 g_zero[B * T * V];

struct res {
	struct lms_backend *be;
	double bwd_y[NLIN], bwd_x[NLIN], fwd_y[NLIN];
	float amax[NLIN];
};

/* max|X| and Σ(Y·Y)² (sq_dot_accum with y = 0: Δ = Y). */
static enum lms_status on_fwd(void *user, const struct lms_linear_event *ev)
{
	struct res *r = user;
	const struct lms_backend_ops *o = &r->be->ops;
	size_t nx = (size_t)ev->M * ev->in, ny = (size_t)ev->M * ev->out;
	LMS_TRY(o->absmax_rows(r->be->ctx, &r->amax[ev->index], ev->d_x, 1, (int64_t)nx, 1));
	if (!ev->d_y)
		return LMS_OK;
	return o->sq_dot_accum(r->be->ctx, &r->fwd_y[ev->index], ev->d_y, g_zero, ev->d_y, ny);
}

/* Σ(dY·Y)² and Σ(X·X)²: reads X, Y and dY, as a replay does. */
static enum lms_status on_bwd(void *user, const struct lms_linear_event *ev)
{
	struct res *r = user;
	const struct lms_backend_ops *o = &r->be->ops;
	size_t nx = (size_t)ev->M * ev->in, ny = (size_t)ev->M * ev->out;
	LMS_TRY(o->sq_dot_accum(r->be->ctx, &r->bwd_y[ev->index], ev->d_y, g_zero, ev->d_dy, ny));
	return o->sq_dot_accum(r->be->ctx, &r->bwd_x[ev->index], ev->d_x, g_zero, ev->d_x, nx);
}

static struct lms_batch make_batch(int32_t *ids, int32_t *mask)
{
	for (int i = 0; i < B * T; i++) {
		ids[i] = (int32_t)(urand() * V);
		mask[i] = 1;
	}
	for (int t = T - 3; t < T; t++) /* right padding in row 1 */
		mask[T + t] = 0;
	struct lms_batch b = {B, T, ids, mask, NULL};
	return b;
}

/* mode 0: overlap off; 1: on; 2: on with the joins ignored. Two batches
 * (the second pass overwrites what the first one's hooks read). forward_only:
 * the calibration's forwards without logits. */
static void run(struct tmodel *m, const struct lms_batch *bt, int nb, int recompute,
		int forward_only, int mode, struct res *r)
{
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	struct lms_engine_options o = {
	    .recompute = recompute, .forward_only = forward_only, .loss_reduction = LMS_LOSS_SUM};
	memset(r, 0, sizeof *r);
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	if (!be)
		return;
	wrap(be);
	g_s.ignore_joins = mode == 2;
	r->be = be;
	CHECK_INT_EQ(lms_engine_init(be, &m->cfg, &m->w, B, T, &o, &e), LMS_OK);
	if (!e) {
		lms_backend_free(be);
		return;
	}
	lms_engine_set_overlap(e, mode != 0);
	struct lms_linear_hook hk = {.on_forward = on_fwd, .on_backward = on_bwd, .user = r};
	for (int i = 0; i < nb; i++) {
		double loss = 0;
		if (forward_only) {
			CHECK_INT_EQ(lms_engine_forward_nologits(e, &bt[i], &hk), LMS_OK);
			continue;
		}
		CHECK_INT_EQ(lms_engine_forward(e, &bt[i], &hk, &loss), LMS_OK);
		CHECK(isfinite(loss));
		CHECK_INT_EQ(lms_engine_backward(e, &hk), LMS_OK);
	}
	CHECK_INT_EQ(g_s.head, g_s.len); /* every queued op ran */
	CHECK(!g_s.overflow);
	lms_engine_free(e);
	lms_backend_free(be);
}

static int same(const struct res *a, const struct res *b)
{
	return memcmp(a->bwd_y, b->bwd_y, sizeof a->bwd_y) == 0 &&
	       memcmp(a->bwd_x, b->bwd_x, sizeof a->bwd_x) == 0 &&
	       memcmp(a->fwd_y, b->fwd_y, sizeof a->fwd_y) == 0 &&
	       memcmp(a->amax, b->amax, sizeof a->amax) == 0;
}

int main(void)
{
	struct tmodel m;
	make_model(&m);
	static int32_t ids[2][B * T], mask[2][B * T];
	struct lms_batch bt[2] = {make_batch(ids[0], mask[0]), make_batch(ids[1], mask[1])};
	static struct res off, on, nojoin;
	for (int recompute = 0; recompute <= 1; recompute++) {
		run(&m, bt, 2, recompute, 0, 0, &off);
		run(&m, bt, 2, recompute, 0, 1, &on);
		size_t deferred = g_s.deferred_max;
		run(&m, bt, 2, recompute, 0, 2, &nojoin);
		int nonzero = 1;
		for (int i = 0; i < NLIN; i++)
			nonzero &= off.bwd_y[i] > 0 && off.bwd_x[i] > 0 && off.amax[i] > 0;
		printf(
		    "recompute=%d: overlap == in line: %s; ops pending at a side_end: up to %zu; "
		    "without the joins: %s\n",
		    recompute, same(&off, &on) ? "yes" : "NO", deferred,
		    same(&off, &nojoin) ? "same (insensitive)" : "differs (as it must)");
		CHECK(nonzero);
		CHECK(same(&off, &on));
		CHECK(deferred >= 2);
		CHECK(!same(&off, &nojoin));
	}
	/* calibration: forwards without logits on one shared working set */
	run(&m, bt, 2, 0, 1, 0, &off);
	run(&m, bt, 2, 0, 1, 1, &on);
	size_t deferred = g_s.deferred_max;
	run(&m, bt, 2, 0, 1, 2, &nojoin);
	printf(
	    "forward_only: overlap == in line: %s; ops pending at a side_end: up to %zu; without "
	    "the joins: %s\n",
	    same(&off, &on) ? "yes" : "NO", deferred,
	    same(&off, &nojoin) ? "same" : "differs (as it must)");
	CHECK(same(&off, &on));
	CHECK(deferred >= 2);
	CHECK(!same(&off, &nojoin));
	free_model(&m);
	return lms_test_finish();
}
