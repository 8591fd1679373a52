/* attn_ref.c — exact fp64 causal GQA attention, forward and backward (see
 * attn_ref.h). Per (b, h, i): S_ij = scale·q_i·k_j over visible j,
 * P = softmax(S), out_i = Σ P_ij v_j, dP_ij = dO_i·v_j,
 * dS_ij = P_ij (dP_ij − Σ_j P_ij dP_ij), dQ_i = scale Σ dS_ij k_j,
 * dK_j += scale dS_ij q_i, dV_j += P_ij dO_i (summed over the group's
 * heads). */
#include "attn_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void attn_ref_exact(double *out, double *dq, double *dk, double *dv, const lms_bf16 *q,
		    const lms_bf16 *k, const lms_bf16 *v, const lms_bf16 *dout, const int32_t *mask,
		    int B, int T, int H, int G, int D, double scale)
{
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * G * D;
	memset(out, 0, nq * sizeof *out);
	memset(dq, 0, nq * sizeof *dq);
	memset(dk, 0, nk * sizeof *dk);
	memset(dv, 0, nk * sizeof *dv);
	double *p = malloc((size_t)T * sizeof *p), *dp = malloc((size_t)T * sizeof *dp);
	if (!p || !dp)
		abort();
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++) {
			int g = h / (H / G);
			for (int i = 0; i < T; i++) {
				const lms_bf16 *qi = q + (((size_t)b * T + i) * H + h) * D;
				const lms_bf16 *di = dout + (((size_t)b * T + i) * H + h) * D;
				double m = -INFINITY;
				for (int j = 0; j <= i; j++) {
					p[j] = -INFINITY;
					if (mask && !mask[(size_t)b * T + j])
						continue;
					const lms_bf16 *kj = k + (((size_t)b * T + j) * G + g) * D;
					double s = 0.0;
					for (int d = 0; d < D; d++)
						s += (double)lms_bf16_to_f32(qi[d]) *
						     lms_bf16_to_f32(kj[d]);
					p[j] = s * scale;
					if (p[j] > m)
						m = p[j];
				}
				if (m == -INFINITY)
					continue; /* no visible key: out 0, no gradient */
				double l = 0.0, delta = 0.0;
				for (int j = 0; j <= i; j++) {
					p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - m);
					l += p[j];
				}
				double *oi = out + (((size_t)b * T + i) * H + h) * D;
				for (int j = 0; j <= i; j++) {
					p[j] /= l;
					if (p[j] == 0.0) {
						dp[j] = 0.0;
						continue;
					}
					const lms_bf16 *vj = v + (((size_t)b * T + j) * G + g) * D;
					double s = 0.0;
					for (int d = 0; d < D; d++) {
						double vd = lms_bf16_to_f32(vj[d]);
						oi[d] += p[j] * vd;
						s += (double)lms_bf16_to_f32(di[d]) * vd;
					}
					dp[j] = s;
					delta += p[j] * s;
				}
				double *dqi = dq + (((size_t)b * T + i) * H + h) * D;
				for (int j = 0; j <= i; j++) {
					if (p[j] == 0.0)
						continue;
					double ds = p[j] * (dp[j] - delta) * scale;
					size_t kv = (((size_t)b * T + j) * G + g) * D;
					for (int d = 0; d < D; d++) {
						dqi[d] += ds * lms_bf16_to_f32(k[kv + d]);
						dk[kv + d] += ds * lms_bf16_to_f32(qi[d]);
						dv[kv + d] += p[j] * lms_bf16_to_f32(di[d]);
					}
				}
			}
		}
	free(p);
	free(dp);
}

double attn_ref_nmse(const lms_bf16 *x, const double *ref, size_t n)
{
	double se = 0.0, sr = 0.0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)lms_bf16_to_f32(x[i]) - ref[i];
		se += d * d;
		sr += ref[i] * ref[i];
	}
	return sr > 0.0 ? se / sr : se;
}

/* Two runs of the backend's attention forward and backward on the same
 * seeded inputs (no padding): 1 when every output (out, lse, dq, dk, dv) is
 * bit-identical, 0 when not, -1 when an op fails. */
int attn_repeat_identical(struct lms_backend *be, int B, int T, int H, int G, int D)
{
	struct lms_attn_dims dm = {B, T, H, G, D, (float)(1.0 / sqrt((double)D))};
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * G * D, nl = (size_t)B * H * T;
	size_t wb = be->ops.attention_workspace(be->ctx, &dm);
	size_t bytes[11] = {nq * 2,	 nk * 2, nk * 2, nq * 2, (size_t)B * T * 4, nq * 2, nl * 4,
			    wb ? wb : 1, nq * 2, nk * 2, nk * 2};
	void *d[11] = {NULL};
	unsigned char *host[2][5] = {{NULL}};
	int res = -1;
	for (int i = 0; i < 11; i++)
		if (lms_backend_alloc(be, bytes[i], "attention repeat test", &d[i]) != LMS_OK)
			goto out;
	uint64_t s = 0x243f6a8885a308d3ull;
	for (int i = 0; i < 5; i++) { /* q, k, v, dout random; mask all ones */
		size_t n = bytes[i] / 2;
		uint16_t *h = malloc(bytes[i]);
		if (!h)
			goto out;
		for (size_t j = 0; j < n; j++) {
			s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
			double u = (double)((s * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
			h[j] = i == 4 ? (j % 2 ? 0 : 1) : lms_f32_to_bf16((float)(2.0 * u - 1.0));
		}
		enum lms_status st = be->ops.memcpy_h2d(be->ctx, d[i], h, bytes[i]);
		free(h);
		if (st != LMS_OK)
			goto out;
	}
	for (int r = 0; r < 2; r++) {
		if (be->ops.attention_forward(be->ctx, d[5], d[6], d[0], d[1], d[2], d[4], &dm,
					      d[7], wb) != LMS_OK ||
		    be->ops.attention_backward(be->ctx, d[8], d[9], d[10], d[3], d[0], d[1], d[2],
					       d[5], d[6], d[4], &dm, d[7], wb) != LMS_OK)
			goto out;
		static const int outs[5] = {5, 6, 8, 9, 10};
		for (int o = 0; o < 5; o++) {
			host[r][o] = malloc(bytes[outs[o]]);
			if (!host[r][o] || be->ops.memcpy_d2h(be->ctx, host[r][o], d[outs[o]],
							      bytes[outs[o]]) != LMS_OK)
				goto out;
		}
	}
	res = 1;
	static const int outs[5] = {5, 6, 8, 9, 10};
	for (int o = 0; o < 5; o++)
		if (memcmp(host[0][o], host[1][o], bytes[outs[o]]) != 0)
			res = 0;
out:
	for (int i = 0; i < 11; i++)
		be->ops.free(be->ctx, d[i]);
	for (int r = 0; r < 2; r++)
		for (int o = 0; o < 5; o++)
			free(host[r][o]);
	return res;
}
