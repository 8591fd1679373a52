/* test_mkmodel.c — mkmodel → load round trips for every preset and format,
 * parameter counts against numbers computed here from the shapes, the
 * random weights' statistics and reproducibility (same seed and any thread
 * count → same bytes), and the portable RNG.
 * qwen3-vl-4b is written with --zeros (sparse files, instant) and loaded
 * shapes-only; its counts are the reference's (§7). */
#include "helpers.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "model/mkmodel.h"
#include "model/model.h"
#include "model/rng.h"
#include "test.h"

static char g_tmp[512];

/* Parameters of the LM computed from the sizes, independently of the
 * library's lms_model_config_counts. */
static uint64_t lm_params(int C, int F, int L, int H, int G, int D, int V, int tied)
{
	uint64_t attn = (uint64_t)C * H * D * 2 + (uint64_t)C * G * D * 2; /* q, o, k, v */
	uint64_t mlp = (uint64_t)3 * C * F;
	uint64_t norms = (uint64_t)2 * C + 2 * D;
	return (uint64_t)V * C * (tied ? 1 : 2) + (uint64_t)L * (attn + mlp + norms) + C;
}

static uint64_t linear_params(int C, int F, int L, int H, int G, int D)
{
	return (uint64_t)L *
	       ((uint64_t)C * H * D * 2 + (uint64_t)C * G * D * 2 + (uint64_t)3 * C * F);
}

static size_t vision_tensors(const struct lms_vision_config *v)
{
	return 3 + 12 * (size_t)v->depth + 6 * (size_t)(1 + v->n_deepstack);
}

static int files_equal(const char *a, const char *b)
{
	char *x, *y;
	size_t nx, ny;
	if (lms_read_file(a, 1 << 30, "a", &x, &nx) != LMS_OK)
		return 0;
	if (lms_read_file(b, 1 << 30, "b", &y, &ny) != LMS_OK) {
		free(x);
		return 0;
	}
	int eq = nx == ny && memcmp(x, y, nx) == 0;
	free(x);
	free(y);
	return eq;
}

static enum lms_status mk(const char *dir, const char *preset, enum lms_model_family fmt, int v5,
			  uint64_t seed, int threads, struct lms_mkmodel_result *r)
{
	struct lms_mkmodel_opts o = {.preset = preset,
				     .out_dir = dir,
				     .seed = seed,
				     .format = fmt,
				     .config_v5 = v5,
				     .threads = threads};
	return lms_mkmodel_write(&o, r);
}

/* Mean and standard deviation of a bf16 tensor. */
static void stats(const lms_bf16 *w, uint64_t n, double *mean, double *sd)
{
	double s = 0, s2 = 0;
	for (uint64_t i = 0; i < n; i++) {
		double v = lms_bf16_to_f32(w[i]);
		s += v;
		s2 += v * v;
	}
	*mean = s / (double)n;
	*sd = sqrt(s2 / (double)n - *mean * *mean);
}

