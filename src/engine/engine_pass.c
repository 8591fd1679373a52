/* engine_pass.c — the Qwen3 decoder's forward and backward over one batch,
 * as straight-line calls into the backend (reference qwen3-vl-lm.md §3–5).
 *
 * Forward, per layer (letters: N tokens, C hidden, F intermediate):
 *   a = RMSNorm(x; w_in)            q = a·Wqᵀ  k = a·Wkᵀ  v = a·Wvᵀ
 *   qr = RoPE(RMSNorm_D(q; w_qn))   kr = RoPE(RMSNorm_D(k; w_kn))
 *   att = Attention(qr, kr, v)      o = att·Woᵀ      x_mid = x + o
 *   b = RMSNorm(x_mid; w_post)      gate = b·Wgᵀ  up = b·Wuᵀ
 *   m = silu(gate)·up               down = m·Wdᵀ     x_out = x_mid + down
 * then h = RMSNorm(x_L; w_final), logits = h·lm_headᵀ, per-row CE losses.
 *
 * Backward walks the same steps in reverse, computing dY of each linear and
 * the gradient of its input (dX = dY·W), never a weight gradient. Where the
 * autograd of HF's bf16 graph sums several bf16 gradients (the residual
 * stream, b's two consumers, a's three) it is one bf16 add per term, in the
 * order autograd adds them (v, k, q for a).
 *
 * lms_engine_forward_from reruns the forward from a cached layer input (or
 * the embedding) through its own stream buffers and logits, with an
 * optional substitution of linear outputs (kl_div scoring).
 *
 * Position ids (cos/sin tables, built here on the host in fp32 and rounded
 * to bf16 as HF does): 0..T−1 whatever the mask (transformers 5.x), or with
 * LMS_POSITIONS_HF457 for Qwen3-VL cumsum(mask) − 1 with 1 at padded
 * positions (4.57's get_rope_index). */
#include <math.h>
#include <string.h>

#include "engine/engine_internal.h"

#define OPS (e->be->ops)
#define CTX (e->be->ctx)
/* The op label (backend.h set_label: borrowed parts, formatted only when a
 * backend reports), set before each module's ops. */
#define LABEL(module, stage) lms_backend_set_label(e->be, (module), (stage), NULL)
#define LIN(l, kind) (e->names[(l) * LMS_LINEARS_PER_LAYER + (kind)])

/* ---- helpers ------------------------------------------------------------ */

static enum lms_status linear_fwd(struct lms_engine *e, lms_bf16 *y, const lms_bf16 *x,
				  const lms_bf16 *w, int M, int in, int out)
{
	return lms_backend_linear_forward(e->be, y, x, w, M, in, out);
}

/* dx (M, in) = dy (M, out) · W (out, in); beta = 1 accumulates in bf16. */
static enum lms_status linear_bwd(struct lms_engine *e, lms_bf16 *dx, const lms_bf16 *dy,
				  const lms_bf16 *w, int M, int in, int out)
{
	struct lms_gemm_args g = {
	    .m = M,
	    .n = in,
	    .k = out,
	    .d_a = dy,
	    .lda = out,
	    .trans_a = 0,
	    .d_b = w,
	    .ldb = in,
	    .trans_b = 0,
	    .d_c = dx,
	    .ldc = in,
	    .c_dtype = LMS_GEMM_OUT_BF16,
	    .alpha = 1.0f,
	    .beta = 0.0f,
	    .batch = 1,
	};
	return OPS.gemm(CTX, &g);
}

/* Offset in elements from a to b when b lies after a (0 otherwise). */
static int64_t ahead(const lms_bf16 *a, const lms_bf16 *b)
{
	return b > a ? (int64_t)(b - a) : 0;
}

/* Two GEMMs of one shape whose operands lie at fixed distances (k_proj and
 * v_proj: adjacent weights, adjacent outputs) as one strided batch of 2:
 * one launch, and twice the tiles for the N = 1024 shapes that leave half
 * the GPU idle (H100: 30 us each at 350 TFLOP/s). Only on a device backend
 * (the CPU keeps its two plain GEMMs); the batch's GEMMs may round
 * differently from the single ones (docs/cuda.md). g is the first GEMM;
 * a1, b1, c1 the second one's operands (a1 == a: a shared input). */
