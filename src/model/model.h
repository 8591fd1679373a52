/* model.h — the Qwen3 language model as lmsens sees it: its configuration
 * (from HF config.json) and its weights (from safetensors, LM tensors only).
 *
 * Dimension letters used in shape comments across the project:
 *   C = hidden_size, F = intermediate_size, L = num_layers, H = num_heads,
 *   G = num_kv_heads, D = head_dim, V = vocab_size.
 * A linear weight is stored as in PyTorch, (out, in) row-major, y = x · Wᵀ.
 *
 * Supported: model_type "qwen3_vl" (decoder under text_config, tensors under
 * "model.language_model.", vision tensors "model.visual.*" skipped) and plain
 * "qwen3" (Qwen3ForCausalLM, tensors under "model."). */
#ifndef LMS_MODEL_MODEL_H
#define LMS_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/numeric.h"
#include "core/status.h"

enum lms_model_family {
	LMS_MODEL_QWEN3_VL = 0, /* Qwen3VLForConditionalGeneration, LM = text decoder */
	LMS_MODEL_QWEN3 = 1,    /* Qwen3ForCausalLM */
};

struct lms_model_config {
	enum lms_model_family family;
	char model_type[32];     /* "qwen3_vl" | "qwen3" as written in config.json */
	int hidden_size;         /* C */
	int intermediate_size;   /* F */
	int num_layers;          /* L */
	int num_heads;           /* H */
	int num_kv_heads;        /* G, H % G == 0 */
	int head_dim;            /* D */
	int vocab_size;          /* V */
	double rms_norm_eps;
	double rope_theta;
	int tie_word_embeddings; /* lm_head shares the embedding */
	int bos_token_id;        /* -1 when absent */
	int eos_token_id;        /* -1 when absent */
	char lm_prefix[32];      /* "model.language_model." | "model." */
};

/* One decoder layer's weights; pointers are borrowed from struct lms_model. */
struct lms_layer_weights {
	const lms_bf16 *input_norm; /* (C) */
	const lms_bf16 *q;          /* (H*D, C) */
	const lms_bf16 *k;          /* (G*D, C) */
	const lms_bf16 *v;          /* (G*D, C) */
	const lms_bf16 *o;          /* (C, H*D) */
	const lms_bf16 *q_norm;     /* (D) */
	const lms_bf16 *k_norm;     /* (D) */
	const lms_bf16 *post_norm;  /* (C) post_attention_layernorm */
	const lms_bf16 *gate;       /* (F, C) */
	const lms_bf16 *up;         /* (F, C) */
	const lms_bf16 *down;       /* (C, F) */
};

/* The language model's weights in host memory, all bf16. Pointers may point
 * into the mmapped safetensors files (when stored as BF16) or into buffers
 * owned by struct lms_model (when converted from F32/F16). */
struct lms_lm_weights {
	const lms_bf16 *embed;             /* (V, C) */
	struct lms_layer_weights *layers;  /* [L] */
	const lms_bf16 *final_norm;        /* (C) */
	const lms_bf16 *lm_head;           /* (V, C); == embed when tied */
};

#endif