static void round_trip(const char *preset, enum lms_model_family fmt, int v5)
{
	const struct lms_mkmodel_preset *p = lms_mkmodel_find_preset(preset);
	const struct lms_model_config *e = &p->text;
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/%s-%d-%d", g_tmp, preset, (int)fmt, v5);
	fprintf(stderr, "round trip: %s format %d v5 %d\n", preset, (int)fmt, v5);
	struct lms_mkmodel_result r;
	CHECK_INT_EQ(mk(dir, preset, fmt, v5, 1234, 2, &r), LMS_OK);
	struct lms_model *m = NULL;
	CHECK_INT_EQ(lms_model_load(dir, &m), LMS_OK);
	if (!m)
		return;
	const struct lms_model_config *c = lms_model_get_config(m);
	const struct lms_model_counts *k = lms_model_get_counts(m);
	CHECK_INT_EQ(c->family, fmt);
	CHECK_STR_EQ(c->model_type, fmt == LMS_MODEL_QWEN3 ? "qwen3" : "qwen3_vl");
	CHECK_INT_EQ(c->config_form_v5, v5);
	CHECK_INT_EQ(c->hidden_size, e->hidden_size);
	CHECK_INT_EQ(c->intermediate_size, e->intermediate_size);
	CHECK_INT_EQ(c->num_layers, e->num_layers);
	CHECK_INT_EQ(c->num_heads, e->num_heads);
	CHECK_INT_EQ(c->num_kv_heads, e->num_kv_heads);
	CHECK_INT_EQ(c->head_dim, e->head_dim);
	CHECK_INT_EQ(c->vocab_size, e->vocab_size);
	CHECK_INT_EQ(c->tie_word_embeddings, e->tie_word_embeddings);
	CHECK_NEAR(c->rope_theta, 5000000.0, 0, 0);
	CHECK_NEAR(c->rms_norm_eps, 1e-6, 0, 0);
	CHECK_INT_EQ(c->bos_token_id, e->bos_token_id);
	CHECK_INT_EQ(c->eos_token_id, e->eos_token_id);

	uint64_t want =
	    lm_params(e->hidden_size, e->intermediate_size, e->num_layers, e->num_heads,
		      e->num_kv_heads, e->head_dim, e->vocab_size, e->tie_word_embeddings);
	CHECK_INT_EQ(k->lm_params, want);
	CHECK_INT_EQ(k->lm_bytes, 2 * want);
	CHECK_INT_EQ(k->linear_params,
		     linear_params(e->hidden_size, e->intermediate_size, e->num_layers,
				   e->num_heads, e->num_kv_heads, e->head_dim));
	size_t nlm = 2 + 11 * (size_t)e->num_layers + (e->tie_word_embeddings ? 0 : 1);
	size_t nvis = fmt == LMS_MODEL_QWEN3_VL ? vision_tensors(&p->vision) : 0;
	CHECK_INT_EQ(k->lm_tensors, nlm);
	CHECK_INT_EQ(k->skipped_tensors, nvis);
	CHECK_INT_EQ(k->total_tensors, nlm + nvis);
	CHECK_INT_EQ(r.tensors, nlm + nvis);
	CHECK_INT_EQ(r.lm_tensors, nlm);
	CHECK_INT_EQ(k->shards, r.shards);
	CHECK(k->shards >= 2); /* the presets' default shard sizes shard them */
	CHECK_INT_EQ(k->file_bytes, r.data_bytes);
	CHECK_INT_EQ(k->converted, 0); /* bf16, aligned: used in place */

	const struct lms_lm_weights *w = lms_model_get_weights(m);
	double mean, sd;
	uint64_t ne = (uint64_t)e->vocab_size * (uint64_t)e->hidden_size;
	stats(w->embed, ne, &mean, &sd);
	/* normal(0, 0.02) in bf16: sd within 3% (n >= 32768), mean within 5 SE. */
	CHECK_NEAR(sd, 0.02, 0, 0.03);
	CHECK_NEAR(mean, 0.0, 5 * 0.02 / sqrt((double)ne), 0);
	int last = e->num_layers - 1;
	uint64_t nq = (uint64_t)e->num_heads * e->head_dim * e->hidden_size;
	stats(w->layers[last].q, nq, &mean, &sd);
	CHECK_NEAR(sd, 0.02, 0, 0.05);
	CHECK_INT_EQ(w->layers[last].input_norm[0], 0x3f80);
	CHECK_INT_EQ(w->layers[0].k_norm[e->head_dim - 1], 0x3f80);
	CHECK_INT_EQ(w->final_norm[e->hidden_size - 1], 0x3f80);
	if (e->tie_word_embeddings)
		CHECK(w->lm_head == w->embed);
	else
		CHECK(w->lm_head != NULL && w->lm_head != w->embed &&
		      memcmp(w->lm_head, w->embed, 64) != 0);
	/* Distinct tensors get distinct streams. */
	CHECK(memcmp(w->layers[0].gate, w->layers[0].up, 64) != 0);
	lms_model_free(m);

	char tok[PATH_MAX];
	snprintf(tok, sizeof tok, "%s/tokenizer.json", dir);
	CHECK_INT_EQ(lms_is_file(tok), p->tokenizer);
	snprintf(tok, sizeof tok, "%s/generation_config.json", dir);
	CHECK(lms_is_file(tok));
	rm_rf(dir);
}

static void shard_path(char *buf, size_t cap, const char *dir, int k, int n)
{
	snprintf(buf, cap, "%s/model-%05d-of-%05d.safetensors", dir, k, n);
}

/* Same seed → same bytes for 1 and 3 threads; other seed → other bytes;
 * qwen3 and qwen3_vl formats share the LM weights. */