static enum lms_status gemm_pair(struct lms_engine *e, struct lms_gemm_args g, const void *a1,
				 const void *b1, void *c1)
{
	int64_t sa = a1 == g.d_a ? 0 : ahead(g.d_a, a1), sb = ahead(g.d_b, b1);
	int64_t sc = ahead(g.d_c, c1);
	if (e->be->is_host || (a1 != g.d_a && sa == 0) || sb == 0 || sc == 0) {
		LMS_TRY(OPS.gemm(CTX, &g));
		g.d_a = a1;
		g.d_b = b1;
		g.d_c = c1;
		return OPS.gemm(CTX, &g);
	}
	g.batch = 2;
	g.stride_a = sa;
	g.stride_b = sb;
	g.stride_c = sc;
	return OPS.gemm(CTX, &g);
}

static enum lms_status fire(const struct lms_engine *e, const struct lms_linear_hook *hooks,
			    int backward, int layer, enum lms_linear_kind kind, const lms_bf16 *x,
			    const lms_bf16 *w, const lms_bf16 *y, const lms_bf16 *dy, int in,
			    int out)
{
	if (!hooks)
		return LMS_OK;
	enum lms_status (*fn)(void *, const struct lms_linear_event *) =
	    backward ? hooks->on_backward : hooks->on_forward;
	if (!fn)
		return LMS_OK;
	int index = kind == LMS_LINEAR_LM_HEAD ? LMS_LINEARS_PER_LAYER * e->L
					       : layer * LMS_LINEARS_PER_LAYER + (int)kind;
	struct lms_linear_event ev = {
	    .layer = layer,
	    .kind = kind,
	    .index = index,
	    .name = e->names[index],
	    .B = e->B,
	    .T = e->T,
	    .M = e->B * e->T,
	    .in = in,
	    .out = out,
	    .d_x = x,
	    .d_w = w,
	    .d_y = y,
	    .d_dy = dy,
	    .d_mask = e->d_mask,
	};
	return fn(hooks->user, &ev);
}

/* ---- the side stream (lms_engine_set_overlap) ----------------------------
 * An event's hook runs on the backend's side stream (backend.h side_begin):
 * mark kind (the slot) records where its ops end. Forward: a layer's
 * activations are not written again in the pass unless the layers share one
 * working set (recompute, forward_only): then each layer forward first joins
 * every mark; each pass joins every mark at its end. Backward: the main
 * stream joins a mark before it overwrites what that hook read:
 *   down (dx, layer l):        before layer l's input_layernorm backward;
 *   up, gate (dup, dgate):     before layer l−1's SwiGLU backward;
 *   o_proj (dx2):              before layer l−1's post-norm backward;
 *   q, k, v (dq, dk, dv):      before layer l−1's attention backward;
 *   all, before a recomputed layer forward (one working set for all layers)
 *   and at the end of the backward (lm_head's hook reads only the logits
 *   and the final norm's output, which the backward never writes).
 * The activations of layer l are not written again in the backward without
 * recomputation. */

static enum lms_status fire_side(const struct lms_engine *e, const struct lms_linear_hook *hooks,
				 int backward, int layer, enum lms_linear_kind kind,
				 const lms_bf16 *x, const lms_bf16 *w, const lms_bf16 *y,
				 const lms_bf16 *dy, int in, int out)
{
	if (!e->side || !hooks || !(backward ? hooks->on_backward : hooks->on_forward))
		return fire(e, hooks, backward, layer, kind, x, w, y, dy, in, out);
	LMS_TRY(OPS.side_begin(CTX));
	enum lms_status st = fire(e, hooks, backward, layer, kind, x, w, y, dy, in, out);
	enum lms_status se = OPS.side_end(CTX, (int)kind);
	return st != LMS_OK ? st : se;
}

static enum lms_status fire_bwd(struct lms_engine *e, const struct lms_linear_hook *hooks,
				int layer, enum lms_linear_kind kind, const lms_bf16 *x,
				const lms_bf16 *w, const lms_bf16 *y, const lms_bf16 *dy, int in,
				int out)
{
	return fire_side(e, hooks, 1, layer, kind, x, w, y, dy, in, out);
}

/* The main stream waits for the hooks of kinds a..b (inclusive). */
static enum lms_status join(struct lms_engine *e, enum lms_linear_kind a, enum lms_linear_kind b)
{
	for (int k = (int)a; e->side && k <= (int)b; k++)
		LMS_TRY(OPS.side_join(CTX, k));
	return LMS_OK;
}

static enum lms_status join_all(struct lms_engine *e)
{
	return join(e, LMS_LINEAR_Q, LMS_LINEAR_LM_HEAD);
}

/* Forward event: the substitution of lms_engine_forward_from (which may
 * overwrite y), then on_forward. */
