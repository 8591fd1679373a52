/* ops_forms.c — the CUDA kernels' two forms give the same bits: every op
 * with an 8-wide (16-byte) form (add, SwiGLU, RoPE, RMSNorm's staged form,
 * FP8/INT fake quantization) runs once on 16-byte aligned buffers and once
 * on the same data one element past an aligned address, which takes the
 * 2-byte form, and the outputs must be equal bit for bit; the fused RMSNorm
 * slots equal the plain ops they stand for. sq_dot_accum's
 * 8-wide form adds in another fixed order: equal to 1e-13 relative, and
 * bit-identical run to run.
 *
 * Part of test_ops_cuda (ops_util.h); the parity of each op with the CPU
 * backend is tested there. Not here: speed (bench_ops_cuda). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_util.h"
#include "quant/quant.h"
#include "test.h"

/* Two device copies of host data: [0] aligned, [1] one bf16 past aligned. */
struct pair {
	void *base[2];
	lms_bf16 *d[2];
};

static struct pair put(const lms_bf16 *h, size_t n)
{
	struct pair p;
	for (int i = 0; i < 2; i++) {
		p.base[i] = up(g_gpu, NULL, (n + 8) * sizeof(lms_bf16));
		p.d[i] = (lms_bf16 *)p.base[i] + i;
		if (h)
			ok(g_gpu->ops.memcpy_h2d(g_gpu->ctx, p.d[i], h, n * sizeof(lms_bf16)),
			   "h2d");
	}
	return p;
}

static void drop(struct pair *p)
{
	for (int i = 0; i < 2; i++)
		g_gpu->ops.free(g_gpu->ctx, p->base[i]);
}

/* Both forms' outputs equal bit for bit. */
static void same(const char *name, const struct pair *p, size_t n)
{
	lms_bf16 *h[2];
	for (int i = 0; i < 2; i++) {
		h[i] = malloc(n * sizeof(lms_bf16) + 1);
		down(g_gpu, h[i], p->d[i], n * sizeof(lms_bf16));
	}
	int eq = memcmp(h[0], h[1], n * sizeof(lms_bf16)) == 0;
	printf("  %-48s n=%-8zu %s\n", name, n, eq ? "8-wide == 2-byte form" : "DIFFER");
	CHECK(eq);
	free(h[0]);
	free(h[1]);
}

static void forms_elementwise(size_t n)
{
	lms_bf16 *a = rand_bf16(n, 3.0), *b = rand_bf16(n, 3.0), *g = rand_bf16(n, 1.0);
	struct pair pa = put(a, n), pb = put(b, n), pg = put(g, n), po = put(NULL, n),
		    pu = put(NULL, n);
	char name[96];
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.add(g_gpu->ctx, po.d[i], pa.d[i], pb.d[i], n), "add");
	same("add", &po, n);
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.swiglu_forward(g_gpu->ctx, po.d[i], pa.d[i], pb.d[i], n), "swiglu");
	same("swiglu_forward", &po, n);
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.swiglu_backward(g_gpu->ctx, po.d[i], pu.d[i], pg.d[i], pa.d[i],
					      pb.d[i], n),
		   "swiglu bwd");
	same("swiglu_backward dgate", &po, n);
	same("swiglu_backward dup", &pu, n);

	/* sq_dot_accum: another fixed order of fp64 additions */
	double acc[2][2];
	void *d_acc = up(g_gpu, NULL, 2 * sizeof(double));
	for (int i = 0; i < 2; i++)
		for (int r = 0; r < 2; r++) {
			ok(g_gpu->ops.memset(g_gpu->ctx, d_acc, 0, sizeof(double)), "memset");
			ok(g_gpu->ops.sq_dot_accum(g_gpu->ctx, d_acc, pa.d[i], pb.d[i], pg.d[i], n),
			   "sq_dot_accum");
			down(g_gpu, &acc[i][r], d_acc, sizeof(double));
		}
	double rel = fabs(acc[0][0] - acc[1][0]) / fabs(acc[1][0]);
	snprintf(name, sizeof name, "sq_dot_accum (8-wide vs 2-byte: rel %.2g)", rel);
	printf("  %-48s n=%-8zu %.17g\n", name, n, acc[0][0]);
	CHECK(rel <= 1e-13);
	CHECK(memcmp(&acc[0][0], &acc[0][1], sizeof(double)) == 0);
	CHECK(memcmp(&acc[1][0], &acc[1][1], sizeof(double)) == 0);
	g_gpu->ops.free(g_gpu->ctx, d_acc);
	struct pair *ps[] = {&pa, &pb, &pg, &po, &pu};
	for (int i = 0; i < 5; i++)
		drop(ps[i]);
	free(a);
	free(b);
	free(g);
}

