/* engine.h — the Qwen3 decoder (Qwen3-VL text model and plain Qwen3)
 * forward and backward over one batch, written once against the backend op
 * table (src/backend/backend.h).
 *
 * What it computes (shared/reference/qwen3-vl-lm.md §3–5, HF bf16 rounding):
 *   forward:  logits (B, T, V) bf16 and the causal-LM loss (HF
 *             ForCausalLMLoss: labels shifted by one, −100 ignored, mean over
 *             the valid shifted tokens of the batch, or sum);
 *   backward: dLoss/dY at the output of every linear layer — q, k, v, o,
 *             gate, up, down of each layer and lm_head — without computing
 *             any weight gradient.
 * Each linear layer is reported to an optional hook (struct lms_linear_hook)
 * with its input X, output Y, weight W and, in the backward, dY: this is how
 * calibration (amax of X) and AutoQuant scoring (replay of the linear with
 * fake-quantized X and W, Σ(g·Δ)²) see the model.
 *
 * Memory plan: the engine allocates, at init, one block per lifetime class —
 * weights (device copies; borrowed as-is when the backend's memory is host
 * memory), saved activations, gradients/scratch, and per-batch inputs — sized
 * from the config and the maximum batch shape. Nothing is allocated per
 * batch. With opts.recompute the activations of a layer are recomputed in the
 * backward from its saved input, so only the L+1 layer inputs (N, C) are kept
 * (plus one layer's working set); without it every layer's activations are
 * kept. Either way the L+1 layer inputs of the last forward stay cached, so
 * lms_engine_forward_from can rerun the model from any layer (the kl_div
 * method's prefix reuse).
 *
 * Threading: an engine is used by one thread at a time.
 * What it does not do: load checkpoints (src/model/), tokenize or batch
 * (src/data/), quantize (src/quant/), or reduce across ranks (src/dist/). */
#ifndef LMS_ENGINE_ENGINE_H
#define LMS_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"
#include "model/model.h"

enum lms_linear_kind {
	LMS_LINEAR_Q = 0,
	LMS_LINEAR_K,
	LMS_LINEAR_V,
	LMS_LINEAR_O,
	LMS_LINEAR_GATE,
	LMS_LINEAR_UP,
	LMS_LINEAR_DOWN,
	LMS_LINEAR_LM_HEAD,
	LMS_LINEAR_KIND_COUNT
};

/* The per-layer linear kinds in forward order (q, k, v, o, gate, up, down). */
#define LMS_LINEARS_PER_LAYER 7

/* "q_proj", "k_proj", ..., "down_proj", "lm_head". */
const char *lms_linear_kind_name(enum lms_linear_kind kind);

/* One linear layer at one moment of the pass. All d_ pointers are backend
 * memory, borrowed for the duration of the callback only. */
struct lms_linear_event {
	int layer; /* 0..L-1; L for lm_head */
	enum lms_linear_kind kind;
	int index;	  /* layer·7 + kind, or 7·L for lm_head: 0..7L */
	const char *name; /* HF module name, e.g.
			   * "model.language_model.layers.3.self_attn.q_proj",
			   * "lm_head" */
	int B, T;	  /* batch shape; M = B·T rows */
	int M, in, out;
	const lms_bf16 *d_x;   /* (M, in)  the linear's input */
	const lms_bf16 *d_w;   /* (out, in) */
	const lms_bf16 *d_y;   /* (M, out) the linear's output, bf16; NULL for
				* lm_head in lms_engine_forward_nologits */
	const lms_bf16 *d_dy;  /* (M, out) dLoss/dY; NULL in on_forward */
	const int32_t *d_mask; /* (B, T) attention mask (1 = token, 0 = pad) */
};

/* Callbacks, each may be NULL. on_forward fires once per linear per
 * lms_engine_forward, right after Y is computed (q, k, v, o, gate, up, down
 * per layer, then lm_head). on_backward fires once per linear per
 * lms_engine_backward, right after dY is known (lm_head first, then layers
 * L-1..0 with down, up, gate, o, v, k, q). A hook may issue backend ops on
 * the same backend but must not write any of the event's tensors. A status
 * other than LMS_OK stops the pass and is returned by it. */
