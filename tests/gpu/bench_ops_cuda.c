/* bench_ops_cuda.c — timings of the CUDA backend's heavy ops at Qwen3-VL-4B
 * shapes: attention forward/backward (flash: the default; flash-g /
 * flash-h: its backward forced to one dK/dV block per KV group / per query
 * head; eager: the
 * eager-exact tensor-core kernels, LMSENS_CUDA_ATTN=eager; simple: CUDA-core
 * kernels without caches, T <= 512 only), the cross-entropy over 151,936 classes,
 * the linear GEMMs and a staged weight upload. Median of 5 runs after a warm-up, host clock around
 * a backend sync. Label: bench (never in CI); exits 77 without a GPU. The numbers go to
 * docs/cuda.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define REPS 5

static struct lms_backend *g_be;

static void *dev_random(size_t n_bf16, uint64_t seed)
{
	uint16_t *h = malloc(n_bf16 * 2);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
	for (size_t i = 0; i < n_bf16; i++) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		float v = (float)((double)((s * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0 - 0.5);
		uint32_t u;
		memcpy(&u, &v, 4);
		h[i] = (uint16_t)(u >> 16);
	}
	void *d = dev_upload(g_be, h, n_bf16);
	free(h);
	return d;
}

/* Median time of fn over REPS runs after one warm-up. */
#define TIME_MEDIAN(out, stmt)                                                                     \
	do {                                                                                       \
		double t_[REPS];                                                                   \
		stmt;                                                                              \
		ok(g_be->ops.sync(g_be->ctx), "sync");                                             \
		for (int r_ = 0; r_ < REPS; r_++) {                                                \
			double t0_ = now_ms();                                                     \
			stmt;                                                                      \
			ok(g_be->ops.sync(g_be->ctx), "sync");                                     \
			t_[r_] = now_ms() - t0_;                                                   \
		}                                                                                  \
		(out) = median_of(t_, REPS);                                                       \
	} while (0)

static void bench_attention(int B, int T, int H, int G, int D)
{
	struct lms_attn_dims dm = {B, T, H, G, D, 0.08838834764831845f};
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * G * D;
	void *q = dev_random(nq, 1), *k = dev_random(nk, 2), *v = dev_random(nk, 3);
	void *dout = dev_random(nq, 4), *out = dev_random(nq, 5), *dq = dev_random(nq, 6);
	void *dk = dev_random(nk, 7), *dv = dev_random(nk, 8), *lse = NULL, *mask = NULL,
	     *work = NULL;
	int32_t *hm = malloc((size_t)B * T * 4);
	for (int i = 0; i < B * T; i++)
		hm[i] = 1;
	size_t wb = g_be->ops.attention_workspace(g_be->ctx, &dm);
	ok(lms_backend_alloc(g_be, (size_t)B * H * T * 4, "lse", &lse), "alloc");
	ok(lms_backend_alloc(g_be, (size_t)B * T * 4, "mask", &mask), "alloc");
	ok(lms_backend_alloc(g_be, wb, "work", &work), "alloc");
	ok(g_be->ops.memcpy_h2d(g_be->ctx, mask, hm, (size_t)B * T * 4), "h2d");
	/* causal: QKᵀ and PV each ≈ B·H·T²·D multiply-adds in total */
	double flop = 2.0 * 2.0 * B * H * (double)T * T * D / 2.0;
	/* flash-g / flash-h: the dK/dV kernel walking a group's heads in one
	 * block / one block per head (the default picks by shape) */
	static const char *modes[5] = {"flash", "flash-g", "flash-h", "eager", "simple"};
	for (int mode = 0; mode < 5; mode++) {
		if (mode == 3)
			setenv("LMSENS_CUDA_ATTN", "eager", 1);
		else
			unsetenv("LMSENS_CUDA_ATTN");
		if (mode == 1 || mode == 2)
			setenv("LMSENS_CUDA_ATTN_BWD_SPLIT", mode == 1 ? "0" : "1", 1);
		else
			unsetenv("LMSENS_CUDA_ATTN_BWD_SPLIT");
		if (mode == 4)
			setenv("LMSENS_CUDA_ATTN_SIMPLE", "1", 1);
		else
			unsetenv("LMSENS_CUDA_ATTN_SIMPLE");
		if (mode == 4 && T > 512)
			continue; /* the CUDA-core kernels take tens of ms here */
		/* the forward writes the lse (and out) the flash backward reads */
		ok(g_be->ops.attention_forward(g_be->ctx, out, lse, q, k, v, mask, &dm, work, wb),
		   "attn fwd");
		double tf, tb;
		TIME_MEDIAN(tf, ok(g_be->ops.attention_forward(g_be->ctx, out, lse, q, k, v, mask,
							       &dm, work, wb),
				   "attn fwd"));
		TIME_MEDIAN(tb, ok(g_be->ops.attention_backward(g_be->ctx, dq, dk, dv, dout, q, k,
								v, out, lse, mask, &dm, work, wb),
				   "attn bwd"));
		printf("attention B%d T%d H%d G%d D%d %-7s forward %8.3f ms  backward %8.3f ms  "
		       "(useful TFLOP/s: fwd %.1f, bwd %.1f)\n",
		       B, T, H, G, D, modes[mode], tf, tb, flop / tf * 1e-9,
		       2.5 * flop / tb * 1e-9);
	}
	unsetenv("LMSENS_CUDA_ATTN_SIMPLE");
	unsetenv("LMSENS_CUDA_ATTN");
	unsetenv("LMSENS_CUDA_ATTN_BWD_SPLIT");
	void *ptrs[] = {q, k, v, dout, out, dq, dk, dv, lse, mask, work};
	for (int i = 0; i < 11; i++)
		g_be->ops.free(g_be->ctx, ptrs[i]);
	free(hm);
}

