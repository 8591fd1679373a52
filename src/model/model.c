/* model.c — the language-model weight map: config.json + safetensors →
 * struct lms_model with bf16 LM weights.
 *
 * The expected LM tensors are derived from the config alone (names under
 * cfg.lm_prefix, shapes from the sizes); the checkpoint must hold exactly
 * those, plus anything skipped on purpose: vision tensors ("model.visual.*",
 * qwen3_vl only) and a stored "lm_head.weight" when the embeddings are tied.
 * All missing and unexpected names are reported together.
 *
 * Invariants after a successful load: every lms_lm_tensor.data (unless
 * SHAPES_ONLY) points at numel bf16 values, 2-byte aligned; BF16 tensors
 * point into the mapping, others into one buffer the model owns.
 * Not done here: device upload (src/backend), vision weights. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/model.h"

#define LIST_MAX 8 /* names shown per list in a message */

struct lms_model {
	char *dir;
	struct lms_model_config cfg;
	struct lms_st_set *files;
	struct lms_lm_tensor *tensors; /* [counts.lm_tensors] in checkpoint order */
	struct lms_layer_weights *layers;
	struct lms_lm_weights weights;
	struct lms_model_counts counts;
	lms_bf16 *converted; /* one buffer for all converted tensors */
};

static const char *const g_role_names[LMS_LM_ROLE_COUNT] = {
    [LMS_LM_EMBED] = "embed_tokens",
    [LMS_LM_FINAL_NORM] = "norm",
    [LMS_LM_HEAD] = "lm_head",
    [LMS_LM_INPUT_NORM] = "input_layernorm",
    [LMS_LM_Q] = "self_attn.q_proj",
    [LMS_LM_K] = "self_attn.k_proj",
    [LMS_LM_V] = "self_attn.v_proj",
    [LMS_LM_O] = "self_attn.o_proj",
    [LMS_LM_Q_NORM] = "self_attn.q_norm",
    [LMS_LM_K_NORM] = "self_attn.k_norm",
    [LMS_LM_POST_NORM] = "post_attention_layernorm",
    [LMS_LM_GATE] = "mlp.gate_proj",
    [LMS_LM_UP] = "mlp.up_proj",
    [LMS_LM_DOWN] = "mlp.down_proj",
};

const char *lms_lm_role_name(enum lms_lm_role role)
{
	return (int)role >= 0 && role < LMS_LM_ROLE_COUNT ? g_role_names[role] : "?";
}

/* The decoder's seven linear weights (lm_head is not one of them). */
static int is_decoder_linear(enum lms_lm_role r)
{
	return r == LMS_LM_Q || r == LMS_LM_K || r == LMS_LM_V || r == LMS_LM_O ||
	       r == LMS_LM_GATE || r == LMS_LM_UP || r == LMS_LM_DOWN;
}

static void set_tensor(struct lms_lm_tensor *t, const struct lms_model_config *c,
		       enum lms_lm_role role, int layer, int64_t d0, int64_t d1)
{
	t->role = role;
	t->layer = layer;
	t->ndim = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	if (role == LMS_LM_HEAD)
		snprintf(t->name, sizeof t->name, "lm_head.weight");
	else if (layer < 0)
		snprintf(t->name, sizeof t->name, "%s%s.weight", c->lm_prefix, g_role_names[role]);
	else
		snprintf(t->name, sizeof t->name, "%slayers.%d.%s.weight", c->lm_prefix, layer,
			 g_role_names[role]);
}

