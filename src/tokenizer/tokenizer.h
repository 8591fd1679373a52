/* tokenizer.h — HF `tokenizer.json` byte-level BPE (the Qwen2/Qwen3 tokenizer).
 *
 * What it does: loads a tokenizer.json (model.type "BPE" with vocab and merges
 * in either the "a b" or the ["a", "b"] form, added_tokens, the normalizer, the
 * pre-tokenizer and the ByteLevel decoder) and encodes UTF-8 text into the same
 * ids as HF tokenizers' `encode(text, add_special_tokens=False)`:
 *   1. added tokens are cut out of the raw text first (leftmost, longest);
 *   2. each remaining segment is normalized (NFC etc., utf8proc);
 *   3. pre-tokenized (PCRE2 with UTF + UCP, JIT when available);
 *   4. mapped through the GPT-2 byte-to-unicode alphabet and merged by BPE
 *      rank (a hash table keyed by the pair of ids, a heap per word and a
 *      per-word cache).
 * The supported components are listed in docs/tokenizer-data.md; anything
 * else is refused at load time with an error naming the component (key path).
 *
 * Invariants: every id written by encode is in [0, lms_tokenizer_n_ids()).
 * Encoding never adds BOS/EOS: the post-processor is not applied (this is
 * add_special_tokens=False, which is what calibration wants).
 *
 * What it does not do: truncation/padding (the tokenizer.json keys must be
 * null; src/data/ pads), offsets, BPE dropout, byte_fallback, non-byte-level
 * models (WordPiece, Unigram, Metaspace), or thread-safe sharing: encode
 * writes to the tokenizer's per-word cache and scratch buffers, so use one
 * tokenizer per thread. */
#ifndef LMS_TOKENIZER_TOKENIZER_H
#define LMS_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct lms_tokenizer;

/* A growable array of token ids. Zero-initialize it ({0}); encode appends.
 * Free the buffer with lms_tokens_free (NULL-safe, leaves it empty). */
struct lms_tokens {
	int32_t *ids; /* (n) */
	size_t n;
	size_t cap;
};

void lms_tokens_free(struct lms_tokens *t);

/* Loads a tokenizer.json. *out is new on success (free with
 * lms_tokenizer_free) and NULL on failure; errors are LMS_ERR_NOT_FOUND /
 * LMS_ERR_IO (file), LMS_ERR_INPUT (bad JSON: file:line:col, or a bad value
 * at a key path) and LMS_ERR_UNSUPPORTED (a component this implementation
 * does not have, named by its key path and type). */
LMS_NODISCARD enum lms_status lms_tokenizer_load(const char *path, struct lms_tokenizer **out);

/* Same from JSON text in memory (borrowed, len bytes). `name` is used in
 * messages in place of the file name. */
LMS_NODISCARD enum lms_status lms_tokenizer_load_text(const char *json, size_t len,
						      const char *name, struct lms_tokenizer **out);

/* NULL-safe. */
void lms_tokenizer_free(struct lms_tokenizer *tok);

/* Appends the ids of text[0..len) to out (add_special_tokens=False). The text
 * must be valid UTF-8 (NUL bytes are ordinary characters); invalid UTF-8 is
 * LMS_ERR_INPUT naming the byte offset, and then nothing is appended. */
LMS_NODISCARD enum lms_status lms_tokenizer_encode(struct lms_tokenizer *tok, const char *text,
						   size_t len, struct lms_tokens *out);

/* Decodes ids into a new NUL-terminated UTF-8 string (*out, caller frees
 * with free(); *out_len excludes the NUL). Added tokens are written
 * verbatim (special ones too unless skip_special), byte-level tokens are
 * mapped back to bytes, and bytes that do not form valid UTF-8 become U+FFFD.
 * An id that names no token is LMS_ERR_INPUT. For debugging and tests. */
LMS_NODISCARD enum lms_status lms_tokenizer_decode(const struct lms_tokenizer *tok,
						   const int32_t *ids, size_t n, int skip_special,
						   char **out, size_t *out_len);

/* The id of a token given by its content: an added token ("<|endoftext|>")
 * or a vocabulary entry in the byte-level alphabet ("Ġthe"). -1 if none. */
int32_t lms_tokenizer_token_id(const struct lms_tokenizer *tok, const char *content);

/* One more than the largest id (vocabulary and added tokens). */
int32_t lms_tokenizer_n_ids(const struct lms_tokenizer *tok);
/* Number of vocabulary entries, of merges and of added tokens. */
size_t lms_tokenizer_vocab_size(const struct lms_tokenizer *tok);
size_t lms_tokenizer_n_merges(const struct lms_tokenizer *tok);
size_t lms_tokenizer_n_added(const struct lms_tokenizer *tok);

/* Offset of the first byte of s[0..n) that does not start a valid UTF-8
 * sequence (overlong forms, surrogates and code points above U+10FFFF are
 * invalid), or n when all of s is valid. */
size_t lms_utf8_check(const char *s, size_t n);

/* 1 when the regex pre-tokenizer runs with PCRE2's JIT, else 0 (also when
 * the environment sets LMSENS_PCRE2_JIT=0, as scripts/valgrind.sh does). */
int lms_tokenizer_uses_jit(const struct lms_tokenizer *tok);

#endif
