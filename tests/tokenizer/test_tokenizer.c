/* test_tokenizer.c — the tokenizer against HF tokenizers' ids.
 *
 * Cases: the fixture's sha256; the 300-line public golden file (5,124 ids,
 * HF tokenizers 0.23.2); hand-picked edge cases (edge_cases.json, made by
 * tests/data/tokenizer/make_test_data.py with HF tokenizers); small
 * tokenizer.json variants with their own goldens; corrupt and unsupported
 * files with their exact error (bad/expected.tsv); invalid UTF-8 input;
 * decoding round trips; id lookups. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/fsutil.h"
#include "test.h"
#include "tokenizer/tok_internal.h" /* white-box: loaded_fast, the jansson-only loader */
#include "tokenizer/tokenizer.h"

#define DATA LMSENS_SOURCE_DIR "/tests/data/tokenizer"

/* ---- sha256 (FIPS 180-4), for the fixture's identity ------------------- */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
	uint32_t w[64], a[8];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		       w[i - 7] + (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	memcpy(a, h, sizeof a);
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = a[7] + (ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25)) +
			      ((a[4] & a[5]) ^ (~a[4] & a[6])) + K256[i] + w[i];
		uint32_t t2 = (ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22)) +
			      ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
		memmove(a + 1, a, 7 * sizeof *a);
		a[4] += t1;
		a[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		h[i] += a[i];
}

static void sha256_hex(const unsigned char *d, size_t n, char out[65])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		sha256_block(h, d + i);
	unsigned char tail[128] = {0};
	size_t r = n - i, tl = r + 9 <= 64 ? 64 : 128;
	memcpy(tail, d + i, r);
	tail[r] = 0x80;
	uint64_t bits = (uint64_t)n * 8;
	for (int k = 0; k < 8; k++)
		tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
	for (size_t k = 0; k < tl; k += 64)
		sha256_block(h, tail + k);
	for (int k = 0; k < 8; k++)
		snprintf(out + 8 * k, 9, "%08x", h[k]);
}

/* ---- helpers ------------------------------------------------------------ */

static int ids_equal(const struct lms_tokens *t, json_t *want)
{
	if (t->n != json_array_size(want))
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->ids[i] != json_integer_value(json_array_get(want, i)))
			return 0;
	return 1;
}

static void print_ids(const char *label, const struct lms_tokens *t)
{
	fprintf(stderr, "  %s:", label);
	for (size_t i = 0; i < t->n && i < 40; i++)
		fprintf(stderr, " %d", (int)t->ids[i]);
	fprintf(stderr, "%s\n", t->n > 40 ? " ..." : "");
}

/* Encodes every {"text", "ids"} of a golden file; returns the ids compared. */
static size_t check_golden(struct lms_tokenizer *tok, const char *path, int check_roundtrip)
{
	json_error_t err;
	json_t *arr = json_load_file(path, JSON_ALLOW_NUL, &err);
	CHECK(json_is_array(arr));
	size_t n_ids = 0;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *c = json_array_get(arr, i);
		const char *text = json_string_value(json_object_get(c, "text"));
		size_t len = json_string_length(json_object_get(c, "text"));
		json_t *want = json_object_get(c, "ids");
		struct lms_tokens t = {0};
		enum lms_status st = lms_tokenizer_encode(tok, text, len, &t);
		int ok = st == LMS_OK && ids_equal(&t, want);
		if (!ok) {
			json_t *name = json_object_get(c, "name");
			fprintf(stderr, "FAIL: %s case %zu (%s): status %s\n", path, i,
				name ? json_string_value(name) : "", lms_status_name(st));
			print_ids("got", &t);
		}
		CHECK(ok);
		n_ids += json_array_size(want);
		if (check_roundtrip && ok) {
			/* decode(encode(x)) == NFC(x) for the Qwen tokenizer */
			char *dec;
			size_t dlen;
			CHECK(lms_tokenizer_decode(tok, t.ids, t.n, 0, &dec, &dlen) == LMS_OK);
			utf8proc_uint8_t *nfc = NULL;
			utf8proc_ssize_t m =
			    utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
					 &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
			CHECK(m >= 0 && (size_t)m == dlen && memcmp(nfc, dec, dlen) == 0);
			free(nfc);
			free(dec);
		}
		lms_tokens_free(&t);
	}
	json_decref(arr);
	return n_ids;
}