/* Fills m->tensors with the names and shapes the config implies. */
static enum lms_status expected_tensors(struct lms_model *m)
{
	const struct lms_model_config *c = &m->cfg;
	struct lms_model_shape_counts sc;
	lms_model_config_counts(c, &sc);
	m->tensors = calloc(sc.lm_tensors, sizeof *m->tensors);
	if (!m->tensors)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	int64_t C = c->hidden_size, F = c->intermediate_size, D = c->head_dim, V = c->vocab_size;
	int64_t HD = (int64_t)c->num_heads * D, GD = (int64_t)c->num_kv_heads * D;
	struct lms_lm_tensor *t = m->tensors;
	set_tensor(t++, c, LMS_LM_EMBED, -1, V, C);
	for (int l = 0; l < c->num_layers; l++) {
		set_tensor(t++, c, LMS_LM_INPUT_NORM, l, C, 0);
		set_tensor(t++, c, LMS_LM_Q, l, HD, C);
		set_tensor(t++, c, LMS_LM_K, l, GD, C);
		set_tensor(t++, c, LMS_LM_V, l, GD, C);
		set_tensor(t++, c, LMS_LM_O, l, C, HD);
		set_tensor(t++, c, LMS_LM_Q_NORM, l, D, 0);
		set_tensor(t++, c, LMS_LM_K_NORM, l, D, 0);
		set_tensor(t++, c, LMS_LM_POST_NORM, l, C, 0);
		set_tensor(t++, c, LMS_LM_GATE, l, F, C);
		set_tensor(t++, c, LMS_LM_UP, l, F, C);
		set_tensor(t++, c, LMS_LM_DOWN, l, C, F);
	}
	set_tensor(t++, c, LMS_LM_FINAL_NORM, -1, C, 0);
	if (!c->tie_word_embeddings)
		set_tensor(t++, c, LMS_LM_HEAD, -1, V, C);
	m->counts.lm_tensors = (size_t)(t - m->tensors);
	return LMS_OK;
}

/* Appends name to a "a, b, c and N more" list in buf. */
static void list_add(char *buf, size_t cap, size_t *n, const char *name)
{
	size_t len = strlen(buf);
	if (*n < LIST_MAX)
		snprintf(buf + len, cap - len, "%s'%s'", *n ? ", " : "", name);
	(*n)++;
}

static void list_end(char *buf, size_t cap, size_t n)
{
	size_t len = strlen(buf);
	if (n > LIST_MAX)
		snprintf(buf + len, cap - len, " and %zu more", n - LIST_MAX);
}

static int cmp_name_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Links expected tensors to stored ones; reports missing and unexpected names. */
static enum lms_status match_names(struct lms_model *m)
{
	size_t n = m->counts.lm_tensors, nmiss = 0, nextra = 0;
	char miss[1024] = "", extra[1024] = "";
	const char **sorted = malloc(n * sizeof *sorted);
	if (!sorted)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		sorted[i] = m->tensors[i].name;
		m->tensors[i].src = lms_st_set_find(m->files, m->tensors[i].name);
		if (!m->tensors[i].src)
			list_add(miss, sizeof miss, &nmiss, m->tensors[i].name);
	}
	qsort(sorted, n, sizeof *sorted, cmp_name_ptr);
	int vl = m->cfg.family == LMS_MODEL_QWEN3_VL;
	for (size_t i = 0; i < lms_st_set_count(m->files); i++) {
		const char *name = lms_st_set_get(m->files, i)->name;
		if (bsearch(&name, sorted, n, sizeof *sorted, cmp_name_ptr))
			continue;
		if ((vl && strncmp(name, "model.visual.", 13) == 0) ||
		    (m->cfg.tie_word_embeddings && strcmp(name, "lm_head.weight") == 0))
			m->counts.skipped_tensors++;
		else
			list_add(extra, sizeof extra, &nextra, name);
	}
	free(sorted);
	list_end(miss, sizeof miss, nmiss);
	list_end(extra, sizeof extra, nextra);
	if (nmiss || nextra)
		return lms_fail(LMS_ERR_INPUT,
				"the checkpoint does not match its config.json (wrong model_type, "
				"num_hidden_layers or tie_word_embeddings?)",
				"%s: %zu LM tensor(s) missing%s%s; %zu unexpected%s%s", m->dir,
				nmiss, nmiss ? ": " : "", miss, nextra, nextra ? ": " : "", extra);
	return LMS_OK;
}

static void shape_str(char *buf, size_t cap, int nd, const int64_t *s)
{
	size_t len = (size_t)snprintf(buf, cap, "[");
	for (int i = 0; i < nd && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "",
					(long long)s[i]);
	if (len < cap)
		snprintf(buf + len, cap - len, "]");
}