static enum lms_status fire_fwd(const struct lms_engine *e, const struct lms_linear_hook *hooks,
				int layer, enum lms_linear_kind kind, const lms_bf16 *x,
				const lms_bf16 *w, lms_bf16 *y, int in, int out)
{
	const struct lms_linear_replace *rp = e->replace;
	if (rp && rp->fn) {
		int index = kind == LMS_LINEAR_LM_HEAD ? LMS_LINEARS_PER_LAYER * e->L
						       : layer * LMS_LINEARS_PER_LAYER + (int)kind;
		struct lms_linear_event ev = {
		    .layer = layer,
		    .kind = kind,
		    .index = index,
		    .name = e->names[index],
		    .B = e->B,
		    .T = e->T,
		    .M = e->B * e->T,
		    .in = in,
		    .out = out,
		    .d_x = x,
		    .d_w = w,
		    .d_y = y,
		    .d_dy = NULL,
		    .d_mask = e->d_mask,
		};
		LMS_TRY(rp->fn(rp->user, &ev, y));
	}
	return fire_side(e, hooks, 0, layer, kind, x, w, y, NULL, in, out);
}

/* RMSNorm with the work of f around it (backend.h struct lms_norm_fuse):
 * the backend's fused slot when it has one (the same bits in fewer passes
 * over memory), else the plain ops in the order the fused slot stands for. */
static enum lms_status norm_fwd(struct lms_engine *e, lms_bf16 *out, float *rstd, const lms_bf16 *x,
				const lms_bf16 *w, int rows, int n, const struct lms_norm_fuse *f)
{
	const float eps = (float)e->cfg.rms_norm_eps;
	if (OPS.rmsnorm_forward_ex)
		return OPS.rmsnorm_forward_ex(CTX, out, rstd, x, w, rows, n, eps, f);
	if (f->add) {
		LMS_TRY(OPS.add(CTX, f->sum_out, x, f->add, (size_t)rows * n));
		x = f->sum_out;
	}
	LMS_TRY(OPS.rmsnorm_forward(CTX, out, rstd, x, w, rows, n, eps));
	if (f->cos)
		LMS_TRY(OPS.rope_forward(CTX, out, f->cos, f->sin, rows / f->heads, f->heads, n));
	return LMS_OK;
}

/* The backward's counterpart: dy may be overwritten; dx == dy with RoPE. */
static enum lms_status norm_bwd(struct lms_engine *e, lms_bf16 *dx, lms_bf16 *dy, const lms_bf16 *x,
				const lms_bf16 *w, const float *rstd, int rows, int n,
				const struct lms_norm_fuse *f)
{
	const float eps = (float)e->cfg.rms_norm_eps;
	const size_t len = (size_t)rows * n;
	if (OPS.rmsnorm_backward_ex)
		return OPS.rmsnorm_backward_ex(CTX, dx, dy, x, w, rstd, rows, n, eps, f);
	if (f->add)
		LMS_TRY(OPS.add(CTX, dy, dy, f->add, len));
	if (f->cos)
		LMS_TRY(OPS.rope_backward(CTX, dy, f->cos, f->sin, rows / f->heads, f->heads, n));
	if (!f->residual)
		return OPS.rmsnorm_backward(CTX, dx, dy, x, w, rstd, rows, n, eps);
	LMS_TRY(OPS.rmsnorm_backward(CTX, dy, dy, x, w, rstd, rows, n, eps));
	return OPS.add(CTX, dx, f->residual, dy, len);
}

static struct lms_attn_dims attn_dims(const struct lms_engine *e)
{
	struct lms_attn_dims d = {e->B, e->T, e->H, e->G, e->D, 1.0f / sqrtf((float)e->D)};
	return d;
}

/* ---- batch setup ---------------------------------------------------------- */