static void test_fixture_identity(void)
{
	char *buf;
	size_t len;
	CHECK(lms_read_file(DATA "/qwen3-tokenizer.json", (size_t)1 << 30, "fixture", &buf, &len) ==
	      LMS_OK);
	char hex[65];
	sha256_hex((const unsigned char *)buf, len, hex);
	CHECK_INT_EQ(len, 11422654);
	CHECK_STR_EQ(hex, "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4");
	free(buf);
	sha256_hex((const unsigned char *)"abc", 3, hex); /* FIPS 180-4 example */
	CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_qwen(void)
{
	struct lms_tokenizer *tok;
	if (lms_tokenizer_load(DATA "/qwen3-tokenizer.json", &tok) != LMS_OK) {
		fprintf(stderr, "FAIL: cannot load the Qwen3 tokenizer: %s\n", lms_error_message());
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(lms_tokenizer_vocab_size(tok), 151643);
	CHECK_INT_EQ(lms_tokenizer_n_merges(tok), 151387);
	CHECK_INT_EQ(lms_tokenizer_n_added(tok), 26);
	CHECK_INT_EQ(lms_tokenizer_n_ids(tok), 151669);
	CHECK_INT_EQ(lms_tokenizer_token_id(tok, "<|endoftext|>"), 151643);
	CHECK_INT_EQ(lms_tokenizer_token_id(tok, "</think>"), 151668);
	CHECK_INT_EQ(lms_tokenizer_token_id(tok, "Ġ"), 220);
	CHECK_INT_EQ(lms_tokenizer_token_id(tok, "Ċ"), 198);
	CHECK_INT_EQ(lms_tokenizer_token_id(tok, "no such token"), -1);

	size_t n = check_golden(tok, DATA "/qwen3_public_golden.json", 1);
	CHECK_INT_EQ(n, 5124);
	check_golden(tok, DATA "/edge_cases.json", 1);

	/* NFC: decomposed and composed accents give the same ids */
	struct lms_tokens a = {0}, b = {0};
	const char *dec = "Cafe\xcc\x81 nai\xcc\x88ve", *comp = "Caf\xc3\xa9 na\xc3\xafve";
	CHECK(lms_tokenizer_encode(tok, dec, strlen(dec), &a) == LMS_OK);
	CHECK(lms_tokenizer_encode(tok, comp, strlen(comp), &b) == LMS_OK);
	CHECK(a.n == b.n && a.n > 0 && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);

	/* invalid UTF-8: an error naming the offset, nothing appended */
	size_t before = a.n;
	CHECK_FAILS_WITH(lms_tokenizer_encode(tok, "ab\xff", 3, &a), LMS_ERR_INPUT,
			 "invalid UTF-8 at byte 2");
	CHECK_FAILS_WITH(lms_tokenizer_encode(tok, "\xed\xa0\x80", 3, &a), LMS_ERR_INPUT,
			 "invalid UTF-8 at byte 0"); /* a surrogate */
	CHECK_FAILS_WITH(lms_tokenizer_encode(tok, "x\xc0\xaf", 3, &a), LMS_ERR_INPUT,
			 "invalid UTF-8 at byte 1"); /* overlong '/' */
	CHECK_INT_EQ(a.n, before);

	/* encode appends */
	a.n = 0;
	CHECK(lms_tokenizer_encode(tok, "Hello", 5, &a) == LMS_OK);
	CHECK(lms_tokenizer_encode(tok, " world", 6, &a) == LMS_OK);
	CHECK_INT_EQ(a.n, 2);
	CHECK_INT_EQ(a.ids[0], 9707);
	CHECK_INT_EQ(a.ids[1], 1879);

	/* decode: unknown id, skip_special, invalid byte sequences → U+FFFD */
	char *s;
	size_t sl;
	int32_t bad_id[] = {151700};
	CHECK_FAILS_WITH(lms_tokenizer_decode(tok, bad_id, 1, 0, &s, &sl), LMS_ERR_INPUT,
			 "id 151700 at position 0 names no token");
	int32_t sp[] = {151644, 872, 151645};
	CHECK(lms_tokenizer_decode(tok, sp, 3, 1, &s, &sl) == LMS_OK);
	CHECK_STR_EQ(s, "user");
	free(s);
	int32_t half[] = {144349}; /* part of an emoji's bytes: the result must still be UTF-8 */
	CHECK(lms_tokenizer_decode(tok, half, 1, 0, &s, &sl) == LMS_OK);
	CHECK_INT_EQ(lms_utf8_check(s, sl), sl);
	free(s);
	int32_t ff[] = {lms_tokenizer_token_id(tok, "\xc3\xbf")}; /* the token of byte 0xFF */
	CHECK(ff[0] >= 0);
	CHECK(lms_tokenizer_decode(tok, ff, 1, 0, &s, &sl) == LMS_OK);
	CHECK_STR_EQ(s, "\xEF\xBF\xBD");
	free(s);

	lms_tokens_free(&a);
	lms_tokens_free(&b);
	lms_tokenizer_free(tok);
}

static void test_variants(void)
{
	static const char *const names[] = {"tiny_pairs", "tiny_strings", "tiny_gpt2", "tiny_norm",
					    "tiny_ascii"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[512], golden[512];
		snprintf(path, sizeof path, DATA "/variants/%s.json", names[i]);
		snprintf(golden, sizeof golden, DATA "/variants/%s.golden.json", names[i]);
		struct lms_tokenizer *tok;
		enum lms_status st = lms_tokenizer_load(path, &tok);
		if (st != LMS_OK)
			fprintf(stderr, "FAIL: load %s: %s\n", path, lms_error_message());
		CHECK(st == LMS_OK);
		if (st != LMS_OK)
			continue;
		CHECK(check_golden(tok, golden, 0) > 0);
		lms_tokenizer_free(tok);
	}
}

/* The fast loader (tok_fastjson.c) and the jansson-only loader build the
 * same tables; the fast one is used for the Qwen3 file and escaped files. */
static void compare_loaders(const char *path, int want_fast)
{
	char *buf;
	size_t len;
	CHECK(lms_read_file(path, (size_t)1 << 30, "tokenizer", &buf, &len) == LMS_OK);
	struct lms_tokenizer *fast = NULL, *slow = NULL;
	CHECK(lms_tokenizer_load_text(buf, len, path, &fast) == LMS_OK);
	CHECK(tok_load_text_jansson(buf, len, path, &slow) == LMS_OK);
	free(buf);
	if (!fast || !slow) {
		lms_tokenizer_free(fast);
		lms_tokenizer_free(slow);
		return;
	}
	CHECK_INT_EQ(fast->loaded_fast, want_fast);
	CHECK_INT_EQ(slow->loaded_fast, 0);
	CHECK_INT_EQ(fast->n_ids, slow->n_ids);
	CHECK_INT_EQ(fast->n_vocab, slow->n_vocab);
	CHECK_INT_EQ(fast->n_merges, slow->n_merges);
	CHECK_INT_EQ(fast->merges.count, slow->merges.count);
	int same = 1;
	for (int32_t id = 0; id < fast->n_ids && same; id++) {
		same = fast->tok_len[id] == slow->tok_len[id];
		if (same && fast->tok_len[id] != UINT32_MAX)
			same = memcmp(fast->pool + fast->tok_off[id],
				      slow->pool + slow->tok_off[id], fast->tok_len[id]) == 0;
	}
	CHECK(same);
	for (size_t i = 0; i <= slow->merges.mask && same; i++) {
		const struct tok_pairslot *a = &slow->merges.slots[i], *b;
		if (!a->key)
			continue;
		b = tok_pairmap_get(&fast->merges, (int32_t)((a->key - 1) >> 32),
				    (int32_t)(uint32_t)(a->key - 1));
		same = b && b->rank == a->rank && b->id == a->id;
	}
	CHECK(same);
	lms_tokenizer_free(fast);
	lms_tokenizer_free(slow);
}

static void test_loaders(void)
{
	compare_loaders(DATA "/qwen3-tokenizer.json", 1);
	compare_loaders(DATA "/variants/tiny_ascii.json", 1);
	compare_loaders(DATA "/variants/tiny_strings.json", 1);
	/* Fallback: a file the fast scanner refuses (a vocab id written as a
	 * float) still loads through jansson... and fails there, with its error. */
	const char *odd = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1.0}, "
			  "\"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
	struct lms_tokenizer *tok = NULL;
	CHECK_FAILS_WITH(lms_tokenizer_load_text(odd, strlen(odd), "odd.json", &tok), LMS_ERR_INPUT,
			 "odd.json: model.vocab[\"b\"]: expected an id");
	/* A duplicate "model" key: the fast scanner steps aside; jansson keeps the last. */
	const char *dup = "{\"model\": 1, \"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, "
			  "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": false}}";
	CHECK(lms_tokenizer_load_text(dup, strlen(dup), "dup.json", &tok) == LMS_OK);
	CHECK(tok && !tok->loaded_fast);
	if (tok) {
		CHECK_INT_EQ(lms_tokenizer_token_id(tok, "a"), 0);
		struct lms_tokens t = {0};
		CHECK(lms_tokenizer_encode(tok, "ab", 2, &t) ==
		      LMS_OK); /* 'b' has no token: dropped */
		CHECK_INT_EQ(t.n, 1);
		lms_tokens_free(&t);
	}
	lms_tokenizer_free(tok);
}

