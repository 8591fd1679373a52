/* dataset.c — tokenized calibration batches (padded or packed) and the
 * data-parallel split of batches among ranks.
 *
 * Dimension letters: B = rows in a batch, T = tokens per row.
 * Samples are tokenized once into one id stream (sample i is
 * stream[off[i] .. off[i] + len[i]), already truncated to seq_len); the
 * batches' ids/mask/labels are carved out of one int32 arena.
 * Invariants: see data.h (mask = 0 ⇔ label = -100 ⇔ right padding).
 * What it does not do: keep the text (only ids), or shuffle within batches. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/data.h"

void lms_data_opts_default(struct lms_data_opts *o)
{
	memset(o, 0, sizeof *o);
	o->max_samples = 0;
	o->seq_len = 512;
	o->batch_size = 1;
	o->pad_token_id = 151643;
	o->sep_token_id = -1;
}

int lms_data_score_steps(long score_size, int batch_size)
{
	if (batch_size <= 0)
		return 1;
	long s = score_size / batch_size;
	return s < 1 ? 1 : s > INT_MAX ? INT_MAX : (int)s;
}

int lms_data_rank_batches(int n_batches, int rank, int world, int *idx, int cap)
{
	LMS_ASSERT(world >= 1 && rank >= 0 && rank < world && n_batches >= 0);
	int n = 0;
	for (int b = rank; b < n_batches; b += world) {
		if (n < cap)
			idx[n] = b;
		n++;
	}
	return n;
}

const struct lms_data_batch *lms_dataset_batch(const struct lms_dataset *ds, int i)
{
	LMS_ASSERT(ds && i >= 0 && i < ds->n_batches);
	return &ds->batches[i];
}

void lms_dataset_free(struct lms_dataset *ds)
{
	if (!ds)
		return;
	free(ds->batches);
	free(ds->arena);
	free(ds);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static enum lms_status check_opts(const struct lms_data_opts *o)
{
	if (!o->captions_path || !o->captions_path[0])
		return lms_fail(LMS_ERR_CONFIG,
				"set dataset.captions_path (or dataset.root and size)",
				"no captions file given");
	if (o->seq_len < 2)
		return lms_fail(LMS_ERR_CONFIG, "a causal LM loss needs at least 2 tokens per row",
				"dataset.calib_seq_len=%d: must be >= 2", o->seq_len);
	if (o->batch_size < 1)
		return lms_fail(LMS_ERR_CONFIG, "set autoquant.batch_size to 1 or more",
				"autoquant.batch_size=%d: must be >= 1", o->batch_size);
	if (o->pad_token_id < 0)
		return lms_fail(LMS_ERR_CONFIG,
				"set dataset.pad_token_id to a token id (Qwen: 151643)",
				"dataset.pad_token_id=%d: must be >= 0", (int)o->pad_token_id);
	return LMS_OK;
}

/* Tokenizes the chosen samples into one stream with per-sample offsets. */
static enum lms_status tokenize_samples(const struct lms_data_opts *o, struct lms_tokenizer *tok,
					const struct lms_captions *cap, const long *order, long n,
					struct lms_tokens *stream, size_t *off, size_t *len,
					long *n_truncated)
{
	*n_truncated = 0;
	for (long i = 0; i < n; i++) {
		off[i] = stream->n;
		long s = order[i];
		enum lms_status st = lms_tokenizer_encode(tok, cap->lines[s], cap->lens[s], stream);
		if (st != LMS_OK) {
			lms_error_context("%s: sample %ld", o->captions_path, s + 1);
			return st;
		}
		len[i] = stream->n - off[i];
		/* A tokenizer whose normalizer or pre-tokenizer removes text can
		 * turn a non-blank line into no tokens: a padded row would then
		 * hold no valid token (a loss over zero tokens). */
		if (len[i] == 0)
			return lms_fail(LMS_ERR_INPUT,
					"remove the line, or check the tokenizer's normalizer and "
					"pre-tokenizer (they delete this text)",
					"%s: sample %ld ('%.40s') gives no tokens",
					o->captions_path, s + 1, cap->lines[s]);
		if (len[i] > (size_t)o->seq_len) {
			len[i] = (size_t)o->seq_len;
			stream->n = off[i] + len[i];
			(*n_truncated)++;
		}
	}
	return LMS_OK;
}

