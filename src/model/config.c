/* config.c — HF config.json → struct lms_model_config.
 *
 * Accepted (values and both forms in reference/qwen3-vl-lm.md §1):
 *   model_type "qwen3_vl": decoder keys under "text_config"; RoPE either as
 *     text_config.rope_theta (+ optional rope_scaling, transformers 4.57) or
 *     text_config.rope_parameters.rope_theta (v5); tie_word_embeddings at the
 *     top level (what HF uses), else in text_config, else false.
 *   model_type "qwen3": the same keys at the top level (Qwen3ForCausalLM).
 * Required decoder keys: hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, head_dim, vocab_size,
 * rms_norm_eps and a rope theta. HF would silently default some of them; a
 * checkpoint always writes them, and a silent default (rope_theta 5e5 vs
 * 5e6) would give wrong numbers, so lmsens insists.
 * Not supported (clear error): attention_bias true, hidden_act other than
 * silu, rope types other than "default", any other model_type. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "model/model.h"

#define CONFIG_MAX_BYTES (16u * 1024u * 1024u)
#define HINT_FIELD "config.json must be the Hugging Face config of a Qwen3 or Qwen3-VL checkpoint"

struct ctx {
	const char *path;
	const char *sect; /* "text_config." or "" */
};

static enum lms_status need_int(const struct ctx *c, const json_t *obj, const char *key, int lo,
				int hi, int *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD, "%s: %s%s: missing", c->path, c->sect,
				key);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
				"%s: %s%s: must be an integer in [%d, %d]", c->path, c->sect, key,
				lo, hi);
	*out = (int)json_integer_value(v);
	return LMS_OK;
}

static enum lms_status need_pos_number(const struct ctx *c, const json_t *obj, const char *key,
				       const char *shown, double *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD, "%s: %s%s: missing", c->path, c->sect,
				shown);
	if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD, "%s: %s%s: must be a positive number",
				c->path, c->sect, shown);
	*out = json_number_value(v);
	return LMS_OK;
}

/* Optional token id: integer, or the first element of an integer list. */
static int token_id(const json_t *v)
{
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < INT_MAX)
		return (int)json_integer_value(v);
	return -1;
}

static enum lms_status parse_rope(const struct ctx *c, const json_t *tc,
				  struct lms_model_config *cfg)
{
	const json_t *rp = json_object_get(tc, "rope_parameters");
	const json_t *rs = json_object_get(tc, "rope_scaling");
	const json_t *rtype = NULL;
	if (rp && !json_is_null(rp)) {
		if (!json_is_object(rp))
			return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
					"%s: %srope_parameters: must be an object", c->path,
					c->sect);
		cfg->config_form_v5 = 1;
		if (json_object_get(rp, "rope_theta"))
			LMS_TRY(need_pos_number(c, rp, "rope_theta", "rope_parameters.rope_theta",
						&cfg->rope_theta));
		else
			LMS_TRY(need_pos_number(c, tc, "rope_theta", "rope_parameters.rope_theta",
						&cfg->rope_theta));
		rtype = json_object_get(rp, "rope_type");
	} else {
		LMS_TRY(need_pos_number(c, tc, "rope_theta", "rope_theta", &cfg->rope_theta));
		if (rs && !json_is_null(rs)) {
			if (!json_is_object(rs))
				return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
						"%s: %srope_scaling: must be an object or null",
						c->path, c->sect);
			rtype = json_object_get(rs, "rope_type");
			if (!rtype)
				rtype = json_object_get(rs, "type");
		}
	}
	snprintf(cfg->rope_type, sizeof cfg->rope_type, "%s",
		 json_is_string(rtype) ? json_string_value(rtype) : "default");
	if (strcmp(cfg->rope_type, "default") != 0)
		return lms_fail(
		    LMS_ERR_UNSUPPORTED,
		    "lmsens implements the plain RoPE of Qwen3 / Qwen3-VL (rope_type default)",
		    "%s: %s%s.rope_type: '%s' is not supported", c->path, c->sect,
		    cfg->config_form_v5 ? "rope_parameters" : "rope_scaling", cfg->rope_type);
	return LMS_OK;
}