/* Truncations and byte mutations of a valid file: every load either
 * succeeds or fails with a message (never crashes; run under ASan in CI),
 * and whatever loads encodes. Deterministic (a fixed LCG). */
static void test_mutations(void)
{
	char *orig;
	size_t len;
	CHECK(lms_read_file(DATA "/variants/tiny_pairs.json", 1 << 20, "t", &orig, &len) == LMS_OK);
	char *buf = malloc(len + 1);
	uint64_t x = 12345;
	int loaded = 0, failed = 0, silent = 0;
	for (int k = 0; k < 600; k++) {
		memcpy(buf, orig, len);
		size_t n = len;
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		size_t pos = (size_t)(x >> 33) % len;
		if (k < 200) {
			n = pos; /* truncate */
		} else {
			static const char repl[] = "{}[]\",:0 \\u\xff\x80"
						   "a";
			buf[pos] = repl[(x >> 20) % (sizeof repl - 1)];
		}
		struct lms_tokenizer *tok = NULL;
		lms_error_clear();
		if (lms_tokenizer_load_text(buf, n, "mutant.json", &tok) == LMS_OK) {
			struct lms_tokens t = {0};
			const char *text = "A man riding a wave <|endoftext|> 12 caf\xc3\xa9";
			if (lms_tokenizer_encode(tok, text, strlen(text), &t) == LMS_OK)
				loaded++;
			lms_tokens_free(&t);
			lms_tokenizer_free(tok);
		} else {
			failed++;
			silent += lms_error_message()[0] == '\0' || tok != NULL;
		}
	}
	CHECK(loaded > 0 && failed > 0);
	CHECK_INT_EQ(silent, 0);
	free(buf);
	free(orig);
}