static enum lms_status stage_batch(struct lms_engine *e, const struct lms_batch *bt)
{
	const int B = bt->B, T = bt->T, V = e->V, half = e->D / 2;
	const int64_t N = (int64_t)B * T;
	if (B < 1 || T < 1 || B > e->max_B || T > e->max_T)
		return lms_fail(LMS_ERR_INPUT, "the engine was created for a smaller batch shape",
				"batch shape %d x %d exceeds the engine's maximum %d x %d", B, T,
				e->max_B, e->max_T);
	for (int64_t n = 0; n < N; n++) {
		if (bt->ids[n] < 0 || bt->ids[n] >= V)
			return lms_fail(
			    LMS_ERR_INPUT, "token ids must be below the model's vocab_size",
			    "token id %d at batch row %d, position %d is outside [0, %d)",
			    (int)bt->ids[n], (int)(n / T), (int)(n % T), V);
		e->h_mask[n] = bt->mask ? (bt->mask[n] != 0) : 1;
	}
	/* Shifted targets: row (b, t) is scored against labels[b, t+1]. */
	e->n_valid = 0;
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int64_t n = (int64_t)b * T + t;
			int32_t y = -100;
			if (t + 1 < T) {
				int64_t nx = n + 1;
				y = bt->labels ? bt->labels[nx]
					       : (e->h_mask[nx] ? bt->ids[nx] : -100);
			}
			if (y != -100 && (y < 0 || y >= V))
				return lms_fail(
				    LMS_ERR_INPUT, "labels must be -100 or a token id",
				    "label %d at batch row %d, position %d is outside [0, %d)",
				    (int)y, b, t + 1, V);
			e->h_targets[n] = y;
			e->n_valid += y != -100;
		}
	/* Positions, then cos/sin tables (fp32, rounded to bf16). Positions
	 * 0..T-1 do not depend on the batch: those tables are built and
	 * uploaded once per shape (host work that kept the GPU waiting at the
	 * start of every step). */
	int by_mask =
	    e->cfg.family == LMS_MODEL_QWEN3_VL && e->opts.positions == LMS_POSITIONS_HF457;
	int tables = by_mask || e->rope_B != B || e->rope_T != T;
	e->rope_B = e->rope_T = 0;
	for (int b = 0; tables && b < B; b++) {
		int run = 0;
		for (int t = 0; t < T; t++) {
			int64_t n = (int64_t)b * T + t;
			int pos = t;
			if (by_mask) {
				run += e->h_mask[n];
				pos = e->h_mask[n] ? run - 1 : 1;
			}
			for (int j = 0; j < half; j++) {
				float f = (float)pos * e->h_inv_freq[j];
				e->h_cos[n * half + j] = lms_f32_to_bf16(cosf(f));
				e->h_sin[n * half + j] = lms_f32_to_bf16(sinf(f));
			}
		}
	}
	LMS_TRY(OPS.memcpy_h2d(CTX, e->d_ids, bt->ids, (size_t)N * sizeof(int32_t)));
	LMS_TRY(OPS.memcpy_h2d(CTX, e->d_mask, e->h_mask, (size_t)N * sizeof(int32_t)));
	LMS_TRY(OPS.memcpy_h2d(CTX, e->d_targets, e->h_targets, (size_t)N * sizeof(int32_t)));
	if (tables) {
		LMS_TRY(
		    OPS.memcpy_h2d(CTX, e->d_cos, e->h_cos, (size_t)N * half * sizeof(lms_bf16)));
		LMS_TRY(
		    OPS.memcpy_h2d(CTX, e->d_sin, e->h_sin, (size_t)N * half * sizeof(lms_bf16)));
		if (!by_mask) {
			e->rope_B = B;
			e->rope_T = T;
		}
	}
	e->B = B;
	e->T = T;
	return LMS_OK;
}

/* ---- forward ------------------------------------------------------------- */