static void forms_rope(int N, int nh, int D)
{
	size_t nx = (size_t)N * nh * D, nt = (size_t)N * (D / 2);
	lms_bf16 *x = rand_bf16(nx, 1.0), *cs = rand_bf16(nt, 1.0), *sn = rand_bf16(nt, 1.0);
	struct pair px = put(x, nx);
	void *d_c = up(g_gpu, cs, nt * 2), *d_s = up(g_gpu, sn, nt * 2);
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.rope_forward(g_gpu->ctx, px.d[i], d_c, d_s, N, nh, D), "rope");
	same("rope_forward", &px, nx);
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.rope_backward(g_gpu->ctx, px.d[i], d_c, d_s, N, nh, D), "rope bwd");
	same("rope_backward", &px, nx);
	drop(&px);
	g_gpu->ops.free(g_gpu->ctx, d_c);
	g_gpu->ops.free(g_gpu->ctx, d_s);
	free(x);
	free(cs);
	free(sn);
}

static void forms_rmsnorm(int rows, int n)
{
	size_t nx = (size_t)rows * n;
	lms_bf16 *x = rand_bf16(nx, 2.0), *dy = rand_bf16(nx, 1.0), *w = rand_bf16((size_t)n, 1.0);
	struct pair px = put(x, nx), pdy = put(dy, nx), po = put(NULL, nx), pw = put(w, (size_t)n);
	void *d_r = up(g_gpu, NULL, (size_t)rows * sizeof(float));
	char name[96];
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.rmsnorm_forward(g_gpu->ctx, po.d[i], i ? NULL : d_r, px.d[i], pw.d[i],
					      rows, n, 1e-6f),
		   "rmsnorm");
	snprintf(name, sizeof name, "rmsnorm_forward %dx%d", rows, n);
	same(name, &po, nx);
	for (int i = 0; i < 2; i++) /* in place, rstd given to one form only */
		ok(g_gpu->ops.rmsnorm_backward(g_gpu->ctx, pdy.d[i], pdy.d[i], px.d[i], pw.d[i],
					       i ? NULL : d_r, rows, n, 1e-6f),
		   "rmsnorm bwd");
	snprintf(name, sizeof name, "rmsnorm_backward %dx%d (in place)", rows, n);
	same(name, &pdy, nx);
	struct pair *ps[] = {&px, &pdy, &po, &pw};
	for (int i = 0; i < 4; i++)
		drop(ps[i]);
	g_gpu->ops.free(g_gpu->ctx, d_r);
	free(x);
	free(dy);
	free(w);
}

