/* test_cpu_ops.c — every op of the plain-C backend against an independent
 * double-precision implementation written here, and every backward against
 * a central finite difference of that double implementation.
 *
 * Forward: backend (bf16 storage, fp32 math) vs double reference on the same
 * bf16 inputs, per element |got − ref| <= atol + rtol·|ref| with bf16-scale
 * tolerances. Backward: the backend's gradient of L = Σ r·f(x) (r a random
 * bf16 upstream gradient) vs (L(x + h·e_i) − L(x − h·e_i)) / 2h in double,
 * checked with a tolerance relative to the gradient's scale plus an NMSE
 * bound. The measured worst values are printed and written next to each
 * check. Inputs are seeded random, never zeros. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "test.h"

static struct lms_backend *g_be;

/* ---- helpers --------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double urand(void) /* [0, 1) */
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}
static double srand_(double s)
{
	return (2.0 * urand() - 1.0) * s;
}

static lms_bf16 *rand_bf16(size_t n, double scale)
{
	lms_bf16 *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = lms_f32_to_bf16((float)srand_(scale));
	return p;
}
static double *to_d(const lms_bf16 *x, size_t n)
{
	double *d = malloc(n * sizeof *d);
	for (size_t i = 0; i < n; i++)
		d[i] = lms_bf16_to_f32(x[i]);
	return d;
}

/* Compares n values; returns the worst |got−ref| / (atol + rtol·|ref|) and the NMSE. */
struct cmp {
	double worst_ratio, max_abs, nmse;
};
static struct cmp compare(const lms_bf16 *got, const double *ref, size_t n, double atol,
			  double rtol)
{
	struct cmp c = {0, 0, 0};
	double se = 0, sr = 0;
	for (size_t i = 0; i < n; i++) {
		double g = lms_bf16_to_f32(got[i]), d = fabs(g - ref[i]);
		double ratio = d / (atol + rtol * fabs(ref[i]));
		if (ratio > c.worst_ratio || isnan(g))
			c.worst_ratio = isnan(g) ? INFINITY : ratio;
		if (d > c.max_abs)
			c.max_abs = d;
		se += d * d;
		sr += ref[i] * ref[i];
	}
	c.nmse = sr > 0 ? se / sr : se;
	return c;
}
static double max_abs_d(const double *x, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs(x[i]));
	return m;
}
static void report(const char *what, struct cmp c)
{
	printf("  %-28s worst ratio %.3f  max abs %.3g  nmse %.3g\n", what, c.worst_ratio,
	       c.max_abs, c.nmse);
}

/* Gradient check: got (bf16) vs fd (double). Tolerance: atol = rel·max|fd|. */
static void check_grad(const char *what, const lms_bf16 *got, const double *fd, size_t n,
		       double rel, double nmse_max)
{
	double scale = max_abs_d(fd, n);
	struct cmp c = compare(got, fd, n, rel * scale + 1e-12, 0.02);
	report(what, c);
	CHECK(c.worst_ratio <= 1.0);
	CHECK(c.nmse <= nmse_max);
	CHECK(scale > 0); /* the check is not vacuous */
}

/* ---- RMSNorm ---------------------------------------------------------------- */

static void rmsnorm_d(double *y, const double *x, const double *w, int rows, int n, double eps)
{
	for (int r = 0; r < rows; r++) {
		double ss = 0;
		for (int i = 0; i < n; i++)
			ss += x[r * n + i] * x[r * n + i];
		double rs = 1.0 / sqrt(ss / n + eps);
		for (int i = 0; i < n; i++)
			y[r * n + i] = w[i] * x[r * n + i] * rs;
	}
}

