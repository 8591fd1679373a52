/* engine_internal.h — the engine's private state, shared by engine.c (init,
 * memory plan, weights) and engine_pass.c (forward and backward).
 *
 * Dimension letters: N = B·T tokens, C hidden, F intermediate, H heads,
 * G kv heads, D head_dim, V vocab, L layers. All d_ pointers are backend
 * memory carved out of the engine's lifetime-class blocks.
 *
 * Invariant: with recompute (or forward_only), acts[l] for every l shares
 * one working set and differs only in x_in; otherwise every layer has its
 * own set. acts[L].x_in is the last layer's output (the final norm input). */
#ifndef LMS_ENGINE_INTERNAL_H
#define LMS_ENGINE_INTERNAL_H

#include "engine/engine.h"

/* Device copies (or borrowed host pointers) of one layer's weights. */
struct eng_layer_w {
	const lms_bf16 *input_norm, *q, *k, *v, *o, *q_norm, *k_norm, *post_norm, *gate, *up, *down;
};

/* One layer's activations (see the layer walk in engine_pass.c). */
struct eng_layer_acts {
	lms_bf16 *x_in;	  /* (N, C) layer input (residual stream) */
	lms_bf16 *a;	  /* (N, C) input_layernorm output: X of q, k, v */
	float *rstd_in;	  /* (N) */
	lms_bf16 *q;	  /* (N, H·D) q_proj output, before q_norm */
	lms_bf16 *qr;	  /* (N, H·D) after q_norm and RoPE */
	float *rstd_q;	  /* (N·H) */
	lms_bf16 *k;	  /* (N, G·D) */
	lms_bf16 *kr;	  /* (N, G·D) */
	float *rstd_k;	  /* (N·G) */
	lms_bf16 *v;	  /* (N, G·D) */
	lms_bf16 *att;	  /* (N, H·D) attention output: X of o_proj */
	float *lse;	  /* (B, H, T) */
	lms_bf16 *o;	  /* (N, C) o_proj output */
	lms_bf16 *x_mid;  /* (N, C) residual after attention */
	lms_bf16 *b;	  /* (N, C) post_attention_layernorm output: X of gate, up */
	float *rstd_post; /* (N) */
	lms_bf16 *gate;	  /* (N, F) */
	lms_bf16 *up;	  /* (N, F) */
	lms_bf16 *m;	  /* (N, F) silu(gate)·up: X of down_proj */
	lms_bf16 *down;	  /* (N, C) down_proj output */
};

/* Backward working buffers, reused by every layer. */
struct eng_grads {
	lms_bf16 *dx;	   /* (N, C) gradient of the residual stream */
	lms_bf16 *dx2;	   /* (N, C) */
	lms_bf16 *t1;	   /* (N, C) */
	lms_bf16 *t2;	   /* (N, C) */
	lms_bf16 *dh;	   /* (N, C) gradient of the final norm output */
	lms_bf16 *dm;	   /* (N, F) */
	lms_bf16 *dgate;   /* (N, F) */
	lms_bf16 *dup;	   /* (N, F) */
	lms_bf16 *datt;	   /* (N, H·D) */
	lms_bf16 *dq;	   /* (N, H·D) */
	lms_bf16 *dk;	   /* (N, G·D) */
	lms_bf16 *dv;	   /* (N, G·D) */
	lms_bf16 *dlogits; /* (N, V) */
};

struct lms_engine {
	struct lms_backend *be; /* borrowed */
	struct lms_model_config cfg;
	struct lms_engine_options opts;
	int max_B, max_T;
	int C, F, H, G, D, V, L;

	/* lifetime-class blocks (backend memory) and their sizes */
	void *d_weights_block, *d_acts_block, *d_grads_block, *d_batch_block, *d_work;
	struct lms_engine_memory mem;

	/* weights */
	const lms_bf16 *embed, *final_norm, *lm_head;
	struct eng_layer_w *lw; /* [L], host array of backend pointers */

	/* activations */
	struct eng_layer_acts *acts; /* [L + 1] */
	lms_bf16 *h;		     /* (N, C) final norm output: X of lm_head */
	float *rstd_final;	     /* (N) */
	lms_bf16 *logits;	     /* (N, V) */
	struct eng_grads gr;

	/* per-batch inputs in backend memory */
	int32_t *d_ids, *d_mask, *d_targets; /* (N) */
	lms_bf16 *d_cos, *d_sin;	     /* (N, D/2) */
	float *d_losses;		     /* (N) */

	/* host staging, sized for max N */
	int32_t *h_mask, *h_targets;
	lms_bf16 *h_cos, *h_sin;
	float *h_losses;
	float *h_inv_freq; /* (D/2) */
	/* d_cos/d_sin hold the tables of positions 0..rope_T-1 in each of
	 * rope_B rows (0: not known), which every batch of that shape has
	 * unless positions follow the mask (LMS_POSITIONS_HF457) */
	int rope_B, rope_T;

	/* lms_engine_forward_from (opts.prefix_forward): residual stream
	 * ping-pong buffers (N, C) and its logits (N, V), in d_prefix_block */
	void *d_prefix_block;
	lms_bf16 *pf_x[2];
	lms_bf16 *pf_logits;
	const struct lms_linear_replace *replace; /* set during forward_from only */

	/* state of the last forward */
	int B, T;
	int64_t n_valid;
	int have_forward; /* backward may run */
	int have_cache;	  /* acts[*].x_in and logits hold the last forward */
	int have_dlogits; /* gr.dlogits holds the last forward's loss gradient */
	/* recompute (not forward_only): acts[l].att and .lse are per layer
	 * (carve_acts), written by the forward and kept for the backward, whose
	 * recomputed layer forward sets skip_att and does not run the
	 * attention again (the same deterministic result). */
	int skip_att;
	/* lms_engine_backward_overlap: backward hooks on the backend's side
	 * stream (engine_pass.c says where the main stream joins it) */
	int side;

	char (*names)[96]; /* [7L + 1] HF module names */
	char (*lnames)[80]; /* [L + 2] "<lm_prefix>layers.<l>", then "<lm_prefix>norm"
			     * and "<lm_prefix>embed_tokens": the op labels of the
			     * non-linear ops (backend.h set_label) */
};

/* engine_pass.c: the layer forward used by both passes (hooks may be NULL). */
enum lms_status lms_eng_layer_forward(struct lms_engine *e, int l, struct eng_layer_acts *A,
				      lms_bf16 *x_out, const struct lms_linear_hook *hooks);

#endif