static enum lms_status check_shapes(struct lms_model *m)
{
	for (size_t i = 0; i < m->counts.lm_tensors; i++) {
		const struct lms_lm_tensor *t = &m->tensors[i];
		const struct lms_st_tensor *s = t->src;
		int ok = s->ndim == t->ndim;
		for (int d = 0; ok && d < t->ndim; d++)
			ok = s->shape[d] == t->shape[d];
		if (!ok) {
			char got[128], want[128];
			shape_str(got, sizeof got, s->ndim, s->shape);
			shape_str(want, sizeof want, t->ndim, t->shape);
			return lms_fail(LMS_ERR_INPUT,
					"the checkpoint does not match its config.json",
					"%s: tensor '%s' has shape %s but config.json implies %s",
					lms_st_path(lms_st_set_shard(m->files, (size_t)s->shard)),
					t->name, got, want);
		}
		if (s->dtype != LMS_DTYPE_BF16 && s->dtype != LMS_DTYPE_F16 &&
		    s->dtype != LMS_DTYPE_F32 && s->dtype != LMS_DTYPE_F8_E4M3)
			return lms_fail(LMS_ERR_UNSUPPORTED,
					"LM weights must be BF16, F16, F32 or F8_E4M3",
					"%s: tensor '%s' has dtype %s",
					lms_st_path(lms_st_set_shard(m->files, (size_t)s->shard)),
					t->name, lms_dtype_name(s->dtype));
		m->counts.lm_params += s->numel;
		if (is_decoder_linear(t->role))
			m->counts.linear_params += s->numel;
	}
	m->counts.lm_bytes = m->counts.lm_params * sizeof(lms_bf16);
	return LMS_OK;
}

static int needs_copy(const struct lms_st_tensor *s)
{
	return s->dtype != LMS_DTYPE_BF16 || ((uintptr_t)s->data & 1u) != 0;
}

static void convert(const struct lms_st_tensor *s, lms_bf16 *dst)
{
	const unsigned char *p = s->data;
	for (uint64_t i = 0; i < s->numel; i++) {
		uint16_t h;
		uint32_t u;
		float f;
		switch (s->dtype) {
		case LMS_DTYPE_BF16:
			memcpy(&h, p + 2 * i, 2);
			dst[i] = h;
			break;
		case LMS_DTYPE_F16:
			memcpy(&h, p + 2 * i, 2);
			dst[i] = lms_f32_to_bf16(lms_f16_to_f32(h));
			break;
		case LMS_DTYPE_F32:
			memcpy(&u, p + 4 * i, 4);
			memcpy(&f, &u, 4);
			dst[i] = lms_f32_to_bf16(f);
			break;
		default: /* F8_E4M3: every value is exact in bf16 */
			dst[i] = lms_f32_to_bf16(lms_e4m3_to_f32(p[i]));
			break;
		}
	}
}

/* Points every tensor at bf16 data, converting into one owned buffer. */
static enum lms_status bind_data(struct lms_model *m)
{
	uint64_t total = 0;
	for (size_t i = 0; i < m->counts.lm_tensors; i++)
		if (needs_copy(m->tensors[i].src))
			total += m->tensors[i].src->numel;
	if (total) {
		if (total > SIZE_MAX / sizeof(lms_bf16) ||
		    !(m->converted = malloc((size_t)total * sizeof(lms_bf16))))
			return lms_fail(LMS_ERR_NOMEM, "use a machine with more host memory",
					"out of memory converting %llu LM weights to bf16",
					(unsigned long long)total);
	}
	lms_bf16 *next = m->converted;
	for (size_t i = 0; i < m->counts.lm_tensors; i++) {
		struct lms_lm_tensor *t = &m->tensors[i];
		if (!needs_copy(t->src)) {
			t->data = t->src->data;
			continue;
		}
		convert(t->src, next);
		t->data = next;
		next += t->src->numel;
		m->counts.converted++;
	}
	return LMS_OK;
}