static void test_rmsnorm(void)
{
	enum { R = 5, NN = 48 };
	const double eps = 1e-6;
	lms_bf16 *x = rand_bf16(R * NN, 2.0), *w = rand_bf16(NN, 1.5), *dy = rand_bf16(R * NN, 1.0);
	lms_bf16 out[R * NN], dx[R * NN], dx2[R * NN];
	float rstd[R];
	double *xd = to_d(x, R * NN), *wd = to_d(w, NN), *rd = to_d(dy, R * NN);
	double ref[R * NN], fd[R * NN], yp[R * NN], ym[R * NN];

	CHECK_INT_EQ(g_be->ops.rmsnorm_forward(g_be->ctx, out, rstd, x, w, R, NN, (float)eps),
		     LMS_OK);
	rmsnorm_d(ref, xd, wd, R, NN, eps);
	struct cmp c = compare(out, ref, R * NN, 1e-3, 1.6e-2); /* 2 bf16 roundings: ≤ 2^-7 */
	report("rmsnorm forward", c);
	CHECK(c.worst_ratio <= 1.0); /* measured 0.30 */

	for (int i = 0; i < R * NN; i++) {
		double h = 1e-5, keep = xd[i], lp = 0, lm = 0;
		xd[i] = keep + h;
		rmsnorm_d(yp, xd, wd, R, NN, eps);
		xd[i] = keep - h;
		rmsnorm_d(ym, xd, wd, R, NN, eps);
		xd[i] = keep;
		for (int j = 0; j < R * NN; j++) {
			lp += rd[j] * yp[j];
			lm += rd[j] * ym[j];
		}
		fd[i] = (lp - lm) / (2 * h);
	}
	CHECK_INT_EQ(g_be->ops.rmsnorm_backward(g_be->ctx, dx, dy, x, w, rstd, R, NN, (float)eps),
		     LMS_OK);
	check_grad("rmsnorm backward", dx, fd, R * NN, 0.02,
		   1e-4); /* measured ratio 0.08, nmse 4.0e-6 */
	/* rstd NULL (recomputed) and in place (dx == dy) give the same bits. */
	memcpy(dx2, dy, sizeof dx2);
	CHECK_INT_EQ(g_be->ops.rmsnorm_backward(g_be->ctx, dx2, dx2, x, w, NULL, R, NN, (float)eps),
		     LMS_OK);
	CHECK(memcmp(dx, dx2, sizeof dx) == 0);
	free(x), free(w), free(dy), free(xd), free(wd), free(rd);
}

/* ---- RoPE ------------------------------------------------------------------- */

static void rope_d(double *y, const double *x, const double *c, const double *s, int N, int nh,
		   int D)
{
	int half = D / 2;
	for (int n = 0; n < N; n++)
		for (int h = 0; h < nh; h++)
			for (int i = 0; i < half; i++) {
				const double *v = x + ((size_t)n * nh + h) * D;
				double *o = y + ((size_t)n * nh + h) * D;
				double cc = c[n * half + i], ss = s[n * half + i];
				o[i] = v[i] * cc - v[i + half] * ss;
				o[i + half] = v[i + half] * cc + v[i] * ss;
			}
}

static void test_rope(void)
{
	enum { N = 4, NH = 3, D = 16, HALF = 8, E = N * NH * D };
	lms_bf16 cs[N * HALF], sn[N * HALF];
	for (int n = 0; n < N; n++)
		for (int i = 0; i < HALF; i++) {
			double ang = (n + 1) * pow(10000.0, -2.0 * i / D);
			cs[n * HALF + i] = lms_f32_to_bf16((float)cos(ang));
			sn[n * HALF + i] = lms_f32_to_bf16((float)sin(ang));
		}
	lms_bf16 *x = rand_bf16(E, 2.0), *dy = rand_bf16(E, 1.0);
	lms_bf16 y[E], dx[E];
	double *xd = to_d(x, E), *rd = to_d(dy, E), *cd = to_d(cs, N * HALF),
	       *sd = to_d(sn, N * HALF);
	double ref[E], fd[E], yp[E], ym[E];
	memcpy(y, x, sizeof y);
	CHECK_INT_EQ(g_be->ops.rope_forward(g_be->ctx, y, cs, sn, N, NH, D), LMS_OK);
	rope_d(ref, xd, cd, sd, N, NH, D);
	struct cmp c = compare(y, ref, E, 2e-2, 1.6e-2); /* 3 roundings; cancellation near 0 */
	report("rope forward", c);
	CHECK(c.worst_ratio <= 1.0);
	for (int i = 0; i < E; i++) {
		double h = 1e-5, keep = xd[i], lp = 0, lm = 0;
		xd[i] = keep + h;
		rope_d(yp, xd, cd, sd, N, NH, D);
		xd[i] = keep - h;
		rope_d(ym, xd, cd, sd, N, NH, D);
		xd[i] = keep;
		for (int j = 0; j < E; j++) {
			lp += rd[j] * yp[j];
			lm += rd[j] * ym[j];
		}
		fd[i] = (lp - lm) / (2 * h);
	}
	memcpy(dx, dy, sizeof dx);
	CHECK_INT_EQ(g_be->ops.rope_backward(g_be->ctx, dx, cs, sn, N, NH, D), LMS_OK);
	check_grad("rope backward", dx, fd, E, 0.02, 1e-4); /* measured 0.09, 3.2e-6 */
	free(x), free(dy), free(xd), free(rd), free(cd), free(sd);
}

