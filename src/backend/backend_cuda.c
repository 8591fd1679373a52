/* backend_cuda.c — the CUDA backend's op table: the ops of backend/backend.h
 * wired to the kernels of kernels/ (validation, launch, debug-mode checks),
 * the fake quantizer's descriptor translation, device selection, init and
 * destroy, and the extra API of backend_cuda.h. The runtime every op goes
 * through (errors, labels, debug and profile mode, device memory and the
 * pinned staging of uploads) is runtime_cuda.c; the GEMM is gemm_cuda.c.
 *
 * Invariants:
 * - Every op makes its device current for the calling thread first (a
 *   process may hold backends on several devices).
 * - Every op runs on ctx->stream (the main stream, or the side stream
 *   between side_begin and side_end: stream_cuda.c), in issue order per
 *   stream; nothing synchronizes the
 *   host except memcpy_d2h, memcpy_h2d (the host buffer may be reused on
 *   return), sync, and debug mode.
 * - Every CUDA / cuBLAS failure returns LMS_ERR_LIBRARY (LMS_ERR_NOMEM for
 *   allocation failures) with "cuda:<dev> [<label>] <op>: '<call>' failed:
 *   <library message>" and is logged once at the failing call.
 * - Ops never allocate device memory (the cuBLAS workspace, the staging
 *   buffers, the score partials and the dynamic-amax scratch are made at
 *   init).
 *
 * Not here: kernels (kernels/<op>.cu), the choice between CPU and CUDA
 * (backend.c: lms_backend_init), the engine. */
#include "backend/backend_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_internal.h"
#include "core/log.h"
#include "kernels.h"
#include "quant/quant.h"

/* ---- the other ops: validation, launch, debug checks ------------------ */

static enum lms_status cu_embedding(void *vc, lms_bf16 *d_out, const lms_bf16 *d_table,
				    const int32_t *d_ids, int N, int C, int V)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	(void)V;
	LMS_TRY(lms_cuda_after_launch(c, "embedding",
				      lms_k_embedding(c->stream, d_out, d_table, d_ids, N, C)));
	return lms_cuda_check_finite(c, "embedding", "out", d_out, (size_t)N * C, 0);
}

static enum lms_status cu_rmsnorm_fwd(void *vc, lms_bf16 *d_out, float *d_rstd, const lms_bf16 *d_x,
				      const lms_bf16 *d_w, int rows, int n, float eps)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(
	    c, "rmsnorm_forward",
	    lms_k_rmsnorm_forward(c->stream, d_out, d_rstd, d_x, d_w, rows, n, eps)));
	return lms_cuda_check_finite(c, "rmsnorm_forward", "out", d_out, (size_t)rows * n, 0);
}

static enum lms_status cu_rmsnorm_bwd(void *vc, lms_bf16 *d_dx, const lms_bf16 *d_dy,
				      const lms_bf16 *d_x, const lms_bf16 *d_w, const float *d_rstd,
				      int rows, int n, float eps)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(
	    c, "rmsnorm_backward",
	    lms_k_rmsnorm_backward(c->stream, d_dx, d_dy, d_x, d_w, d_rstd, rows, n, eps)));
	return lms_cuda_check_finite(c, "rmsnorm_backward", "dx", d_dx, (size_t)rows * n, 0);
}

static struct lms_k_norm_fuse k_fuse(const struct lms_norm_fuse *f)
{
	struct lms_k_norm_fuse k = {0};
	if (f) {
		k.add = f->add;
		k.sum_out = f->sum_out;
		k.residual = f->residual;
		k.cos = f->cos;
		k.sin = f->sin;
		k.heads = f->heads;
	}
	return k;
}