struct lms_linear_hook {
	enum lms_status (*on_forward)(void *user, const struct lms_linear_event *ev);
	enum lms_status (*on_backward)(void *user, const struct lms_linear_event *ev);
	void *user;
};

enum lms_loss_reduction {
	LMS_LOSS_MEAN = 0, /* HF / ModelOpt parity: mean over valid shifted tokens */
	LMS_LOSS_SUM = 1,  /* batch-size invariant scores */
};

/* Position ids of a text-only batch (they only matter at padded positions
 * and with left padding). */
enum lms_positions {
	/* 0..T−1 whatever the mask: transformers 5.x for Qwen3-VL text-only input
	 * (compute_3d_position_ids returns None) and for Qwen3 — the version the
	 * shared fixtures were made with (5.17). */
	LMS_POSITIONS_HF5 = 0,
	/* transformers 4.57 Qwen3-VL get_rope_index: cumsum(mask) − 1, and 1 at
	 * padded positions (plain Qwen3 keeps 0..T−1). */
	LMS_POSITIONS_HF457 = 1,
};

struct lms_engine_options {
	int recompute;	  /* keep only layer inputs; recompute in backward */
	int forward_only; /* no backward: no gradient buffers, no saved acts */
	enum lms_loss_reduction loss_reduction;
	enum lms_positions positions;
	/* 1: also allocate what lms_engine_forward_from needs (two (N, C)
	 * residual-stream buffers and (N, V) logits), kept apart from the
	 * cached layer inputs and logits of lms_engine_forward. */
	int prefix_forward;
};

/* One batch, in host memory (borrowed for the call). Row-major (B, T). */
struct lms_batch {
	int B, T;	       /* 1 <= B <= max_B, 1 <= T <= max_T */
	const int32_t *ids;    /* token ids in [0, V) */
	const int32_t *mask;   /* 1 = token, 0 = padding; NULL = no padding */
	const int32_t *labels; /* unshifted labels, −100 = ignored; NULL = ids where
				* mask else −100 (ModelOpt's include_labels) */
};

struct lms_engine;

/* New engine (free with lms_engine_free). be, cfg and weights are borrowed
 * and must outlive the engine (weights only until init returns when the
 * backend is not host memory: they are copied). Fails with LMS_ERR_CONFIG
 * on an inconsistent config, LMS_ERR_UNSUPPORTED when the backend lacks an
 * op, LMS_ERR_NOMEM when a block cannot be allocated (the message names the
 * lifetime class and its size). */
LMS_NODISCARD enum lms_status lms_engine_init(struct lms_backend *be,
					      const struct lms_model_config *cfg,
					      const struct lms_lm_weights *weights, int max_B,
					      int max_T, const struct lms_engine_options *opts,
					      struct lms_engine **out);

void lms_engine_free(struct lms_engine *e); /* NULL-safe */

/* Runs the forward pass. *loss receives the batch loss (mean or sum per the
 * options; NaN for the mean when no token is valid, as PyTorch). hooks may
 * be NULL. Ids outside [0, V) or labels outside [0, V) ∪ {−100} fail with
 * LMS_ERR_INPUT naming the position. */
LMS_NODISCARD enum lms_status lms_engine_forward(struct lms_engine *e,
						 const struct lms_batch *batch,
						 const struct lms_linear_hook *hooks, double *loss);

/* The forward without logits and loss: the layers and the final norm, then
 * lm_head's on_forward event with d_y == NULL (its X, the final norm output,
 * and W are there; the (M, V) GEMM and the cross-entropy are skipped) — all
 * the calibration needs (input amax of every linear). Every other event and
 * every layer's output are bit-identical to lms_engine_forward's.
 * Afterwards lms_engine_backward and lms_engine_forward_from refuse, and
 * lms_engine_logits holds nothing valid, until the next lms_engine_forward. */
LMS_NODISCARD enum lms_status lms_engine_forward_nologits(struct lms_engine *e,
							  const struct lms_batch *batch,
							  const struct lms_linear_hook *hooks);

/* Runs the backward pass of the last forward (which must have succeeded on
 * an engine without forward_only), reporting dY of every linear to hooks. */
LMS_NODISCARD enum lms_status lms_engine_backward(struct lms_engine *e,
						  const struct lms_linear_hook *hooks);

