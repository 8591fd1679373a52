/* test_regressions.c — one case per crash or bad behaviour found by the
 * reliability suite (fuzzing, allocation-failure injection), each with the
 * input that found it, so that it stays fixed. docs/RELIABILITY.md lists them.
 *
 * Inputs live in tests/data/reliability/; fuzz inputs are also kept as
 * seeds in tests/fuzz/corpus/<target>/ (named regress-*). */
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aq_fixture.h"
#include "config/node.h"
#include "core/fsutil.h"
#include "data/data.h"
#include "io/h5stats.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#define DATA LMSENS_SOURCE_DIR "/tests/data/reliability/"

/* fuzz_captions: a non-blank caption that the tokenizer turns into no tokens
 * ("|" with a Split pre-tokenizer that removes it) gave a padded row without
 * any valid token (a loss over zero tokens). Now LMS_ERR_INPUT naming the
 * sample, in padded and packed mode alike. */
static void test_caption_without_tokens(void)
{
	struct lms_tokenizer *tok = NULL;
	CHECK_INT_EQ(lms_tokenizer_load(
			 LMSENS_SOURCE_DIR "/tests/data/tokenizer/variants/tiny_norm.json", &tok),
		     LMS_OK);
	if (!tok)
		return;
	for (int packing = 0; packing <= 1; packing++) {
		struct lms_data_opts o;
		lms_data_opts_default(&o);
		o.captions_path = DATA "captions_no_tokens.txt";
		o.seq_len = 4;
		o.batch_size = 1;
		o.packing = packing;
		o.pad_token_id = 0;
		struct lms_dataset *ds = NULL;
		CHECK_FAILS_WITH(lms_dataset_build(&o, tok, &ds), LMS_ERR_INPUT,
				 "captions_no_tokens.txt: sample 2 ('|') gives no tokens");
		CHECK(ds == NULL);
		CHECK(strstr(lms_error_hint(), "pre-tokenizer") != NULL);
		lms_dataset_free(ds);
	}
	lms_tokenizer_free(tok);
}

/* fuzz_tokenizer_json: a tokenizer whose vocabulary lacks some byte-level
 * characters (and has no unk_token) turns a word made of them into no ids;
 * appending those zero ids to an empty list computed NULL + 0 (UBSan:
 * "applying zero offset to null pointer"). HF drops such words too. */
static void test_tokenizer_word_without_ids(void)
{
	char *json = NULL;
	size_t len = 0;
	CHECK_INT_EQ(
	    lms_read_file(DATA "tokenizer_bytes_missing.json", 1 << 20, "tokenizer", &json, &len),
	    LMS_OK);
	struct lms_tokenizer *tok = NULL;
	CHECK_INT_EQ(lms_tokenizer_load_text(json, len, "tokenizer_bytes_missing.json", &tok),
		     LMS_OK);
	if (tok) {
		struct lms_tokens ids = {0};
		/* a word of characters the vocabulary lacks (CJK), then one it has */
		static const char text[] = "\xe4\xb8\xad\xe6\x96\x87";
		CHECK_INT_EQ(lms_tokenizer_encode(tok, text, sizeof text - 1, &ids), LMS_OK);
		CHECK_INT_EQ(ids.n, 0);
		/* again: now from the word cache, whose id array is still empty */
		CHECK_INT_EQ(lms_tokenizer_encode(tok, text, sizeof text - 1, &ids), LMS_OK);
		CHECK_INT_EQ(ids.n, 0);
		CHECK_INT_EQ(lms_tokenizer_encode(tok, "!$%", 3, &ids), LMS_OK);
		CHECK(ids.n > 0);
		lms_tokens_free(&ids);
	}
	lms_tokenizer_free(tok);
	free(json);
}

/* test_allocfail: lms_cfg_map_set / lms_cfg_seq_push were given the NULL
 * result of a failed lms_cfg_copy and stored it; composition then went on
 * and crashed on the NULL child (interp.c). A NULL value is now
 * LMS_ERR_NOMEM and nothing is stored. */
static void test_cfg_set_null(void)
{
	struct lms_cfg *m = lms_cfg_new(LMS_CFG_MAP);
	struct lms_cfg *s = lms_cfg_new(LMS_CFG_SEQ);
	CHECK(m && s);
	if (!m || !s)
		return;
	CHECK_FAILS_WITH(lms_cfg_map_set(m, "k", NULL), LMS_ERR_NOMEM, "'k'");
	CHECK_INT_EQ(m->n, 0);
	CHECK(lms_cfg_map_get(m, "k") == NULL);
	CHECK_FAILS_WITH(lms_cfg_seq_push(s, NULL), LMS_ERR_NOMEM, "out of memory");
	CHECK_INT_EQ(s->n, 0);
	CHECK_INT_EQ(lms_cfg_map_set(m, "k", lms_cfg_new(LMS_CFG_NULL)), LMS_OK);
	CHECK_INT_EQ(m->n, 1);
	lms_cfg_free(m);
	lms_cfg_free(s);
}

/* Security review: a statistics file may declare any dataset extent (an
 * unallocated chunked dataset of 2^40 elements is a few hundred bytes). The
 * readers sized their buffers from it: a huge allocation (ASan aborts on it)
 * or, with an extent product that wraps, a buffer smaller than the read.
 * Now every dataset over LMS_H5_MAX_ELEMS is LMS_ERR_INPUT naming it. */
static void test_h5_huge_extent(void)
{
	char path[] = "/tmp/lmsens-regress-XXXXXX.h5";
	int fd = mkstemps(path, 3);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	struct lms_aq_result r, back;
	lms_aq_result_init(&r);
	lms_aq_result_init(&back);
	struct aq_fixture_opts fo = {.seed = 5, .with_search = 1, .target_bits = 8.0};
	aq_fixture_build(&r, &fo);
	CHECK_INT_EQ(lms_h5stats_write(&r, path), LMS_OK);
	hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	CHECK(f >= 0);
	hsize_t dims[1] = {(hsize_t)1 << 40}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {1024};
	hid_t space = H5Screate_simple(1, dims, maxdims);
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	CHECK(H5Pset_chunk(dcpl, 1, chunk) >= 0);
	CHECK(H5Ldelete(f, "/loss/calib", H5P_DEFAULT) >= 0);
	hid_t d =
	    H5Dcreate2(f, "/loss/calib", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	CHECK(d >= 0);
	H5Dclose(d);
	H5Pclose(dcpl);
	H5Sclose(space);
	H5Fclose(f);
	CHECK_FAILS_WITH(lms_h5stats_read(path, &back), LMS_ERR_INPUT,
			 "dataset '/loss/calib' is larger than");
	lms_aq_result_free(&back);
	lms_aq_result_free(&r);
	unlink(path);
}

int main(void)
{
	test_caption_without_tokens();
	test_tokenizer_word_without_ids();
	test_cfg_set_null();
	test_h5_huge_extent();
	return lms_test_finish();
}
