/* backend.c — what every backend shares: op names, supports(), choosing a
 * backend by name, and allocation with a named error.
 *
 * Invariant: lms_backend_supports() maps every enum lms_backend_op to its
 * slot in struct lms_backend_ops; a NULL slot means "not supported".
 * This file knows no CUDA: a CUDA build only declares lms_backend_cuda_init. */
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_op_names[LMS_OP_COUNT] = {
    [LMS_OP_ALLOC] = "alloc",
    [LMS_OP_GEMM] = "gemm",
    [LMS_OP_EMBEDDING] = "embedding",
    [LMS_OP_RMSNORM_FORWARD] = "rmsnorm_forward",
    [LMS_OP_RMSNORM_BACKWARD] = "rmsnorm_backward",
    [LMS_OP_ROPE_FORWARD] = "rope_forward",
    [LMS_OP_ROPE_BACKWARD] = "rope_backward",
    [LMS_OP_ATTENTION_FORWARD] = "attention_forward",
    [LMS_OP_ATTENTION_BACKWARD] = "attention_backward",
    [LMS_OP_SWIGLU_FORWARD] = "swiglu_forward",
    [LMS_OP_SWIGLU_BACKWARD] = "swiglu_backward",
    [LMS_OP_ADD] = "add",
    [LMS_OP_CROSS_ENTROPY] = "cross_entropy",
    [LMS_OP_ABSMAX_ROWS] = "absmax_rows",
    [LMS_OP_SQ_DOT_ACCUM] = "sq_dot_accum",
    [LMS_OP_KL_DIV_ACCUM] = "kl_div_accum",
    [LMS_OP_FAKE_QUANT] = "fake_quant",
};

const char *lms_backend_op_name(enum lms_backend_op op)
{
	if ((int)op < 0 || op >= LMS_OP_COUNT)
		return "unknown";
	return g_op_names[op];
}

int lms_backend_supports(const struct lms_backend *be, enum lms_backend_op op)
{
	if (!be)
		return 0;
	const struct lms_backend_ops *o = &be->ops;
	switch (op) {
	case LMS_OP_ALLOC:
		return o->alloc && o->free && o->memcpy_h2d && o->memcpy_d2h && o->memcpy_d2d &&
		       o->memset && o->sync;
	case LMS_OP_GEMM:
		return o->gemm != NULL;
	case LMS_OP_EMBEDDING:
		return o->embedding != NULL;
	case LMS_OP_RMSNORM_FORWARD:
		return o->rmsnorm_forward != NULL;
	case LMS_OP_RMSNORM_BACKWARD:
		return o->rmsnorm_backward != NULL;
	case LMS_OP_ROPE_FORWARD:
		return o->rope_forward != NULL;
	case LMS_OP_ROPE_BACKWARD:
		return o->rope_backward != NULL;
	case LMS_OP_ATTENTION_FORWARD:
		return o->attention_forward != NULL && o->attention_workspace != NULL;
	case LMS_OP_ATTENTION_BACKWARD:
		return o->attention_backward != NULL && o->attention_workspace != NULL;
	case LMS_OP_SWIGLU_FORWARD:
		return o->swiglu_forward != NULL;
	case LMS_OP_SWIGLU_BACKWARD:
		return o->swiglu_backward != NULL;
	case LMS_OP_ADD:
		return o->add != NULL;
	case LMS_OP_CROSS_ENTROPY:
		return o->cross_entropy != NULL;
	case LMS_OP_ABSMAX_ROWS:
		return o->absmax_rows != NULL;
	case LMS_OP_SQ_DOT_ACCUM:
		return o->sq_dot_accum != NULL;
	case LMS_OP_FAKE_QUANT:
		return o->fake_quant != NULL;
	case LMS_OP_KL_DIV_ACCUM:
		return o->kl_div_accum != NULL;
	case LMS_OP_COUNT:
		break;
	}
	return 0;
}

enum lms_status lms_backend_init(const char *name, struct lms_backend **out)
{
	*out = NULL;
	if (!name || strcmp(name, "cpu") == 0)
		return lms_backend_cpu_init(NULL, out);
	if (strncmp(name, "cuda", 4) == 0 && (name[4] == '\0' || name[4] == ':')) {
		int device = 0;
		if (name[4] == ':') {
			char *end = NULL;
			long d = strtol(name + 5, &end, 10);
			if (end == name + 5 || *end != '\0' || d < 0 || d > 1024)
				return lms_fail(
				    LMS_ERR_CONFIG, "write cuda, cuda:0, cuda:1, ...",
				    "bad backend name '%s': device number expected after 'cuda:'",
				    name);
			device = (int)d;
		}
#ifdef LMS_HAVE_CUDA
		return lms_backend_cuda_init(device, out);
#else
		(void)device;
		return lms_fail(LMS_ERR_UNSUPPORTED,
				"rebuild with CUDA (cmake -DLMSENS_CUDA=ON) or use backend cpu",
				"backend '%s' requested but this lmsens was built without CUDA",
				name);
#endif
	}
	return lms_fail(LMS_ERR_CONFIG, "valid backends: cpu, cuda, cuda:<n>",
			"unknown backend '%s'", name);
}

void lms_backend_free(struct lms_backend *be)
{
	if (!be)
		return;
	if (be->ops.destroy)
		be->ops.destroy(be->ctx);
	free(be);
}

enum lms_status lms_backend_alloc(struct lms_backend *be, size_t bytes, const char *what,
				  void **d_out)
{
	enum lms_status st = be->ops.alloc(be->ctx, bytes, d_out);
	if (st != LMS_OK)
		return lms_error_context("%s (%s, %zu bytes)", what, be->name, bytes);
	return LMS_OK;
}

enum lms_status lms_backend_linear_forward(struct lms_backend *be, lms_bf16 *d_y, const lms_bf16 *d_x,
					   const lms_bf16 *d_w, int M, int in, int out)
{
	struct lms_gemm_args g = {
	    .m = M, .n = out, .k = in,
	    .d_a = d_x, .lda = in, .trans_a = 0,
	    .d_b = d_w, .ldb = in, .trans_b = 1,
	    .d_c = d_y, .ldc = out, .c_dtype = LMS_GEMM_OUT_BF16,
	    .alpha = 1.0f, .beta = 0.0f, .batch = 1,
	};
	return be->ops.gemm(be->ctx, &g);
}

void lms_backend_set_debug(struct lms_backend *be, int on)
{
	if (be && be->ops.set_debug)
		be->ops.set_debug(be->ctx, on != 0);
}

char *lms_backend_label_text(char *buf, size_t cap, const char *module, const char *stage,
			     const char *detail)
{
	const char *parts[3] = {module, stage, detail};
	size_t len = 0;
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (int i = 0; i < 3; i++) {
		if (!parts[i] || !parts[i][0])
			continue;
		int n = snprintf(buf + len, cap - len, "%s%s", len ? " " : "", parts[i]);
		if (n < 0 || (size_t)n >= cap - len)
			break; /* truncated: buf stays NUL-terminated */
		len += (size_t)n;
	}
	return buf;
}

enum lms_status lms_backend_nonfinite_fail(const char *backend, const char *label, const char *op,
					   const char *what, unsigned long long count, size_t n)
{
	return lms_fail(LMS_ERR_NUMERIC,
			"dump the module's tensors with runner.debug_dump.layer=<module name> to "
			"see its inputs, and check the checkpoint for NaN/Inf weights",
			"%s%s%s: op %s produced %llu non-finite value%s in %s (of %zu)", backend,
			label && label[0] ? " at " : "", label ? label : "", op, count,
			count == 1 ? "" : "s", what, n);
}
