/* test_safetensors.c — the safetensors reader, sharded sets and the LM
 * weight map against valid files and corrupt ones, each with its exact
 * error: truncated file, header length past the end, header over 100 MB,
 * bad JSON, unknown dtype, out-of-range and overlapping offsets, shape/size
 * mismatch, duplicate names, index naming a missing shard or tensor, a shard
 * tensor the index does not list, missing / unexpected LM tensors, a wrong
 * shape for the config, config.json missing a field, F32/F16/F8_E4M3 → bf16
 * conversion and unaligned BF16. */
#include "helpers.h"

#include <jansson.h>
#include <limits.h>

#include "core/fsutil.h"
#include "model/mkmodel.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test.h"

static char g_tmp[512];

static const char *path_in(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%.2000s/%.1000s", dir, name);
	return buf;
}

static enum lms_status open_st(const char *path)
{
	struct lms_st_file *f = NULL;
	enum lms_status st = lms_st_open(path, &f);
	lms_st_close(f);
	return st;
}

static void test_valid_file(void)
{
	char p[PATH_MAX];
	path_in(p, g_tmp, "ok.safetensors");
	/* 15-byte-long header → data not 2-byte aligned; names out of order. */
	write_st(p,
		 "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[6,14]},"
		 "\"__metadata__\":{\"format\":\"pt\"},"
		 "\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
		 "\"s\":{\"dtype\":\"F8_E4M3\",\"shape\":[],\"data_offsets\":[14,15]}}   ",
		 15);
	struct lms_st_file *f = NULL;
	CHECK_INT_EQ(lms_st_open(p, &f), LMS_OK);
	if (!f)
		return;
	CHECK_INT_EQ(lms_st_count(f), 3);
	CHECK_STR_EQ(lms_st_get(f, 0)->name, "a");
	CHECK_STR_EQ(lms_st_get(f, 1)->name, "b");
	const struct lms_st_tensor *b = lms_st_find(f, "b");
	CHECK(b != NULL);
	if (b) {
		CHECK_INT_EQ(b->dtype, LMS_DTYPE_F32);
		CHECK_INT_EQ(b->ndim, 1);
		CHECK_INT_EQ(b->shape[0], 2);
		CHECK_INT_EQ(b->nbytes, 8);
		CHECK_INT_EQ(((const unsigned char *)b->data)[0], 6); /* the counting pattern */
	}
	const struct lms_st_tensor *s = lms_st_find(f, "s");
	CHECK(s && s->ndim == 0 && s->numel == 1);
	CHECK(lms_st_find(f, "__metadata__") == NULL);
	CHECK_INT_EQ(lms_st_data_bytes(f), 15);
	lms_st_close(f);
}

struct corrupt {
	const char *what;
	const char *header; /* NULL: raw bytes below */
	size_t data_len;
	const char *msg;
};

static const struct corrupt g_corrupt[] = {
    {"bad JSON", "{\"a\":{\"dtype\":\"BF16\",", 0, "header is not valid JSON at byte"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
     "tensor 'a': unknown dtype 'Q4'"},
    {"out-of-range offsets", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 6,
     "tensor 'a': data_offsets [0, 8] out of range (the data section holds 6 bytes)"},
    {"begin after end", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,2]}}", 6,
     "tensor 'a': data_offsets [4, 2] out of range"},
    {"overlapping offsets",
     "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]}}",
     10, "tensors 'a' and 'b' overlap (data_offsets [0, 8] and [6, 10])"},
    {"shape/size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': data_offsets span 8 bytes but shape × F32 size is 12 bytes"},
    {"duplicate names",
     "{\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
     "\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}}",
     4, "duplicate tensor name in the header"},
    {"header not an object", "[1,2,3]", 0, "header is not a JSON object"},
    {"negative dim", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[-1],\"data_offsets\":[0,2]}}", 2,
     "tensor 'a': shape[0] is not an integer in [0, 2^40]"},
    {"offsets not integers", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0]}}", 2,
     "tensor 'a': data_offsets must be two non-negative integers"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
     "tensor 'a': header entry needs \"dtype\""},
};