static enum lms_status alloc_batches(struct lms_dataset *ds, int n_batches, size_t arena_elems)
{
	ds->batches = calloc((size_t)n_batches, sizeof *ds->batches);
	ds->arena = malloc((arena_elems ? arena_elems : 1) * sizeof *ds->arena);
	if (!ds->batches || !ds->arena)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for %d batches (%zu ids)",
				n_batches, arena_elems / 3);
	ds->n_batches = n_batches;
	return LMS_OK;
}

static void carve(struct lms_data_batch *b, int32_t **arena, int B, int T)
{
	size_t n = (size_t)B * (size_t)T;
	b->B = B;
	b->T = T;
	b->ids = *arena;
	b->mask = b->ids + n;
	b->labels = b->mask + n;
	*arena += 3 * n;
}

/* One sample per row, right-padded to the longest row of each batch. */
static enum lms_status build_padded(struct lms_dataset *ds, const struct lms_data_opts *o,
				    const int32_t *stream, const size_t *off, const size_t *len,
				    long n)
{
	int Bmax = o->batch_size;
	int n_batches = (int)((n + Bmax - 1) / Bmax);
	size_t total = 0;
	for (int b = 0; b < n_batches; b++) {
		size_t T = 0;
		long lo = (long)b * Bmax, hi = lo + Bmax < n ? lo + Bmax : n;
		for (long i = lo; i < hi; i++)
			T = len[i] > T ? len[i] : T;
		total += 3 * (size_t)(hi - lo) * T;
	}
	LMS_TRY(alloc_batches(ds, n_batches, total));
	int32_t *arena = ds->arena;
	for (int b = 0; b < n_batches; b++) {
		long lo = (long)b * Bmax, hi = lo + Bmax < n ? lo + Bmax : n;
		int T = 0;
		for (long i = lo; i < hi; i++)
			T = (int)len[i] > T ? (int)len[i] : T;
		struct lms_data_batch *bt = &ds->batches[b];
		carve(bt, &arena, (int)(hi - lo), T);
		bt->first_sample = lo;
		for (long i = lo; i < hi; i++) {
			size_t row = (size_t)(i - lo) * (size_t)T;
			for (int t = 0; t < T; t++) {
				int valid = (size_t)t < len[i];
				int32_t id = valid ? stream[off[i] + (size_t)t] : o->pad_token_id;
				bt->ids[row + t] = id;
				bt->mask[row + t] = valid;
				bt->labels[row + t] = valid ? id : LMS_LABEL_IGNORE;
			}
			bt->n_tokens += (long)len[i];
		}
		ds->n_tokens += bt->n_tokens;
	}
	return LMS_OK;
}

/* Samples joined by the separator and cut into full rows of seq_len. */
static enum lms_status build_packed(struct lms_dataset *ds, const struct lms_data_opts *o,
				    const int32_t *stream, const size_t *off, const size_t *len,
				    long n)
{
	int32_t sep = o->sep_token_id >= 0 ? o->sep_token_id : o->pad_token_id;
	size_t T = (size_t)o->seq_len, total = 0;
	for (long i = 0; i < n; i++)
		total += len[i] + (i + 1 < n);
	size_t rows = total / T;
	if (rows < (size_t)o->batch_size)
		return lms_fail(
		    LMS_ERR_INPUT,
		    "lower autoquant.batch_size or dataset.calib_seq_len, or use more samples",
		    "packing %ld samples from '%s' gives %zu tokens = %zu full rows of "
		    "dataset.calib_seq_len=%d, fewer than one batch (autoquant.batch_size=%d)",
		    n, o->captions_path, total, rows, o->seq_len, o->batch_size);
	int Bmax = o->batch_size;
	int n_batches = (int)((rows + (size_t)Bmax - 1) / (size_t)Bmax);
	LMS_TRY(alloc_batches(ds, n_batches, 3 * rows * T));
	int32_t *arena = ds->arena;
	long s = 0;   /* current sample */
	size_t k = 0; /* next token of sample s; k == len[s] means its separator */
	for (int b = 0; b < n_batches; b++) {
		size_t lo = (size_t)b * (size_t)Bmax;
		int B = (int)(rows - lo < (size_t)Bmax ? rows - lo : (size_t)Bmax);
		struct lms_data_batch *bt = &ds->batches[b];
		carve(bt, &arena, B, (int)T);
		bt->first_sample = -1;
		for (size_t j = 0; j < (size_t)B * T; j++) {
			int32_t id;
			if (k < len[s]) {
				id = stream[off[s] + k++];
			} else { /* separator, then the next sample */
				id = sep;
				s++;
				k = 0;
			}
			/* an empty sample cannot occur: captions lines are non-blank */
			bt->ids[j] = id;
			bt->mask[j] = 1;
			bt->labels[j] = id;
		}
		bt->n_tokens = (long)B * (long)T;
		ds->n_tokens += bt->n_tokens;
	}
	ds->n_dropped_tokens = (long)(total - rows * T);
	return LMS_OK;
}