/* ---- SwiGLU, add --------------------------------------------------------------- */

static double silu_d(double z)
{
	return z / (1 + exp(-z));
}

static void test_swiglu(void)
{
	enum { E = 300 };
	lms_bf16 *g = rand_bf16(E, 4.0), *u = rand_bf16(E, 2.0), *dy = rand_bf16(E, 1.0);
	lms_bf16 out[E], dg[E], du[E];
	double *gd = to_d(g, E), *ud = to_d(u, E), *rd = to_d(dy, E);
	double ref[E], fdg[E], fdu[E];
	CHECK_INT_EQ(g_be->ops.swiglu_forward(g_be->ctx, out, g, u, E), LMS_OK);
	for (int i = 0; i < E; i++)
		ref[i] = silu_d(gd[i]) * ud[i];
	struct cmp c = compare(out, ref, E, 1e-3, 1.6e-2);
	report("swiglu forward", c);
	CHECK(c.worst_ratio <= 1.0);
	/* Elementwise op: the finite difference of L is per element. */
	for (int i = 0; i < E; i++) {
		double h = 1e-5;
		fdg[i] = rd[i] * (silu_d(gd[i] + h) - silu_d(gd[i] - h)) * ud[i] / (2 * h);
		fdu[i] = rd[i] * silu_d(gd[i]) * ((ud[i] + h) - (ud[i] - h)) / (2 * h);
	}
	CHECK_INT_EQ(g_be->ops.swiglu_backward(g_be->ctx, dg, du, dy, g, u, E), LMS_OK);
	/* measured worst ratios 0.12 / 0.15, nmse ≤ 5.2e-6 */
	check_grad("swiglu backward dgate", dg, fdg, E, 0.01, 1e-4);
	check_grad("swiglu backward dup", du, fdu, E, 0.01, 1e-4);

	lms_bf16 s[E];
	CHECK_INT_EQ(g_be->ops.add(g_be->ctx, s, g, u, E), LMS_OK);
	int exact = 1;
	for (int i = 0; i < E; i++)
		exact &= s[i] == lms_f32_to_bf16(lms_bf16_to_f32(g[i]) + lms_bf16_to_f32(u[i]));
	CHECK(exact);
	free(g), free(u), free(dy), free(gd), free(ud), free(rd);
}

/* ---- cross-entropy ------------------------------------------------------------- */

static double ce_row_d(const double *z, int V, int t)
{
	double mx = -INFINITY, se = 0;
	for (int v = 0; v < V; v++)
		mx = fmax(mx, z[v]);
	for (int v = 0; v < V; v++)
		se += exp(z[v] - mx);
	return mx + log(se) - z[t];
}