static void test_corrupt_files(void)
{
	char p[PATH_MAX];
	for (size_t i = 0; i < sizeof g_corrupt / sizeof g_corrupt[0]; i++) {
		path_in(p, g_tmp, "bad.safetensors");
		write_st(p, g_corrupt[i].header, g_corrupt[i].data_len);
		fprintf(stderr, "case: %s\n", g_corrupt[i].what);
		CHECK_FAILS_WITH(open_st(p), LMS_ERR_INPUT, g_corrupt[i].msg);
		CHECK_STR_CONTAINS(lms_error_message(), "bad.safetensors");
	}
	/* Truncated below the 8-byte length. */
	write_text(p, "abc");
	CHECK_FAILS_WITH(open_st(p), LMS_ERR_INPUT,
			 "truncated: 3 bytes, less than the 8-byte header length");
	/* Header length past the end of the file. */
	write_raw_st(p, 1000, "{}", 0);
	CHECK_FAILS_WITH(open_st(p), LMS_ERR_INPUT,
			 "header length 1000 goes past the end of the file (10 bytes)");
	/* A file cut inside the data section. */
	write_st(p, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]}}", 16);
	CHECK_INT_EQ(open_st(p), LMS_OK);
	CHECK_INT_EQ(truncate(p, 8 + 56 + 10), 0);
	CHECK_FAILS_WITH(
	    open_st(p), LMS_ERR_INPUT,
	    "tensor 'a': data_offsets [0, 16] out of range (the data section holds 10 bytes)");
	/* Header length over the 100 MB limit (a sparse 200 MB file). */
	write_raw_st(p, 150000000ULL, "{}", 0);
	CHECK_INT_EQ(truncate(p, 200000000), 0);
	CHECK_FAILS_WITH(open_st(p), LMS_ERR_INPUT,
			 "header length 150000000 is over the limit of 100000000 bytes");
	/* Not there at all. */
	CHECK_FAILS_WITH(open_st("/nonexistent/x.safetensors"), LMS_ERR_NOT_FOUND,
			 "cannot open safetensors file");
	unlink(p);
}

static enum lms_status open_set(const char *dir)
{
	struct lms_st_set *s = NULL;
	enum lms_status st = lms_st_set_open(dir, &s);
	lms_st_set_free(s);
	return st;
}

static void test_index(void)
{
	char d[1024], p[PATH_MAX];
	snprintf(d, sizeof d, "%s/idx", g_tmp);
	CHECK_INT_EQ(lms_mkdir_p(d), LMS_OK);
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_NOT_FOUND,
			 "holds neither model.safetensors.index.json nor model.safetensors");
	write_st(path_in(p, d, "s1.safetensors"),
		 "{\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2);
	write_st(path_in(p, d, "s2.safetensors"),
		 "{\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},\"c\":{"
		 "\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}}",
		 4);
	const char *idx = path_in(p, d, "model.safetensors.index.json");
	write_text(idx, "{\"metadata\":{},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2."
			"safetensors\",\"c\":\"s2.safetensors\"}}");
	struct lms_st_set *s = NULL;
	CHECK_INT_EQ(lms_st_set_open(d, &s), LMS_OK);
	if (s) {
		CHECK_INT_EQ(lms_st_set_shard_count(s), 2);
		CHECK_INT_EQ(lms_st_set_count(s), 3);
		CHECK(lms_st_set_find(s, "c") && lms_st_set_find(s, "c")->shard == 1);
		CHECK(lms_st_set_find(s, "zz") == NULL);
	}
	lms_st_set_free(s);
	write_text(idx, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"model-00002-of-00002."
			"safetensors\"}}");
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_NOT_FOUND,
			 "names shard 'model-00002-of-00002.safetensors', which does not exist");
	write_text(idx, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"c\":"
			"\"s2.safetensors\",\"d\":\"s2.safetensors\"}}");
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_INPUT,
			 "maps tensor 'd' to shard 's2.safetensors', which does not contain it");
	write_text(idx, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_INPUT,
			 "shard 's2.safetensors' holds tensor 'c', which");
	write_text(idx, "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_INPUT, "weight_map[\"a\"] is not a plain file name");
	write_text(idx, "{\"weight_map\": [1]}");
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_INPUT, "\"weight_map\" is missing or not an object");
	write_text(idx, "{\"weight_map\": {\"a\":");
	CHECK_FAILS_WITH(open_set(d), LMS_ERR_INPUT, "model.safetensors.index.json:1:");
}

