/* tok_fastjson.h — locate and scan model.vocab / model.merges of a
 * tokenizer.json without building a jansson tree (see tok_fastjson.c).
 * Every function returns 1 on success and 0 for "not sure": the caller then
 * falls back to jansson for the whole file. Not a public header. */
#ifndef LMS_TOKENIZER_TOK_FASTJSON_H
#define LMS_TOKENIZER_TOK_FASTJSON_H

#include <stddef.h>

#include "tokenizer/tokenizer.h"

struct tok_span {
	size_t begin, end; /* byte offsets of a value: text[begin] is '{' or '[' */
};

/* Callbacks return 1 to go on, 0 to abandon the fast path. Strings are
 * borrowed for the duration of the call (not NUL-terminated). */
typedef int (*tok_vocab_cb)(void *ctx, const char *key, size_t n, long long id);
typedef int (*tok_merge_cb)(void *ctx, size_t index, const char *a, size_t na, const char *b,
			    size_t nb);

/* Finds the values of the top-level "model" object's "vocab" (an object)
 * and "merges" (an array) members. */
int tok_fast_find(const char *text, size_t len, struct tok_span *vocab, struct tok_span *merges);

/* A new copy of text (caller frees with free()) in which the two spans are
 * replaced by an empty "{}" or "[]"; NULL when out of memory. Line numbers
 * in it differ from the file's, so a jansson error on it is not reported:
 * the caller falls back to parsing the original. */
char *tok_fast_strip(const char *text, size_t len, struct tok_span a, struct tok_span b,
		     size_t *out_len);

/* Calls cb for every "key": id of the vocab object (ids: non-negative
 * integers of at most 10 digits; anything else returns 0). */
int tok_fast_vocab(const char *text, struct tok_span sp, tok_vocab_cb cb, void *ctx);

/* Calls cb for every merge, given as "a b" or ["a", "b"]. */
int tok_fast_merges(const char *text, struct tok_span sp, tok_merge_cb cb, void *ctx);

#endif