static enum lms_status check_unsupported(const struct ctx *c, const json_t *tc)
{
	const json_t *act = json_object_get(tc, "hidden_act");
	if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu") != 0))
		return lms_fail(LMS_ERR_UNSUPPORTED, "Qwen3 uses hidden_act \"silu\"",
				"%s: %shidden_act: only \"silu\" is supported", c->path, c->sect);
	const json_t *ab = json_object_get(tc, "attention_bias");
	if (ab && !json_is_false(ab) && !json_is_null(ab))
		return lms_fail(LMS_ERR_UNSUPPORTED, "Qwen3 has no attention biases",
				"%s: %sattention_bias: only false is supported", c->path, c->sect);
	return LMS_OK;
}

/* Reads the decoder keys from tc (the text_config object or the top level). */
static enum lms_status parse_decoder(const struct ctx *c, const json_t *tc,
				     struct lms_model_config *cfg)
{
	LMS_TRY(need_int(c, tc, "hidden_size", 1, 1 << 16, &cfg->hidden_size));
	LMS_TRY(need_int(c, tc, "intermediate_size", 1, 1 << 18, &cfg->intermediate_size));
	LMS_TRY(need_int(c, tc, "num_hidden_layers", 1, 1024, &cfg->num_layers));
	LMS_TRY(need_int(c, tc, "num_attention_heads", 1, 1024, &cfg->num_heads));
	LMS_TRY(need_int(c, tc, "num_key_value_heads", 1, 1024, &cfg->num_kv_heads));
	LMS_TRY(need_int(c, tc, "head_dim", 2, 4096, &cfg->head_dim));
	LMS_TRY(need_int(c, tc, "vocab_size", 1, 1 << 24, &cfg->vocab_size));
	LMS_TRY(need_pos_number(c, tc, "rms_norm_eps", "rms_norm_eps", &cfg->rms_norm_eps));
	LMS_TRY(parse_rope(c, tc, cfg));
	LMS_TRY(check_unsupported(c, tc));
	if (cfg->num_heads % cfg->num_kv_heads != 0)
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
				"%s: %snum_attention_heads (%d) is not a multiple of "
				"num_key_value_heads (%d)",
				c->path, c->sect, cfg->num_heads, cfg->num_kv_heads);
	if (cfg->head_dim % 2 != 0)
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
				"%s: %shead_dim (%d) must be even (RoPE)", c->path, c->sect,
				cfg->head_dim);
	if ((long long)cfg->num_heads * cfg->head_dim > (1 << 18))
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
				"%s: %snum_attention_heads × head_dim is too large", c->path,
				c->sect);
	return LMS_OK;
}

static enum lms_status parse_tie(const struct ctx *c, const json_t *root, const json_t *tc,
				 struct lms_model_config *cfg)
{
	const json_t *top = json_object_get(root, "tie_word_embeddings");
	const json_t *inner = tc != root ? json_object_get(tc, "tie_word_embeddings") : NULL;
	const json_t *use = top ? top : inner;
	if (use && !json_is_boolean(use))
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
				"%s: %stie_word_embeddings: must be true "
				"or false",
				c->path, top ? "" : c->sect);
	cfg->tie_word_embeddings = use ? json_is_true(use) : 0;
	if (top && inner && json_is_boolean(inner) && json_is_true(top) != json_is_true(inner))
		LMS_WARN("%s: tie_word_embeddings is %s at the top level but %s in text_config; "
			 "using the top-level value as transformers 5 does (4.57 read text_config)",
			 c->path, json_is_true(top) ? "true" : "false",
			 json_is_true(inner) ? "true" : "false");
	return LMS_OK;
}

