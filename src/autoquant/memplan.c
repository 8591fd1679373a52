/* memplan.c — the pipeline's two memory-for-time choices:
 *
 *   autoquant.recompute: auto | true | false
 *     true: the engine keeps only the layer inputs and recomputes each
 *     layer's forward in the backward (one more forward per scoring step;
 *     the low-memory mode); false: every layer's activations are kept.
 *     auto: keep them when the engine with kept activations, the scoring
 *     scratch and a margin fit in the backend's free memory (CUDA: free
 *     device memory before the engine is built), else recompute; on the CPU
 *     backend keep them up to 4 GiB of activations.
 *   autoquant.weight_cache: auto | true | false | a size in GB
 *     the fake-quantized weights of every (distinct weight quantizer,
 *     scored linear) kept for the whole job (replay.c). true: all of them;
 *     false: none (each step quantizes again); a number: at most that many
 *     GB (1e9 bytes); auto: as many as fit in the
 *     free device memory left after the scoring scratch, less a margin, or
 *     at most 1 GiB on the CPU backend.
 *   autoquant.replay_gemm: exact | fp8 (read here; replay_fp8.c) — fp8
 *     is the one speed option that changes results (within the tolerance
 *     docs/BENCHMARKS.md gives).
 * recompute and weight_cache do not change a single bit of the results (the engine's recomputation
 * repeats the same ops on the same inputs; a cached weight is the value the
 * quantization computes again).
 * Not here: the engine's memory plan (engine/engine.c,
 * lms_engine_memory_plan), the cache itself (replay.c). */
#include <string.h>

#include "autoquant/pipeline_internal.h"
#include "backend/backend_cuda.h"
#include "core/log.h"

#define GIB ((size_t)1 << 30)

/* -1 auto (absent or null too), 0 false, 1 true. */
static enum lms_status tristate(const struct lms_cfg *cfg, const char *key, int *out)
{
	const struct lms_cfg *n = lms_cfg_find(cfg, key);
	*out = -1;
	if (!n || n->type == LMS_CFG_NULL)
		return LMS_OK;
	if (n->type == LMS_CFG_BOOL) {
		*out = n->b != 0;
		return LMS_OK;
	}
	if (n->type == LMS_CFG_STR) {
		if (strcmp(n->s, "auto") == 0)
			return LMS_OK;
		if (strcmp(n->s, "true") == 0 || strcmp(n->s, "false") == 0) {
			*out = n->s[0] == 't';
			return LMS_OK;
		}
	}
	return lms_fail(LMS_ERR_CONFIG, "use auto, true or false", "%s = %s%s%s is not auto, true or false",
			key, n->type == LMS_CFG_STR ? "'" : "", n->type == LMS_CFG_STR ? n->s : lms_cfg_type_name(n->type),
			n->type == LMS_CFG_STR ? "'" : "");
}

enum lms_status lms_aq_read_mem_settings(struct aq_ctx *c)
{
	LMS_TRY(tristate(c->cfg, "autoquant.recompute", &c->recompute_cfg));
	const struct lms_cfg *wc = lms_cfg_find(c->cfg, "autoquant.weight_cache");
	c->wcache_gb = -1.0;
	if (wc && (wc->type == LMS_CFG_INT || wc->type == LMS_CFG_FLOAT)) {
		double gb = wc->type == LMS_CFG_INT ? (double)wc->i : wc->f;
		if (!(gb >= 0.0 && gb <= 1e6))
			return lms_fail(LMS_ERR_CONFIG, "give auto, true, false or a size in GB (e.g. 12.5)",
					"autoquant.weight_cache = %g is not a size in GB", gb);
		c->wcache_gb = gb;
		c->wcache_cfg = 1;
	} else {
		LMS_TRY(tristate(c->cfg, "autoquant.weight_cache", &c->wcache_cfg));
	}
	const struct lms_cfg *n = lms_cfg_find(c->cfg, "autoquant.replay_gemm");
	c->replay_fp8 = 0;
	if (!n || n->type == LMS_CFG_NULL)
		return LMS_OK;
	if (n->type == LMS_CFG_STR && (strcmp(n->s, "exact") == 0 || strcmp(n->s, "fp8") == 0)) {
		c->replay_fp8 = n->s[0] == 'f';
		return LMS_OK;
	}
	return lms_fail(LMS_ERR_CONFIG, "use exact (the default) or fp8",
			"autoquant.replay_gemm = %s is not exact or fp8",
			n->type == LMS_CFG_STR ? n->s : lms_cfg_type_name(n->type));
}