static void test_cross_entropy(void)
{
	enum { N = 5, V = 37 };
	int32_t tg[N] = {3, -100, 36, 0, 17};
	const double scale = 1.0 / 4; /* mean over the 4 valid rows */
	lms_bf16 *z = rand_bf16(N * V, 5.0);
	lms_bf16 dz[N * V], dz2[N * V];
	float loss[N];
	double *zd = to_d(z, N * V), fd[N * V];
	CHECK_INT_EQ(g_be->ops.cross_entropy(g_be->ctx, loss, dz, z, tg, N, V, (float)scale),
		     LMS_OK);
	double worst = 0;
	for (int n = 0; n < N; n++) {
		double ref = tg[n] == -100 ? 0.0 : ce_row_d(zd + n * V, V, tg[n]);
		worst = fmax(worst, fabs(loss[n] - ref));
	}
	printf("  cross_entropy loss          max abs %.3g\n", worst);
	CHECK(worst <= 1e-5); /* fp32 vs double on the same inputs; measured 1.9e-7 */
	for (int i = 0; i < N * V; i++) {
		int n = i / V;
		if (tg[n] == -100) {
			fd[i] = 0;
			continue;
		}
		double h = 1e-5, keep = zd[i];
		zd[i] = keep + h;
		double lp = ce_row_d(zd + n * V, V, tg[n]);
		zd[i] = keep - h;
		double lm = ce_row_d(zd + n * V, V, tg[n]);
		zd[i] = keep;
		fd[i] = scale * (lp - lm) / (2 * h);
	}
	check_grad("cross_entropy backward", dz, fd, N * V, 0.01, 1e-4); /* measured 0.06, 1.1e-6 */
	int zero = 1;
	for (int v = 0; v < V; v++)
		zero &= dz[V + v] == 0;
	CHECK(zero); /* the ignored row has no gradient */
	/* in place */
	memcpy(dz2, z, sizeof dz2);
	CHECK_INT_EQ(g_be->ops.cross_entropy(g_be->ctx, loss, dz2, dz2, tg, N, V, (float)scale),
		     LMS_OK);
	CHECK(memcmp(dz, dz2, sizeof dz) == 0);
	int32_t bad[N] = {3, -100, 37, 0, 17};
	CHECK_FAILS_WITH(g_be->ops.cross_entropy(g_be->ctx, loss, NULL, z, bad, N, V, 1.0f),
			 LMS_ERR_INPUT, "label 37 at row 2");
	free(z), free(zd);
}

/* ---- GEMM ------------------------------------------------------------------- */

/* op(X)[r, c] in double. */
static double opd(const double *x, int ld, int trans, int r, int c)
{
	return trans ? x[(size_t)c * ld + r] : x[(size_t)r * ld + c];
}

static void gemm_case(int m, int n, int k, int ta, int tb, int batch, enum lms_gemm_out out,
		      float beta)
{
	int lda = ta ? m + 1 : k + 2, ldb = tb ? k + 3 : n + 1, ldc = n + 2; /* padded rows */
	size_t sa = (size_t)(ta ? k : m) * lda, sb = (size_t)(tb ? n : k) * ldb,
	       sc = (size_t)m * ldc;
	lms_bf16 *a = rand_bf16(sa * batch, 1.0), *b = rand_bf16(sb * batch, 1.0);
	lms_bf16 *cb = rand_bf16(sc * batch, 1.0);
	float *cf = malloc(sc * batch * sizeof *cf);
	for (size_t i = 0; i < sc * (size_t)batch; i++)
		cf[i] = lms_bf16_to_f32(cb[i]);
	double *ad = to_d(a, sa * batch), *bd = to_d(b, sb * batch), *c0 = to_d(cb, sc * batch);
	struct lms_gemm_args g = {
	    .m = m,
	    .n = n,
	    .k = k,
	    .d_a = a,
	    .lda = lda,
	    .trans_a = ta,
	    .d_b = b,
	    .ldb = ldb,
	    .trans_b = tb,
	    .d_c = out == LMS_GEMM_OUT_F32 ? (void *)cf : (void *)cb,
	    .ldc = ldc,
	    .c_dtype = out,
	    .alpha = 0.5f,
	    .beta = beta,
	    .batch = batch,
	    .stride_a = (int64_t)sa,
	    .stride_b = (int64_t)sb,
	    .stride_c = (int64_t)sc,
	};
	CHECK_INT_EQ(g_be->ops.gemm(g_be->ctx, &g), LMS_OK);
	double worst = 0;
	for (int bi = 0; bi < batch; bi++)
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++) {
				double acc = 0, mag = 0;
				for (int p = 0; p < k; p++) {
					double t = opd(ad + bi * sa, lda, ta, i, p) *
						   opd(bd + bi * sb, ldb, tb, p, j);
					acc += t;
					mag += fabs(t);
				}
				size_t o = bi * sc + (size_t)i * ldc + j;
				double ref = 0.5 * acc + beta * c0[o];
				double got =
				    out == LMS_GEMM_OUT_F32 ? cf[o] : lms_bf16_to_f32(cb[o]);
				/* fp32 accumulation (≤ k·2^-24·Σ|t|) + one bf16 rounding */
				double tol = 0.5 * k * 6e-8 * mag +
					     (out == LMS_GEMM_OUT_F32 ? 1e-7 : 4e-3) * fabs(ref) +
					     1e-7;
				worst = fmax(worst, fabs(got - ref) / tol);
			}
	/* measured worst ratios ≤ 0.95 (bf16: a half-ulp is up to 2^-8 relative) */
	printf("  gemm m%d n%d k%d ta%d tb%d batch%d %s beta%g: worst ratio %.3f\n", m, n, k, ta,
	       tb, batch, out == LMS_GEMM_OUT_F32 ? "f32" : "bf16", (double)beta, worst);
	CHECK(worst <= 1.0);
	free(a), free(b), free(cb), free(cf), free(ad), free(bd), free(c0);
}

