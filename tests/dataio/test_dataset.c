/* test_dataset.c — captions reading, calibration batches and the
 * data-parallel split (src/data/).
 *
 * Cases: line handling (blank, CRLF, stripping, no final newline); every
 * error (missing, directory, empty, blank-only, invalid UTF-8 with file:line,
 * and the skip option with its count; calib_seq_len < 2; batch size 0;
 * fewer samples than one batch, padded and packed); padded batches (shape,
 * right padding, mask/labels invariants, ids equal to the tokenizer's,
 * truncation); packing (full rows, separators, stream reconstruction);
 * seeded shuffle; phase batch counts; the rank split covers every batch
 * exactly once; the shipped synthetic captions. Uses the real Qwen3
 * tokenizer from tests/data/tokenizer/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#define CAP LMSENS_SOURCE_DIR "/tests/data/captions"
#define SHIPPED LMSENS_SOURCE_DIR "/datasets/vlm-quantize-calib"
#define QWEN LMSENS_SOURCE_DIR "/tests/data/tokenizer/qwen3-tokenizer.json"
#define PAD 151643

static struct lms_tokenizer *g_tok;

static void test_read_lines(void)
{
	struct lms_captions c;
	CHECK(lms_captions_read(CAP "/mixed.txt", 0, &c) == LMS_OK);
	CHECK_INT_EQ(c.n, 5);
	CHECK_INT_EQ(c.n_blank, 4);
	CHECK_INT_EQ(c.n_invalid, 0);
	if (c.n == 5) {
		CHECK_STR_EQ(c.lines[0], "A man riding a wave on top of a surfboard.");
		CHECK_STR_EQ(c.lines[1], "Two dogs playing in the snow.");
		CHECK_STR_EQ(c.lines[2], "A caf\xc3\xa9 with a red awning");
		CHECK_STR_EQ(c.lines[4], "The last line has no newline");
		CHECK_INT_EQ(c.lens[1], strlen("Two dogs playing in the snow."));
	}
	lms_captions_free(&c);
	lms_captions_free(&c); /* idempotent */

	CHECK_FAILS_WITH(lms_captions_read(CAP "/invalid_utf8.txt", 0, &c), LMS_ERR_INPUT,
			 "invalid_utf8.txt:3:7: invalid UTF-8 (byte 0xff)");
	CHECK_STR_CONTAINS(lms_error_hint(), "skip_invalid_utf8");
	CHECK(c.lines == NULL && c.n == 0);
	CHECK(lms_captions_read(CAP "/invalid_utf8.txt", 1, &c) == LMS_OK);
	CHECK_INT_EQ(c.n, 3);
	CHECK_INT_EQ(c.n_invalid, 2);
	CHECK_INT_EQ(c.first_invalid, 3);
	if (c.n == 3)
		CHECK_STR_EQ(c.lines[2], "fourth is fine");
	lms_captions_free(&c);

	CHECK_FAILS_WITH(lms_captions_read(CAP "/no_such_file.txt", 0, &c), LMS_ERR_NOT_FOUND,
			 "cannot open captions file");
	CHECK_FAILS_WITH(lms_captions_read(CAP, 0, &c), LMS_ERR_INPUT, "is not a regular file");
	CHECK_FAILS_WITH(lms_captions_read(CAP "/empty.txt", 0, &c), LMS_ERR_INPUT,
			 "has no samples (0 lines");
	CHECK_FAILS_WITH(lms_captions_read(CAP "/blank_only.txt", 0, &c), LMS_ERR_INPUT,
			 "has no samples (4 lines: 4 blank");
}

static struct lms_data_opts opts(const char *path, int seq_len, int batch)
{
	struct lms_data_opts o;
	lms_data_opts_default(&o);
	o.captions_path = path;
	o.seq_len = seq_len;
	o.batch_size = batch;
	return o;
}