/* Free backend memory now; 0 with *known = 0 on a host backend. */
static enum lms_status free_memory(struct aq_ctx *c, size_t *free_b, size_t *total_b, int *known);

enum lms_status lms_aq_free_memory(struct aq_ctx *c, size_t *free_b, int *known)
{
	size_t total_b;
	return free_memory(c, free_b, &total_b, known);
}

static enum lms_status free_memory(struct aq_ctx *c, size_t *free_b, size_t *total_b, int *known)
{
	*free_b = *total_b = 0;
	*known = 0;
	if (c->be->is_host)
		return LMS_OK;
#ifdef LMS_HAVE_CUDA
	LMS_TRY(lms_backend_cuda_mem_info(c->be, free_b, total_b));
	*known = 1;
#endif
	return LMS_OK;
}

static size_t engine_total(const struct lms_engine_memory *m)
{
	return m->weights + m->activations + m->gradients + m->batch + m->prefix;
}

enum lms_status lms_aq_choose_recompute(struct aq_ctx *c, const struct lms_model_config *mc, int max_T,
					const struct lms_engine_options *eo, int *recompute)
{
	struct lms_engine_options keep = *eo, re = *eo;
	keep.recompute = 0;
	re.recompute = 1;
	struct lms_engine_memory mk, mr;
	LMS_TRY(lms_engine_memory_plan(mc, c->batch_size, max_T, &keep, &mk));
	LMS_TRY(lms_engine_memory_plan(mc, c->batch_size, max_T, &re, &mr));
	size_t extra = mk.activations - mr.activations;
	if (eo->forward_only || c->recompute_cfg >= 0) {
		*recompute = eo->forward_only ? 0 : c->recompute_cfg;
		return LMS_OK;
	}
	size_t free_b, total_b;
	int known;
	LMS_TRY(free_memory(c, &free_b, &total_b, &known));
	if (!known) { /* host memory: keep up to 4 GiB of activations */
		*recompute = mk.activations > 4 * GIB;
		return LMS_OK;
	}
	/* the scoring scratch (replay input, weight and output, lm_head included:
	 * an upper bound) and a margin for libraries and fragmentation */
	size_t M = (size_t)c->batch_size * (size_t)max_T, C = (size_t)mc->hidden_size;
	size_t F = (size_t)mc->intermediate_size, V = (size_t)mc->vocab_size;
	size_t big = F > V ? F : V;
	size_t scratch = 2 * (M * (F > C ? F : C) + big * C + M * big);
	size_t margin = GIB + total_b / 32;
	size_t need = engine_total(&mk) + scratch + margin;
	*recompute = need > free_b;
	LMS_INFO("memory: keeping the activations needs %.2f GB more (engine %.2f GB, scratch %.2f GB, "
		 "margin %.2f GB; %.2f GB free): %s",
		 (double)extra / 1e9, (double)engine_total(&mk) / 1e9, (double)scratch / 1e9,
		 (double)margin / 1e9, (double)free_b / 1e9,
		 *recompute ? "recomputing each layer in the backward" : "kept");
	return LMS_OK;
}

enum lms_status lms_aq_wcache_budget(struct aq_ctx *c, size_t *budget)
{
	*budget = 0;
	if (c->wcache_cfg == 0)
		return LMS_OK;
	if (c->wcache_cfg == 1) {
		*budget = c->wcache_gb >= 0.0 ? (size_t)(c->wcache_gb * 1e9) : (size_t)-1;
		return LMS_OK;
	}
	size_t free_b, total_b;
	int known;
	LMS_TRY(free_memory(c, &free_b, &total_b, &known));
	if (!known) {
		*budget = GIB;
		return LMS_OK;
	}
	size_t margin = GIB + total_b / 32;
	*budget = free_b > margin ? free_b - margin : 0;
	return LMS_OK;
}