static void test_gemm(void)
{
	gemm_case(7, 5, 3, 0, 1, 1, LMS_GEMM_OUT_BF16, 0.0f);
	gemm_case(37, 70, 300, 0, 1, 1, LMS_GEMM_OUT_BF16, 0.0f); /* crosses every block edge */
	gemm_case(33, 65, 257, 0, 0, 1, LMS_GEMM_OUT_F32, 1.0f);
	gemm_case(9, 66, 20, 1, 0, 3, LMS_GEMM_OUT_BF16, 1.0f);
	gemm_case(40, 8, 19, 1, 1, 2, LMS_GEMM_OUT_F32, 0.0f);
	struct lms_gemm_args bad = {.m = 1, .n = 1, .k = 1, .beta = 0.5f, .batch = 1};
	CHECK_FAILS_WITH(g_be->ops.gemm(g_be->ctx, &bad), LMS_ERR_INTERNAL, "beta must be 0 or 1");
}

static void test_embedding(void)
{
	enum { V = 11, C = 6, N = 4 };
	lms_bf16 *t = rand_bf16(V * C, 1.0), out[N * C];
	int32_t ids[N] = {10, 0, 3, 3};
	CHECK_INT_EQ(g_be->ops.embedding(g_be->ctx, out, t, ids, N, C, V), LMS_OK);
	int ok = 1;
	for (int n = 0; n < N; n++)
		ok &= memcmp(out + n * C, t + ids[n] * C, C * sizeof(lms_bf16)) == 0;
	CHECK(ok);
	int32_t bad[N] = {1, 11, 0, 0};
	CHECK_FAILS_WITH(g_be->ops.embedding(g_be->ctx, out, t, bad, N, C, V), LMS_ERR_INPUT,
			 "token id 11 at position 1");
	free(t);
}

/* ---- attention ---------------------------------------------------------------- */

enum { AB = 2, AT = 6, AH = 4, AG = 2, AD = 8 };
static const int32_t g_amask[AB * AT] = {0, 0, 1, 1, 1, 1,  /* left padding */
					 1, 1, 1, 1, 0, 0}; /* right padding */

static void attention_d(double *o, const double *q, const double *k, const double *v, double scale)
{
	for (int b = 0; b < AB; b++)
		for (int h = 0; h < AH; h++)
			for (int i = 0; i < AT; i++) {
				int g = h / (AH / AG);
				double s[AT], mx = -INFINITY, se = 0;
				int vis = 0;
				for (int j = 0; j <= i; j++) {
					if (!g_amask[b * AT + j])
						continue;
					double dot = 0;
					for (int d = 0; d < AD; d++)
						dot += q[((b * AT + i) * AH + h) * AD + d] *
						       k[((b * AT + j) * AG + g) * AD + d];
					s[j] = dot * scale;
					mx = fmax(mx, s[j]);
					vis++;
				}
				for (int j = 0; vis && j <= i; j++)
					if (g_amask[b * AT + j])
						se += exp(s[j] - mx);
				for (int d = 0; d < AD; d++) {
					double acc = 0;
					for (int j = 0; vis && j <= i; j++)
						if (g_amask[b * AT + j])
							acc += exp(s[j] - mx) / se *
							       v[((b * AT + j) * AG + g) * AD + d];
					o[((b * AT + i) * AH + h) * AD + d] = acc;
				}
			}
}

