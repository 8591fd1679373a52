/* cpu_nn.c — the plain-C RMSNorm, RoPE, SwiGLU and cross-entropy ops,
 * forward and backward (contracts and rounding points: backend.h).
 *
 * Each loop body is the formula of backend.h written out; sums over a row
 * (RMSNorm mean of squares, softmax denominator) are accumulated in double
 * and converted to fp32, which is at least as accurate as the fp32 tree
 * reductions PyTorch and CUDA use. Rows are independent, so the parallel
 * loops give identical results for any thread count. */
#include <math.h>

#include "backend/cpu_internal.h"

static inline float bf(lms_bf16 v)
{
	return lms_bf16_to_f32(v);
}
static inline float rb(float v)
{
	return lms_round_bf16(v);
}

static float row_rstd(const lms_bf16 *x, int n, float eps)
{
	double ss = 0.0;
	for (int i = 0; i < n; i++) {
		float v = bf(x[i]);
		ss += (double)v * v;
	}
	float var = (float)(ss / n);
	return 1.0f / sqrtf(var + eps);
}

enum lms_status lms_cpu_rmsnorm_forward(void *vctx, lms_bf16 *out, float *rstd, const lms_bf16 *x,
					const lms_bf16 *w, int rows, int n, float eps)
{
	struct cpu_ctx *ctx = vctx;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)rows * n)) schedule(static))
	for (int r = 0; r < rows; r++) {
		const lms_bf16 *xr = x + (int64_t)r * n;
		lms_bf16 *outr = out + (int64_t)r * n;
		float rs = row_rstd(xr, n, eps);
		if (rstd)
			rstd[r] = rs;
		for (int i = 0; i < n; i++)
			outr[i] = lms_f32_to_bf16(bf(w[i]) * rb(bf(xr[i]) * rs));
	}
	return LMS_OK;
}

enum lms_status lms_cpu_rmsnorm_backward(void *vctx, lms_bf16 *dx, const lms_bf16 *dy,
					 const lms_bf16 *x, const lms_bf16 *w, const float *rstd,
					 int rows, int n, float eps)
{
	struct cpu_ctx *ctx = vctx;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)rows * n)) schedule(static))
	for (int r = 0; r < rows; r++) {
		const lms_bf16 *xr = x + (int64_t)r * n;
		const lms_bf16 *dyr = dy + (int64_t)r * n;
		lms_bf16 *dxr = dx + (int64_t)r * n;
		float rs = rstd ? rstd[r] : row_rstd(xr, n, eps);
		double dot = 0.0; /* Σ g·x̂ */
		for (int i = 0; i < n; i++) {
			float g = rb(bf(dyr[i]) * bf(w[i]));
			dot += (double)g * (double)(bf(xr[i]) * rs);
		}
		float mean = (float)(dot / n);
		/* dy may alias dx: g is recomputed from dy before dx[i] is written. */
		for (int i = 0; i < n; i++) {
			float g = rb(bf(dyr[i]) * bf(w[i]));
			float xh = bf(xr[i]) * rs;
			dxr[i] = lms_f32_to_bf16(rs * (g - xh * mean));
		}
	}
	return LMS_OK;
}

enum lms_status lms_cpu_rope_forward(void *vctx, lms_bf16 *x, const lms_bf16 *cos_t,
				     const lms_bf16 *sin_t, int N, int nh, int D)
{
	struct cpu_ctx *ctx = vctx;
	int half = D / 2;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)N * nh * D)) schedule(static))
	for (int n = 0; n < N; n++) {
		const lms_bf16 *cr = cos_t + (int64_t)n * half;
		const lms_bf16 *sr = sin_t + (int64_t)n * half;
		for (int h = 0; h < nh; h++) {
			lms_bf16 *v = x + ((int64_t)n * nh + h) * D;
			for (int i = 0; i < half; i++) {
				float c = bf(cr[i]), s = bf(sr[i]);
				float x1 = bf(v[i]), x2 = bf(v[i + half]);
				v[i] = lms_f32_to_bf16(rb(x1 * c) - rb(x2 * s));
				v[i + half] = lms_f32_to_bf16(rb(x2 * c) + rb(x1 * s));
			}
		}
	}
	return LMS_OK;
}