static enum lms_status cu_rmsnorm_fwd_ex(void *vc, lms_bf16 *d_out, float *d_rstd,
					 const lms_bf16 *d_x, const lms_bf16 *d_w, int rows, int n,
					 float eps, const struct lms_norm_fuse *f)
{
	struct cuda_ctx *c = vc;
	struct lms_k_norm_fuse k = k_fuse(f);
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(
	    c, "rmsnorm_forward",
	    lms_k_rmsnorm_forward_ex(c->stream, d_out, d_rstd, d_x, d_w, rows, n, eps, k)));
	if (k.sum_out)
		LMS_TRY(lms_cuda_check_finite(c, "rmsnorm_forward", "sum", k.sum_out,
					      (size_t)rows * n, 0));
	return lms_cuda_check_finite(c, "rmsnorm_forward", "out", d_out, (size_t)rows * n, 0);
}

static enum lms_status cu_rmsnorm_bwd_ex(void *vc, lms_bf16 *d_dx, lms_bf16 *d_dy,
					 const lms_bf16 *d_x, const lms_bf16 *d_w,
					 const float *d_rstd, int rows, int n, float eps,
					 const struct lms_norm_fuse *f)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(c, "rmsnorm_backward",
				      lms_k_rmsnorm_backward_ex(c->stream, d_dx, d_dy, d_x, d_w,
								d_rstd, rows, n, eps, k_fuse(f))));
	return lms_cuda_check_finite(c, "rmsnorm_backward", "dx", d_dx, (size_t)rows * n, 0);
}

static enum lms_status rope_common(struct cuda_ctx *c, const char *op, lms_bf16 *d_x,
				   const lms_bf16 *d_cos, const lms_bf16 *d_sin, int N, int nh,
				   int D, int backward)
{
	if (D % 2 != 0)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s %s: head_dim %d is odd", c->name, op,
				D);
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(
	    c, op, lms_k_rope(c->stream, d_x, d_cos, d_sin, N, nh, D, backward)));
	return lms_cuda_check_finite(c, op, "x", d_x, (size_t)N * nh * D, 0);
}

static enum lms_status cu_rope_fwd(void *vc, lms_bf16 *d_x, const lms_bf16 *d_cos,
				   const lms_bf16 *d_sin, int N, int nh, int D)
{
	return rope_common(vc, "rope_forward", d_x, d_cos, d_sin, N, nh, D, 0);
}

static enum lms_status cu_rope_bwd(void *vc, lms_bf16 *d_dx, const lms_bf16 *d_cos,
				   const lms_bf16 *d_sin, int N, int nh, int D)
{
	return rope_common(vc, "rope_backward", d_dx, d_cos, d_sin, N, nh, D, 1);
}

static size_t cu_attn_workspace(void *vc, const struct lms_attn_dims *d)
{
	(void)vc;
	return lms_k_attention_workspace(d->B, d->T, d->H, d->D);
}

static enum lms_status attn_check(struct cuda_ctx *c, const char *op, const struct lms_attn_dims *d)
{
	if (d->B < 0 || d->T < 0 || d->G <= 0 || d->H <= 0 || d->H % d->G != 0 || d->D <= 0 ||
	    d->D % 2 != 0 || d->D > LMS_K_ATTN_MAX_D)
		return lms_fail(LMS_ERR_UNSUPPORTED,
				"the CUDA attention kernels handle an even head_dim up to 256 with "
				"num_heads a multiple of num_kv_heads; use runner.backend=cpu",
				"%s %s: unsupported shape B=%d T=%d H=%d G=%d D=%d", c->name, op,
				d->B, d->T, d->H, d->G, d->D);
	/* the kernels read LMSENS_CUDA_ATTN themselves (kernels/attention_flash.cu) */
	const char *kind = getenv("LMSENS_CUDA_ATTN");
	if (kind && kind[0] && strcmp(kind, "flash") != 0 && strcmp(kind, "eager") != 0)
		return lms_fail(LMS_ERR_CONFIG,
				"set LMSENS_CUDA_ATTN to flash (the default) or eager (the "
				"eager-exact kernels), or unset it",
				"%s %s: LMSENS_CUDA_ATTN='%s' is not a kind of attention kernel",
				c->name, op, kind);
	return LMS_OK;
}