static double attn_loss(const double *q, const double *k, const double *v, const double *r,
			double scale)
{
	double o[AB * AT * AH * AD], l = 0;
	attention_d(o, q, k, v, scale);
	for (int i = 0; i < AB * AT * AH * AD; i++)
		l += r[i] * o[i];
	return l;
}

static void fd_attn(double *fd, double *x, size_t n, const double *q, const double *k,
		    const double *v, const double *r, double scale)
{
	for (size_t i = 0; i < n; i++) {
		double h = 1e-5, keep = x[i];
		x[i] = keep + h;
		double lp = attn_loss(q, k, v, r, scale);
		x[i] = keep - h;
		double lm = attn_loss(q, k, v, r, scale);
		x[i] = keep;
		fd[i] = (lp - lm) / (2 * h);
	}
}

static void test_attention(void)
{
	enum { NQ = AB * AT * AH * AD, NK = AB * AT * AG * AD };
	struct lms_attn_dims dm = {AB, AT, AH, AG, AD, 1.0f / sqrtf((float)AD)};
	size_t wb = g_be->ops.attention_workspace(g_be->ctx, &dm);
	void *work = malloc(wb);
	lms_bf16 *q = rand_bf16(NQ, 1.5), *k = rand_bf16(NK, 1.5), *v = rand_bf16(NK, 1.0);
	lms_bf16 *dout = rand_bf16(NQ, 1.0);
	lms_bf16 out[NQ], dq[NQ], dk[NK], dv[NK];
	float lse[AB * AH * AT];
	double *qd = to_d(q, NQ), *kd = to_d(k, NK), *vd = to_d(v, NK), *rd = to_d(dout, NQ);
	double ref[NQ], fq[NQ], fk[NK], fv[NK];

	CHECK_INT_EQ(
	    g_be->ops.attention_forward(g_be->ctx, out, lse, q, k, v, g_amask, &dm, work, wb),
	    LMS_OK);
	attention_d(ref, qd, kd, vd, dm.scale);
	struct cmp c = compare(out, ref, NQ, 1.5e-2, 1.6e-2); /* bf16 scores and P; measured 0.14 */
	report("attention forward", c);
	CHECK(c.worst_ratio <= 1.0);
	/* Fully masked rows (batch 0, positions 0 and 1: only pad keys) are 0. */
	int zero = 1;
	for (int i = 0; i < 2; i++)
		for (int e = 0; e < AH * AD; e++)
			zero &= out[i * AH * AD + e] == 0;
	CHECK(zero);
	CHECK(isinf(lse[0]) && lse[0] < 0);

	fd_attn(fq, qd, NQ, qd, kd, vd, rd, dm.scale);
	fd_attn(fk, kd, NK, qd, kd, vd, rd, dm.scale);
	fd_attn(fv, vd, NK, qd, kd, vd, rd, dm.scale);
	CHECK_INT_EQ(g_be->ops.attention_backward(g_be->ctx, dq, dk, dv, dout, q, k, v, out, lse,
						  g_amask, &dm, work, wb),
		     LMS_OK);
	/* measured worst ratios 0.10 / 0.12 / 0.08, nmse ≤ 1.6e-5 */
	check_grad("attention backward dq", dq, fq, NQ, 0.03, 1e-3);
	check_grad("attention backward dk", dk, fk, NK, 0.03, 1e-3);
	check_grad("attention backward dv", dv, fv, NK, 0.03, 1e-3);
	/* Padded keys get no gradient. */
	int nograd = 1;
	for (int e = 0; e < AG * AD; e++)
		nograd &= dk[e] == 0 && dv[e] == 0 && dk[(AT + 4) * AG * AD + e] == 0;
	CHECK(nograd);
	CHECK_FAILS_WITH(
	    g_be->ops.attention_forward(g_be->ctx, out, lse, q, k, v, g_amask, &dm, work, wb - 1),
	    LMS_ERR_INTERNAL, "workspace");
	free(work), free(q), free(k), free(v), free(dout), free(qd), free(kd), free(vd), free(rd);
}

/* ---- reductions ---------------------------------------------------------------- */

