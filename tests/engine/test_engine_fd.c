/* test_engine_fd.c — the engine against an independent double-precision
 * Qwen3 decoder written here (no rounding, straight from reference
 * qwen3-vl-lm.md §3–5), without Python:
 *   - logits and loss of the bf16 engine vs the double model;
 *   - dY of every linear (q, k, v, o, gate, up, down per layer, lm_head):
 *     Σ dY_engine ⊙ R vs the central finite difference in double of the
 *     double model's loss when R·h is added to that linear's output, over
 *     8 random directions R (an estimate of dY's relative L2 error).
 * The batch has a left-padded row (fully masked pad queries) and a
 * right-padded row. Tolerances next to the checks with the measured worst. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "test.h"

enum { C = 32, F = 48, L = 2, H = 4, G = 2, D = 16, V = 97, B = 2, T = 10, N = B * T };
enum { NLIN = 7 * L + 1 };

static uint64_t g_rng = 0x853c49e6748fea9bull;
static double urand(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- the model: bf16 for the engine, double copies for the reference ---- */

struct lin { /* a linear weight (out, in) */
	int out, in;
	lms_bf16 *w;
	double *wd;
};

static struct {
	struct lms_model_config cfg;
	struct lms_layer_weights lw[L];
	struct lms_lm_weights w;
	double *embed, *final_norm, *in_norm[L], *q_norm[L], *k_norm[L], *post_norm[L];
	struct lin lin[NLIN]; /* index 7·l + kind, lm_head last */
	int32_t ids[N], mask[N];
} M;

static lms_bf16 *rnd(size_t n, double c, double s, double **dcopy)
{
	lms_bf16 *p = malloc(n * sizeof *p);
	*dcopy = malloc(n * sizeof **dcopy);
	for (size_t i = 0; i < n; i++) {
		p[i] = lms_f32_to_bf16((float)(c + (2 * urand() - 1) * s));
		(*dcopy)[i] = lms_bf16_to_f32(p[i]);
	}
	return p;
}

static const lms_bf16 *mklin(int idx, int out, int in)
{
	struct lin *l = &M.lin[idx];
	l->out = out, l->in = in;
	l->w = rnd((size_t)out * in, 0, sqrt(3.0 / in), &l->wd);
	return l->w;
}

static void build(void)
{
	struct lms_model_config *c = &M.cfg;
	c->family = LMS_MODEL_QWEN3_VL, c->hidden_size = C, c->intermediate_size = F;
	c->num_layers = L, c->num_heads = H, c->num_kv_heads = G, c->head_dim = D;
	c->vocab_size = V, c->rms_norm_eps = 1e-6, c->rope_theta = 1e4;
	snprintf(c->lm_prefix, sizeof c->lm_prefix, "model.language_model.");
	double *unused;
	M.w.embed = rnd((size_t)V * C, 0, 1.0, &M.embed);
	M.w.final_norm = rnd(C, 1, 0.3, &M.final_norm);
	for (int l = 0; l < L; l++) {
		struct lms_layer_weights *x = &M.lw[l];
		x->input_norm = rnd(C, 1, 0.3, &M.in_norm[l]);
		x->q_norm = rnd(D, 1, 0.3, &M.q_norm[l]);
		x->k_norm = rnd(D, 1, 0.3, &M.k_norm[l]);
		x->post_norm = rnd(C, 1, 0.3, &M.post_norm[l]);
		x->q = mklin(7 * l + 0, H * D, C);
		x->k = mklin(7 * l + 1, G * D, C);
		x->v = mklin(7 * l + 2, G * D, C);
		x->o = mklin(7 * l + 3, C, H * D);
		x->gate = mklin(7 * l + 4, F, C);
		x->up = mklin(7 * l + 5, F, C);
		x->down = mklin(7 * l + 6, C, F);
	}
	M.w.lm_head = mklin(7 * L, V, C); /* untied */
	M.w.layers = M.lw;
	(void)unused;
	for (int n = 0; n < N; n++) {
		M.ids[n] = (int32_t)(urand() * V);
		int b = n / T, t = n % T;
		M.mask[n] = b == 0 ? t >= 2 : t < T - 3; /* row 0 left-padded, row 1 right-padded */
	}
}

/* ---- the double reference ---------------------------------------------- */

struct pert { /* add h·R to the output of linear idx (idx < 0: none) */
	int idx;
	double h;
	const double *R;
};