static void forms_fake_quant(const char *spec, int rows, int cols)
{
	struct lms_quantizer_desc q;
	if (lms_quant_desc_parse(spec, &q) != LMS_OK) {
		CHECK(0);
		return;
	}
	size_t n = (size_t)rows * cols;
	lms_bf16 *x = rand_bf16(n, 2.0);
	x[3] = 0x0001;	/* a bf16 denormal */
	x[11] = 0x8000; /* -0 */
	x[17] = 0x7f00; /* beyond every amax: clamped */
	size_t na = lms_quant_amax_len(&q, (size_t)rows, (size_t)cols);
	float *amax = malloc(na * sizeof(float));
	for (size_t r = 0; r < na; r++)
		amax[r] = 1.5f + 0.25f * (float)(r % 7);
	void *d_a = up(g_gpu, amax, na * sizeof(float));
	struct pair px = put(x, n), po = put(NULL, n);
	struct lms_quant_desc d = {q, d_a};
	for (int i = 0; i < 2; i++)
		ok(g_gpu->ops.fake_quant(g_gpu->ctx, po.d[i], px.d[i], rows, cols, &d),
		   "fake_quant");
	char name[96];
	snprintf(name, sizeof name, "fake_quant %s %dx%d", spec, rows, cols);
	same(name, &po, n);
	drop(&px);
	drop(&po);
	g_gpu->ops.free(g_gpu->ctx, d_a);
	free(amax);
	free(x);
}

/* Fused RMSNorm (rmsnorm_*_ex) against the plain ops in sequence: the
 * staged fused kernel (aligned) and the slot's own fallback (one element
 * off) both equal add / rmsnorm / rope run one after the other. */