enum lms_status lms_eng_layer_forward(struct lms_engine *e, int l, struct eng_layer_acts *A,
				      lms_bf16 *x_out, const struct lms_linear_hook *hooks)
{
	const struct eng_layer_w *W = &e->lw[l];
	const int N = e->B * e->T, C = e->C, F = e->F, HD = e->H * e->D, GD = e->G * e->D;
	const float eps = (float)e->cfg.rms_norm_eps;
	struct lms_attn_dims dm = attn_dims(e);

	if (e->opts.recompute || e->opts.forward_only) /* one working set: hooks read it */
		LMS_TRY(join_all(e));
	LABEL(e->lnames[l], "input_layernorm");
	LMS_TRY(OPS.rmsnorm_forward(CTX, A->a, A->rstd_in, A->x_in, W->input_norm, N, C, eps));
	LABEL(LIN(l, LMS_LINEAR_Q), NULL);
	LMS_TRY(linear_fwd(e, A->q, A->a, W->q, N, C, HD));
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_Q, A->a, W->q, A->q, C, HD));
	LABEL(e->lnames[l], "self_attn k_proj, v_proj");
	struct lms_gemm_args kv = {
	    .m = N,
	    .n = GD,
	    .k = C,
	    .d_a = A->a,
	    .lda = C,
	    .d_b = W->k,
	    .ldb = C,
	    .trans_b = 1,
	    .d_c = A->k,
	    .ldc = GD,
	    .c_dtype = LMS_GEMM_OUT_BF16,
	    .alpha = 1.0f,
	    .batch = 1,
	};
	LMS_TRY(gemm_pair(e, kv, A->a, W->v, A->v));
	LABEL(LIN(l, LMS_LINEAR_K), NULL);
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_K, A->a, W->k, A->k, C, GD));
	LABEL(LIN(l, LMS_LINEAR_V), NULL);
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_V, A->a, W->v, A->v, C, GD));

	LABEL(e->lnames[l], "self_attn q/k norm, rope, attention");
	struct lms_norm_fuse rq = {.cos = e->d_cos, .sin = e->d_sin, .heads = e->H};
	struct lms_norm_fuse rk = {.cos = e->d_cos, .sin = e->d_sin, .heads = e->G};
	LMS_TRY(norm_fwd(e, A->qr, A->rstd_q, A->q, W->q_norm, N * e->H, e->D, &rq));
	LMS_TRY(norm_fwd(e, A->kr, A->rstd_k, A->k, W->k_norm, N * e->G, e->D, &rk));
	if (!e->skip_att) /* else att, lse hold this layer's from the forward */
		LMS_TRY(OPS.attention_forward(CTX, A->att, A->lse, A->qr, A->kr, A->v, e->d_mask,
					      &dm, e->d_work, e->mem.workspace));

	LABEL(LIN(l, LMS_LINEAR_O), NULL);
	LMS_TRY(linear_fwd(e, A->o, A->att, W->o, N, HD, C));
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_O, A->att, W->o, A->o, HD, C));
	LABEL(e->lnames[l], "self_attn residual add, post_attention_layernorm");
	struct lms_norm_fuse res = {.add = A->o, .sum_out = A->x_mid};
	LMS_TRY(norm_fwd(e, A->b, A->rstd_post, A->x_in, W->post_norm, N, C, &res));
	LABEL(e->lnames[l], "mlp gate_proj, up_proj");
	struct lms_gemm_args gu = kv;
	gu.n = F;
	gu.d_a = A->b;
	gu.d_b = W->gate;
	gu.d_c = A->gate;
	gu.ldc = F;
	LMS_TRY(gemm_pair(e, gu, A->b, W->up, A->up));
	LABEL(LIN(l, LMS_LINEAR_GATE), NULL);
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_GATE, A->b, W->gate, A->gate, C, F));
	LABEL(LIN(l, LMS_LINEAR_UP), NULL);
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_UP, A->b, W->up, A->up, C, F));
	LABEL(e->lnames[l], "mlp act_fn");
	LMS_TRY(OPS.swiglu_forward(CTX, A->m, A->gate, A->up, (size_t)N * F));
	LABEL(LIN(l, LMS_LINEAR_DOWN), NULL);
	LMS_TRY(linear_fwd(e, A->down, A->m, W->down, N, F, C));
	LMS_TRY(fire_fwd(e, hooks, l, LMS_LINEAR_DOWN, A->m, W->down, A->down, F, C));
	LABEL(e->lnames[l], "mlp residual add");
	return OPS.add(CTX, x_out, A->x_mid, A->down, (size_t)N * C);
}

/* The factor of the loss gradient: 1 for a summed loss, 1/valid tokens for
 * the mean. */
static float loss_scale(const struct lms_engine *e)
{
	if (e->opts.loss_reduction != LMS_LOSS_MEAN)
		return 1.0f;
	return e->n_valid ? 1.0f / (float)e->n_valid : 0.0f;
}

/* loss == NULL: no logits and no loss (lms_engine_forward_nologits); lm_head's
 * on_forward event then carries d_y == NULL. An engine that can run the
 * backward also gets dLoss/dlogits from the loss's pass over the logits
 * (the same op computes both; the losses are the same bits either way), so
 * the backward need not read the (N, V) logits again. */