static void linear_d(double *y, const double *x, int rows, const struct lin *l,
		     const struct pert *p, int idx)
{
	for (int r = 0; r < rows; r++)
		for (int o = 0; o < l->out; o++) {
			double acc = 0;
			for (int i = 0; i < l->in; i++)
				acc += x[(size_t)r * l->in + i] * l->wd[(size_t)o * l->in + i];
			if (p->idx == idx)
				acc += p->h * p->R[(size_t)r * l->out + o];
			y[(size_t)r * l->out + o] = acc;
		}
}

static void rms_d(double *y, const double *x, const double *w, int rows, int n)
{
	for (int r = 0; r < rows; r++) {
		double ss = 0;
		for (int i = 0; i < n; i++)
			ss += x[(size_t)r * n + i] * x[(size_t)r * n + i];
		double rs = 1 / sqrt(ss / n + 1e-6);
		for (int i = 0; i < n; i++)
			y[(size_t)r * n + i] = w[i] * x[(size_t)r * n + i] * rs;
	}
}

static void rope_d(double *x, int nh)
{
	for (int n = 0; n < N; n++) {
		double pos = n % T; /* transformers 5.x: 0..T-1 */
		for (int h = 0; h < nh; h++)
			for (int i = 0; i < D / 2; i++) {
				double ang = pos * pow(1e4, -2.0 * i / D), c = cos(ang),
				       s = sin(ang);
				double *v = x + ((size_t)n * nh + h) * D, a = v[i],
				       b = v[i + D / 2];
				v[i] = a * c - b * s;
				v[i + D / 2] = b * c + a * s;
			}
	}
}

static void attn_d(double *o, const double *q, const double *k, const double *v)
{
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++)
			for (int i = 0; i < T; i++) {
				int g = h / (H / G);
				double s[T], mx = -INFINITY, se = 0;
				for (int j = 0; j <= i; j++) {
					s[j] = -INFINITY;
					if (!M.mask[b * T + j])
						continue;
					double dot = 0;
					for (int d = 0; d < D; d++)
						dot += q[((b * T + i) * H + h) * D + d] *
						       k[((b * T + j) * G + g) * D + d];
					s[j] = dot / sqrt((double)D);
					mx = fmax(mx, s[j]);
				}
				for (int j = 0; j <= i && mx > -INFINITY; j++)
					se += M.mask[b * T + j] ? exp(s[j] - mx) : 0;
				for (int d = 0; d < D; d++) {
					double acc = 0;
					for (int j = 0; j <= i && se > 0; j++)
						if (M.mask[b * T + j])
							acc += exp(s[j] - mx) / se *
							       v[((b * T + j) * G + g) * D + d];
					o[((b * T + i) * H + h) * D + d] = acc;
				}
			}
}

/* Sum-reduced loss; logits (N, V) written when out_logits is non-NULL. */
static double forward_d(const struct pert *p, double *out_logits)
{
	static double x[N * C], a[N * C], q[N * H * D], k[N * G * D], v[N * G * D], att[N * H * D];
	static double o[N * C], gt[N * F], up[N * F], m[N * F], hb[N * C], lg[N * V];
	for (int n = 0; n < N; n++)
		memcpy(x + n * C, M.embed + (size_t)M.ids[n] * C, C * sizeof(double));
	for (int l = 0; l < L; l++) {
		const struct lin *W = &M.lin[7 * l];
		rms_d(a, x, M.in_norm[l], N, C);
		linear_d(q, a, N, &W[0], p, 7 * l + 0);
		linear_d(k, a, N, &W[1], p, 7 * l + 1);
		linear_d(v, a, N, &W[2], p, 7 * l + 2);
		rms_d(q, q, M.q_norm[l], N * H, D);
		rms_d(k, k, M.k_norm[l], N * G, D);
		rope_d(q, H);
		rope_d(k, G);
		attn_d(att, q, k, v);
		linear_d(o, att, N, &W[3], p, 7 * l + 3);
		for (int i = 0; i < N * C; i++)
			x[i] += o[i];
		rms_d(hb, x, M.post_norm[l], N, C);
		linear_d(gt, hb, N, &W[4], p, 7 * l + 4);
		linear_d(up, hb, N, &W[5], p, 7 * l + 5);
		for (int i = 0; i < N * F; i++)
			m[i] = gt[i] / (1 + exp(-gt[i])) * up[i];
		linear_d(o, m, N, &W[6], p, 7 * l + 6);
		for (int i = 0; i < N * C; i++)
			x[i] += o[i];
	}
	rms_d(hb, x, M.final_norm, N, C);
	linear_d(lg, hb, N, &M.lin[7 * L], p, 7 * L);
	if (out_logits)
		memcpy(out_logits, lg, sizeof lg);
	double loss = 0;
	for (int n = 0; n < N; n++) {
		int t = n % T;
		if (t + 1 >= T || !M.mask[n + 1])
			continue;
		double mx = -INFINITY, se = 0;
		for (int j = 0; j < V; j++)
			mx = fmax(mx, lg[(size_t)n * V + j]);
		for (int j = 0; j < V; j++)
			se += exp(lg[(size_t)n * V + j] - mx);
		loss += mx + log(se) - lg[(size_t)n * V + M.ids[n + 1]];
	}
	return loss;
}