static void reproducibility(void)
{
	char a[1024], b[1024], c[1024], pa[PATH_MAX], pb[PATH_MAX];
	snprintf(a, sizeof a, "%s/rep-a", g_tmp);
	snprintf(b, sizeof b, "%s/rep-b", g_tmp);
	snprintf(c, sizeof c, "%s/rep-c", g_tmp);
	struct lms_mkmodel_result r;
	/* small's embedding (39M values) spans several 1M-element RNG blocks and
	 * two 32M-element chunks, which exercises the threaded path. */
	CHECK_INT_EQ(mk(a, "small", LMS_MODEL_QWEN3, 1, 99, 1, &r), LMS_OK);
	CHECK_INT_EQ(mk(b, "small", LMS_MODEL_QWEN3, 1, 99, 3, &r), LMS_OK);
	for (int k = 1; k <= (int)r.shards; k++) {
		shard_path(pa, sizeof pa, a, k, (int)r.shards);
		shard_path(pb, sizeof pb, b, k, (int)r.shards);
		CHECK(files_equal(pa, pb));
	}
	snprintf(pa, sizeof pa, "%s/tokenizer.json", a);
	snprintf(pb, sizeof pb, "%s/tokenizer.json", b);
	CHECK(files_equal(pa, pb));
	CHECK_INT_EQ(mk(b, "small", LMS_MODEL_QWEN3, 1, 100, 2, &r), LMS_OK);
	shard_path(pa, sizeof pa, a, 1, (int)r.shards);
	shard_path(pb, sizeof pb, b, 1, (int)r.shards);
	CHECK(!files_equal(pa, pb));
	rm_rf(b);

	CHECK_INT_EQ(mk(c, "small", LMS_MODEL_QWEN3_VL, 0, 99, 2, &r), LMS_OK);
	struct lms_model *m1 = NULL, *m2 = NULL;
	CHECK_INT_EQ(lms_model_load(a, &m1), LMS_OK);
	CHECK_INT_EQ(lms_model_load(c, &m2), LMS_OK);
	if (m1 && m2) {
		CHECK_INT_EQ(lms_model_lm_tensor_count(m1), lms_model_lm_tensor_count(m2));
		for (size_t i = 0; i < lms_model_lm_tensor_count(m1); i++) {
			const struct lms_lm_tensor *t1 = lms_model_lm_tensor(m1, i);
			const struct lms_lm_tensor *t2 = lms_model_lm_tensor(m2, i);
			CHECK_INT_EQ(t1->role, t2->role);
			CHECK(memcmp(t1->data, t2->data, t1->src->nbytes) == 0);
		}
	}
	lms_model_free(m1);
	lms_model_free(m2);
	rm_rf(a);
	rm_rf(c);
}

/* The written config.json equals the real one (tests/data/model/config), as
 * JSON values; for v5 the text_config is compared. */
static void compare_config(const char *dir, const char *real, int text_only)
{
	char p[PATH_MAX];
	const char *src = getenv("LMSENS_SOURCE_DIR");
	snprintf(p, sizeof p, "%.1000s/tests/data/model/config/%s", src ? src : LMSENS_SOURCE_DIR,
		 real);
	json_t *want = json_load_file(p, 0, NULL);
	snprintf(p, sizeof p, "%.1000s/config.json", dir);
	json_t *got = json_load_file(p, 0, NULL);
	CHECK(want && got);
	if (text_only)
		CHECK(json_equal(json_object_get(want, "text_config"),
				 json_object_get(got, "text_config")));
	else
		CHECK(json_equal(want, got));
	json_decref(want);
	json_decref(got);
}

