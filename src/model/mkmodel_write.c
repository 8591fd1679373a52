/* mkmodel_write.c — streams mkmodel's tensors into safetensors shards.
 *
 * Shards are filled greedily in tensor order up to shard_bytes of data (a
 * tensor larger than that gets a shard of its own), like HF's
 * save_pretrained(max_shard_size). One shard → "model.safetensors" and no
 * index; several → "model-0000K-of-0000N.safetensors" + the index.
 *
 * Random data: a tensor is cut into blocks of BLOCK elements; block b of a
 * tensor uses RNG stream (tensor stream + b), so the bytes do not depend on
 * the thread count. Big tensors go through two CHUNK-element buffers: worker
 * threads fill one while the main thread writes the other.
 * Zeros mode seeks over the data and sets the file size, which leaves holes
 * (sparse files): an 8.9 GB 4B checkpoint then takes no disk and no time.
 * Invariant: each shard's header is padded with spaces to a multiple of 8
 * bytes, so data offsets of bf16 tensors stay 2-byte aligned in memory. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "model/mkmodel.h"
#include "model/rng.h"

#define BLOCK ((uint64_t)1 << 20)  /* elements per RNG stream */
#define CHUNK ((uint64_t)32 << 20) /* elements per buffer (64 MiB) */
#define STDDEV 0.02

static void fill_block(const struct lms_mk_tensor *t, uint64_t seed, uint64_t first, uint64_t count,
		       lms_bf16 *dst)
{
	if (t->init != LMS_MK_NORMAL) {
		lms_bf16 v = t->init == LMS_MK_ONES ? 0x3f80 : 0;
		for (uint64_t i = 0; i < count; i++)
			dst[i] = v;
		return;
	}
	struct lms_rng r;
	lms_rng_seed(&r, seed, t->stream + first / BLOCK);
	lms_rng_normal_bf16(&r, STDDEV, dst, (size_t)count);
}

struct work {
	const struct lms_mk_tensor *t;
	uint64_t seed, first, count; /* element range of the chunk */
	lms_bf16 *dst;
	int tid, nthreads;
};

static void *worker(void *arg)
{
	struct work *w = arg;
	uint64_t nblocks = (w->count + BLOCK - 1) / BLOCK;
	for (uint64_t b = (uint64_t)w->tid; b < nblocks; b += (uint64_t)w->nthreads) {
		uint64_t off = b * BLOCK;
		uint64_t cnt = w->count - off < BLOCK ? w->count - off : BLOCK;
		fill_block(w->t, w->seed, w->first + off, cnt, w->dst + off);
	}
	return NULL;
}

struct gen {
	int nthreads;
	pthread_t th[64];
	struct work w[64];
	int running;
};

/* Fills dst with elements [first, first+count) of t, on nthreads threads;
 * returns with the threads running (gen_join waits). */
static void gen_start(struct gen *g, const struct lms_mk_tensor *t, uint64_t seed, uint64_t first,
		      uint64_t count, lms_bf16 *dst)
{
	g->running = 0;
	for (int i = 0; i < g->nthreads; i++) {
		g->w[i] = (struct work){t, seed, first, count, dst, i, g->nthreads};
		if (pthread_create(&g->th[i], NULL, worker, &g->w[i]) != 0) {
			/* No thread: do this share here (same bytes either way). */
			worker(&g->w[i]);
			continue;
		}
		g->th[g->running++] = g->th[i];
	}
}

static void gen_join(struct gen *g)
{
	for (int i = 0; i < g->running; i++)
		pthread_join(g->th[i], NULL);
	g->running = 0;
}

static enum lms_status write_bytes(FILE *f, const void *p, size_t n, const char *path)
{
	if (n && fwrite(p, 1, n, f) != n)
		return lms_fail(LMS_ERR_IO, "check free space of the output directory",
				"writing '%s' failed: %s", path, strerror(errno));
	return LMS_OK;
}

/* Streams one tensor's data into f, double-buffered through bufs. */
static enum lms_status write_tensor(FILE *f, const char *path, const struct lms_mk_tensor *t,
				    uint64_t seed, struct gen *g, lms_bf16 *bufs[2])
{
	if (t->numel <= BLOCK) { /* small: no threads */
		fill_block(t, seed, 0, t->numel, bufs[0]);
		return write_bytes(f, bufs[0], (size_t)t->numel * 2, path);
	}
	uint64_t nchunks = (t->numel + CHUNK - 1) / CHUNK;
	enum lms_status st = LMS_OK;
	for (uint64_t c = 0; c <= nchunks; c++) {
		if (c < nchunks) {
			uint64_t first = c * CHUNK;
			uint64_t cnt = t->numel - first < CHUNK ? t->numel - first : CHUNK;
			gen_start(g, t, seed, first, cnt, bufs[c & 1]);
		}
		if (c > 0 && st == LMS_OK) {
			uint64_t first = (c - 1) * CHUNK;
			uint64_t cnt = t->numel - first < CHUNK ? t->numel - first : CHUNK;
			st = write_bytes(f, bufs[(c - 1) & 1], (size_t)cnt * 2, path);
		}
		gen_join(g);
	}
	return st;
}