static enum lms_status build(struct lms_dataset *ds, const struct lms_data_opts *o,
			     struct lms_tokenizer *tok, const struct lms_captions *cap)
{
	long n = o->max_samples > 0 && o->max_samples < cap->n ? o->max_samples : cap->n;
	if (o->max_samples > cap->n)
		LMS_WARN("%s has %ld samples, fewer than the %ld requested; using all of them",
			 o->captions_path, cap->n, o->max_samples);
	if (!o->packing && n < o->batch_size)
		return lms_fail(
		    LMS_ERR_INPUT,
		    "lower autoquant.batch_size, or raise dataset.max_calib_samples or use "
		    "a bigger captions file",
		    "'%s' gives %ld samples, fewer than one batch (autoquant.batch_size=%d)",
		    o->captions_path, n, o->batch_size);
	long *order = malloc((size_t)cap->n * sizeof *order);
	size_t *off = malloc((size_t)n * sizeof *off), *len = malloc((size_t)n * sizeof *len);
	struct lms_tokens stream = {0};
	enum lms_status st = LMS_OK;
	if (!order || !off || !len) {
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for %ld samples", cap->n);
		goto done;
	}
	for (long i = 0; i < cap->n; i++)
		order[i] = i;
	if (o->shuffle_seed) { /* Fisher-Yates with splitmix64: the same seed, the same order */
		uint64_t x = o->shuffle_seed;
		for (long i = cap->n - 1; i > 0; i--) {
			long j = (long)(splitmix64(&x) % (uint64_t)(i + 1));
			long t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	}
	st = tokenize_samples(o, tok, cap, order, n, &stream, off, len, &ds->n_truncated);
	if (st != LMS_OK)
		goto done;
	ds->n_samples = n;
	st = o->packing ? build_packed(ds, o, stream.ids, off, len, n)
			: build_padded(ds, o, stream.ids, off, len, n);
done:
	lms_tokens_free(&stream);
	free(order);
	free(off);
	free(len);
	return st;
}

enum lms_status lms_dataset_build(const struct lms_data_opts *o, struct lms_tokenizer *tok,
				  struct lms_dataset **out)
{
	*out = NULL;
	LMS_TRY(check_opts(o));
	struct lms_captions cap;
	LMS_TRY(lms_captions_read(o->captions_path, o->skip_invalid_utf8, &cap));
	if (cap.n_invalid)
		LMS_WARN("%s: skipped %ld lines that are not valid UTF-8 (the first is line %ld)",
			 o->captions_path, cap.n_invalid, cap.first_invalid);
	struct lms_dataset *ds = calloc(1, sizeof *ds);
	if (!ds) {
		lms_captions_free(&cap);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	ds->n_lines_blank = cap.n_blank;
	ds->n_lines_invalid = cap.n_invalid;
	enum lms_status st = build(ds, o, tok, &cap);
	lms_captions_free(&cap);
	if (st != LMS_OK) {
		lms_dataset_free(ds);
		return st;
	}
	int nb = ds->n_batches;
	ds->n_calib = o->calib_steps > 0 && o->calib_steps < nb ? o->calib_steps : nb;
	ds->n_score = o->score_steps > 0 && o->score_steps < nb ? o->score_steps : nb;
	LMS_INFO(
	    "calibration data: %ld samples from %s → %d batches (%ld tokens, %ld truncated%s); "
	    "calibration uses %d, scoring %d",
	    ds->n_samples, o->captions_path, nb, ds->n_tokens, ds->n_truncated,
	    o->packing ? ", packed" : "", ds->n_calib, ds->n_score);
	*out = ds;
	return LMS_OK;
}