/* More distinct words than the word cache holds (65,536): it is cleared
 * when full and the ids stay those of a fresh tokenizer. */
static void test_cache_overflow(void)
{
	struct lms_tokenizer *a = NULL, *b = NULL;
	CHECK(lms_tokenizer_load(DATA "/variants/tiny_pairs.json", &a) == LMS_OK);
	CHECK(lms_tokenizer_load(DATA "/variants/tiny_pairs.json", &b) == LMS_OK);
	if (!a || !b) {
		lms_tokenizer_free(a);
		lms_tokenizer_free(b);
		return;
	}
	char w[64];
	struct lms_tokens t = {0}, u = {0};
	int same = 1;
	for (int i = 0; i < 150000; i++) {
		int n = snprintf(w, sizeof w, " word%dx", i * 7919);
		t.n = 0;
		same &= lms_tokenizer_encode(a, w, (size_t)n, &t) == LMS_OK;
		if (i % 4999 == 0) { /* compare with a tokenizer that has seen little else */
			u.n = 0;
			CHECK(lms_tokenizer_encode(b, w, (size_t)n, &u) == LMS_OK);
			same &= t.n == u.n && memcmp(t.ids, u.ids, t.n * sizeof *t.ids) == 0;
		}
	}
	/* words seen before the last clear, encoded again from scratch */
	for (int i = 0; i < 100; i++) {
		int n = snprintf(w, sizeof w, " word%dx", i * 7919);
		t.n = u.n = 0;
		CHECK(lms_tokenizer_encode(a, w, (size_t)n, &t) == LMS_OK);
		CHECK(lms_tokenizer_encode(b, w, (size_t)n, &u) == LMS_OK);
		same &= t.n == u.n && memcmp(t.ids, u.ids, t.n * sizeof *t.ids) == 0;
	}
	CHECK(a->cache.count <= a->cache.max_count);
	CHECK(same);
	lms_tokens_free(&t);
	lms_tokens_free(&u);
	lms_tokenizer_free(a);
	lms_tokenizer_free(b);
}