/* ---- model-level cases on a tiny checkpoint ------------------------------- */

/* Rewrites a safetensors file's header through fn, data unchanged. */
static void patch_header(const char *path, void (*fn)(json_t *hdr))
{
	char *buf;
	size_t len;
	if (lms_read_file(path, 1 << 28, "test shard", &buf, &len) != LMS_OK)
		exit(1);
	uint64_t hl = 0;
	for (int i = 7; i >= 0; i--)
		hl = (hl << 8) | (unsigned char)buf[i];
	json_t *h = json_loadb(buf + 8, hl, 0, NULL);
	fn(h);
	char *text = json_dumps(h, JSON_COMPACT);
	size_t tl = strlen(text), padded = (tl + 7) & ~(size_t)7;
	char *hdr = calloc(padded + 1, 1);
	memcpy(hdr, text, tl);
	memset(hdr + tl, ' ', padded - tl);
	FILE *f = fopen(path, "wb");
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	fwrite(b, 1, 8, f);
	fwrite(hdr, 1, padded, f);
	fwrite(buf + 8 + hl, 1, len - 8 - hl, f);
	fclose(f);
	free(text);
	free(hdr);
	free(buf);
	json_decref(h);
}

static void drop_up_proj(json_t *h)
{
	json_object_del(h, "model.language_model.layers.1.mlp.up_proj.weight");
}

static void transpose_q(json_t *h)
{
	json_t *e = json_object_get(h, "model.language_model.layers.0.self_attn.q_proj.weight");
	json_object_set_new(e, "shape", json_pack("[i, i]", 64, 128));
}

/* Renames q_proj.weight of layer 0 to q_proj.bias: one missing, one unexpected. */
static void rename_q(json_t *h)
{
	const char *from = "model.language_model.layers.0.self_attn.q_proj.weight";
	json_object_set(h, "model.language_model.layers.0.self_attn.q_proj.bias",
			json_object_get(h, from));
	json_object_del(h, from);
}

static void make_tiny(const char *dir)
{
	rm_rf(dir);
	struct lms_mkmodel_opts o = {.preset = "tiny",
				     .out_dir = dir,
				     .seed = 7,
				     .format = LMS_MODEL_QWEN3_VL,
				     .config_v5 = 1,
				     .shard_bytes = 1ULL << 40,
				     .threads = 2};
	struct lms_mkmodel_result r;
	CHECK_INT_EQ(lms_mkmodel_write(&o, &r), LMS_OK);
	CHECK_INT_EQ(r.shards, 1);
}

static enum lms_status load(const char *dir)
{
	struct lms_model *m = NULL;
	enum lms_status st = lms_model_load(dir, &m);
	lms_model_free(m);
	return st;
}

static void set_config_key(const char *dir, const char *key, json_t *value)
{
	char p[PATH_MAX];
	path_in(p, dir, "config.json");
	json_t *c = json_load_file(p, 0, NULL);
	json_t *tc = json_object_get(c, "text_config");
	if (value)
		json_object_set_new(tc, key, value);
	else
		json_object_del(tc, key);
	json_dump_file(c, p, JSON_INDENT(2));
	json_decref(c);
}