static enum lms_status cu_attn_fwd(void *vc, lms_bf16 *d_out, float *d_lse, const lms_bf16 *d_q,
				   const lms_bf16 *d_k, const lms_bf16 *d_v, const int32_t *d_mask,
				   const struct lms_attn_dims *d, void *d_work, size_t work_bytes)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	(void)d_work;
	(void)work_bytes;
	LMS_TRY(attn_check(c, "attention_forward", d));
	LMS_TRY(lms_cuda_after_launch(c, "attention_forward",
				      lms_k_attention_forward(c->stream, d_out, d_lse, d_q, d_k,
							      d_v, d_mask, d->B, d->T, d->H, d->G,
							      d->D, d->scale)));
	return lms_cuda_check_finite(c, "attention_forward", "out", d_out,
				     (size_t)d->B * d->T * d->H * d->D, 0);
}

static enum lms_status cu_attn_bwd(void *vc, lms_bf16 *d_dq, lms_bf16 *d_dk, lms_bf16 *d_dv,
				   const lms_bf16 *d_dout, const lms_bf16 *d_q, const lms_bf16 *d_k,
				   const lms_bf16 *d_v, const lms_bf16 *d_out, const float *d_lse,
				   const int32_t *d_mask, const struct lms_attn_dims *d,
				   void *d_work, size_t work_bytes)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(attn_check(c, "attention_backward", d));
	size_t need = lms_k_attention_workspace(d->B, d->T, d->H, d->D);
	if (!d_work || work_bytes < need)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"%s attention_backward: workspace of %zu bytes given, %zu needed",
				c->name, work_bytes, need);
	LMS_TRY(lms_cuda_after_launch(
	    c, "attention_backward",
	    lms_k_attention_backward(c->stream, d_dq, d_dk, d_dv, d_dout, d_q, d_k, d_v, d_out,
				     d_lse, d_mask, d->B, d->T, d->H, d->G, d->D, d->scale,
				     d_work)));
	size_t nq = (size_t)d->B * d->T * d->H * d->D, nk = (size_t)d->B * d->T * d->G * d->D;
	LMS_TRY(lms_cuda_check_finite(c, "attention_backward", "dq", d_dq, nq, 0));
	LMS_TRY(lms_cuda_check_finite(c, "attention_backward", "dk", d_dk, nk, 0));
	return lms_cuda_check_finite(c, "attention_backward", "dv", d_dv, nk, 0);
}

static enum lms_status cu_swiglu_fwd(void *vc, lms_bf16 *d_out, const lms_bf16 *d_gate,
				     const lms_bf16 *d_up, size_t n)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(c, "swiglu_forward",
				      lms_k_swiglu_forward(c->stream, d_out, d_gate, d_up, n)));
	return lms_cuda_check_finite(c, "swiglu_forward", "out", d_out, n, 0);
}

static enum lms_status cu_swiglu_bwd(void *vc, lms_bf16 *d_dgate, lms_bf16 *d_dup,
				     const lms_bf16 *d_dout, const lms_bf16 *d_gate,
				     const lms_bf16 *d_up, size_t n)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(
	    c, "swiglu_backward",
	    lms_k_swiglu_backward(c->stream, d_dgate, d_dup, d_dout, d_gate, d_up, n)));
	LMS_TRY(lms_cuda_check_finite(c, "swiglu_backward", "dgate", d_dgate, n, 0));
	return lms_cuda_check_finite(c, "swiglu_backward", "dup", d_dup, n, 0);
}

static enum lms_status cu_add(void *vc, lms_bf16 *d_out, const lms_bf16 *d_a, const lms_bf16 *d_b,
			      size_t n)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(c, "add", lms_k_add(c->stream, d_out, d_a, d_b, n)));
	return lms_cuda_check_finite(c, "add", "out", d_out, n, 0);
}