static void forms_fused_norm(int tokens, int heads, int n, int rope)
{
	int rows = tokens * heads;
	size_t nx = (size_t)rows * n, nt = (size_t)tokens * (n / 2);
	lms_bf16 *x = rand_bf16(nx, 2.0), *a = rand_bf16(nx, 2.0), *dy = rand_bf16(nx, 1.0);
	lms_bf16 *res = rand_bf16(nx, 1.0), *w = rand_bf16((size_t)n, 1.0);
	lms_bf16 *cs = rand_bf16(nt, 1.0), *sn = rand_bf16(nt, 1.0);
	struct pair px = put(x, nx), pa = put(a, nx), pdy = put(dy, nx), pres = put(res, nx);
	struct pair pw = put(w, (size_t)n), pc = put(cs, nt), ps = put(sn, nt);
	struct pair po = put(NULL, nx), psum = put(NULL, nx);
	lms_bf16 *h[3];
	float eps = 1e-6f;
	char name[112];
	/* forward: [0], [1] fused; the plain sequence into host h[2] */
	for (int i = 0; i < 2; i++) {
		struct lms_norm_fuse f = {0};
		if (rope) {
			f.cos = pc.d[i], f.sin = ps.d[i], f.heads = heads;
		} else {
			f.add = pa.d[i], f.sum_out = psum.d[i];
		}
		ok(g_gpu->ops.rmsnorm_forward_ex(g_gpu->ctx, po.d[i], NULL, px.d[i], pw.d[i], rows,
						 n, eps, &f),
		   "rmsnorm_forward_ex");
		h[i] = malloc(nx * 2 * 2);
		down(g_gpu, h[i], po.d[i], nx * 2);
		down(g_gpu, h[i] + nx, rope ? po.d[i] : psum.d[i], nx * 2);
	}
	h[2] = malloc(nx * 2 * 2);
	if (rope) {
		ok(g_gpu->ops.rmsnorm_forward(g_gpu->ctx, po.d[0], NULL, px.d[0], pw.d[0], rows, n,
					      eps),
		   "rmsnorm");
		ok(g_gpu->ops.rope_forward(g_gpu->ctx, po.d[0], pc.d[0], ps.d[0], tokens, heads, n),
		   "rope");
		down(g_gpu, h[2], po.d[0], nx * 2);
		down(g_gpu, h[2] + nx, po.d[0], nx * 2);
	} else {
		ok(g_gpu->ops.add(g_gpu->ctx, psum.d[0], px.d[0], pa.d[0], nx), "add");
		ok(g_gpu->ops.rmsnorm_forward(g_gpu->ctx, po.d[0], NULL, psum.d[0], pw.d[0], rows,
					      n, eps),
		   "rmsnorm");
		down(g_gpu, h[2], po.d[0], nx * 2);
		down(g_gpu, h[2] + nx, psum.d[0], nx * 2);
	}
	int eq = !memcmp(h[0], h[2], nx * 4) && !memcmp(h[1], h[2], nx * 4);
	snprintf(name, sizeof name, "rmsnorm_forward_ex %s %dx%d", rope ? "+rope" : "add+", rows,
		 n);
	printf("  %-48s %s\n", name, eq ? "fused == fallback == plain ops" : "DIFFER");
	CHECK(eq);
	/* backward: dy in place (rope) or with add and residual */
	for (int i = 0; i < 3; i++) {
		int d = i == 2 ? 0 : i;
		ok(g_gpu->ops.memcpy_h2d(g_gpu->ctx, pdy.d[d], dy, nx * 2), "h2d");
		lms_bf16 *out = rope ? pdy.d[d] : po.d[d];
		if (i < 2) {
			struct lms_norm_fuse f = {0};
			if (rope) {
				f.cos = pc.d[d], f.sin = ps.d[d], f.heads = heads;
			} else {
				f.add = pa.d[d], f.residual = pres.d[d];
			}
			ok(g_gpu->ops.rmsnorm_backward_ex(g_gpu->ctx, out, pdy.d[d], px.d[d],
							  pw.d[d], NULL, rows, n, eps, &f),
			   "rmsnorm_backward_ex");
		} else if (rope) {
			ok(g_gpu->ops.rope_backward(g_gpu->ctx, out, pc.d[0], ps.d[0], tokens,
						    heads, n),
			   "rope");
			ok(g_gpu->ops.rmsnorm_backward(g_gpu->ctx, out, out, px.d[0], pw.d[0], NULL,
						       rows, n, eps),
			   "rmsnorm bwd");
		} else {
			ok(g_gpu->ops.add(g_gpu->ctx, pdy.d[0], pdy.d[0], pa.d[0], nx), "add");
			ok(g_gpu->ops.rmsnorm_backward(g_gpu->ctx, pdy.d[0], pdy.d[0], px.d[0],
						       pw.d[0], NULL, rows, n, eps),
			   "rmsnorm bwd");
			ok(g_gpu->ops.add(g_gpu->ctx, out, pres.d[0], pdy.d[0], nx), "add");
		}
		down(g_gpu, h[i], out, nx * 2);
	}
	eq = !memcmp(h[0], h[2], nx * 2) && !memcmp(h[1], h[2], nx * 2);
	snprintf(name, sizeof name, "rmsnorm_backward_ex %s %dx%d", rope ? "+rope" : "add+res",
		 rows, n);
	printf("  %-48s %s\n", name, eq ? "fused == fallback == plain ops" : "DIFFER");
	CHECK(eq);
	for (int i = 0; i < 3; i++)
		free(h[i]);
	struct pair *pp[] = {&px, &pa, &pdy, &pres, &pw, &pc, &ps, &po, &psum};
	for (size_t i = 0; i < sizeof pp / sizeof pp[0]; i++)
		drop(pp[i]);
	lms_bf16 *hs[] = {x, a, dy, res, w, cs, sn};
	for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
		free(hs[i]);
}

void run_vector_form_cases(void)
{
	forms_fused_norm(19, 1, 2560, 0);
	forms_fused_norm(5, 1, 4096, 0);
	forms_fused_norm(37, 4, 128, 1);
	forms_fused_norm(11, 8, 128, 1);
	forms_elementwise(100003);
	forms_elementwise(4096);
	forms_rope(37, 4, 128);
	forms_rmsnorm(37, 128);
	forms_rmsnorm(19, 2560);
	forms_rmsnorm(5, 4096);
	const char *const specs[] = {"fp8", "fp8:axis0", "int8", "int8:axis0", "int4"};
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		forms_fake_quant(specs[i], 9, 2560);
		forms_fake_quant(specs[i], 3, 1003);
	}
}