static char *header_json(const struct lms_mk_tensor *t, size_t n, int shard, size_t *len)
{
	json_t *h = json_object();
	json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
	for (size_t i = 0; i < n; i++) {
		if (t[i].shard != shard)
			continue;
		json_t *shape = json_array();
		for (int d = 0; d < t[i].ndim; d++)
			json_array_append_new(shape, json_integer(t[i].shape[d]));
		json_object_set_new(h, t[i].name,
				    json_pack("{s:s, s:o, s:[I, I]}", "dtype", "BF16", "shape",
					      shape, "data_offsets", (json_int_t)t[i].begin,
					      (json_int_t)(t[i].begin + t[i].numel * 2)));
	}
	char *s = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!s)
		return NULL;
	size_t l = strlen(s), padded = (l + 7) & ~(size_t)7;
	char *p = realloc(s, padded + 1);
	if (!p) {
		free(s);
		return NULL;
	}
	memset(p + l, ' ', padded - l);
	p[padded] = '\0';
	*len = padded;
	return p;
}

static void shard_name(char *buf, size_t cap, int k, int nshards)
{
	if (nshards == 1)
		snprintf(buf, cap, "model.safetensors");
	else
		snprintf(buf, cap, "model-%05d-of-%05d.safetensors", k + 1, nshards);
}

static enum lms_status write_shard(const char *dir, const struct lms_mk_tensor *t, size_t n, int k,
				   int nshards, uint64_t seed, int zeros, struct gen *g,
				   lms_bf16 *bufs[2])
{
	char name[64], path[PATH_MAX], tmp[PATH_MAX];
	shard_name(name, sizeof name, k, nshards);
	LMS_TRY(lms_path_join(path, sizeof path, dir, name));
	size_t hlen;
	char *hdr = header_json(t, n, k, &hlen);
	if (!hdr)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory building the header of %s",
				path);
	FILE *f;
	enum lms_status st = lms_atomic_open(path, tmp, sizeof tmp, &f);
	if (st != LMS_OK) {
		free(hdr);
		return st;
	}
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	st = write_bytes(f, len8, 8, path);
	if (st == LMS_OK)
		st = write_bytes(f, hdr, hlen, path);
	free(hdr);
	uint64_t data = 0;
	for (size_t i = 0; i < n && st == LMS_OK; i++) {
		if (t[i].shard != k)
			continue;
		data += t[i].numel * 2;
		if (!zeros)
			st = write_tensor(f, path, &t[i], seed, g, bufs);
	}
	if (st == LMS_OK && zeros &&
	    (fflush(f) != 0 || ftruncate(fileno(f), (off_t)(8 + hlen + data)) != 0))
		st = lms_fail(LMS_ERR_IO, "check free space of the output directory",
			      "cannot size '%s': %s", path, strerror(errno));
	if (st != LMS_OK) {
		lms_atomic_abort(f, tmp);
		return st;
	}
	return lms_atomic_commit(f, tmp, path);
}

static enum lms_status write_index(const char *dir, const struct lms_mk_tensor *t, size_t n,
				   int nshards)
{
	char path[PATH_MAX], name[64];
	LMS_TRY(lms_path_join(path, sizeof path, dir, "model.safetensors.index.json"));
	/* HF writes weight_map with sorted keys; sort name pointers. */
	const struct lms_mk_tensor **v = malloc(n * sizeof *v);
	if (!v)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	uint64_t bytes = 0, params = 0;
	for (size_t i = 0; i < n; i++) {
		v[i] = &t[i];
		bytes += t[i].numel * 2;
		params += t[i].numel;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: n is at most a few thousand */
		for (size_t j = i; j > 0 && strcmp(v[j - 1]->name, v[j]->name) > 0; j--) {
			const struct lms_mk_tensor *x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	json_t *wm = json_object();
	for (size_t i = 0; i < n; i++) {
		shard_name(name, sizeof name, v[i]->shard, nshards);
		json_object_set_new(wm, v[i]->name, json_string(name));
	}
	free(v);
	json_t *root =
	    json_pack("{s:{s:I, s:I}, s:o}", "metadata", "total_parameters", (json_int_t)params,
		      "total_size", (json_int_t)bytes, "weight_map", wm);
	char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (!text)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing %s", path);
	enum lms_status st = lms_write_file_atomic(path, text, strlen(text));
	free(text);
	return st;
}

/* Removes the file a previous mkmodel of another shard count may have left
 * (a stale index would otherwise take precedence over model.safetensors). */
static void remove_stale(const char *dir, const char *name)
{
	char path[PATH_MAX];
	if (lms_path_join(path, sizeof path, dir, name) == LMS_OK)
		unlink(path);
}

enum lms_status lms_mk_write_shards(const char *dir, struct lms_mk_tensor *t, size_t n,
				    uint64_t shard_bytes, uint64_t seed, int threads, int zeros,
				    size_t *n_shards)
{
	int k = 0;
	uint64_t used = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = t[i].numel * 2;
		if (used > 0 && used + b > shard_bytes) {
			k++;
			used = 0;
		}
		t[i].shard = k;
		t[i].begin = used;
		used += b;
	}
	int nshards = k + 1;
	*n_shards = (size_t)nshards;
	struct gen g = {.nthreads = threads < 1 ? 1 : threads > 64 ? 64 : threads};
	lms_bf16 *bufs[2] = {malloc(CHUNK * 2), malloc(CHUNK * 2)};
	enum lms_status st = LMS_OK;
	if (!bufs[0] || !bufs[1])
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory (mkmodel buffers)");
	for (int s = 0; s < nshards && st == LMS_OK; s++)
		st = write_shard(dir, t, n, s, nshards, seed, zeros, &g, bufs);
	free(bufs[0]);
	free(bufs[1]);
	if (st != LMS_OK)
		return st;
	if (nshards == 1) {
		remove_stale(dir, "model.safetensors.index.json");
		return LMS_OK;
	}
	remove_stale(dir, "model.safetensors");
	return write_index(dir, t, n, nshards);
}
