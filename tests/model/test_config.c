/* test_config.c — config.json parsing: the real Qwen3-VL-4B-Instruct config in
 * the transformers 4.57 and v5 forms (values from reference/qwen3-vl-lm.md
 * §1.1), a plain Qwen3 config, the tie rules, and invalid configs with their
 * exact errors (tests/data/model/config/bad-*.json). */
#include <stdio.h>
#include <stdlib.h>

#include "core/fsutil.h"
#include "model/model.h"
#include "test.h"

static char g_dir[4096];

static enum lms_status parse_file(const char *name, struct lms_model_config *c)
{
	char path[4096 + 64], *text;
	snprintf(path, sizeof path, "%s/%s", g_dir, name);
	LMS_TRY(lms_read_file(path, 1 << 20, "config.json", &text, NULL));
	enum lms_status st = lms_model_config_parse_json(text, name, c);
	free(text);
	return st;
}

static void check_4b(const struct lms_model_config *c)
{
	CHECK_INT_EQ(c->family, LMS_MODEL_QWEN3_VL);
	CHECK_STR_EQ(c->model_type, "qwen3_vl");
	CHECK_STR_EQ(c->lm_prefix, "model.language_model.");
	CHECK_INT_EQ(c->hidden_size, 2560);
	CHECK_INT_EQ(c->intermediate_size, 9728);
	CHECK_INT_EQ(c->num_layers, 36);
	CHECK_INT_EQ(c->num_heads, 32);
	CHECK_INT_EQ(c->num_kv_heads, 8);
	CHECK_INT_EQ(c->head_dim, 128);
	CHECK_INT_EQ(c->vocab_size, 151936);
	CHECK_NEAR(c->rms_norm_eps, 1e-6, 0, 0);
	CHECK_NEAR(c->rope_theta, 5000000.0, 0, 0);
	CHECK_INT_EQ(c->tie_word_embeddings, 1);
	CHECK_INT_EQ(c->bos_token_id, 151643);
	CHECK_INT_EQ(c->eos_token_id, 151645);
	CHECK_INT_EQ(c->pad_token_id, -1);
	CHECK_STR_EQ(c->rope_type, "default");
}

static void test_real_configs(void)
{
	struct lms_model_config c;
	CHECK_INT_EQ(parse_file("qwen3-vl-4b-instruct.json", &c), LMS_OK);
	check_4b(&c);
	CHECK_INT_EQ(c.config_form_v5, 0);
	CHECK_INT_EQ(parse_file("qwen3-vl-4b-instruct-v5.json", &c), LMS_OK);
	check_4b(&c);
	CHECK_INT_EQ(c.config_form_v5, 1);

	/* Reference §7: LM 4,022,468,096 params, 398 tensors, 252 linears. */
	struct lms_model_shape_counts sc;
	lms_model_config_counts(&c, &sc);
	CHECK_INT_EQ(sc.lm_params, 4022468096LL);
	CHECK_INT_EQ(sc.linear_params, 3633315840LL);
	CHECK_INT_EQ(sc.layer_params, 100930816LL);
	CHECK_INT_EQ(sc.layer_linear, 100925440LL);
	CHECK_INT_EQ(sc.lm_tensors, 398);

	CHECK_INT_EQ(parse_file("qwen3-4b.json", &c), LMS_OK);
	CHECK_INT_EQ(c.family, LMS_MODEL_QWEN3);
	CHECK_STR_EQ(c.model_type, "qwen3");
	CHECK_STR_EQ(c.lm_prefix, "model.");
	CHECK_INT_EQ(c.hidden_size, 2560);
	CHECK_INT_EQ(c.num_layers, 36);
	CHECK_INT_EQ(c.num_kv_heads, 8);
	CHECK_NEAR(c.rope_theta, 1000000.0, 0, 0);
	CHECK_INT_EQ(c.tie_word_embeddings, 1);
	CHECK_INT_EQ(c.config_form_v5, 0);

	/* Untied (8B-like): lm_head counted separately, one more tensor. */
	CHECK_INT_EQ(parse_file("qwen3-vl-8b-like.json", &c), LMS_OK);
	CHECK_INT_EQ(c.tie_word_embeddings, 0);
	lms_model_config_counts(&c, &sc);
	CHECK_INT_EQ(sc.lm_tensors, 399);
	CHECK_INT_EQ(sc.lm_params, (uint64_t)151936 * 4096 * 2 + 4096 +
				       36 * ((uint64_t)4096 * 4096 * 2 + 1024ULL * 4096 * 2 +
					     3ULL * 12288 * 4096 + 2 * 4096 + 2 * 128));

	/* tie_word_embeddings only inside text_config is honoured. */
	CHECK_INT_EQ(parse_file("tie-in-text-config-only.json", &c), LMS_OK);
	CHECK_INT_EQ(c.tie_word_embeddings, 1);
}

struct bad_case {
	const char *file;
	enum lms_status st;
	const char *msg;
};

static const struct bad_case g_bad[] = {
    {"bad-missing-kv-heads.json", LMS_ERR_CONFIG,
     "bad-missing-kv-heads.json: text_config.num_key_value_heads: missing"},
    {"bad-missing-rope-theta.json", LMS_ERR_CONFIG,
     "bad-missing-rope-theta.json: text_config.rope_theta: missing"},
    {"bad-missing-text-config.json", LMS_ERR_CONFIG,
     "bad-missing-text-config.json: text_config: missing or not an object"},
    {"bad-unknown-model-type.json", LMS_ERR_UNSUPPORTED,
     "bad-unknown-model-type.json: model_type: unknown model type 'llama'"},
    {"bad-heads-not-multiple.json", LMS_ERR_CONFIG,
     "text_config.num_attention_heads (32) is not a multiple of num_key_value_heads (5)"},
    {"bad-rope-yarn.json", LMS_ERR_UNSUPPORTED,
     "text_config.rope_scaling.rope_type: 'yarn' is not supported"},
    {"bad-attention-bias.json", LMS_ERR_UNSUPPORTED,
     "text_config.attention_bias: only false is supported"},
    {"bad-hidden-size-string.json", LMS_ERR_CONFIG,
     "text_config.hidden_size: must be an integer in [1, 65536]"},
    {"bad-negative-layers.json", LMS_ERR_CONFIG,
     "text_config.num_hidden_layers: must be an integer in [1, 1024]"},
    {"bad-qwen3-missing-vocab.json", LMS_ERR_CONFIG,
     "bad-qwen3-missing-vocab.json: vocab_size: missing"},
    {"bad-json.json", LMS_ERR_CONFIG, "bad-json.json:2:39: invalid JSON"},
};

static void test_bad_configs(void)
{
	for (size_t i = 0; i < sizeof g_bad / sizeof g_bad[0]; i++) {
		struct lms_model_config c;
		CHECK_FAILS_WITH(parse_file(g_bad[i].file, &c), g_bad[i].st, g_bad[i].msg);
		CHECK(lms_error_hint()[0] != '\0');
	}
	struct lms_model_config c;
	CHECK_FAILS_WITH(lms_model_config_load("/nonexistent-lmsens-dir", &c), LMS_ERR_NOT_FOUND,
			 "/nonexistent-lmsens-dir/config.json");
}

int main(void)
{
	const char *src = getenv("LMSENS_SOURCE_DIR");
	snprintf(g_dir, sizeof g_dir, "%s/tests/data/model/config", src ? src : LMSENS_SOURCE_DIR);
	test_real_configs();
	test_bad_configs();
	return lms_test_finish();
}