static void test_option_errors(void)
{
	struct lms_dataset *ds = (struct lms_dataset *)&ds;
	struct lms_data_opts o = opts(CAP "/mixed.txt", 1, 2);
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_CONFIG,
			 "dataset.calib_seq_len=1: must be >= 2");
	CHECK(ds == NULL);
	o = opts(CAP "/mixed.txt", 16, 0);
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_CONFIG,
			 "autoquant.batch_size=0: must be >= 1");
	o = opts(CAP "/mixed.txt", 16, 6);
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_INPUT,
			 "gives 5 samples, fewer than one batch (autoquant.batch_size=6)");
	o = opts(CAP "/mixed.txt", 16, 2);
	o.max_samples = 1;
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_INPUT,
			 "gives 1 samples, fewer than one batch");
	o = opts(CAP "/mixed.txt", 16, 4);
	o.packing = 1; /* 5 short captions make 2 rows of 16 */
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_INPUT,
			 "full rows of dataset.calib_seq_len=16, fewer than one batch");
	o = opts(NULL, 16, 1);
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_CONFIG, "no captions file");
	o = opts(CAP "/missing.txt", 16, 1);
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_NOT_FOUND, "missing.txt");
	o = opts(CAP "/invalid_utf8.txt", 16, 1);
	CHECK_FAILS_WITH(lms_dataset_build(&o, g_tok, &ds), LMS_ERR_INPUT, ":3:7: invalid UTF-8");
	o.skip_invalid_utf8 = 1;
	CHECK(lms_dataset_build(&o, g_tok, &ds) == LMS_OK);
	if (ds) {
		CHECK_INT_EQ(ds->n_samples, 3);
		CHECK_INT_EQ(ds->n_lines_invalid, 2);
	}
	lms_dataset_free(ds);
}

/* The invariants of data.h, for one dataset built without packing from
 * samples whose token ids are given. */
static void check_padded(const struct lms_dataset *ds, int batch, int seq_len,
			 struct lms_tokens *want, long n_want)
{
	long sample = 0, tokens = 0;
	for (int b = 0; b < ds->n_batches; b++) {
		const struct lms_data_batch *bt = lms_dataset_batch(ds, b);
		CHECK(bt->B >= 1 && bt->B <= batch);
		if (b + 1 < ds->n_batches)
			CHECK_INT_EQ(bt->B, batch);
		CHECK(bt->T >= 1 && bt->T <= seq_len);
		CHECK_INT_EQ(bt->first_sample, sample);
		int longest = 0;
		long valid = 0;
		for (int r = 0; r < bt->B; r++, sample++) {
			size_t n =
			    want[sample].n < (size_t)seq_len ? want[sample].n : (size_t)seq_len;
			longest = (int)n > longest ? (int)n : longest;
			int ok = 1;
			for (int t = 0; t < bt->T; t++) {
				size_t k = (size_t)r * bt->T + t;
				int in = (size_t)t < n;
				ok &= bt->mask[k] == in;
				ok &= bt->ids[k] == (in ? want[sample].ids[t] : PAD);
				ok &= bt->labels[k] == (in ? bt->ids[k] : LMS_LABEL_IGNORE);
				valid += bt->mask[k];
			}
			CHECK(ok);
			CHECK(bt->mask[(size_t)r * bt->T] == 1); /* every row has a token */
		}
		CHECK_INT_EQ(bt->T, longest); /* padded to the longest of the batch */
		CHECK_INT_EQ(bt->n_tokens, valid);
		tokens += valid;
	}
	CHECK_INT_EQ(sample, n_want);
	CHECK_INT_EQ(ds->n_tokens, tokens);
}

static long encode_file(const char *path, long max, struct lms_tokens **out)
{
	struct lms_captions c;
	CHECK(lms_captions_read(path, 0, &c) == LMS_OK);
	long n = max > 0 && max < c.n ? max : c.n;
	*out = calloc((size_t)n, sizeof **out);
	for (long i = 0; i < n; i++)
		CHECK(lms_tokenizer_encode(g_tok, c.lines[i], c.lens[i], &(*out)[i]) == LMS_OK);
	lms_captions_free(&c);
	return n;
}

static void free_tokens(struct lms_tokens *t, long n)
{
	for (long i = 0; i < n; i++)
		lms_tokens_free(&t[i]);
	free(t);
}

static void test_padded(void)
{
	const char *path = SHIPPED "/coco2017_captions_small.txt";
	struct lms_tokens *want;
	long n = encode_file(path, 100, &want);
	CHECK_INT_EQ(n, 100);
	static const int cases[][2] = {{4, 512}, {3, 512}, {7, 6}, {1, 2}, {100, 9}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct lms_data_opts o = opts(path, cases[c][1], cases[c][0]);
		o.max_samples = 100;
		struct lms_dataset *ds;
		CHECK(lms_dataset_build(&o, g_tok, &ds) == LMS_OK);
		if (!ds)
			continue;
		CHECK_INT_EQ(ds->n_samples, 100);
		CHECK_INT_EQ(ds->n_batches, (100 + cases[c][0] - 1) / cases[c][0]);
		long trunc = 0;
		for (long i = 0; i < n; i++)
			trunc += want[i].n > (size_t)cases[c][1];
		CHECK_INT_EQ(ds->n_truncated, trunc);
		CHECK(cases[c][1] > 100 ? trunc == 0 : trunc > 0);
		check_padded(ds, cases[c][0], cases[c][1], want, n);
		lms_dataset_free(ds);
	}
	free_tokens(want, n);
}

