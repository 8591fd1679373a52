/* mkmodel.h — writes Hugging Face-layout checkpoints with seeded random
 * weights (`lmsens mkmodel`): config.json, generation_config.json, sharded
 * *.safetensors + model.safetensors.index.json and, for tiny/small, the
 * small byte-level BPE tokenizer of tinytok.h.
 *
 * Weights are bf16: normal(0, 0.02) for linear, convolution and embedding
 * weights (rng.h; same seed → same bytes on every machine and for every
 * thread count), ones for norm weights, zeros for biases. Each tensor's
 * values depend only on (seed, tensor name without the LM prefix), so the
 * qwen3 and qwen3_vl formats of a preset hold the same LM weights.
 * Files are streamed shard by shard through atomic temporary files; at most
 * two 64 MiB buffers are held. Presets and their shapes: docs/model.md.
 * Not done here: reading (safetensors.h, model.h). */
#ifndef LMS_MODEL_MKMODEL_H
#define LMS_MODEL_MKMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

struct lms_vision_config {
	int depth, hidden_size, intermediate_size, num_heads;
	int patch_size, temporal_patch_size, in_channels, spatial_merge_size;
	int out_hidden_size, num_position_embeddings;
	int deepstack[4]; /* deepstack_visual_indexes */
	int n_deepstack;
};

struct lms_mkmodel_preset {
	const char *name;
	struct lms_model_config text; /* family/prefix set for qwen3_vl */
	struct lms_vision_config vision;
	int mrope_section[3];
	int vision_token_ids[4]; /* vision_start, vision_end, image, video */
	uint64_t shard_bytes;	 /* default maximum shard size */
	int tokenizer;		 /* 1: write the tiny tokenizer */
};

/* NULL when name is not a preset; borrowed (static). */
const struct lms_mkmodel_preset *lms_mkmodel_find_preset(const char *name);
/* "tiny, small, qwen3-vl-4b" */
const char *lms_mkmodel_preset_names(void);

struct lms_mkmodel_opts {
	const char *preset;  /* "tiny" | "small" | "qwen3-vl-4b" */
	const char *out_dir; /* created if missing */
	uint64_t seed;
	enum lms_model_family format; /* LMS_MODEL_QWEN3_VL (with vision) | LMS_MODEL_QWEN3 */
	int config_v5;		      /* 1: rope_parameters; 0: rope_theta + rope_scaling (4.57) */
	uint64_t shard_bytes;	      /* 0: the preset's default */
	int threads;		      /* 0: online CPUs, at most 64 */
	int zeros;		      /* all-zero weights written as sparse files */
};

struct lms_mkmodel_result {
	size_t tensors; /* all tensors written */
	size_t lm_tensors;
	size_t shards;
	uint64_t params;     /* all parameters written */
	uint64_t data_bytes; /* tensor data bytes in all shards */
};

/* Writes the checkpoint described by o. On failure no file under its final
 * name is partial (earlier files of the checkpoint may exist). */
LMS_NODISCARD enum lms_status lms_mkmodel_write(const struct lms_mkmodel_opts *o,
						struct lms_mkmodel_result *res);

/* ---- shared between mkmodel.c and mkmodel_write.c ------------------------- */

enum lms_mk_init { LMS_MK_NORMAL = 0, LMS_MK_ONES, LMS_MK_ZEROS };

struct lms_mk_tensor {
	char name[128];
	int ndim;
	int64_t shape[5];
	uint64_t numel;
	enum lms_mk_init init;
	uint64_t stream; /* RNG stream: hash of the name without the LM prefix */
	int lm;		 /* 1 for a language-model tensor */
	int shard;	 /* assigned by the writer */
	uint64_t begin;	 /* data offset inside the shard */
};

/* Builds the tensor list of a preset in a format (new array, free()). */
LMS_NODISCARD enum lms_status lms_mk_tensors(const struct lms_mkmodel_preset *p,
					     enum lms_model_family format,
					     struct lms_mk_tensor **out, size_t *n);

/* Writes the shards and the index (mkmodel_write.c). */
LMS_NODISCARD enum lms_status lms_mk_write_shards(const char *dir, struct lms_mk_tensor *t,
						  size_t n, uint64_t shard_bytes, uint64_t seed,
						  int threads, int zeros, size_t *n_shards);

#endif
