/* mkmodel.c — presets, tensor lists and the JSON files of `lmsens mkmodel`.
 *
 * Presets (docs/model.md has the table):
 *   tiny         2 layers, C 64, F 128, H 4 × D 32 (H·D ≠ C), G 2, V 512,
 *                tied — the demo and test model; 2-block vision tower.
 *   small        4 layers, C 256, F 768, H 8 × D 64, G 2, V 151936 (the
 *                full Qwen vocabulary), untied (lm_head stored, like the 8B).
 *   qwen3-vl-4b  exactly Qwen3-VL-4B-Instruct (reference §1.1, §2.3).
 * The qwen3_vl format adds the vision tower's tensors (model.visual.*) so
 * that LM-only loading is exercised; the qwen3 format writes a
 * Qwen3ForCausalLM checkpoint (tensors under "model.", no vision).
 * Not done here: the binary writing (mkmodel_write.c). */
#include "model/mkmodel.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "model/tinytok.h"

#define TEXT(C_, F_, L_, H_, G_, D_, V_, TIE_, BOS_, EOS_)                                         \
	{                                                                                          \
		.family = LMS_MODEL_QWEN3_VL, .model_type = "qwen3_vl", .hidden_size = C_,         \
		.intermediate_size = F_, .num_layers = L_, .num_heads = H_, .num_kv_heads = G_,    \
		.head_dim = D_, .vocab_size = V_, .rms_norm_eps = 1e-6, .rope_theta = 5000000.0,   \
		.tie_word_embeddings = TIE_, .bos_token_id = BOS_, .eos_token_id = EOS_,           \
		.lm_prefix = "model.language_model.", .pad_token_id = -1, .rope_type = "default"   \
	}

#define TT_FREE LMS_TINYTOK_SIZE /* first id the tiny tokenizer does not use */

static const struct lms_mkmodel_preset g_presets[] = {
    {.name = "tiny",
     .text = TEXT(64, 128, 2, 4, 2, 32, 512, 1, LMS_TINYTOK_ENDOFTEXT, LMS_TINYTOK_IM_END),
     .vision = {.depth = 2,
		.hidden_size = 32,
		.intermediate_size = 64,
		.num_heads = 2,
		.patch_size = 4,
		.temporal_patch_size = 2,
		.in_channels = 3,
		.spatial_merge_size = 2,
		.out_hidden_size = 64,
		.num_position_embeddings = 16,
		.deepstack = {0, 1},
		.n_deepstack = 2},
     .mrope_section = {6, 5, 5},
     .vision_token_ids = {TT_FREE, TT_FREE + 1, TT_FREE + 2, TT_FREE + 3},
     .shard_bytes = 128 * 1024,
     .tokenizer = 1},
    {.name = "small",
     .text = TEXT(256, 768, 4, 8, 2, 64, 151936, 0, LMS_TINYTOK_ENDOFTEXT, LMS_TINYTOK_IM_END),
     .vision = {.depth = 2,
		.hidden_size = 64,
		.intermediate_size = 128,
		.num_heads = 2,
		.patch_size = 8,
		.temporal_patch_size = 2,
		.in_channels = 3,
		.spatial_merge_size = 2,
		.out_hidden_size = 256,
		.num_position_embeddings = 64,
		.deepstack = {1},
		.n_deepstack = 1},
     .mrope_section = {12, 10, 10},
     .vision_token_ids = {TT_FREE, TT_FREE + 1, TT_FREE + 2, TT_FREE + 3},
     .shard_bytes = 64 * 1024 * 1024,
     .tokenizer = 1},
    {.name = "qwen3-vl-4b",
     .text = TEXT(2560, 9728, 36, 32, 8, 128, 151936, 1, 151643, 151645),
     .vision = {.depth = 24,
		.hidden_size = 1024,
		.intermediate_size = 4096,
		.num_heads = 16,
		.patch_size = 16,
		.temporal_patch_size = 2,
		.in_channels = 3,
		.spatial_merge_size = 2,
		.out_hidden_size = 2560,
		.num_position_embeddings = 2304,
		.deepstack = {5, 11, 17},
		.n_deepstack = 3},
     .mrope_section = {24, 20, 20},
     .vision_token_ids = {151652, 151653, 151655, 151656},
     .shard_bytes = 5000000000ULL,
     .tokenizer = 0},
};