static void test_reductions(void)
{
	enum { R = 3, CC = 50 };
	lms_bf16 *x = rand_bf16(R * CC, 3.0);
	float amax[R] = {0, 0, 100.0f};
	x[2 * CC + 7] = lms_f32_to_bf16(-7.5f);
	CHECK_INT_EQ(g_be->ops.absmax_rows(g_be->ctx, amax, x, R, CC, 1), LMS_OK);
	for (int r = 0; r < R; r++) {
		float m = r == 2 ? 100.0f : 0.0f;
		for (int j = 0; j < CC; j++)
			m = fmaxf(m, fabsf(lms_bf16_to_f32(x[r * CC + j])));
		CHECK(amax[r] == m);
	}
	CHECK_INT_EQ(g_be->ops.absmax_rows(g_be->ctx, amax, x, R, CC, 0), LMS_OK);
	CHECK(amax[2] == 7.5f);
	x[CC + 3] = 0x7fc0; /* NaN */
	CHECK_INT_EQ(g_be->ops.absmax_rows(g_be->ctx, amax, x, R, CC, 0), LMS_OK);
	CHECK(isnan(amax[1]) && !isnan(amax[0]));

	enum { E = 1000 };
	lms_bf16 *y = rand_bf16(E, 2.0), *yq = rand_bf16(E, 2.0), *g = rand_bf16(E, 1e-3);
	double acc = 1.0, ref = 1.0;
	for (int i = 0; i < E; i++) {
		float d = lms_round_bf16(lms_bf16_to_f32(yq[i]) - lms_bf16_to_f32(y[i]));
		float p = lms_bf16_to_f32(g[i]) * d;
		ref += (double)p * p;
	}
	CHECK_INT_EQ(g_be->ops.sq_dot_accum(g_be->ctx, &acc, yq, y, g, E), LMS_OK);
	CHECK_NEAR(acc, ref, 0, 1e-13);
	/* Gradients near 1e22 (ModelOpt's overflow case) stay finite in fp64. */
	lms_bf16 big = lms_f32_to_bf16(1e22f), one = lms_f32_to_bf16(1.0f), zero = 0;
	double acc2 = 0;
	CHECK_INT_EQ(g_be->ops.sq_dot_accum(g_be->ctx, &acc2, &one, &zero, &big, 1), LMS_OK);
	CHECK(isfinite(acc2) && acc2 > 1e43);
	free(x), free(y), free(yq), free(g);
}

static void test_backend_names(void)
{
	struct lms_backend *be = NULL;
	CHECK_FAILS_WITH(lms_backend_init("tpu", &be), LMS_ERR_CONFIG, "unknown backend 'tpu'");
	CHECK_FAILS_WITH(lms_backend_init("cuda:x", &be), LMS_ERR_CONFIG, "device number");
#ifndef LMS_HAVE_CUDA
	CHECK_FAILS_WITH(lms_backend_init("cuda", &be), LMS_ERR_UNSUPPORTED, "without CUDA");
#endif
	CHECK_INT_EQ(lms_backend_init("cpu", &be), LMS_OK);
	CHECK(be && be->is_host);
	lms_backend_free(be);
	lms_backend_free(NULL);
}

int main(void)
{
	struct lms_cpu_options o = {2};
	if (lms_backend_cpu_init(&o, &g_be) != LMS_OK) {
		fprintf(stderr, "cannot create the CPU backend: %s\n", lms_error_message());
		return 1;
	}
	CHECK_STR_EQ(g_be->name, "cpu");
	CHECK(lms_backend_supports(g_be, LMS_OP_GEMM));
	CHECK(lms_backend_supports(g_be, LMS_OP_ATTENTION_BACKWARD));
	CHECK(!lms_backend_supports(g_be, LMS_OP_FAKE_QUANT) == !g_be->ops.fake_quant);
	CHECK_STR_EQ(lms_backend_op_name(LMS_OP_SQ_DOT_ACCUM), "sq_dot_accum");
	test_rmsnorm();
	test_rope();
	test_swiglu();
	test_cross_entropy();
	test_gemm();
	test_embedding();
	test_attention();
	test_reductions();
	test_backend_names();
	lms_backend_free(g_be);
	return lms_test_finish();
}