static enum lms_status forward_pass(struct lms_engine *e, const struct lms_linear_hook *hooks,
				    double *loss)
{
	const int N = e->B * e->T, C = e->C, V = e->V;
	LABEL(e->lnames[e->L + 1], NULL);
	LMS_TRY(OPS.embedding(CTX, e->acts[0].x_in, e->embed, e->d_ids, N, C, V));
	for (int l = 0; l < e->L; l++)
		LMS_TRY(lms_eng_layer_forward(e, l, &e->acts[l], e->acts[l + 1].x_in, hooks));
	LABEL(e->lnames[e->L], NULL);
	LMS_TRY(OPS.rmsnorm_forward(CTX, e->h, e->rstd_final, e->acts[e->L].x_in, e->final_norm, N,
				    C, (float)e->cfg.rms_norm_eps));
	if (!loss) {
		LMS_TRY(fire_side(e, hooks, 0, e->L, LMS_LINEAR_LM_HEAD, e->h, e->lm_head, NULL,
				  NULL, C, V));
		LMS_TRY(join_all(e));
		return OPS.sync(CTX);
	}
	LABEL("lm_head", NULL);
	LMS_TRY(linear_fwd(e, e->logits, e->h, e->lm_head, N, C, V));
	LMS_TRY(fire_fwd(e, hooks, e->L, LMS_LINEAR_LM_HEAD, e->h, e->lm_head, e->logits, C, V));

	LABEL("lm_head", "loss");
	lms_bf16 *dl = e->opts.forward_only ? NULL : e->gr.dlogits;
	LMS_TRY(OPS.cross_entropy(CTX, e->d_losses, dl, e->logits, e->d_targets, N, V,
				  dl ? loss_scale(e) : 1.0f));
	e->have_dlogits = dl != NULL;
	LMS_TRY(join_all(e));
	LMS_TRY(OPS.memcpy_d2h(CTX, e->h_losses, e->d_losses, (size_t)N * sizeof(float)));
	LMS_TRY(OPS.sync(CTX));
	double sum = 0.0;
	for (int n = 0; n < N; n++)
		sum += e->h_losses[n];
	if (e->opts.loss_reduction == LMS_LOSS_SUM)
		*loss = sum;
	else
		*loss = e->n_valid ? sum / (double)e->n_valid : NAN;
	return LMS_OK;
}

enum lms_status lms_engine_forward(struct lms_engine *e, const struct lms_batch *batch,
				   const struct lms_linear_hook *hooks, double *loss)
{
	e->have_forward = 0;
	e->have_cache = 0;
	e->have_dlogits = 0;
	*loss = NAN;
	LMS_TRY(stage_batch(e, batch));
	LMS_TRY(forward_pass(e, hooks, loss));
	e->have_forward = 1;
	e->have_cache = 1;
	return LMS_OK;
}

enum lms_status lms_engine_forward_nologits(struct lms_engine *e, const struct lms_batch *batch,
					    const struct lms_linear_hook *hooks)
{
	e->have_forward = 0;
	e->have_cache = 0;
	e->have_dlogits = 0;
	LMS_TRY(stage_batch(e, batch));
	return forward_pass(e, hooks, NULL);
}

/* engine.h: the forward from the cached input of layer `start` (or from the
 * embedding), through the ping-pong stream buffers pf_x[0..1] and each
 * layer's working set, into pf_logits. acts[*].x_in and logits are only
 * read. The final norm's output reuses e->h (backward is refused after). */
static enum lms_status forward_from(struct lms_engine *e, int start,
				    const struct lms_linear_hook *hooks)
{
	if (!e->opts.prefix_forward)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"engine: forward_from on an engine without prefix_forward");
	if (!e->have_cache)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"engine: forward_from without a successful forward");
	if (start > e->L)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "engine: forward_from layer %d > %d", start,
				e->L);
	e->have_forward = 0;
	e->have_dlogits = 0;
	const int N = e->B * e->T, C = e->C, V = e->V;
	const lms_bf16 *x = NULL;
	int k = 0;
	if (start < 0) {
		LABEL(e->lnames[e->L + 1], NULL);
		LMS_TRY(OPS.embedding(CTX, e->pf_x[0], e->embed, e->d_ids, N, C, V));
		x = e->pf_x[0];
		k = 1;
		start = 0;
	} else {
		x = e->acts[start].x_in;
	}
	for (int l = start; l < e->L; l++) {
		struct eng_layer_acts A = e->acts[l];
		A.x_in = (lms_bf16 *)x; /* read only: the layer writes x_out */
		LMS_TRY(lms_eng_layer_forward(e, l, &A, e->pf_x[k], hooks));
		x = e->pf_x[k];
		k ^= 1;
	}
	LABEL(e->lnames[e->L], NULL);
	LMS_TRY(OPS.rmsnorm_forward(CTX, e->h, e->rstd_final, x, e->final_norm, N, C,
				    (float)e->cfg.rms_norm_eps));
	LABEL("lm_head", NULL);
	LMS_TRY(linear_fwd(e, e->pf_logits, e->h, e->lm_head, N, C, V));
	LMS_TRY(fire_fwd(e, hooks, e->L, LMS_LINEAR_LM_HEAD, e->h, e->lm_head, e->pf_logits, C, V));
	LMS_TRY(join_all(e));
	return OPS.sync(CTX);
}