/* trans_w = 1: y = x·Wᵀ (a linear's forward, W (N, K)); 0: y = x·W (its
 * input gradient dX = dY·W, W (K, N)). */
static void bench_gemm_t(int M, int N, int K, const char *what, int trans_w)
{
	void *x = dev_random((size_t)M * K, 11), *w = dev_random((size_t)N * K, 12);
	void *y = dev_random((size_t)M * N, 13);
	struct lms_gemm_args g = {.m = M,
				  .n = N,
				  .k = K,
				  .d_a = x,
				  .lda = K,
				  .d_b = w,
				  .ldb = trans_w ? K : N,
				  .trans_b = trans_w,
				  .d_c = y,
				  .ldc = N,
				  .c_dtype = LMS_GEMM_OUT_BF16,
				  .alpha = 1.0f,
				  .beta = 0.0f,
				  .batch = 1};
	double t;
	TIME_MEDIAN(t, ok(g_be->ops.gemm(g_be->ctx, &g), "gemm"));
	printf("gemm %-10s M%-5d N%-6d K%-5d %s %8.3f ms  %6.1f TFLOP/s\n", what, M, N, K,
	       trans_w ? "x.Wt" : "x.W ", t, 2.0 * M * N * K / t * 1e-9);
	g_be->ops.free(g_be->ctx, x);
	g_be->ops.free(g_be->ctx, w);
	g_be->ops.free(g_be->ctx, y);
}

static void bench_gemm(int M, int N, int K, const char *what)
{
	bench_gemm_t(M, N, K, what, 1);
}

/* The GEMMs of one scoring step at B 4 x T 512 (M 2048, Qwen3-VL-4B): each
 * linear's forward (also its replay's shape) and its input gradient. */
static void bench_step_gemms(void)
{
	static const struct {
		const char *name;
		int in, out;
	} lin[] = {{"q", 2560, 4096},	 {"k/v", 2560, 1024},	{"o", 4096, 2560},
		   {"gate/up", 2560, 9728}, {"down", 9728, 2560}};
	for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++) {
		bench_gemm_t(2048, lin[i].out, lin[i].in, lin[i].name, 1);
		bench_gemm_t(2048, lin[i].in, lin[i].out, lin[i].name, 0);
	}
}

static void bench_ce(int N, int V)
{
	void *z = dev_random((size_t)N * V, 21), *dz = NULL, *t = NULL, *l = NULL;
	int32_t *ht = malloc((size_t)N * 4);
	for (int i = 0; i < N; i++)
		ht[i] = (i * 7919) % V;
	ok(lms_backend_alloc(g_be, (size_t)N * V * 2, "dz", &dz), "alloc");
	ok(lms_backend_alloc(g_be, (size_t)N * 4, "t", &t), "alloc");
	ok(lms_backend_alloc(g_be, (size_t)N * 4, "l", &l), "alloc");
	ok(g_be->ops.memcpy_h2d(g_be->ctx, t, ht, (size_t)N * 4), "h2d");
	double ms;
	TIME_MEDIAN(ms, ok(g_be->ops.cross_entropy(g_be->ctx, l, dz, z, t, N, V, 1.0f / N), "ce"));
	printf("cross_entropy N%d V%d %8.3f ms  %6.0f GB/s (3 reads + 1 write of bf16)\n", N, V, ms,
	       4.0 * N * V * 2 / ms * 1e-6);
	g_be->ops.free(g_be->ctx, z);
	g_be->ops.free(g_be->ctx, dz);
	g_be->ops.free(g_be->ctx, t);
	g_be->ops.free(g_be->ctx, l);
	free(ht);
}

static void bench_upload(size_t bytes)
{
	char *h = malloc(bytes);
	for (size_t i = 0; i < bytes; i += 4096)
		h[i] = (char)i; /* touch every page: a resident pageable buffer */
	void *d = NULL;
	ok(lms_backend_alloc(g_be, bytes, "upload", &d), "alloc");
	double ms;
	TIME_MEDIAN(ms, ok(g_be->ops.memcpy_h2d(g_be->ctx, d, h, bytes), "h2d"));
	printf("memcpy_h2d %.1f GiB (pageable source, pinned staging) %8.3f ms  %5.1f GB/s\n",
	       bytes / 1073741824.0, ms, bytes / ms * 1e-6);
	g_be->ops.free(g_be->ctx, d);
	free(h);
}

int main(void)
{
	if (!(g_be = bench_cuda_init()))
		return LMS_TEST_SKIP;
	bench_attention(8, 512, 32, 8, 128);
	bench_attention(1, 2048, 32, 8, 128);
	bench_attention(8, 32, 32, 8, 128);
	bench_gemm(4096, 4096, 2560, "q_proj");
	bench_gemm(4096, 9728, 2560, "gate_proj");
	bench_gemm(4096, 2560, 9728, "down_proj");
	bench_gemm(4096, 151936, 2560, "lm_head");
	bench_gemm(256, 9728, 2560, "gate T=32");
	bench_step_gemms();
	bench_ce(4096, 151936);
	bench_upload((size_t)2 << 30);
	lms_backend_free(g_be);
	return 0;
}