static enum lms_status cu_cross_entropy(void *vc, float *d_losses, lms_bf16 *d_dlogits,
					const lms_bf16 *d_logits, const int32_t *d_targets, int N,
					int V, float grad_scale)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_check_finite(c, "cross_entropy", "logits (input)", d_logits, (size_t)N * V,
				      0));
	LMS_TRY(lms_cuda_after_launch(c, "cross_entropy",
				      lms_k_cross_entropy(c->stream, d_losses, d_dlogits, d_logits,
							  d_targets, N, V, grad_scale)));
	LMS_TRY(lms_cuda_check_finite(c, "cross_entropy", "losses", d_losses, (size_t)N, 1));
	if (d_dlogits)
		return lms_cuda_check_finite(c, "cross_entropy", "dlogits", d_dlogits,
					     (size_t)N * V, 0);
	return LMS_OK;
}

static enum lms_status cu_absmax_rows(void *vc, float *d_amax, const lms_bf16 *d_x, int64_t rows,
				      int64_t cols, int accumulate)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	LMS_TRY(lms_cuda_after_launch(
	    c, "absmax_rows", lms_k_absmax_rows(c->stream, d_amax, d_x, rows, cols, accumulate)));
	return lms_cuda_check_finite(c, "absmax_rows", "amax", d_amax, (size_t)rows, 1);
}

static enum lms_status cu_sq_dot_accum(void *vc, double *d_acc, const lms_bf16 *d_yq,
				       const lms_bf16 *d_y, const lms_bf16 *d_g, size_t n)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	return lms_cuda_after_launch(c, "sq_dot_accum",
				     lms_k_sq_dot_accum(c->stream, d_acc, d_yq, d_y, d_g, n,
							c->d_sq_partials));
}

static enum lms_status cu_kl_div_accum(void *vc, double *d_acc, const lms_bf16 *d_zp,
				       const lms_bf16 *d_zq, int64_t rows, int64_t V)
{
	struct cuda_ctx *c = vc;
	if (rows < 0 || V < 1)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s kl_div_accum: bad shape %lld x %lld", c->name,
				(long long)rows, (long long)V);
	lms_cuda_prof_begin(c);
	return lms_cuda_after_launch(c, "kl_div_accum",
				     lms_k_kl_div_accum(c->stream, d_acc, d_zp, d_zq, rows, V));
}

static enum lms_status cu_fake_quant(void *vc, lms_bf16 *d_out, const lms_bf16 *d_in, int64_t rows,
				     int64_t cols, const struct lms_quant_desc *desc);

/* ---- init / destroy ---------------------------------------------------- */

static void cu_destroy(void *vc)
{
	struct cuda_ctx *c = vc;
	if (!c)
		return;
	(void)cudaSetDevice(c->device);
	if (c->main_stream)
		c->stream = c->main_stream; /* not left on the side stream */
	if (c->d_lt_main)
		c->d_lt_work = c->d_lt_main;
	if (c->stream)
		(void)cudaStreamSynchronize(c->stream);
	lms_cuda_streams_free(c);
	lms_cuda_prof_report(c);
	if (c->prof_start)
		(void)cudaEventDestroy(c->prof_start);
	if (c->prof_stop)
		(void)cudaEventDestroy(c->prof_stop);
	for (int i = 0; i < 2; i++) {
		if (c->stage_done[i])
			(void)cudaEventDestroy(c->stage_done[i]);
		if (c->stage[i])
			(void)cudaFreeHost(c->stage[i]);
	}
	if (c->d_count)
		(void)cudaFree(c->d_count);
	if (c->d_sq_partials)
		(void)cudaFree(c->d_sq_partials);
	if (c->d_qamax)
		(void)cudaFree(c->d_qamax);
	if (c->d_lt_work)
		(void)cudaFree(c->d_lt_work);
	lms_cuda_gemm_plans_free(c);
	if (c->lt)
		(void)cublasLtDestroy(c->lt);
	if (c->blas)
		(void)cublasDestroy(c->blas);
	if (c->stream)
		(void)cudaStreamDestroy(c->stream);
	free(c);
}

int lms_cuda_device_count(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		(void)cudaGetLastError();
		return 0;
	}
	return n;
}