static enum lms_status status_by_name(const char *name)
{
	for (int s = 0; s < LMS_STATUS_COUNT; s++)
		if (strcmp(lms_status_name((enum lms_status)s), name) == 0)
			return (enum lms_status)s;
	return LMS_STATUS_COUNT;
}

static void test_bad_files(void)
{
	FILE *f = fopen(DATA "/bad/expected.tsv", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	char line[1024];
	int cases = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *file = strtok(line, "\t"), *status = strtok(NULL, "\t"),
		     *needle = strtok(NULL, "");
		CHECK(file && status && needle);
		if (!file || !status || !needle)
			continue;
		char path[512];
		snprintf(path, sizeof path, DATA "/bad/%s", file);
		struct lms_tokenizer *tok = (struct lms_tokenizer *)path; /* must become NULL */
		enum lms_status want = status_by_name(status);
		CHECK(want != LMS_STATUS_COUNT);
		CHECK_FAILS_WITH(lms_tokenizer_load(path, &tok), want, needle);
		CHECK(tok == NULL);
		CHECK(lms_error_hint()[0] != '\0');
		if (want == LMS_ERR_INPUT || want == LMS_ERR_UNSUPPORTED)
			CHECK_STR_CONTAINS(lms_error_message(), file); /* names the file */
		cases++;
	}
	fclose(f);
	CHECK(cases >= 30);
}

static void test_utf8_check(void)
{
	CHECK_INT_EQ(lms_utf8_check("", 0), 0);
	CHECK_INT_EQ(lms_utf8_check("abc", 3), 3);
	CHECK_INT_EQ(lms_utf8_check("\xf0\x9f\x98\x80", 4), 4);
	CHECK_INT_EQ(lms_utf8_check("\xf0\x9f\x98", 3), 0);	 /* truncated */
	CHECK_INT_EQ(lms_utf8_check("a\xf4\x90\x80\x80", 5), 1); /* > U+10FFFF */
	CHECK_INT_EQ(lms_utf8_check("ab\x80", 3), 2);		 /* lone continuation */
	CHECK_INT_EQ(lms_utf8_check("\xe0\x80\x80", 3), 0);	 /* overlong */
}

int main(void)
{
	test_utf8_check();
	test_fixture_identity();
	test_qwen();
	test_variants();
	test_loaders();
	test_mutations();
	test_cache_overflow();
	test_bad_files();
	return lms_test_finish();
}