/* ---- backward ------------------------------------------------------------ */

/* Attention block backward: from dx_mid (the gradient at the residual after
 * attention, which is also dY of o_proj) to the gradient of a as the two
 * terms gr.t1 (v and k) and gr.t2 (q), added by the caller. */
static enum lms_status attn_backward(struct lms_engine *e, int l, const struct eng_layer_acts *A,
				     const lms_bf16 *dx_mid, const struct lms_linear_hook *hooks)
{
	const struct eng_layer_w *W = &e->lw[l];
	struct eng_grads *g = &e->gr;
	const int N = e->B * e->T, C = e->C, HD = e->H * e->D, GD = e->G * e->D;
	struct lms_attn_dims dm = attn_dims(e);

	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_O, A->att, W->o, A->o, dx_mid, HD, C));
	LABEL(LIN(l, LMS_LINEAR_O), "backward");
	LMS_TRY(linear_bwd(e, g->datt, dx_mid, W->o, N, HD, C));
	LABEL(e->lnames[l], "self_attn attention backward");
	LMS_TRY(join(e, LMS_LINEAR_Q, LMS_LINEAR_V)); /* layer l+1's dq, dk, dv */
	LMS_TRY(OPS.attention_backward(CTX, g->dq, g->dk, g->dv, g->datt, A->qr, A->kr, A->v,
				       A->att, A->lse, e->d_mask, &dm, e->d_work,
				       e->mem.workspace));
	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_V, A->a, W->v, A->v, g->dv, C, GD));
	/* RoPE and q/k norm backward, in place: dq, dk become dY of q_proj, k_proj. */
	LABEL(e->lnames[l], "self_attn k rope/norm backward");
	struct lms_norm_fuse rq = {.cos = e->d_cos, .sin = e->d_sin, .heads = e->H};
	struct lms_norm_fuse rk = {.cos = e->d_cos, .sin = e->d_sin, .heads = e->G};
	LMS_TRY(norm_bwd(e, g->dk, g->dk, A->k, W->k_norm, A->rstd_k, N * e->G, e->D, &rk));
	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_K, A->a, W->k, A->k, g->dk, C, GD));
	LABEL(e->lnames[l], "self_attn q rope/norm backward");
	LMS_TRY(norm_bwd(e, g->dq, g->dq, A->q, W->q_norm, A->rstd_q, N * e->H, e->D, &rq));
	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_Q, A->a, W->q, A->q, g->dq, C, HD));
	/* da = (dv·Wv + dk·Wk) + dq·Wq, each term bf16, as autograd adds them;
	 * the last add is the caller's (fused with input_layernorm's backward) */
	LABEL(e->lnames[l], "self_attn q/k/v backward");
	struct lms_gemm_args kv = {
	    .m = N,
	    .n = C,
	    .k = GD,
	    .d_a = g->dk,
	    .lda = GD,
	    .d_b = W->k,
	    .ldb = C,
	    .d_c = g->t1,
	    .ldc = C,
	    .c_dtype = LMS_GEMM_OUT_BF16,
	    .alpha = 1.0f,
	    .batch = 1,
	};
	LMS_TRY(gemm_pair(e, kv, g->dv, W->v, g->t2));		   /* dk·Wk in t1, dv·Wv in t2 */
	LMS_TRY(OPS.add(CTX, g->t1, g->t1, g->t2, (size_t)N * C)); /* one bf16 add, either order */
	return linear_bwd(e, g->t2, g->dq, W->q, N, C, HD);
}

/* One layer's backward: gr.dx holds dLoss/dx_out on entry and dLoss/dx_in
 * on return. */
