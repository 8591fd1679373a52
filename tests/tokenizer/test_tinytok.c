/* test_tinytok.c — the small tokenizer.json that `lmsens mkmodel` writes for
 * the tiny and small presets (src/model/tinytok.c) loads in src/tokenizer/
 * and encodes the shipped captions within its 503 ids, decoding back to the
 * same text. (prop_vs_hf.py compares its ids with HF tokenizers.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "model/tinytok.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

int main(void)
{
	char dir[] = "/tmp/lmsens-tinytok-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	CHECK(lms_tinytok_write(dir) == LMS_OK);
	char path[512];
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	struct lms_tokenizer *tok = NULL;
	enum lms_status st = lms_tokenizer_load(path, &tok);
	if (st != LMS_OK)
		fprintf(stderr, "FAIL: %s\n", lms_error_message());
	CHECK(st == LMS_OK);
	if (tok) {
		CHECK_INT_EQ(lms_tokenizer_n_ids(tok), LMS_TINYTOK_SIZE);
		CHECK_INT_EQ(lms_tokenizer_n_merges(tok), LMS_TINYTOK_MERGES);
		CHECK_INT_EQ(lms_tokenizer_token_id(tok, "<|endoftext|>"), LMS_TINYTOK_ENDOFTEXT);
		CHECK_INT_EQ(lms_tokenizer_token_id(tok, "<|im_end|>"), LMS_TINYTOK_IM_END);
		struct lms_captions cap;
		CHECK(lms_captions_read(LMSENS_SOURCE_DIR
					"/datasets/vlm-quantize-calib/coco2017_captions_small.txt",
					0, &cap) == LMS_OK);
		long bad_ids = 0, bad_text = 0, n_ids = 0, n_bytes = 0;
		for (long i = 0; i < cap.n; i++) {
			struct lms_tokens t = {0};
			CHECK(lms_tokenizer_encode(tok, cap.lines[i], cap.lens[i], &t) == LMS_OK);
			for (size_t k = 0; k < t.n; k++)
				bad_ids += t.ids[k] < 0 || t.ids[k] >= LMS_TINYTOK_SIZE;
			char *s;
			size_t n;
			CHECK(lms_tokenizer_decode(tok, t.ids, t.n, 0, &s, &n) == LMS_OK);
			bad_text += n != cap.lens[i] || memcmp(s, cap.lines[i], n) != 0;
			n_ids += (long)t.n;
			n_bytes += (long)cap.lens[i];
			free(s);
			lms_tokens_free(&t);
		}
		CHECK_INT_EQ(bad_ids, 0);
		CHECK_INT_EQ(bad_text, 0);
		CHECK(n_ids > 0 && n_ids < n_bytes); /* the merges do compress the text */
		lms_captions_free(&cap);
	}
	lms_tokenizer_free(tok);
	unlink(path);
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	unlink(path);
	rmdir(dir);
	return lms_test_finish();
}