/* Overlap on (nonzero) or off (0, the default): while on, the ops that the
 * hooks (on_forward, on_backward) issue run on the backend's side stream
 * (backend.h side_begin), where it has one, concurrently with the pass's
 * own ops; without one nothing changes. The engine joins the side stream
 * before it overwrites a buffer an event showed, and each pass waits for
 * it before returning, so the results are the in-line order's bit for bit,
 * provided a hook's ops read only the event's buffers and memory of its own,
 * write only memory of its own, and do not share backend scratch with the
 * pass (the replacement of lms_engine_forward_from stays on the main stream).
 * Calibration and gradient scoring (src/autoquant/) turn it on. */
void lms_engine_set_overlap(struct lms_engine *e, int on);

/* Number of valid shifted tokens in the last forward's batch. */
int64_t lms_engine_valid_tokens(const struct lms_engine *e);

/* Logits (B, T, V) bf16 of the last forward, in backend memory; borrowed
 * until the next forward or lms_engine_free. */
const lms_bf16 *lms_engine_logits(const struct lms_engine *e);

/* A substitution for lms_engine_forward_from: fn fires for every linear
 * that runs, right after Y is computed and before the hooks' on_forward; it
 * may OVERWRITE d_y (== ev->d_y, (M, out) bf16, writable here) with a
 * substitute — the kl_div method writes the linear's fake-quantized replay
 * fq(X)·fq(W)ᵀ — and the rest of the forward (and on_forward) sees the
 * substitute. It must not write anything else of the event. A status other
 * than LMS_OK stops the pass. */
struct lms_linear_replace {
	enum lms_status (*fn)(void *user, const struct lms_linear_event *ev, lms_bf16 *d_y);
	void *user;
};

/* Runs the forward again on the last lms_engine_forward's batch, starting
 * from the cached input of layer `start` (the unquantized residual stream
 * that forward left in the engine; 0 <= start <= L, where L starts at the
 * final norm so only lm_head runs), or from the embedding when start < 0
 * (every layer recomputed). hooks and replace (each may be NULL) fire for
 * the linears that run; replace may substitute their outputs. The cached layer inputs and
 * the last forward's logits are left as they were, so it may be called any
 * number of times per forward; its logits are lms_engine_logits_from().
 * With the same substitutions, start = l and start < 0 give bit-identical
 * logits for every l up to the first substituted layer (prefix reuse).
 * Needs opts.prefix_forward (else LMS_ERR_INTERNAL) and a successful
 * lms_engine_forward; afterwards lms_engine_backward refuses until the next
 * lms_engine_forward (the working set holds this pass's activations). No
 * loss is computed. */
LMS_NODISCARD enum lms_status lms_engine_forward_from(struct lms_engine *e, int start,
						      const struct lms_linear_hook *hooks,
						      const struct lms_linear_replace *replace);

/* Logits (B, T, V) bf16 of the last lms_engine_forward_from, in backend
 * memory; NULL without opts.prefix_forward. Borrowed like lms_engine_logits. */
const lms_bf16 *lms_engine_logits_from(const struct lms_engine *e);

/* Bytes of each lifetime class the engine allocated (for logs and docs);
 * prefix is the lms_engine_forward_from class (0 without it). */
struct lms_engine_memory {
	size_t weights, activations, gradients, batch, workspace, prefix;
};
void lms_engine_memory_usage(const struct lms_engine *e, struct lms_engine_memory *out);

/* The bytes lms_engine_init would allocate per lifetime class for this
 * config, batch shape and options, without allocating: weights (device
 * copies, as a non-host backend makes them), activations, gradients, batch,
 * prefix; workspace is 0 (the backend sizes it). For choosing
 * opts.recompute: keeping every layer's activations costs
 * plan(recompute 0).activations − plan(recompute 1).activations more. */
LMS_NODISCARD enum lms_status lms_engine_memory_plan(const struct lms_model_config *cfg,
						     int max_B, int max_T,
						     const struct lms_engine_options *opts,
						     struct lms_engine_memory *out);

/* HF module name of linear `index` (0..7L as in struct lms_linear_event).
 * Borrowed; valid until lms_engine_free. NULL when out of range. */
const char *lms_engine_linear_name(const struct lms_engine *e, int index);
int lms_engine_num_linears(const struct lms_engine *e); /* 7·L + 1 */

#endif
