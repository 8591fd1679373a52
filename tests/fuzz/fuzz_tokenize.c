/* fuzz_tokenize.c — libFuzzer target for tokenization of arbitrary bytes
 * with the real Qwen3 tokenizer (tests/data/tokenizer/qwen3-tokenizer.json,
 * loaded once). Invalid UTF-8 must fail with a message naming the offset and
 * append nothing; valid text must give ids below lms_tokenizer_n_ids(), and
 * when the text is already NFC (Qwen3's normalizer) and holds no NUL, the
 * decoded ids must give the text back byte for byte (byte-level BPE is
 * lossless). */
#include <utf8proc.h>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct lms_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *path = LMSENS_SOURCE_DIR "/tests/data/tokenizer/qwen3-tokenizer.json";
	if (lms_tokenizer_load(path, &tok) != LMS_OK) {
		fprintf(stderr, "%s\n", lms_error_message());
		abort();
	}
	return 0;
}

/* 1 when s[0..n) (valid UTF-8, no NUL) is in NFC. */
static int is_nfc(const uint8_t *s, size_t n)
{
	utf8proc_uint8_t *nfc = NULL;
	utf8proc_ssize_t r =
	    utf8proc_map(s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
	int same = r >= 0 && (size_t)r == n && memcmp(nfc, s, n) == 0;
	free(nfc);
	return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct lms_tokens ids = {0};
	enum lms_status st = lms_tokenizer_encode(tok, (const char *)data, size, &ids);
	fuzz_check_error(st);
	size_t bad = lms_utf8_check((const char *)data, size);
	if ((st == LMS_OK) != (bad == size) || (st != LMS_OK && ids.n != 0))
		abort(); /* invalid UTF-8 and only that fails, appending nothing */
	if (st == LMS_OK) {
		for (size_t i = 0; i < ids.n; i++)
			if (ids.ids[i] < 0 || ids.ids[i] >= lms_tokenizer_n_ids(tok))
				abort();
		char *back = NULL;
		size_t blen = 0;
		if (lms_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &blen) != LMS_OK)
			abort();
		if (!memchr(data, 0, size) && is_nfc(data, size) &&
		    (blen != size || memcmp(back, data, size) != 0)) {
			fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", size, blen);
			abort();
		}
		free(back);
	}
	lms_tokens_free(&ids);
	return 0;
}