#define N_PRESETS (sizeof g_presets / sizeof g_presets[0])

const struct lms_mkmodel_preset *lms_mkmodel_find_preset(const char *name)
{
	for (size_t i = 0; i < N_PRESETS; i++)
		if (strcmp(g_presets[i].name, name) == 0)
			return &g_presets[i];
	return NULL;
}

const char *lms_mkmodel_preset_names(void)
{
	return "tiny, small, qwen3-vl-4b";
}

/* ---- tensor lists ---------------------------------------------------------- */

struct list {
	struct lms_mk_tensor *t;
	size_t n, cap;
	const char *prefix; /* LM prefix of the format */
	int lm;		    /* tensors being added are LM tensors */
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Adds one tensor; `rel` is the name without the LM prefix (LM) or the
 * full name (vision). Up to 5 dims, 0-terminated. */
static void add(struct list *l, enum lms_mk_init init, const char *rel, int64_t d0, int64_t d1,
		int64_t d2, int64_t d3, int64_t d4)
{
	if (l->n == l->cap)
		return; /* capacity is computed exactly by the caller */
	struct lms_mk_tensor *t = &l->t[l->n++];
	memset(t, 0, sizeof *t);
	int64_t d[5] = {d0, d1, d2, d3, d4};
	t->numel = 1;
	for (int i = 0; i < 5 && d[i]; i++) {
		t->shape[t->ndim++] = d[i];
		t->numel *= (uint64_t)d[i];
	}
	int top = strcmp(rel, "lm_head.weight") == 0 || !l->lm;
	snprintf(t->name, sizeof t->name, "%s%s", top ? "" : l->prefix, rel);
	t->init = init;
	t->lm = l->lm;
	t->stream = fnv1a(rel);
}

static void add_lm(struct list *l, const struct lms_model_config *c)
{
	int64_t C = c->hidden_size, F = c->intermediate_size, D = c->head_dim;
	int64_t HD = (int64_t)c->num_heads * D, GD = (int64_t)c->num_kv_heads * D;
	char n[128];
	l->lm = 1;
	add(l, LMS_MK_NORMAL, "embed_tokens.weight", c->vocab_size, C, 0, 0, 0);
	for (int i = 0; i < c->num_layers; i++) {
#define LAYER(init, what, a, b)                                                                    \
	snprintf(n, sizeof n, "layers.%d.%s.weight", i, what);                                     \
	add(l, init, n, a, b, 0, 0, 0)
		LAYER(LMS_MK_ONES, "input_layernorm", C, 0);
		LAYER(LMS_MK_NORMAL, "self_attn.q_proj", HD, C);
		LAYER(LMS_MK_NORMAL, "self_attn.k_proj", GD, C);
		LAYER(LMS_MK_NORMAL, "self_attn.v_proj", GD, C);
		LAYER(LMS_MK_NORMAL, "self_attn.o_proj", C, HD);
		LAYER(LMS_MK_ONES, "self_attn.q_norm", D, 0);
		LAYER(LMS_MK_ONES, "self_attn.k_norm", D, 0);
		LAYER(LMS_MK_ONES, "post_attention_layernorm", C, 0);
		LAYER(LMS_MK_NORMAL, "mlp.gate_proj", F, C);
		LAYER(LMS_MK_NORMAL, "mlp.up_proj", F, C);
		LAYER(LMS_MK_NORMAL, "mlp.down_proj", C, F);
#undef LAYER
	}
	add(l, LMS_MK_ONES, "norm.weight", C, 0, 0, 0, 0);
	if (!c->tie_word_embeddings)
		add(l, LMS_MK_NORMAL, "lm_head.weight", c->vocab_size, C, 0, 0, 0);
	l->lm = 0;
}

/* n = base + suffix; tensor names are short, so truncation is a bug. */
static void join_name(char *n, size_t cap, const char *base, const char *suffix)
{
	int len = snprintf(n, cap, "%s%s", base, suffix);
	LMS_ASSERT(len >= 0 && (size_t)len < cap);
}

/* A linear layer (weight + bias) or a LayerNorm (weight ones + bias zeros). */
static void add_linear(struct list *l, const char *base, int64_t out, int64_t in)
{
	char n[128];
	join_name(n, sizeof n, base, ".weight");
	add(l, LMS_MK_NORMAL, n, out, in, 0, 0, 0);
	join_name(n, sizeof n, base, ".bias");
	add(l, LMS_MK_ZEROS, n, out, 0, 0, 0, 0);
}

static void add_layernorm(struct list *l, const char *base, int64_t dim)
{
	char n[128];
	join_name(n, sizeof n, base, ".weight");
	add(l, LMS_MK_ONES, n, dim, 0, 0, 0, 0);
	join_name(n, sizeof n, base, ".bias");
	add(l, LMS_MK_ZEROS, n, dim, 0, 0, 0, 0);
}

static void add_merger(struct list *l, const char *base, const struct lms_vision_config *v,
		       int postshuffle)
{
	int64_t m = (int64_t)v->hidden_size * v->spatial_merge_size * v->spatial_merge_size;
	char n[128];
	join_name(n, sizeof n, base, ".norm");
	add_layernorm(l, n, postshuffle ? m : v->hidden_size);
	join_name(n, sizeof n, base, ".linear_fc1");
	add_linear(l, n, m, m);
	join_name(n, sizeof n, base, ".linear_fc2");
	add_linear(l, n, v->out_hidden_size, m);
}

/* The Qwen3-VL vision tower (reference §2.3): 12·depth + 9 + 6·deepstack. */
static void add_vision(struct list *l, const struct lms_vision_config *v)
{
	int64_t h = v->hidden_size, p = v->patch_size;
	char n[128];
	add(l, LMS_MK_NORMAL, "model.visual.patch_embed.proj.weight", h, v->in_channels,
	    v->temporal_patch_size, p, p);
	add(l, LMS_MK_ZEROS, "model.visual.patch_embed.proj.bias", h, 0, 0, 0, 0);
	add(l, LMS_MK_NORMAL, "model.visual.pos_embed.weight", v->num_position_embeddings, h, 0, 0,
	    0);
	for (int b = 0; b < v->depth; b++) {
#define BLK(what) (snprintf(n, sizeof n, "model.visual.blocks.%d.%s", b, what), n)
		add_layernorm(l, BLK("norm1"), h);
		add_layernorm(l, BLK("norm2"), h);
		add_linear(l, BLK("attn.qkv"), 3 * h, h);
		add_linear(l, BLK("attn.proj"), h, h);
		add_linear(l, BLK("mlp.linear_fc1"), v->intermediate_size, h);
		add_linear(l, BLK("mlp.linear_fc2"), h, v->intermediate_size);
#undef BLK
	}
	add_merger(l, "model.visual.merger", v, 0);
	for (int k = 0; k < v->n_deepstack; k++) {
		snprintf(n, sizeof n, "model.visual.deepstack_merger_list.%d", k);
		add_merger(l, n, v, 1);
	}
}

enum lms_status lms_mk_tensors(const struct lms_mkmodel_preset *p, enum lms_model_family format,
			       struct lms_mk_tensor **out, size_t *n)
{
	struct lms_model_shape_counts sc;
	lms_model_config_counts(&p->text, &sc);
	struct list l = {0};
	l.cap = sc.lm_tensors;
	if (format == LMS_MODEL_QWEN3_VL)
		l.cap += 12 * (size_t)p->vision.depth + 9 + 6 * (size_t)p->vision.n_deepstack;
	l.prefix = format == LMS_MODEL_QWEN3_VL ? "model.language_model." : "model.";
	if (!(l.t = calloc(l.cap, sizeof *l.t)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	add_lm(&l, &p->text);
	if (format == LMS_MODEL_QWEN3_VL)
		add_vision(&l, &p->vision);
	if (l.n != l.cap) {
		free(l.t);
		return lms_fail(LMS_ERR_INTERNAL, NULL, "mkmodel: %zu tensors listed, %zu expected",
				l.n, l.cap);
	}
	*out = l.t;
	*n = l.n;
	return LMS_OK;
}

/* ---- JSON files ------------------------------------------------------------- */

static json_t *int_list(const int *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

/* rope_theta as an integer when integral (as the real configs write it). */
static json_t *theta(double t)
{
	return t == (double)(long long)t ? json_integer((json_int_t)t) : json_real(t);
}

static void set_rope(json_t *o, const struct lms_mkmodel_preset *p, int v5, int vl)
{
	json_t *r = json_object();
	if (vl) {
		json_object_set_new(r, "mrope_interleaved", json_true());
		json_object_set_new(r, "mrope_section", int_list(p->mrope_section, 3));
	}
	json_object_set_new(r, "rope_type", json_string("default"));
	if (v5) {
		json_object_set_new(r, "rope_theta", theta(p->text.rope_theta));
		json_object_set_new(o, "rope_parameters", r);
	} else {
		json_object_set_new(o, "rope_scaling", vl ? r : json_null());
		if (!vl)
			json_decref(r);
		json_object_set_new(o, "rope_theta", theta(p->text.rope_theta));
	}
}

/* The decoder keys shared by text_config (qwen3_vl) and a qwen3 config. */
static void set_decoder(json_t *o, const struct lms_mkmodel_preset *p, int v5, int vl)
{
	const struct lms_model_config *c = &p->text;
	json_object_set_new(o, "attention_bias", json_false());
	json_object_set_new(o, "attention_dropout", json_real(0.0));
	json_object_set_new(o, "bos_token_id", json_integer(c->bos_token_id));
	json_object_set_new(o, v5 || vl ? "dtype" : "torch_dtype", json_string("bfloat16"));
	json_object_set_new(o, "eos_token_id", json_integer(c->eos_token_id));
	json_object_set_new(o, "head_dim", json_integer(c->head_dim));
	json_object_set_new(o, "hidden_act", json_string("silu"));
	json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
	json_object_set_new(o, "initializer_range", json_real(0.02));
	json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
	json_object_set_new(o, "max_position_embeddings", json_integer(vl ? 262144 : 40960));
	if (!vl)
		json_object_set_new(o, "max_window_layers", json_integer(c->num_layers));
	json_object_set_new(o, "model_type", json_string(vl ? "qwen3_vl_text" : "qwen3"));
	json_object_set_new(o, "num_attention_heads", json_integer(c->num_heads));
	json_object_set_new(o, "num_hidden_layers", json_integer(c->num_layers));
	json_object_set_new(o, "num_key_value_heads", json_integer(c->num_kv_heads));
	json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
	set_rope(o, p, v5, vl);
	if (!vl) {
		json_object_set_new(o, "sliding_window", json_null());
		json_object_set_new(o, "use_sliding_window", json_false());
	}
	json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
	json_object_set_new(o, "use_cache", json_true());
	json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
}

static json_t *vision_json(const struct lms_vision_config *v)
{
	return json_pack("{s:o, s:i, s:s, s:i, s:i, s:f, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i}",
			 "deepstack_visual_indexes", int_list(v->deepstack, v->n_deepstack),
			 "depth", v->depth, "hidden_act", "gelu_pytorch_tanh", "hidden_size",
			 v->hidden_size, "in_channels", v->in_channels, "initializer_range", 0.02,
			 "intermediate_size", v->intermediate_size, "model_type", "qwen3_vl",
			 "num_heads", v->num_heads, "num_position_embeddings",
			 v->num_position_embeddings, "out_hidden_size", v->out_hidden_size,
			 "patch_size", v->patch_size, "spatial_merge_size", v->spatial_merge_size,
			 "temporal_patch_size", v->temporal_patch_size);
}

static const char *tf_version(int v5)
{
	return v5 ? "5.0.0" : "4.57.0.dev0";
}

static json_t *config_json(const struct lms_mkmodel_preset *p, enum lms_model_family format, int v5)
{
	json_t *o = json_object();
	if (format == LMS_MODEL_QWEN3) {
		json_object_set_new(o, "architectures", json_pack("[s]", "Qwen3ForCausalLM"));
		set_decoder(o, p, v5, 0);
		json_object_set_new(o, "transformers_version", json_string(tf_version(v5)));
		return o;
	}
	json_t *tc = json_object();
	set_decoder(tc, p, v5, 1);
	json_object_set_new(o, "architectures",
			    json_pack("[s]", "Qwen3VLForConditionalGeneration"));
	json_object_set_new(o, "image_token_id", json_integer(p->vision_token_ids[2]));
	json_object_set_new(o, "model_type", json_string("qwen3_vl"));
	json_object_set_new(o, "text_config", tc);
	json_object_set_new(o, "tie_word_embeddings", json_boolean(p->text.tie_word_embeddings));
	json_object_set_new(o, "transformers_version", json_string(tf_version(v5)));
	json_object_set_new(o, "video_token_id", json_integer(p->vision_token_ids[3]));
	json_object_set_new(o, "vision_config", vision_json(&p->vision));
	json_object_set_new(o, "vision_end_token_id", json_integer(p->vision_token_ids[1]));
	json_object_set_new(o, "vision_start_token_id", json_integer(p->vision_token_ids[0]));
	return o;
}

static json_t *generation_json(const struct lms_mkmodel_preset *p, int v5)
{
	int eos[2] = {p->text.eos_token_id, p->text.bos_token_id};
	return json_pack("{s:i, s:i, s:b, s:o, s:f, s:f, s:i, s:f, s:s}", "bos_token_id",
			 p->text.bos_token_id, "pad_token_id", p->text.bos_token_id, "do_sample", 1,
			 "eos_token_id", int_list(eos, 2), "repetition_penalty", 1.0, "temperature",
			 0.7, "top_k", 20, "top_p", 0.8, "transformers_version", tf_version(v5));
}

static enum lms_status write_json(const char *dir, const char *name, json_t *j)
{
	char path[PATH_MAX];
	if (!j)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "mkmodel: building %s failed", name);
	enum lms_status st = lms_path_join(path, sizeof path, dir, name);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	json_decref(j);
	if (st == LMS_OK && !text)
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing %s", name);
	if (st == LMS_OK) {
		size_t len = strlen(text);
		text[len] = '\n'; /* replaces the NUL; written length includes it */
		st = lms_write_file_atomic(path, text, len + 1);
	}
	free(text);
	return st;
}

enum lms_status lms_mkmodel_write(const struct lms_mkmodel_opts *o, struct lms_mkmodel_result *res)
{
	memset(res, 0, sizeof *res);
	const struct lms_mkmodel_preset *p = lms_mkmodel_find_preset(o->preset);
	if (!p)
		return lms_fail(LMS_ERR_USAGE, "presets: tiny, small, qwen3-vl-4b",
				"unknown preset '%s'", o->preset);
	LMS_TRY(lms_mkdir_p(o->out_dir));
	struct lms_mk_tensor *t;
	size_t n;
	LMS_TRY(lms_mk_tensors(p, o->format, &t, &n));
	int threads = o->threads;
	if (threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c < 1 ? 1 : c > 64 ? 64 : (int)c;
	}
	enum lms_status st =
	    lms_mk_write_shards(o->out_dir, t, n, o->shard_bytes ? o->shard_bytes : p->shard_bytes,
				o->seed, threads, o->zeros, &res->shards);
	for (size_t i = 0; i < n; i++) {
		res->params += t[i].numel;
		res->lm_tensors += (size_t)t[i].lm;
	}
	res->tensors = n;
	res->data_bytes = res->params * 2;
	free(t);
	if (st == LMS_OK)
		st = write_json(o->out_dir, "config.json", config_json(p, o->format, o->config_v5));
	if (st == LMS_OK)
		st = write_json(o->out_dir, "generation_config.json",
				generation_json(p, o->config_v5));
	if (st == LMS_OK && p->tokenizer)
		st = lms_tinytok_write(o->out_dir);
	return st;
}