static enum lms_status ctx_init(struct cuda_ctx *c)
{
	CU_CHECK(c, "init", cudaSetDevice(c->device));
	/* stream_cuda.c: LMSENS_CUDA_SIDE_PRIO=low puts the main stream first */
	const char *prio = getenv("LMSENS_CUDA_SIDE_PRIO");
	int least = 0, greatest = 0;
	CU_CHECK(c, "init", cudaDeviceGetStreamPriorityRange(&least, &greatest));
	CU_CHECK(c, "init",
		 cudaStreamCreateWithPriority(&c->stream, cudaStreamNonBlocking,
					      prio && strcmp(prio, "low") == 0 ? greatest : 0));
	BLAS_CHECK(c, "init", cublasCreate(&c->blas));
	BLAS_CHECK(c, "init", cublasSetStream(c->blas, c->stream));
	BLAS_CHECK(
	    c, "init",
	    cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH |
					   CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
	BLAS_CHECK(c, "init", cublasLtCreate(&c->lt));
	CU_CHECK(c, "init", cudaMalloc(&c->d_lt_work, LT_WORKSPACE_BYTES));
	BLAS_CHECK(c, "init", cublasSetWorkspace(c->blas, c->d_lt_work, LT_WORKSPACE_BYTES));
	CU_CHECK(c, "init", cudaMalloc((void **)&c->d_sq_partials, LMS_K_SQ_DOT_SCRATCH));
	CU_CHECK(c, "init", cudaMemset(c->d_sq_partials, 0, LMS_K_SQ_DOT_SCRATCH));
	CU_CHECK(c, "init", cudaMalloc((void **)&c->d_count, sizeof *c->d_count));
	CU_CHECK(c, "init", cudaMalloc((void **)&c->d_qamax, QAMAX_CAP * sizeof(float)));
	CU_CHECK(c, "init", cudaEventCreate(&c->prof_start));
	CU_CHECK(c, "init", cudaEventCreate(&c->prof_stop));
	for (int i = 0; i < 2; i++) {
		CU_CHECK(c, "init",
			 cudaEventCreateWithFlags(&c->stage_done[i], cudaEventDisableTiming));
		CU_CHECK(c, "init", cudaEventRecord(c->stage_done[i], c->stream));
		/* Pinned staging is an optimization: without it copies go direct. */
		if (cudaMallocHost(&c->stage[i], STAGE_BYTES) != cudaSuccess) {
			(void)cudaGetLastError();
			c->stage[i] = NULL;
			LMS_WARN("cuda:%d: no pinned staging buffer; weight uploads will be slower",
				 c->device);
		}
	}
	return lms_cuda_streams_init(c);
}

static void set_ops(struct lms_backend_ops *o)
{
	o->alloc = lms_cuda_alloc;
	o->free = lms_cuda_free;
	o->memcpy_h2d = lms_cuda_h2d;
	o->memcpy_d2h = lms_cuda_d2h;
	o->memcpy_d2d = lms_cuda_d2d;
	o->memset = lms_cuda_memset;
	o->sync = lms_cuda_sync;
	o->gemm = lms_cuda_gemm;
	o->embedding = cu_embedding;
	o->rmsnorm_forward = cu_rmsnorm_fwd;
	o->rmsnorm_backward = cu_rmsnorm_bwd;
	o->rmsnorm_forward_ex = cu_rmsnorm_fwd_ex;
	o->rmsnorm_backward_ex = cu_rmsnorm_bwd_ex;
	o->rope_forward = cu_rope_fwd;
	o->rope_backward = cu_rope_bwd;
	o->attention_workspace = cu_attn_workspace;
	o->attention_forward = cu_attn_fwd;
	o->attention_backward = cu_attn_bwd;
	o->swiglu_forward = cu_swiglu_fwd;
	o->swiglu_backward = cu_swiglu_bwd;
	o->add = cu_add;
	o->cross_entropy = cu_cross_entropy;
	o->absmax_rows = cu_absmax_rows;
	o->sq_dot_accum = cu_sq_dot_accum;
	o->kl_div_accum = cu_kl_div_accum;
	o->set_label = lms_cuda_set_label;
	o->set_debug = lms_cuda_set_debug;
	o->side_begin = lms_cuda_side_begin;
	o->side_end = lms_cuda_side_end;
	o->side_join = lms_cuda_side_join;
	o->fake_quant = cu_fake_quant;
	o->destroy = cu_destroy;
}

enum lms_status lms_backend_cuda_init(int device, struct lms_backend **out)
{
	*out = NULL;
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	const char *vis = getenv("CUDA_VISIBLE_DEVICES");
	if (e != cudaSuccess || count == 0) {
		(void)cudaGetLastError();
		return lms_fail(LMS_ERR_UNSUPPORTED,
				"run on a machine with an NVIDIA GPU, or set runner.backend=cpu",
				"no CUDA device available (%s; CUDA_VISIBLE_DEVICES=%s)",
				e != cudaSuccess ? cudaGetErrorString(e) : "0 devices",
				vis ? vis : "(unset)");
	}
	if (device < 0 || device >= count)
		return lms_fail(
		    LMS_ERR_CONFIG,
		    "pick a device index below the count (indices are relative to "
		    "CUDA_VISIBLE_DEVICES)",
		    "CUDA device %d requested but only %d visible (CUDA_VISIBLE_DEVICES=%s)",
		    device, count, vis ? vis : "(unset)");
	struct lms_backend *be = calloc(1, sizeof *be);
	struct cuda_ctx *c = calloc(1, sizeof *c);
	if (!be || !c) {
		free(be);
		free(c);
		return lms_fail(LMS_ERR_NOMEM, NULL,
				"out of host memory creating the CUDA backend");
	}
	c->device = device;
	snprintf(c->name, sizeof c->name, "cuda:%d", device);
	const char *dbg = getenv("LMSENS_CUDA_DEBUG");
	c->debug = dbg && dbg[0] && strcmp(dbg, "0") != 0;
	const char *prof = getenv("LMSENS_CUDA_PROFILE");
	c->profile = prof && prof[0] && strcmp(prof, "0") != 0;
	enum lms_status st = ctx_init(c);
	if (st != LMS_OK) {
		cu_destroy(c);
		free(be);
		return st;
	}
	set_ops(&be->ops);
	be->ctx = c;
	snprintf(be->name, sizeof be->name, "%s", c->name);
	be->is_host = 0;
	be->supports = lms_backend_supports;
	struct cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
		LMS_INFO("backend %s: %s, %.1f GiB, compute capability %d.%d%s", c->name, prop.name,
			 prop.totalGlobalMem / 1073741824.0, prop.major, prop.minor,
			 c->debug ? ", debug mode" : "");
	*out = be;
	return LMS_OK;
}

static struct cuda_ctx *cuda_ctx_of(struct lms_backend *be)
{
	if (!be || be->ops.destroy != cu_destroy)
		return NULL;
	return be->ctx;
}

void lms_backend_cuda_set_debug(struct lms_backend *be, int on)
{
	struct cuda_ctx *c = cuda_ctx_of(be);
	if (c)
		c->debug = on != 0;
}

enum lms_status lms_backend_cuda_mem_info(struct lms_backend *be, size_t *free_b, size_t *total_b)
{
	struct cuda_ctx *c = cuda_ctx_of(be);
	*free_b = *total_b = 0;
	if (!c)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "lms_backend_cuda_mem_info on a non-CUDA backend");
	lms_cuda_use_device(c);
	cudaError_t e = cudaMemGetInfo(free_b, total_b);
	if (e != cudaSuccess) {
		(void)cudaGetLastError();
		return lms_fail(LMS_ERR_LIBRARY, NULL, "cuda:%d: cudaMemGetInfo failed: %s", c->device,
				cudaGetErrorString(e));
	}
	return LMS_OK;
}