static void test_model_errors(void)
{
	char d[1024], st[PATH_MAX];
	snprintf(d, sizeof d, "%s/tiny", g_tmp);
	path_in(st, d, "model.safetensors");

	make_tiny(d);
	CHECK_INT_EQ(load(d), LMS_OK);
	patch_header(st, drop_up_proj);
	CHECK_FAILS_WITH(load(d), LMS_ERR_INPUT,
			 "1 LM tensor(s) missing: "
			 "'model.language_model.layers.1.mlp.up_proj.weight'; 0 unexpected");

	make_tiny(d);
	patch_header(st, rename_q);
	CHECK_FAILS_WITH(
	    load(d), LMS_ERR_INPUT,
	    "1 LM tensor(s) missing: 'model.language_model.layers.0.self_attn.q_proj.weight'; 1 "
	    "unexpected: 'model.language_model.layers.0.self_attn.q_proj.bias'");

	make_tiny(d);
	patch_header(st, transpose_q);
	CHECK_FAILS_WITH(load(d), LMS_ERR_INPUT,
			 "tensor 'model.language_model.layers.0.self_attn.q_proj.weight' has shape "
			 "[64, 128] but config.json implies [128, 64]");

	/* Config says 3 layers: 11 missing, listed 8 + "and 3 more". */
	make_tiny(d);
	set_config_key(d, "num_hidden_layers", json_integer(3));
	CHECK_FAILS_WITH(
	    load(d), LMS_ERR_INPUT,
	    "11 LM tensor(s) missing: 'model.language_model.layers.2.input_layernorm.weight', ");
	CHECK_STR_CONTAINS(lms_error_message(), " and 3 more; 0 unexpected");

	/* Config says untied: lm_head.weight missing. */
	make_tiny(d);
	json_t *c = json_load_file(path_in(st, d, "config.json"), 0, NULL);
	json_object_set_new(c, "tie_word_embeddings", json_false());
	json_dump_file(c, st, 0);
	json_decref(c);
	CHECK_FAILS_WITH(load(d), LMS_ERR_INPUT, "1 LM tensor(s) missing: 'lm_head.weight'");

	make_tiny(d);
	set_config_key(d, "head_dim", NULL);
	CHECK_FAILS_WITH(load(d), LMS_ERR_CONFIG, "config.json: text_config.head_dim: missing");
	rm_rf(d);
}

/* Element i of the test checkpoint holds 1 + (i % 8)/8, exact in every dtype
 * below; for F32 the last element is 1 + 2^-9, which rounds to 1.0 in bf16. */
static void put_value(FILE *f, const char *dtype, uint64_t i, int last)
{
	unsigned k = (unsigned)(i % 8);
	if (strcmp(dtype, "F32") == 0) {
		float v = last ? 1.0f + 0x1p-9f : 1.0f + (float)k / 8.0f;
		fwrite(&v, 4, 1, f);
	} else if (strcmp(dtype, "F16") == 0) {
		uint16_t h = (uint16_t)(0x3c00u | (k << 7));
		fwrite(&h, 2, 1, f);
	} else if (strcmp(dtype, "BF16") == 0) {
		uint16_t h = (uint16_t)(0x3f80u | (k << 4));
		fwrite(&h, 2, 1, f);
	} else { /* F8_E4M3: exponent 7 (bias 7), mantissa k */
		fputc((int)(0x38u | k), f);
	}
}

/* A single-file Qwen3 checkpoint stored as `dtype` loads as the same bf16
 * values: F32/F16/F8_E4M3 are converted, BF16 behind an odd-length header
 * (unaligned) is copied. */