enum lms_status lms_cpu_rope_backward(void *vctx, lms_bf16 *dx, const lms_bf16 *cos_t,
				      const lms_bf16 *sin_t, int N, int nh, int D)
{
	struct cpu_ctx *ctx = vctx;
	int half = D / 2;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)N * nh * D)) schedule(static))
	for (int n = 0; n < N; n++) {
		const lms_bf16 *cr = cos_t + (int64_t)n * half;
		const lms_bf16 *sr = sin_t + (int64_t)n * half;
		for (int h = 0; h < nh; h++) {
			lms_bf16 *v = dx + ((int64_t)n * nh + h) * D;
			for (int i = 0; i < half; i++) {
				float c = bf(cr[i]), s = bf(sr[i]);
				float d1 = bf(v[i]), d2 = bf(v[i + half]);
				v[i] = lms_f32_to_bf16(rb(d1 * c) + rb(d2 * s));
				v[i + half] = lms_f32_to_bf16(rb(d2 * c) - rb(d1 * s));
			}
		}
	}
	return LMS_OK;
}

static inline float sigmoidf(float z)
{
	return 1.0f / (1.0f + expf(-z));
}

enum lms_status lms_cpu_swiglu_forward(void *vctx, lms_bf16 *out, const lms_bf16 *gate,
				       const lms_bf16 *up, size_t n)
{
	struct cpu_ctx *ctx = vctx;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, 10.0 * n)) schedule(static))
	for (size_t i = 0; i < n; i++) {
		float g = bf(gate[i]);
		float s = rb(g / (1.0f + expf(-g)));
		out[i] = lms_f32_to_bf16(s * bf(up[i]));
	}
	return LMS_OK;
}

enum lms_status lms_cpu_swiglu_backward(void *vctx, lms_bf16 *dgate, lms_bf16 *dup,
					const lms_bf16 *dout, const lms_bf16 *gate,
					const lms_bf16 *up, size_t n)
{
	struct cpu_ctx *ctx = vctx;
	LMS_OMP(parallel for num_threads(cpu_team(ctx, 10.0 * n)) schedule(static))
	for (size_t i = 0; i < n; i++) {
		float g = bf(gate[i]), u = bf(up[i]), d = bf(dout[i]);
		float sg = sigmoidf(g);
		float s = rb(g / (1.0f + expf(-g)));
		float ds = rb(d * u);
		dup[i] = lms_f32_to_bf16(d * s);
		dgate[i] = lms_f32_to_bf16(ds * (sg * (1.0f + g * (1.0f - sg))));
	}
	return LMS_OK;
}

enum lms_status lms_cpu_cross_entropy(void *vctx, float *losses, lms_bf16 *dlogits,
				      const lms_bf16 *logits, const int32_t *targets, int N, int V,
				      float grad_scale)
{
	struct cpu_ctx *ctx = vctx;
	for (int n = 0; n < N; n++)
		if (targets[n] != -100 && (targets[n] < 0 || targets[n] >= V))
			return lms_fail(
			    LMS_ERR_INPUT, "labels must be -100 or a token id below vocab_size",
			    "label %d at row %d is outside [0, %d)", (int)targets[n], n, V);
	LMS_OMP(parallel for num_threads(cpu_team(ctx, (double)N * V)) schedule(static))
	for (int n = 0; n < N; n++) {
		const lms_bf16 *z = logits + (int64_t)n * V;
		lms_bf16 *dz = dlogits ? dlogits + (int64_t)n * V : NULL;
		int t = targets[n];
		if (t == -100) {
			losses[n] = 0.0f;
			if (dz)
				for (int v = 0; v < V; v++)
					dz[v] = 0;
			continue;
		}
		float mx = -INFINITY;
		for (int v = 0; v < V; v++)
			mx = fmaxf(mx, bf(z[v]));
		double se = 0.0;
		for (int v = 0; v < V; v++)
			se += (double)expf(bf(z[v]) - mx);
		float lse = mx + (float)log(se);
		losses[n] = lse - bf(z[t]);
		if (dz) /* in place is fine: z[v] is read before dz[v] is written */
			for (int v = 0; v < V; v++) {
				float p = expf(bf(z[v]) - lse);
				dz[v] = lms_f32_to_bf16((p - (v == t ? 1.0f : 0.0f)) * grad_scale);
			}
	}
	return LMS_OK;
}
