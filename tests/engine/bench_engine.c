/* bench_engine.c — times one forward + backward of the engine on the CPU
 * backend (label bench; never a pass/fail test).
 *
 * usage: bench_engine [MODEL_DIR] [B] [T] [reps]
 * Without MODEL_DIR it builds the `mkmodel --preset tiny` shape in memory
 * (2 layers, C 64, F 128, H 4 × D 32, G 2, V 512) with random weights.
 * Prints the median wall time of `reps` forward+backward passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "model/model.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static lms_bf16 *rnd(size_t n, float center, float scale, unsigned *seed)
{
	lms_bf16 *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = lms_f32_to_bf16(center + scale * ((float)rand_r(seed) / RAND_MAX - 0.5f));
	return p;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
	int B = argc > 2 ? atoi(argv[2]) : 4, T = argc > 3 ? atoi(argv[3]) : 64;
	int reps = argc > 4 ? atoi(argv[4]) : 5;
	struct lms_model *model = NULL;
	struct lms_model_config cfg = {0};
	struct lms_lm_weights w = {0};
	struct lms_layer_weights lw[2];
	unsigned seed = 1;
	if (dir) {
		if (lms_model_load(dir, &model) != LMS_OK) {
			fprintf(stderr, "bench_engine: %s\n", lms_error_message());
			return 2;
		}
		cfg = *lms_model_get_config(model);
		w = *lms_model_get_weights(model);
	} else {
		cfg = (struct lms_model_config){.family = LMS_MODEL_QWEN3_VL,
						.hidden_size = 64,
						.intermediate_size = 128,
						.num_layers = 2,
						.num_heads = 4,
						.num_kv_heads = 2,
						.head_dim = 32,
						.vocab_size = 512,
						.rms_norm_eps = 1e-6,
						.rope_theta = 5e6,
						.tie_word_embeddings = 1};
		strcpy(cfg.lm_prefix, "model.language_model.");
		size_t C = 64, F = 128, HD = 128, GD = 64, V = 512;
		w.embed = rnd(V * C, 0, 0.04f, &seed);
		w.lm_head = w.embed;
		w.final_norm = rnd(C, 1, 0.1f, &seed);
		for (int l = 0; l < 2; l++)
			lw[l] = (struct lms_layer_weights){
			    rnd(C, 1, 0.1f, &seed),	  rnd(HD * C, 0, 0.04f, &seed),
			    rnd(GD * C, 0, 0.04f, &seed), rnd(GD * C, 0, 0.04f, &seed),
			    rnd(C * HD, 0, 0.04f, &seed), rnd(32, 1, 0.1f, &seed),
			    rnd(32, 1, 0.1f, &seed),	  rnd(C, 1, 0.1f, &seed),
			    rnd(F * C, 0, 0.04f, &seed),  rnd(F * C, 0, 0.04f, &seed),
			    rnd(C * F, 0, 0.04f, &seed)};
		w.layers = lw;
	}
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	if (lms_backend_cpu_init(NULL, &be) != LMS_OK ||
	    lms_engine_init(be, &cfg, &w, B, T, NULL, &e) != LMS_OK) {
		fprintf(stderr, "bench_engine: %s\n", lms_error_message());
		return 2;
	}
	int32_t *ids = malloc(sizeof(int32_t) * B * T);
	for (int i = 0; i < B * T; i++)
		ids[i] = rand_r(&seed) % (cfg.vocab_size < 500 ? cfg.vocab_size : 500);
	struct lms_batch batch = {B, T, ids, NULL, NULL};
	double *t = malloc(sizeof(double) * (reps + 1)), loss = 0, tf = 0;
	for (int r = 0; r <= reps; r++) { /* r = 0 warms up */
		double t0 = now();
		if (lms_engine_forward(e, &batch, NULL, &loss) != LMS_OK)
			return 2;
		double t1 = now();
		if (lms_engine_backward(e, NULL) != LMS_OK)
			return 2;
		t[r] = now() - t0;
		if (r == reps)
			tf = t1 - t0;
	}
	qsort(t + 1, (size_t)reps, sizeof *t, cmp_d);
	printf("bench_engine: %s, L %d C %d V %d, batch %d x %d: forward+backward median %.4f s "
	       "(last forward %.4f s), loss %.4f, %s threads\n",
	       dir ? dir : "in-memory tiny", cfg.num_layers, cfg.hidden_size, cfg.vocab_size, B, T,
	       t[1 + reps / 2], tf, loss,
	       getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "default");
	lms_engine_free(e);
	lms_backend_free(be);
	lms_model_free(model);
	free(ids), free(t);
	return 0;
}