static void test_conversion(const char *dtype, size_t esize)
{
	char d[1024], p[PATH_MAX];
	snprintf(d, sizeof d, "%s/conv-%s", g_tmp, dtype);
	CHECK_INT_EQ(lms_mkdir_p(d), LMS_OK);
	write_text(path_in(p, d, "config.json"),
		   "{\"model_type\":\"qwen3\",\"hidden_size\":2,\"intermediate_size\":2,"
		   "\"num_hidden_layers\":1,\"num_attention_heads\":1,\"num_key_value_heads\":1,"
		   "\"head_dim\":2,\"vocab_size\":2,\"rms_norm_eps\":1e-6,\"rope_theta\":10000,"
		   "\"tie_word_embeddings\":true}");
	const char *names[] = {"model.embed_tokens.weight",
			       "model.norm.weight",
			       "model.layers.0.input_layernorm.weight",
			       "model.layers.0.self_attn.q_proj.weight",
			       "model.layers.0.self_attn.k_proj.weight",
			       "model.layers.0.self_attn.v_proj.weight",
			       "model.layers.0.self_attn.o_proj.weight",
			       "model.layers.0.self_attn.q_norm.weight",
			       "model.layers.0.self_attn.k_norm.weight",
			       "model.layers.0.post_attention_layernorm.weight",
			       "model.layers.0.mlp.gate_proj.weight",
			       "model.layers.0.mlp.up_proj.weight",
			       "model.layers.0.mlp.down_proj.weight"};
	json_t *h = json_object();
	uint64_t off = 0;
	for (size_t i = 0; i < 13; i++) {
		int vec = strstr(names[i], "norm") != NULL;
		uint64_t nb = (vec ? 2 : 4) * esize;
		json_object_set_new(
		    h, names[i],
		    vec ? json_pack("{s:s, s:[i], s:[I, I]}", "dtype", dtype, "shape", 2,
				    "data_offsets", (json_int_t)off, (json_int_t)(off + nb))
			: json_pack("{s:s, s:[i, i], s:[I, I]}", "dtype", dtype, "shape", 2, 2,
				    "data_offsets", (json_int_t)off, (json_int_t)(off + nb)));
		off += nb;
	}
	char *text = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	FILE *f = fopen(path_in(p, d, "model.safetensors"), "wb");
	uint64_t hl = strlen(text), padded = hl | 1; /* odd: data unaligned */
	for (int i = 0; i < 8; i++)
		fputc((int)((padded >> (8 * i)) & 0xff), f);
	fputs(text, f);
	if (padded != hl)
		fputc(' ', f);
	free(text);
	uint64_t n = off / esize;
	for (uint64_t i = 0; i < n; i++)
		put_value(f, dtype, i, i + 1 == n && esize == 4);
	fclose(f);
	struct lms_model *m = NULL;
	CHECK_INT_EQ(lms_model_load(d, &m), LMS_OK);
	if (!m)
		return;
	CHECK_INT_EQ(lms_model_get_counts(m)->converted, 13);
	CHECK_INT_EQ(lms_model_get_counts(m)->lm_params, 2 * 2 + 2 + 1 * (4 * 7 + 2 * 4));
	const struct lms_lm_weights *w = lms_model_get_weights(m);
	CHECK(w->lm_head == w->embed);
	uint64_t base = lms_model_lm_tensor(m, 0)->src->offset; /* embed: offset 0 */
	int bad = 0;
	for (size_t t = 0; t < lms_model_lm_tensor_count(m); t++) {
		const struct lms_lm_tensor *lt = lms_model_lm_tensor(m, t);
		CHECK(((uintptr_t)lt->data & 1u) == 0);
		uint64_t first = (lt->src->offset - base) / esize;
		for (uint64_t e = 0; e < lt->src->numel; e++) {
			uint64_t i = first + e;
			float want = i + 1 == n && esize == 4 ? 1.0f : 1.0f + (float)(i % 8) / 8.0f;
			bad += lms_bf16_to_f32(lt->data[e]) != want;
		}
	}
	CHECK_INT_EQ(bad, 0);
	lms_model_free(m);
	rm_rf(d);
}

int main(void)
{
	make_tmpdir(g_tmp, sizeof g_tmp, "st");
	test_valid_file();
	test_corrupt_files();
	test_index();
	test_model_errors();
	test_conversion("F32", 4);
	test_conversion("F16", 2);
	test_conversion("BF16", 2);
	test_conversion("F8_E4M3", 1);
	rm_rf(g_tmp);
	return lms_test_finish();
}