static enum lms_status layer_backward(struct lms_engine *e, int l, const struct eng_layer_acts *A,
				      const struct lms_linear_hook *hooks)
{
	const struct eng_layer_w *W = &e->lw[l];
	struct eng_grads *g = &e->gr;
	const int N = e->B * e->T, C = e->C, F = e->F;

	/* MLP: x_out = x_mid + down(m); dY(down) = dx. */
	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_DOWN, A->m, W->down, A->down, g->dx, F, C));
	LABEL(LIN(l, LMS_LINEAR_DOWN), "backward");
	LMS_TRY(linear_bwd(e, g->dm, g->dx, W->down, N, F, C));
	LABEL(e->lnames[l], "mlp act_fn backward");
	LMS_TRY(join(e, LMS_LINEAR_GATE, LMS_LINEAR_UP)); /* layer l+1's dgate, dup */
	LMS_TRY(OPS.swiglu_backward(CTX, g->dgate, g->dup, g->dm, A->gate, A->up, (size_t)N * F));
	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_UP, A->b, W->up, A->up, g->dup, C, F));
	LMS_TRY(fire_bwd(e, hooks, l, LMS_LINEAR_GATE, A->b, W->gate, A->gate, g->dgate, C, F));
	LABEL(e->lnames[l], "mlp gate/up backward, post_attention_layernorm backward");
	struct lms_gemm_args gu = {
	    .m = N,
	    .n = C,
	    .k = F,
	    .d_a = g->dgate,
	    .lda = F,
	    .d_b = W->gate,
	    .ldb = C,
	    .d_c = g->t1,
	    .ldc = C,
	    .c_dtype = LMS_GEMM_OUT_BF16,
	    .alpha = 1.0f,
	    .batch = 1,
	};
	LMS_TRY(gemm_pair(e, gu, g->dup, W->up, g->t2)); /* dgate·Wg in t1, dup·Wu in t2 */
	/* db = t1 + t2 (one bf16 add, either order); dx_mid = dx + norm_bwd(db) */
	struct lms_norm_fuse post = {.add = g->t2, .residual = g->dx};
	LMS_TRY(join(e, LMS_LINEAR_O, LMS_LINEAR_O)); /* layer l+1's dx2 */
	LMS_TRY(norm_bwd(e, g->dx2, g->t1, A->x_mid, W->post_norm, A->rstd_post, N, C, &post));

	/* Attention: x_mid = x_in + o(att); dY(o) = dx_mid. */
	LMS_TRY(attn_backward(e, l, A, g->dx2, hooks)); /* da = t1 + t2 */
	LABEL(e->lnames[l], "input_layernorm backward");
	struct lms_norm_fuse in = {.add = g->t2, .residual = g->dx2}; /* dx_in */
	LMS_TRY(join(e, LMS_LINEAR_DOWN, LMS_LINEAR_DOWN)); /* this layer's dx */
	return norm_bwd(e, g->dx, g->t1, A->x_in, W->input_norm, A->rstd_in, N, C, &in);
}

enum lms_status lms_engine_backward(struct lms_engine *e, const struct lms_linear_hook *hooks)
{
	if (e->opts.forward_only)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"engine: backward on a forward_only engine");
	if (!e->have_forward)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"engine: backward without a successful forward");
	struct eng_grads *g = &e->gr;
	const int N = e->B * e->T, C = e->C, V = e->V;

	LABEL("lm_head", "loss backward");
	if (!e->have_dlogits) /* else the forward's loss pass made them */
		LMS_TRY(OPS.cross_entropy(CTX, e->d_losses, g->dlogits, e->logits, e->d_targets, N,
					  V, loss_scale(e)));
	LMS_TRY(fire_bwd(e, hooks, e->L, LMS_LINEAR_LM_HEAD, e->h, e->lm_head, e->logits,
			 g->dlogits, C, V));
	LABEL("lm_head", "backward");
	LMS_TRY(linear_bwd(e, g->dh, g->dlogits, e->lm_head, N, C, V));
	LABEL(e->lnames[e->L], "backward");
	LMS_TRY(OPS.rmsnorm_backward(CTX, g->dx, g->dh, e->acts[e->L].x_in, e->final_norm,
				     e->rstd_final, N, C, (float)e->cfg.rms_norm_eps));
	for (int l = e->L - 1; l >= 0; l--) {
		struct eng_layer_acts *A = &e->acts[l];
		/* recompute: refill the shared working set (lms_eng_layer_forward joins
		 * every hook first); the hooks fired already */
		if (e->opts.recompute) {
			e->skip_att = 1; /* att, lse are kept per layer */
			enum lms_status st = lms_eng_layer_forward(e, l, A, g->t2, NULL);
			e->skip_att = 0;
			LMS_TRY(st);
		}
		LMS_TRY(layer_backward(e, l, A, hooks));
	}
	LMS_TRY(join_all(e));
	return OPS.sync(CTX);
}

void lms_engine_set_overlap(struct lms_engine *e, int on)
{
	e->side = on && OPS.side_begin && OPS.side_end && OPS.side_join;
}

enum lms_status lms_engine_forward_from(struct lms_engine *e, int start,
					const struct lms_linear_hook *hooks,
					const struct lms_linear_replace *replace)
{
	e->replace = replace;
	enum lms_status st = forward_from(e, start, hooks);
	e->replace = NULL;
	return st;
}