static enum lms_status parse_root(const char *path, const json_t *root,
				  struct lms_model_config *cfg)
{
	struct ctx c = {path, ""};
	if (!json_is_object(root))
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD, "%s: not a JSON object", path);
	const json_t *mt = json_object_get(root, "model_type");
	if (!json_is_string(mt))
		return lms_fail(LMS_ERR_CONFIG, HINT_FIELD, "%s: model_type: missing", path);
	const char *type = json_string_value(mt);
	const json_t *tc = root;
	if (strcmp(type, "qwen3_vl") == 0) {
		cfg->family = LMS_MODEL_QWEN3_VL;
		snprintf(cfg->lm_prefix, sizeof cfg->lm_prefix, "model.language_model.");
		tc = json_object_get(root, "text_config");
		if (!json_is_object(tc))
			return lms_fail(LMS_ERR_CONFIG, HINT_FIELD,
					"%s: text_config: missing or not an object (model_type "
					"qwen3_vl keeps the decoder settings there)",
					path);
		c.sect = "text_config.";
	} else if (strcmp(type, "qwen3") == 0) {
		cfg->family = LMS_MODEL_QWEN3;
		snprintf(cfg->lm_prefix, sizeof cfg->lm_prefix, "model.");
	} else {
		return lms_fail(
		    LMS_ERR_UNSUPPORTED,
		    "lmsens supports model_type \"qwen3_vl\" (Qwen3-VL) and \"qwen3\" (Qwen3)",
		    "%s: model_type: unknown model type '%s'", path, type);
	}
	snprintf(cfg->model_type, sizeof cfg->model_type, "%s", type);
	LMS_TRY(parse_decoder(&c, tc, cfg));
	LMS_TRY(parse_tie(&c, root, tc, cfg));
	const json_t *bos = json_object_get(tc, "bos_token_id");
	const json_t *eos = json_object_get(tc, "eos_token_id");
	const json_t *pad = json_object_get(tc, "pad_token_id");
	cfg->bos_token_id = token_id(bos ? bos : json_object_get(root, "bos_token_id"));
	cfg->eos_token_id = token_id(eos ? eos : json_object_get(root, "eos_token_id"));
	cfg->pad_token_id = token_id(pad ? pad : json_object_get(root, "pad_token_id"));
	return LMS_OK;
}

enum lms_status lms_model_config_parse_json(const char *text, const char *path,
					    struct lms_model_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return lms_fail(LMS_ERR_CONFIG, "fix the JSON syntax", "%s:%d:%d: invalid JSON: %s",
				path, jerr.line, jerr.column, jerr.text);
	enum lms_status st = parse_root(path, root, cfg);
	json_decref(root);
	return st;
}

enum lms_status lms_model_config_load(const char *dir, struct lms_model_config *cfg)
{
	char path[4096];
	char *text;
	LMS_TRY(lms_path_join(path, sizeof path, dir, "config.json"));
	LMS_TRY(lms_read_file(path, CONFIG_MAX_BYTES, "config.json", &text, NULL));
	enum lms_status st = lms_model_config_parse_json(text, path, cfg);
	free(text);
	return st;
}

void lms_model_config_counts(const struct lms_model_config *cfg, struct lms_model_shape_counts *out)
{
	uint64_t C = (uint64_t)cfg->hidden_size, F = (uint64_t)cfg->intermediate_size;
	uint64_t H = (uint64_t)cfg->num_heads, G = (uint64_t)cfg->num_kv_heads;
	uint64_t D = (uint64_t)cfg->head_dim, V = (uint64_t)cfg->vocab_size;
	uint64_t L = (uint64_t)cfg->num_layers;
	out->layer_linear = H * D * C + 2 * G * D * C + C * H * D + 3 * F * C;
	out->layer_params = out->layer_linear + 2 * C + 2 * D;
	out->linear_params = L * out->layer_linear;
	out->lm_params = V * C + L * out->layer_params + C + (cfg->tie_word_embeddings ? 0 : V * C);
	out->lm_tensors = 1 + 11 * (size_t)L + 1 + (cfg->tie_word_embeddings ? 0 : 1);
}
