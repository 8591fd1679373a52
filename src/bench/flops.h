/* flops.h — the floating-point operation count of the AutoQuant phases,
 * computed from the model config alone (lmsens bench; docs/BENCHMARKS.md
 * "FLOP count" derives each term).
 *
 * Counted: every matrix product the algorithm must do, 2 FLOPs per
 * multiply-add. Per token of a row of T tokens:
 *   linear forward  2·Σ in·out over the 7 linears of every layer, plus
 *                   lm_head (V·C) — 8.04 GFLOP for the 4B shape;
 *   linear backward the same again (activation gradients dX = dY·W only; no
 *                   weight gradient is ever formed);
 *   replays         2·Σ in·out per candidate format over the linears that
 *                   are scored (lm_head disabled by default: 7.27 GFLOP);
 *   attention fwd   4·H·D·(T+1)/2 per layer (QKᵀ and PV, causal: a query
 *                   sees (T+1)/2 keys on average) — 0.15 GFLOP at T = 512;
 *   attention bwd   2× the forward (dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K,
 *                   dK = dSᵀ·Q; recomputing S is not counted).
 * Not counted: norms, RoPE, SwiGLU, softmax, fake quantization, the
 * cross-entropy and the Σ(g·Δ)² reduction (memory-bound, O(C) or O(V) per
 * token), and the extra forward of per-layer recomputation.
 *
 * Does not: time anything or read files (the caller passes the config). */
#ifndef LMS_BENCH_FLOPS_H
#define LMS_BENCH_FLOPS_H

#include "model/model.h"

/* Per-token counts (FLOP per token of a row of seq_len tokens). */
struct lms_flops_per_token {
	double linear_fwd;  /* decoder linears + lm_head, forward */
	double decoder_fwd; /* decoder linears alone (one replay of every linear) */
	double lm_head_fwd; /* lm_head alone */
	double attn_fwd;    /* causal attention forward, all layers */
	double attn_bwd;    /* its backward */
};

/* Fills *out for rows of seq_len >= 1 tokens. */
void lms_flops_per_token(const struct lms_model_config *cfg, int seq_len,
			 struct lms_flops_per_token *out);

/* Phase totals for `tokens` tokens in rows of seq_len. */
struct lms_flops_phase {
	double calibrate; /* forward: linears (+ lm_head) + attention */
	double score;	  /* forward + backward + replays */
	double replays;	  /* the replay part of score */
};

/* n_formats: candidate formats replayed per scored linear (a bundle's
 * distinct formats); lm_head_scored: 1 when lm_head is not disabled. */
void lms_flops_phases(const struct lms_model_config *cfg, int seq_len, long long tokens,
		      int n_formats, int lm_head_scored, struct lms_flops_phase *out);

#endif
