/* fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json loader
 * (lms_tokenizer_load_text): any text must load or fail with a message; a
 * loaded tokenizer must encode a fixed sample and the first bytes of the
 * input itself (when they are UTF-8) into ids below lms_tokenizer_n_ids(),
 * and decode those ids again. */
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void encode_decode(struct lms_tokenizer *tok, const char *text, size_t len)
{
	struct lms_tokens ids = {0};
	enum lms_status st = lms_tokenizer_encode(tok, text, len, &ids);
	fuzz_check_error(st);
	if (st == LMS_OK) {
		for (size_t i = 0; i < ids.n; i++)
			if (ids.ids[i] < 0 || ids.ids[i] >= lms_tokenizer_n_ids(tok))
				abort();
		char *back = NULL;
		size_t blen = 0;
		st = lms_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &blen);
		fuzz_check_error(st);
		if (st == LMS_OK && (!back || strlen(back) > blen))
			abort();
		free(back);
	}
	lms_tokens_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lms_tokenizer *tok = NULL;
	enum lms_status st = lms_tokenizer_load_text((const char *)data, size, "fuzz.json", &tok);
	fuzz_check_error(st);
	if (st != LMS_OK) {
		if (tok)
			abort();
		return 0;
	}
	static const char sample[] = "Hello, world! 123 4567  \n\n\t caf\xc3\xa9 "
				     "\xe4\xb8\xad\xe6\x96\x87 <|endoftext|> don't";
	encode_decode(tok, sample, sizeof sample - 1);
	size_t n = size < 256 ? size : 256;
	if (lms_utf8_check((const char *)data, n) == n)
		encode_decode(tok, (const char *)data, n);
	lms_tokenizer_free(tok);
	return 0;
}