static void fill_weights(struct lms_model *m)
{
	for (size_t i = 0; i < m->counts.lm_tensors; i++) {
		const struct lms_lm_tensor *t = &m->tensors[i];
		struct lms_layer_weights *lw = t->layer >= 0 ? &m->layers[t->layer] : NULL;
		switch (t->role) {
		case LMS_LM_EMBED:
			m->weights.embed = t->data;
			break;
		case LMS_LM_FINAL_NORM:
			m->weights.final_norm = t->data;
			break;
		case LMS_LM_HEAD:
			m->weights.lm_head = t->data;
			break;
		case LMS_LM_INPUT_NORM:
			lw->input_norm = t->data;
			break;
		case LMS_LM_Q:
			lw->q = t->data;
			break;
		case LMS_LM_K:
			lw->k = t->data;
			break;
		case LMS_LM_V:
			lw->v = t->data;
			break;
		case LMS_LM_O:
			lw->o = t->data;
			break;
		case LMS_LM_Q_NORM:
			lw->q_norm = t->data;
			break;
		case LMS_LM_K_NORM:
			lw->k_norm = t->data;
			break;
		case LMS_LM_POST_NORM:
			lw->post_norm = t->data;
			break;
		case LMS_LM_GATE:
			lw->gate = t->data;
			break;
		case LMS_LM_UP:
			lw->up = t->data;
			break;
		case LMS_LM_DOWN:
			lw->down = t->data;
			break;
		default:
			break;
		}
	}
	if (m->cfg.tie_word_embeddings)
		m->weights.lm_head = m->weights.embed;
	m->weights.layers = m->layers;
}

enum lms_status lms_model_load_ex(const char *dir, unsigned flags, struct lms_model **out)
{
	*out = NULL;
	struct lms_model *m = calloc(1, sizeof *m);
	if (!m || !(m->dir = strdup(dir))) {
		free(m);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	enum lms_status st = lms_model_config_load(dir, &m->cfg);
	if (st == LMS_OK)
		st = lms_st_set_open(dir, &m->files);
	if (st == LMS_OK)
		st = expected_tensors(m);
	if (st == LMS_OK)
		st = match_names(m);
	if (st == LMS_OK)
		st = check_shapes(m);
	if (st == LMS_OK && !(flags & LMS_MODEL_LOAD_SHAPES_ONLY))
		st = bind_data(m);
	if (st == LMS_OK && !(m->layers = calloc((size_t)m->cfg.num_layers, sizeof *m->layers)))
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (st != LMS_OK) {
		lms_model_free(m);
		return st;
	}
	fill_weights(m);
	m->counts.total_tensors = lms_st_set_count(m->files);
	m->counts.file_bytes = lms_st_set_data_bytes(m->files);
	m->counts.shards = lms_st_set_shard_count(m->files);
	if (m->counts.converted)
		LMS_INFO("%s: %d LM tensors converted to bf16 or copied for alignment", dir,
			 m->counts.converted);
	*out = m;
	return LMS_OK;
}

enum lms_status lms_model_load(const char *dir, struct lms_model **out)
{
	return lms_model_load_ex(dir, 0, out);
}

void lms_model_free(struct lms_model *m)
{
	if (!m)
		return;
	lms_st_set_free(m->files);
	free(m->tensors);
	free(m->layers);
	free(m->converted);
	free(m->dir);
	free(m);
}

const struct lms_model_config *lms_model_get_config(const struct lms_model *m)
{
	return &m->cfg;
}
const struct lms_lm_weights *lms_model_get_weights(const struct lms_model *m)
{
	return &m->weights;
}
const struct lms_model_counts *lms_model_get_counts(const struct lms_model *m)
{
	return &m->counts;
}
const struct lms_st_set *lms_model_get_files(const struct lms_model *m)
{
	return m->files;
}
const char *lms_model_get_dir(const struct lms_model *m)
{
	return m->dir;
}
size_t lms_model_lm_tensor_count(const struct lms_model *m)
{
	return m->counts.lm_tensors;
}

const struct lms_lm_tensor *lms_model_lm_tensor(const struct lms_model *m, size_t i)
{
	return i < m->counts.lm_tensors ? &m->tensors[i] : NULL;
}