static void push(struct lms_tokens *t, int32_t id)
{
	if (t->n == t->cap) {
		t->cap = t->cap * 2 + 64;
		t->ids = realloc(t->ids, t->cap * sizeof *t->ids);
		if (!t->ids)
			abort();
	}
	t->ids[t->n++] = id;
}

static void test_packed(void)
{
	const char *path = SHIPPED "/coco2017_captions_small.txt";
	struct lms_tokens *want;
	long n = encode_file(path, 60, &want);
	struct lms_data_opts o = opts(path, 32, 3);
	o.max_samples = 60;
	o.packing = 1;
	o.sep_token_id = -1; /* → the pad id */
	struct lms_dataset *ds;
	CHECK(lms_dataset_build(&o, g_tok, &ds) == LMS_OK);
	if (!ds) {
		free_tokens(want, n);
		return;
	}
	/* the expected stream: s0 SEP s1 SEP ... s59 */
	struct lms_tokens stream = {0};
	for (long i = 0; i < n; i++) {
		for (size_t k = 0; k < want[i].n; k++)
			push(&stream, want[i].ids[k]);
		if (i + 1 < n)
			push(&stream, PAD);
	}
	size_t rows = stream.n / 32;
	long seen = 0;
	int ok = 1;
	for (int b = 0; b < ds->n_batches; b++) {
		const struct lms_data_batch *bt = lms_dataset_batch(ds, b);
		CHECK_INT_EQ(bt->T, 32);
		CHECK_INT_EQ(bt->first_sample, -1);
		CHECK_INT_EQ(bt->n_tokens, (long)bt->B * 32);
		for (long k = 0; k < (long)bt->B * 32; k++, seen++) {
			ok &= bt->mask[k] == 1 && bt->labels[k] == bt->ids[k];
			ok &= bt->ids[k] == stream.ids[seen];
		}
	}
	CHECK(ok);
	CHECK_INT_EQ(seen, (long)(rows * 32));
	CHECK_INT_EQ(ds->n_batches, (int)((rows + 2) / 3));
	CHECK_INT_EQ(ds->n_dropped_tokens, (long)(stream.n - rows * 32));
	CHECK_INT_EQ(ds->n_tokens, (long)(rows * 32));
	lms_dataset_free(ds);
	lms_tokens_free(&stream);
	free_tokens(want, n);
}

static void test_shuffle_and_phases(void)
{
	const char *path = SHIPPED "/coco2017_captions_small.txt";
	struct lms_data_opts o = opts(path, 64, 8);
	struct lms_dataset *a, *b, *c, *plain;
	CHECK(lms_dataset_build(&o, g_tok, &plain) == LMS_OK);
	o.shuffle_seed = 42;
	CHECK(lms_dataset_build(&o, g_tok, &a) == LMS_OK);
	CHECK(lms_dataset_build(&o, g_tok, &b) == LMS_OK);
	o.shuffle_seed = 43;
	CHECK(lms_dataset_build(&o, g_tok, &c) == LMS_OK);
	if (plain && a && b && c) {
		CHECK_INT_EQ(plain->n_samples, 512);
		CHECK_INT_EQ(a->n_samples, 512);
		CHECK_INT_EQ(a->n_tokens, plain->n_tokens); /* a permutation of all samples */
		CHECK_INT_EQ(a->n_batches, 64);
		int same_ab = 1, same_ac = 1, same_plain = 1;
		for (int i = 0; i < a->n_batches; i++) {
			const struct lms_data_batch *x = lms_dataset_batch(a, i),
						    *y = lms_dataset_batch(b, i),
						    *z = lms_dataset_batch(c, i),
						    *p = lms_dataset_batch(plain, i);
			same_ab &= x->T == y->T &&
				   memcmp(x->ids, y->ids, sizeof(int32_t) * x->B * x->T) == 0;
			same_ac &= x->T == z->T &&
				   memcmp(x->ids, z->ids, sizeof(int32_t) * x->B * x->T) == 0;
			same_plain &= x->T == p->T &&
				      memcmp(x->ids, p->ids, sizeof(int32_t) * x->B * x->T) == 0;
		}
		CHECK(same_ab);
		CHECK(!same_ac);
		CHECK(!same_plain);
	}
	lms_dataset_free(a);
	lms_dataset_free(b);
	lms_dataset_free(c);
	lms_dataset_free(plain);

	/* phases: calibration and scoring both start at batch 0 */
	static const int steps[][4] = {/* calib, score, want calib, want score (64 batches) */
				       {0, 0, 64, 64},
				       {10, 4, 10, 4},
				       {100, 100, 64, 64},
				       {-1, 1, 64, 1}};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		struct lms_data_opts p = opts(path, 64, 8);
		p.calib_steps = steps[i][0];
		p.score_steps = steps[i][1];
		struct lms_dataset *ds;
		CHECK(lms_dataset_build(&p, g_tok, &ds) == LMS_OK);
		if (ds) {
			CHECK_INT_EQ(ds->n_calib, steps[i][2]);
			CHECK_INT_EQ(ds->n_score, steps[i][3]);
		}
		lms_dataset_free(ds);
	}
	CHECK_INT_EQ(lms_data_score_steps(256, 4), 64);
	CHECK_INT_EQ(lms_data_score_steps(257, 4), 64);
	CHECK_INT_EQ(lms_data_score_steps(3, 4), 1);
	CHECK_INT_EQ(lms_data_score_steps(128, 0), 1);
}

