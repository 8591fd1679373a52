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
#include "model/safetensors.h"

enum lms_model_family {
	LMS_MODEL_QWEN3_VL = 0, /* Qwen3VLForConditionalGeneration, LM = text decoder */
	LMS_MODEL_QWEN3 = 1,	/* Qwen3ForCausalLM */
};

struct lms_model_config {
	enum lms_model_family family;
	char model_type[32];   /* "qwen3_vl" | "qwen3" as written in config.json */
	int hidden_size;       /* C */
	int intermediate_size; /* F */
	int num_layers;	       /* L */
	int num_heads;	       /* H */
	int num_kv_heads;      /* G, H % G == 0 */
	int head_dim;	       /* D */
	int vocab_size;	       /* V */
	double rms_norm_eps;
	double rope_theta;
	int tie_word_embeddings; /* lm_head shares the embedding */
	int bos_token_id;	 /* -1 when absent */
	int eos_token_id;	 /* -1 when absent */
	char lm_prefix[32];	 /* "model.language_model." | "model." */
	int pad_token_id;	 /* -1 when absent */
	char rope_type[32];	 /* "default" (the only one supported) */
	int config_form_v5;	 /* 1: rope_parameters, 0: rope_theta (+ rope_scaling) */
};

/* One decoder layer's weights; pointers are borrowed from struct lms_model. */
struct lms_layer_weights {
	const lms_bf16 *input_norm; /* (C) */
	const lms_bf16 *q;	    /* (H*D, C) */
	const lms_bf16 *k;	    /* (G*D, C) */
	const lms_bf16 *v;	    /* (G*D, C) */
	const lms_bf16 *o;	    /* (C, H*D) */
	const lms_bf16 *q_norm;	    /* (D) */
	const lms_bf16 *k_norm;	    /* (D) */
	const lms_bf16 *post_norm;  /* (C) post_attention_layernorm */
	const lms_bf16 *gate;	    /* (F, C) */
	const lms_bf16 *up;	    /* (F, C) */
	const lms_bf16 *down;	    /* (C, F) */
};

/* The language model's weights in host memory, all bf16. Pointers may point
 * into the mmapped safetensors files (when stored as BF16) or into buffers
 * owned by struct lms_model (when converted from F32/F16). */
struct lms_lm_weights {
	const lms_bf16 *embed;		  /* (V, C) */
	struct lms_layer_weights *layers; /* [L] */
	const lms_bf16 *final_norm;	  /* (C) */
	const lms_bf16 *lm_head;	  /* (V, C); == embed when tied */
};

/* ---- config.json --------------------------------------------------------- */

/* Parses the text of an HF config.json (path is only used in messages) into
 * *cfg. Accepts model_type "qwen3_vl" (decoder under text_config; the
 * transformers 4.57 form with rope_theta + rope_scaling and the v5 form with
 * rope_parameters; tie_word_embeddings at top level, else in text_config,
 * else false) and "qwen3". Missing or invalid fields fail with
 * LMS_ERR_CONFIG naming path and key path ("text_config.hidden_size"). */
LMS_NODISCARD enum lms_status lms_model_config_parse_json(const char *text, const char *path,
							  struct lms_model_config *cfg);
/* Reads dir/config.json and parses it. */
LMS_NODISCARD enum lms_status lms_model_config_load(const char *dir, struct lms_model_config *cfg);

/* Parameter counts implied by the config alone. */
struct lms_model_shape_counts {
	uint64_t layer_params;	/* one decoder layer, norms included */
	uint64_t layer_linear;	/* one decoder layer's 7 linear weights */
	uint64_t lm_params;	/* embedding + layers + final norm (+ lm_head if untied) */
	uint64_t linear_params; /* L × layer_linear (lm_head not included) */
	size_t lm_tensors;	/* 1 + 11·L + 1 (+1 if untied) */
};
void lms_model_config_counts(const struct lms_model_config *cfg,
			     struct lms_model_shape_counts *out);

/* ---- the loaded model ------------------------------------------------------ */

/* What an LM tensor is. */
enum lms_lm_role {
	LMS_LM_EMBED = 0,
	LMS_LM_FINAL_NORM,
	LMS_LM_HEAD,
	LMS_LM_INPUT_NORM,
	LMS_LM_Q,
	LMS_LM_K,
	LMS_LM_V,
	LMS_LM_O,
	LMS_LM_Q_NORM,
	LMS_LM_K_NORM,
	LMS_LM_POST_NORM,
	LMS_LM_GATE,
	LMS_LM_UP,
	LMS_LM_DOWN,
	LMS_LM_ROLE_COUNT
};

/* One LM tensor as loaded. */
struct lms_lm_tensor {
	char name[128]; /* checkpoint name */
	enum lms_lm_role role;
	int layer; /* -1 for embed/final norm/lm_head */
	int ndim;  /* 1 or 2 */
	int64_t shape[2];
	const lms_bf16 *data;		 /* borrowed from the model; NULL if loaded shapes-only */
	const struct lms_st_tensor *src; /* borrowed: the stored tensor (dtype, raw bytes, shard) */
};

struct lms_model_counts {
	size_t lm_tensors;	/* LM tensors used (lm_head counted only when stored and untied) */
	size_t skipped_tensors; /* vision tensors (model.visual.*), and lm_head.weight when tied */
	size_t total_tensors;	/* tensors in the checkpoint */
	uint64_t lm_params;	/* tie counted once */
	uint64_t linear_params; /* the decoder's 7·L linear weights */
	uint64_t lm_bytes;	/* LM weights as bf16 in memory (lm_params × 2) */
	uint64_t file_bytes;	/* tensor data bytes in all shards */
	size_t shards;
	int converted; /* LM tensors converted from F32/F16/F8 (or copied for alignment) */
};

struct lms_model;

#define LMS_MODEL_LOAD_SHAPES_ONLY 1u /* validate names/shapes, leave weight pointers NULL */

/* Loads dir/config.json and the language model's weights (all safetensors
 * checks, then every LM tensor by name and shape; vision tensors skipped).
 * Every missing or unexpected LM tensor is reported by name. BF16 tensors
 * are used in place (mmapped) when 2-byte aligned; F32/F16/F8_E4M3 are
 * converted to bf16 into buffers the model owns. *out is new (free with
 * lms_model_free) on success, NULL on failure. */
LMS_NODISCARD enum lms_status lms_model_load(const char *dir, struct lms_model **out);
LMS_NODISCARD enum lms_status lms_model_load_ex(const char *dir, unsigned flags,
						struct lms_model **out);
void lms_model_free(struct lms_model *m); /* NULL-safe */

/* Accessors; everything returned is borrowed and valid until lms_model_free. */
const struct lms_model_config *lms_model_get_config(const struct lms_model *m);
const struct lms_lm_weights *lms_model_get_weights(const struct lms_model *m);
const struct lms_model_counts *lms_model_get_counts(const struct lms_model *m);
const struct lms_st_set *lms_model_get_files(const struct lms_model *m);
const char *lms_model_get_dir(const struct lms_model *m);
size_t lms_model_lm_tensor_count(const struct lms_model *m);
const struct lms_lm_tensor *lms_model_lm_tensor(const struct lms_model *m, size_t i);

/* Short name of a role ("q_proj", "input_layernorm", ...). */
const char *lms_lm_role_name(enum lms_lm_role role);

#endif