/* qwen3-vl-4b with --zeros: the checkpoint's exact shapes (reference §2, §7). */
static void preset_4b(enum lms_model_family fmt, int v5)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/q4b-%d", g_tmp, (int)fmt);
	struct lms_mkmodel_opts o = {
	    .preset = "qwen3-vl-4b", .out_dir = dir, .format = fmt, .config_v5 = v5, .zeros = 1};
	struct lms_mkmodel_result r;
	CHECK_INT_EQ(lms_mkmodel_write(&o, &r), LMS_OK);
	struct lms_model *m = NULL;
	CHECK_INT_EQ(lms_model_load_ex(dir, LMS_MODEL_LOAD_SHAPES_ONLY, &m), LMS_OK);
	if (!m)
		return;
	const struct lms_model_counts *k = lms_model_get_counts(m);
	CHECK_INT_EQ(k->lm_params, 4022468096LL);
	CHECK_INT_EQ(k->lm_params, lm_params(2560, 9728, 36, 32, 8, 128, 151936, 1));
	CHECK_INT_EQ(k->linear_params, 3633315840LL);
	CHECK_INT_EQ(k->lm_tensors, 398);
	CHECK_INT_EQ(k->lm_bytes, 8044936192LL);
	CHECK_INT_EQ(k->shards, 2);
	if (fmt == LMS_MODEL_QWEN3_VL) {
		CHECK_INT_EQ(k->total_tensors, 713);
		CHECK_INT_EQ(k->skipped_tensors, 315);
		CHECK_INT_EQ(r.params, 4437815808LL);
		CHECK_INT_EQ(k->file_bytes, 8875631616LL);
		/* Shard 1 has exactly the size a downloader quotes for the real
		 * model-00001-of-00002.safetensors (reference §2.1): same split. */
		char sp[PATH_MAX];
		struct stat sb;
		snprintf(sp, sizeof sp, "%.1000s/model-00001-of-00002.safetensors", dir);
		CHECK(stat(sp, &sb) == 0 && sb.st_size == 4967229296LL);
	} else {
		CHECK_INT_EQ(k->total_tensors, 398);
		CHECK_INT_EQ(k->file_bytes, 8044936192LL);
	}
	CHECK(lms_model_get_weights(m)->embed == NULL); /* shapes only */
	if (fmt == LMS_MODEL_QWEN3_VL)
		compare_config(
		    dir, v5 ? "qwen3-vl-4b-instruct-v5.json" : "qwen3-vl-4b-instruct.json", v5);
	lms_model_free(m);
	rm_rf(dir);
}

static void rng(void)
{
	double me = 0, ml = 0;
	for (double x = -60; x <= 0; x += 0.0007)
		me = fmax(me, fabs(lms_rng_exp(x) / exp(x) - 1));
	for (double x = 1e-300; x < 1e300; x *= 1.173)
		ml = fmax(ml, fabs(lms_rng_log(x) - log(x)) / fmax(fabs(log(x)), 1e-300));
	CHECK(me < 4e-16);
	CHECK(ml < 4e-16);
	/* Moments of 2M variates: SE of the mean 7e-4, of the variance 1e-3. */
	struct lms_rng r;
	lms_rng_seed(&r, 5, 0);
	double s1 = 0, s2 = 0, s4 = 0, tail = 0;
	const int n = 2000000;
	for (int i = 0; i < n; i++) {
		double z = lms_rng_normal(&r);
		s1 += z;
		s2 += z * z;
		s4 += z * z * z * z;
		tail += fabs(z) > 3.0;
	}
	CHECK_NEAR(s1 / n, 0, 4e-3, 0);
	CHECK_NEAR(s2 / n, 1, 5e-3, 0);
	CHECK_NEAR(s4 / n, 3, 3e-2, 0);
	CHECK_NEAR(tail / n, 0.0026998, 2e-4, 0); /* P(|z| > 3) */
	/* Streams differ; a reseeded stream repeats. */
	struct lms_rng a, b;
	lms_rng_seed(&a, 5, 1);
	lms_rng_seed(&b, 5, 2);
	CHECK(lms_rng_next(&a) != lms_rng_next(&b));
	lms_rng_seed(&a, 5, 0);
	lms_rng_seed(&b, 5, 0);
	CHECK(lms_rng_normal(&a) == lms_rng_normal(&b));
}

int main(void)
{
	make_tmpdir(g_tmp, sizeof g_tmp, "mk");
	rng();
	const char *presets[] = {"tiny", "small"};
	for (int p = 0; p < 2; p++)
		for (int f = 0; f < 2; f++)
			for (int v5 = 0; v5 < 2; v5++)
				round_trip(presets[p], f ? LMS_MODEL_QWEN3 : LMS_MODEL_QWEN3_VL,
					   v5);
	reproducibility();
	preset_4b(LMS_MODEL_QWEN3_VL, 0);
	preset_4b(LMS_MODEL_QWEN3_VL, 1);
	preset_4b(LMS_MODEL_QWEN3, 1);
	struct lms_mkmodel_result r;
	CHECK_FAILS_WITH(mk(g_tmp, "huge", LMS_MODEL_QWEN3, 1, 0, 1, &r), LMS_ERR_USAGE,
			 "unknown preset 'huge'");
	rm_rf(g_tmp);
	return lms_test_finish();
}