static void test_rank_split(void)
{
	int idx[64];
	int bad = 0;
	for (int n = 0; n <= 40; n++) {
		for (int world = 1; world <= 9; world++) {
			int seen[64] = {0}, lo = 1 << 30, hi = 0;
			for (int r = 0; r < world; r++) {
				int k = lms_data_rank_batches(n, r, world, idx, 64);
				lo = k < lo ? k : lo;
				hi = k > hi ? k : hi;
				for (int j = 0; j < k; j++) {
					bad += idx[j] < 0 || idx[j] >= n;
					bad += j > 0 && idx[j] <= idx[j - 1]; /* increasing */
					bad += j == 0 && idx[j] != r; /* starts at its rank */
					if (idx[j] >= 0 && idx[j] < n)
						seen[idx[j]]++;
				}
			}
			for (int b = 0; b < n; b++)
				bad += seen[b] != 1; /* every batch exactly once */
			bad += hi - lo > 1;	     /* balanced */
		}
	}
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(lms_data_rank_batches(10, 3, 4, NULL, 0), 2); /* batches 3 and 7 */
	CHECK_INT_EQ(lms_data_rank_batches(10, 1, 4, idx, 1), 3);  /* count beyond cap */
	CHECK_INT_EQ(idx[0], 1);
}

static void test_shipped(void)
{
	static const struct {
		const char *size;
		long lines, max_samples;
	} sizes[] = {{"small", 512, 128}, {"medium", 2048, 512}, {"large", 8192, 2048}};
	for (size_t i = 0; i < 3; i++) {
		char path[512];
		snprintf(path, sizeof path, SHIPPED "/coco2017_captions_%s.txt", sizes[i].size);
		struct lms_captions c;
		CHECK(lms_captions_read(path, 0, &c) == LMS_OK);
		CHECK_INT_EQ(c.n, sizes[i].lines);
		CHECK_INT_EQ(c.n_blank, 0);
		lms_captions_free(&c);
		struct lms_data_opts o = opts(path, 512, 4);
		o.max_samples = sizes[i].max_samples; /* conf/dataset size_to_max_samples */
		struct lms_dataset *ds;
		CHECK(lms_dataset_build(&o, g_tok, &ds) == LMS_OK);
		if (ds) {
			CHECK_INT_EQ(ds->n_samples, sizes[i].max_samples);
			CHECK_INT_EQ(ds->n_batches, sizes[i].max_samples / 4);
			CHECK_INT_EQ(ds->n_truncated, 0);
			CHECK(ds->n_tokens > 5 * sizes[i].max_samples);
		}
		lms_dataset_free(ds);
	}
}

int main(void)
{
	if (lms_tokenizer_load(QWEN, &g_tok) != LMS_OK) {
		fprintf(stderr, "FAIL: cannot load %s: %s\n", QWEN, lms_error_message());
		return 1;
	}
	test_read_lines();
	test_option_errors();
	test_padded();
	test_packed();
	test_shuffle_and_phases();
	test_rank_split();
	test_shipped();
	lms_tokenizer_free(g_tok);
	return lms_test_finish();
}
