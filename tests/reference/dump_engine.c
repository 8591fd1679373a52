/* dump_engine.c — test driver for the HF reference comparison
 * (tests/reference/qwen3_ref.py): loads a checkpoint with lms_model_load,
 * runs one forward + backward of the engine on the CPU backend, and writes
 * a safetensors file with
 *   loss (F64 [1]), valid_tokens (F64 [1]), logits (BF16 [B, T, V]),
 *   y.<module> and dy.<module> (BF16 [M, out]) for every linear layer,
 *   x.<module> (BF16 [M, in]) for q_proj, o_proj, gate_proj, down_proj.
 *
 * usage: dump_engine MODEL_DIR BATCH_FILE OUT_FILE [mean|sum] [recompute]
 * BATCH_FILE is text: "B T", then B·T ids, then B·T mask values (0/1).
 * It is a test tool: errors print and exit 2; nothing here is installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "engine/engine.h"
#include "model/model.h"

struct entry {
	char name[128];
	const char *dtype;
	int ndim;
	int64_t shape[3];
	void *data;
	size_t bytes;
};

static struct entry *g_ent;
static size_t g_n, g_cap;

static void add(const char *name, const char *dtype, int ndim, const int64_t *shape,
		const void *data, size_t bytes)
{
	if (g_n == g_cap) {
		g_cap = g_cap ? 2 * g_cap : 64;
		g_ent = realloc(g_ent, g_cap * sizeof *g_ent);
	}
	struct entry *e = &g_ent[g_n++];
	snprintf(e->name, sizeof e->name, "%s", name);
	e->dtype = dtype;
	e->ndim = ndim;
	memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
	e->data = malloc(bytes ? bytes : 1);
	memcpy(e->data, data, bytes);
	e->bytes = bytes;
}

static int write_safetensors(const char *path)
{
	size_t cap = 256 + g_n * 256, len = 0;
	char *h = malloc(cap);
	len += (size_t)snprintf(h + len, cap - len, "{");
	size_t off = 0;
	for (size_t i = 0; i < g_n; i++) {
		struct entry *e = &g_ent[i];
		len +=
		    (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
				     i ? "," : "", e->name, e->dtype);
		for (int d = 0; d < e->ndim; d++)
			len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "",
						(long long)e->shape[d]);
		len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off,
					off + e->bytes);
		off += e->bytes;
	}
	len += (size_t)snprintf(h + len, cap - len, "}");
	while (len % 8)
		h[len++] = ' ';
	char tmp[4096];
	FILE *f = NULL;
	if (lms_atomic_open(path, tmp, sizeof tmp, &f) != LMS_OK)
		return 1;
	uint64_t hl = len;
	fwrite(&hl, 8, 1, f);
	fwrite(h, 1, len, f);
	for (size_t i = 0; i < g_n; i++)
		fwrite(g_ent[i].data, 1, g_ent[i].bytes, f);
	free(h);
	return lms_atomic_commit(f, tmp, path) != LMS_OK;
}

static int want_x(enum lms_linear_kind k)
{
	return k == LMS_LINEAR_Q || k == LMS_LINEAR_O || k == LMS_LINEAR_GATE ||
	       k == LMS_LINEAR_DOWN || k == LMS_LINEAR_LM_HEAD;
}

static enum lms_status on_bwd(void *user, const struct lms_linear_event *ev)
{
	(void)user;
	char name[128];
	int64_t sy[2] = {ev->M, ev->out}, sx[2] = {ev->M, ev->in};
	size_t ny = (size_t)ev->M * ev->out * 2, nx = (size_t)ev->M * ev->in * 2;
	snprintf(name, sizeof name, "y.%s", ev->name);
	add(name, "BF16", 2, sy, ev->d_y, ny);
	snprintf(name, sizeof name, "dy.%s", ev->name);
	add(name, "BF16", 2, sy, ev->d_dy, ny);
	if (want_x(ev->kind)) {
		snprintf(name, sizeof name, "x.%s", ev->name);
		add(name, "BF16", 2, sx, ev->d_x, nx);
	}
	return LMS_OK;
}

static int fail(const char *what)
{
	fprintf(stderr, "dump_engine: %s: %s\n", what, lms_error_message());
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(
		    stderr,
		    "usage: dump_engine MODEL_DIR BATCH_FILE OUT_FILE [mean|sum] [recompute]\n");
		return 2;
	}
	struct lms_engine_options opts = {0};
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "sum") == 0)
			opts.loss_reduction = LMS_LOSS_SUM;
		else if (strcmp(argv[i], "recompute") == 0)
			opts.recompute = 1;
	}
	FILE *bf = fopen(argv[2], "r");
	int B = 0, T = 0;
	if (!bf || fscanf(bf, "%d %d", &B, &T) != 2 || B < 1 || T < 1) {
		fprintf(stderr, "dump_engine: cannot read %s\n", argv[2]);
		return 2;
	}
	int32_t *ids = malloc(sizeof(int32_t) * B * T), *mask = malloc(sizeof(int32_t) * B * T);
	for (int i = 0; i < B * T; i++)
		if (fscanf(bf, "%d", &ids[i]) != 1)
			return 2;
	for (int i = 0; i < B * T; i++)
		if (fscanf(bf, "%d", &mask[i]) != 1)
			return 2;
	fclose(bf);

	struct lms_model *model = NULL;
	struct lms_backend *be = NULL;
	struct lms_engine *e = NULL;
	if (lms_model_load(argv[1], &model) != LMS_OK)
		return fail("loading the model");
	const struct lms_model_config *cfg = lms_model_get_config(model);
	if (lms_backend_cpu_init(NULL, &be) != LMS_OK)
		return fail("backend");
	if (lms_engine_init(be, cfg, lms_model_get_weights(model), B, T, &opts, &e) != LMS_OK)
		return fail("engine");
	struct lms_batch batch = {B, T, ids, mask, NULL};
	struct lms_linear_hook hooks = {NULL, on_bwd, NULL};
	double loss = 0;
	if (lms_engine_forward(e, &batch, NULL, &loss) != LMS_OK)
		return fail("forward");
	int64_t shape[3] = {B, T, cfg->vocab_size}, one = 1;
	add("logits", "BF16", 3, shape, lms_engine_logits(e), (size_t)B * T * cfg->vocab_size * 2);
	if (lms_engine_backward(e, &hooks) != LMS_OK)
		return fail("backward");
	double nv = (double)lms_engine_valid_tokens(e);
	add("loss", "F64", 1, &one, &loss, 8);
	add("valid_tokens", "F64", 1, &one, &nv, 8);
	if (write_safetensors(argv[3]))
		return fail("writing the output");
	printf("dump_engine: loss %.9g over %.0f tokens, %zu tensors -> %s\n", loss, nv, g_n,
	       argv[3]);
	for (size_t i = 0; i < g_n; i++)
		free(g_ent[i].data);
	free(g_ent);
	lms_engine_free(e);
	lms_backend_free(be);
	lms_model_free(model);
	free(ids), free(mask);
	return 0;
}
