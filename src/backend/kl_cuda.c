/* kl_cuda.c — the kl_div scoring's unquantized side computed once per batch
 * (backend_cuda.h: lms_backend_cuda_kl_prep / _kl_accum_p; kernels in
 * kernels/kl_div.cu): the row max, exp(z_p − m_p) for every logit and the
 * row sums of the unquantized logits, kept while the (group, format)
 * forwards of that batch run, so that each of their KL calls makes one fp64
 * exp per element instead of two. Bit-identical to the backend op
 * kl_div_accum (same operations in the same order).
 * Not here: when it is used (src/autoquant/kldiv.c). */
#include <string.h>

#include "backend/backend_cuda.h"
#include "backend/cuda_internal.h"
#include "core/log.h"
#include "kl_div_p.h"

static struct cuda_ctx *cuda_of(struct lms_backend *be)
{
	if (!be || be->is_host || strncmp(be->name, "cuda", 4) != 0)
		return NULL;
	return be->ctx;
}

enum lms_status lms_backend_cuda_kl_prep(struct lms_backend *be, double *d_ep, float *d_mp,
					 double *d_sp, const lms_bf16 *d_zp, int64_t rows, int64_t V)
{
	struct cuda_ctx *c = cuda_of(be);
	if (!c)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "kl_prep on a non-CUDA backend");
	lms_cuda_use_device(c);
	lms_cuda_prof_begin(c);
	return lms_cuda_after_launch(c, "kl_div_accum",
				     lms_k_kl_prep(c->stream, d_ep, d_mp, d_sp, d_zp, rows, V));
}

enum lms_status lms_backend_cuda_kl_accum_p(struct lms_backend *be, double *d_acc,
					    const double *d_ep, const float *d_mp,
					    const double *d_sp, const lms_bf16 *d_zp,
					    const lms_bf16 *d_zq, int64_t rows, int64_t V)
{
	struct cuda_ctx *c = cuda_of(be);
	if (!c)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "kl_accum_p on a non-CUDA backend");
	lms_cuda_use_device(c);
	lms_cuda_prof_begin(c);
	return lms_cuda_after_launch(
	    c, "kl_div_accum", lms_k_kl_accum_p(c->stream, d_acc, d_ep, d_mp, d_sp, d_zp, d_zq, rows, V));
}
