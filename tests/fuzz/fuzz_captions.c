/* fuzz_captions.c — libFuzzer target for captions files: reading
 * (lms_captions_read) and batching (lms_dataset_build with a small
 * tokenizer). The first byte of the input picks the options (seq_len,
 * batch_size, packing, skipping of invalid lines, shuffling); the rest is the
 * file. Any file must give a dataset or an error with a message; a dataset
 * must satisfy every invariant listed in src/data/data.h. */
#include "data/data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct lms_tokenizer *tok;
static struct fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *path = LMSENS_SOURCE_DIR "/tests/data/tokenizer/variants/tiny_norm.json";
	if (lms_tokenizer_load(path, &tok) != LMS_OK) {
		fprintf(stderr, "%s\n", lms_error_message());
		abort();
	}
	fuzz_file_init(&file, "captions.txt");
	return 0;
}

static void check_dataset(const struct lms_dataset *ds, const struct lms_data_opts *o)
{
	long tokens = 0;
	if (ds->n_batches < 1 || ds->n_calib < 1 || ds->n_calib > ds->n_batches ||
	    ds->n_score < 1 || ds->n_score > ds->n_batches)
		abort();
	for (int i = 0; i < ds->n_batches; i++) {
		const struct lms_data_batch *b = lms_dataset_batch(ds, i);
		if (b->B < 1 || b->B > o->batch_size || b->T < 1 || b->T > o->seq_len ||
		    (i + 1 < ds->n_batches && b->B != o->batch_size))
			abort();
		long valid = 0;
		for (int r = 0; r < b->B; r++) {
			int row_valid = 0, seen_pad = 0;
			for (int t = 0; t < b->T; t++) {
				size_t k = (size_t)r * (size_t)b->T + (size_t)t;
				int m = b->mask[k];
				if (m != 0 && m != 1)
					abort();
				if (m == 0 && (b->labels[k] != LMS_LABEL_IGNORE ||
					       b->ids[k] != o->pad_token_id))
					abort();
				if (m == 1 &&
				    (seen_pad || b->labels[k] != b->ids[k] || b->ids[k] < 0 ||
				     b->ids[k] >= lms_tokenizer_n_ids(tok)))
					abort(); /* padding only on the right */
				seen_pad |= m == 0;
				row_valid += m;
			}
			if (row_valid < 1) {
				fprintf(stderr,
					"batch %d row %d has no valid token (first sample %ld)\n",
					i, r, b->first_sample);
				abort();
			}
			valid += row_valid;
		}
		if (valid != b->n_tokens)
			abort();
		tokens += valid;
	}
	if (tokens != ds->n_tokens)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	unsigned k = data[0];
	fuzz_file_set(&file, data + 1, size - 1);
	struct lms_data_opts o;
	lms_data_opts_default(&o);
	o.captions_path = file.path;
	o.seq_len = 2 + (int)(k & 7);
	o.batch_size = 1 + (int)((k >> 3) & 3);
	o.packing = (k >> 5) & 1;
	o.skip_invalid_utf8 = (k >> 6) & 1;
	o.shuffle_seed = (k >> 7) & 1 ? 1234 : 0;
	o.pad_token_id = 0;
	o.sep_token_id = 1;
	o.max_samples = (k & 1) ? 3 : 0;

	struct lms_captions c;
	enum lms_status st = lms_captions_read(file.path, o.skip_invalid_utf8, &c);
	fuzz_check_error(st);
	if (st == LMS_OK) {
		if (c.n < 1)
			abort();
		for (long i = 0; i < c.n; i++)
			if (c.lens[i] == 0 || strlen(c.lines[i]) > c.lens[i] ||
			    lms_utf8_check(c.lines[i], c.lens[i]) != c.lens[i])
				abort();
		lms_captions_free(&c);
	}
	struct lms_dataset *ds = NULL;
	enum lms_status st2 = lms_dataset_build(&o, tok, &ds);
	fuzz_check_error(st2);
	if (st2 == LMS_OK)
		check_dataset(ds, &o);
	else if (ds)
		abort();
	if (st != LMS_OK && st2 == LMS_OK)
		abort(); /* building reads the same file */
	lms_dataset_free(ds);
	return 0;
}