void lms_backend_cuda_set_label(struct lms_backend *be, const char *label)
{
	struct cuda_ctx *c = cuda_ctx_of(be);
	if (!c)
		return;
	snprintf(c->label_own, sizeof c->label_own, "%s", label ? label : "");
	lms_cuda_set_label(c, c->label_own, NULL, NULL);
}

static enum lms_status fake_quant(struct cuda_ctx *c, lms_bf16 *d_out, const lms_bf16 *d_in,
				  int64_t rows, int64_t cols, const struct lms_quantizer_desc *desc,
				  const float *d_amax)
{
	enum lms_qscheme s;
	lms_cuda_prof_begin(c);
	if (rows < 0 || cols < 0)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"%s fake_quant: negative shape (%lld, %lld)", c->name,
				(long long)rows, (long long)cols);
	LMS_TRY(lms_quant_scheme(desc, "fake_quant", &s));
	struct lms_k_quant q = {0};
	int layout = LMS_K_QAMAX_TENSOR;
	switch (s) {
	case LMS_QSCHEME_DISABLED:
		q.scheme = LMS_K_QS_DISABLED;
		break;
	case LMS_QSCHEME_INT:
		q.scheme = LMS_K_QS_INT;
		break;
	case LMS_QSCHEME_INT_BLOCK:
		q.scheme = LMS_K_QS_INT_BLOCK;
		layout = LMS_K_QAMAX_BLOCKS;
		break;
	case LMS_QSCHEME_FP8:
		q.scheme = LMS_K_QS_FP8;
		break;
	case LMS_QSCHEME_MX:
		q.scheme = LMS_K_QS_MX;
		break;
	case LMS_QSCHEME_NVFP4:
		q.scheme = LMS_K_QS_NVFP4;
		break;
	}
	q.num_bits = desc->num_bits;
	q.exp_bits = desc->exp_bits;
	q.man_bits = desc->man_bits;
	q.axis0 = desc->axis == 0;
	q.block = desc->block_size;
	if (q.axis0 && (s == LMS_QSCHEME_INT || s == LMS_QSCHEME_FP8))
		layout = LMS_K_QAMAX_ROWS;
	size_t na = lms_quant_amax_len(desc, (size_t)rows, (size_t)cols);
	if (s == LMS_QSCHEME_DISABLED || s == LMS_QSCHEME_MX)
		na = 0;
	if (na > 0 && (d_amax == NULL || desc->dynamic_amax)) {
		if (na > QAMAX_CAP)
			return lms_fail(
			    LMS_ERR_UNSUPPORTED, "calibrate the amax (static) and pass it in",
			    "%s fake_quant: %zu dynamic amax values exceed the scratch of %u",
			    c->name, na, QAMAX_CAP);
		LMS_TRY(lms_cuda_after_launch(
		    c, "fake_quant",
		    lms_k_quant_amax(c->stream, c->d_qamax, d_in, rows, cols, layout, q.block)));
		d_amax = c->d_qamax;
	}
	LMS_TRY(lms_cuda_after_launch(
	    c, "fake_quant",
	    lms_k_fake_quant(c->stream, d_out, d_in, rows, cols, q, na > 0 ? d_amax : NULL)));
	return lms_cuda_check_finite(c, "fake_quant", "out", d_out, (size_t)(rows * cols), 0);
}

/* The table's slot: struct lms_quant_desc (quant/quant.h) carries the
 * quantizer and its amax in device memory (NULL: computed per call). */
static enum lms_status cu_fake_quant(void *vc, lms_bf16 *d_out, const lms_bf16 *d_in, int64_t rows,
				     int64_t cols, const struct lms_quant_desc *desc)
{
	return fake_quant(vc, d_out, d_in, rows, cols, &desc->q, desc->amax);
}

enum lms_status lms_backend_cuda_fake_quant(struct lms_backend *be, lms_bf16 *d_out,
					    const lms_bf16 *d_in, int64_t rows, int64_t cols,
					    const struct lms_quantizer_desc *desc,
					    const float *d_amax)
{
	struct cuda_ctx *c = cuda_ctx_of(be);
	if (!c)
		return lms_fail(LMS_ERR_INTERNAL, NULL,
				"lms_backend_cuda_fake_quant on backend '%s'",
				be ? be->name : "(null)");
	return fake_quant(c, d_out, d_in, rows, cols, desc, d_amax);
}