/* ---- the engine side ------------------------------------------------------ */

static lms_bf16 *g_dy[NLIN];
static enum lms_status keep_dy(void *u, const struct lms_linear_event *ev)
{
	(void)u;
	size_t bytes = (size_t)ev->M * ev->out * sizeof(lms_bf16);
	g_dy[ev->index] = malloc(bytes);
	memcpy(g_dy[ev->index], ev->d_dy, bytes);
	return LMS_OK;
}

int main(void)
{
	build();
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	struct lms_engine_options o = {.recompute = 1, .loss_reduction = LMS_LOSS_SUM};
	CHECK_INT_EQ(lms_backend_cpu_init(NULL, &be), LMS_OK);
	CHECK_INT_EQ(lms_engine_init(be, &M.cfg, &M.w, B, T, &o, &e), LMS_OK);
	struct lms_batch bt = {B, T, M.ids, M.mask, NULL};
	struct lms_linear_hook hk = {NULL, keep_dy, NULL};
	double loss = 0;
	CHECK_INT_EQ(lms_engine_forward(e, &bt, NULL, &loss), LMS_OK);

	/* Forward: logits relative L2 error, loss relative error. */
	static double ref_logits[N * V];
	struct pert none = {-1, 0, NULL};
	double ref_loss = forward_d(&none, ref_logits);
	const lms_bf16 *lg = lms_engine_logits(e);
	double se = 0, sr = 0;
	for (int i = 0; i < N * V; i++) {
		double d = lms_bf16_to_f32(lg[i]) - ref_logits[i];
		se += d * d;
		sr += ref_logits[i] * ref_logits[i];
	}
	printf("  logits rel L2 %.3g, loss %.6f vs double %.6f (rel %.3g)\n", sqrt(se / sr), loss,
	       ref_loss, fabs(loss - ref_loss) / ref_loss);
	CHECK(sqrt(se / sr) < 2e-2);			/* measured 7.9e-3 */
	CHECK(fabs(loss - ref_loss) / ref_loss < 1e-3); /* measured 4.7e-5 */

	/* Backward: for K random directions R_k, p_k = Σ dY ⊙ R_k vs the finite
	 * difference f_k of the double loss along R_k. ||p − f|| / ||f|| over the
	 * K directions estimates the relative L2 error of dY itself (a random
	 * projection), so a wrong gradient gives O(1), bf16 noise O(1e-2). */
	CHECK_INT_EQ(lms_engine_backward(e, &hk), LMS_OK);
	enum { K = 8 };
	double worst = 0;
	for (int idx = 0; idx < NLIN; idx++) {
		int out = M.lin[idx].out;
		double *R = malloc(sizeof(double) * N * out), num = 0, den = 0;
		for (int k = 0; k < K; k++) {
			double pred = 0;
			for (int i = 0; i < N * out; i++) {
				R[i] = 2 * urand() - 1;
				pred += lms_bf16_to_f32(g_dy[idx][i]) * R[i];
			}
			struct pert pp = {idx, 1e-4, R}, pm = {idx, -1e-4, R};
			double fd = (forward_d(&pp, NULL) - forward_d(&pm, NULL)) / 2e-4;
			num += (pred - fd) * (pred - fd);
			den += fd * fd;
		}
		double rel = sqrt(num / den);
		worst = fmax(worst, rel);
		printf("  %-46s dY rel L2 error %.3g\n", lms_engine_linear_name(e, idx), rel);
		free(R);
		free(g_dy[idx]);
	}
	printf("  worst %.3g\n", worst);
	CHECK(worst < 5e-2); /* measured 2.6e-2 (layer 1 k_proj) */
	lms_engine_free(e);
	lms_backend_free(be);
	return lms_test_finish();
}
