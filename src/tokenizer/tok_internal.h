/* tok_internal.h — the tokenizer's data structures, shared by tok_load.c
 * (building them from tokenizer.json), tok_encode.c (using them) and
 * tok_map.c (the hash tables). Not a public header.
 *
 * Invariants: token strings are stored in the byte-level alphabet, exactly as
 * in tokenizer.json, in one string pool; the pair table maps (left id, right
 * id) to (rank, merged id) with rank = index in `merges` (a later duplicate
 * wins, as in HF tokenizers); byte_id[b] is the id of the one-character token
 * for byte b, or -1 when the vocabulary lacks it. */
#ifndef LMS_TOKENIZER_TOK_INTERNAL_H
#define LMS_TOKENIZER_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

/* --- string pool + string → id map (open addressing, linear probing) --- */
struct tok_strmap {
	struct tok_strslot {
		uint64_t hash; /* 0 = empty slot */
		uint32_t off, len;
		int32_t id;
	} * slots;
	size_t mask; /* capacity - 1, capacity a power of two */
	size_t count;
};

/* --- (left, right) → (rank, merged id) --- */
struct tok_pairmap {
	struct tok_pairslot {
		uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
		int32_t rank, id;
	} * slots;
	size_t mask;
	size_t count;
};

/* --- per-word cache: pre-token bytes → ids --- */
struct tok_cache {
	struct tok_cacheslot {
		uint64_t hash; /* 0 = empty */
		uint32_t key_off, key_len;
		uint32_t ids_off, ids_len;
	} * slots;
	size_t mask, count, max_count;
	char *keys; /* key bytes of every entry */
	size_t keys_len, keys_cap;
	int32_t *ids; /* ids of every entry */
	size_t ids_len, ids_cap;
};

enum tok_norm { TOK_NORM_NFC, TOK_NORM_NFD, TOK_NORM_NFKC, TOK_NORM_NFKD, TOK_NORM_LOWERCASE };
#define TOK_MAX_NORMS 8

enum tok_pretok_kind { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL };
enum tok_split_behavior { TOK_SPLIT_ISOLATED, TOK_SPLIT_REMOVED };
#define TOK_MAX_PRETOK 8

struct tok_pretok {
	enum tok_pretok_kind kind;
	/* Split, or ByteLevel with use_regex (the GPT-2 pattern) */
	pcre2_code *re;
	pcre2_match_data *md;
	enum tok_split_behavior behavior;
	int add_prefix_space; /* ByteLevel */
	int jit;
};

struct tok_added {
	int32_t id;
	char *content; /* new, NUL-terminated */
	size_t len;
	int special, normalized, lstrip, rstrip;
};

struct lms_tokenizer {
	char *name;	 /* file name for messages */
	int loaded_fast; /* vocab and merges came from tok_fastjson.c */

	/* vocabulary */
	char *pool; /* token strings (byte-level alphabet), not NUL-separated */
	size_t pool_len, pool_cap;
	struct tok_strmap vocab;
	uint32_t *tok_off, *tok_len; /* (n_ids) id → pool slice; tok_len = UINT32_MAX: none */
	int32_t n_ids;
	size_t n_vocab;

	struct tok_pairmap merges;
	size_t n_merges;
	int ignore_merges;
	int32_t unk_id; /* -1: none */
	int fuse_unk;
	int32_t byte_id[256];

	struct tok_added *added; /* (n_added) */
	size_t n_added;
	int32_t *added_of_id;	       /* (n_ids) index into added or -1 */
	uint8_t added_first[256];      /* 1 if some raw-matched added token starts with this byte */
	uint8_t added_first_norm[256]; /* same for normalized=true tokens */

	enum tok_norm norms[TOK_MAX_NORMS];
	int n_norms;

	struct tok_pretok pre[TOK_MAX_PRETOK];
	int n_pre;

	struct tok_cache cache;

	/* scratch for encode (grown as needed) */
	char *norm_buf;
	size_t norm_cap;
	char *pre_buf;
	size_t pre_cap;
	void *bpe_buf;
	size_t bpe_cap;
};

/* Loads with jansson only (no fast path); for tests that compare the two. */
LMS_NODISCARD enum lms_status tok_load_text_jansson(const char *json, size_t len, const char *name,
						    struct lms_tokenizer **out);

/* GPT-2 byte → code point table (reference/qwen3-vl-lm.md §6.3). */
uint32_t tok_byte_to_cp(unsigned b);
/* Inverse: code point → byte, or -1 for a code point outside the alphabet. */
int tok_cp_to_byte(uint32_t cp);

uint64_t tok_hash(const void *p, size_t n);

LMS_NODISCARD enum lms_status tok_strmap_init(struct tok_strmap *m, size_t expected);
void tok_strmap_free(struct tok_strmap *m);
/* Inserts or overwrites (s, n) → id; the bytes must already be in pool at
 * off. Grows the table as needed. */
LMS_NODISCARD enum lms_status tok_strmap_put(struct tok_strmap *m, const char *pool, uint32_t off,
					     uint32_t n, int32_t id);
int32_t tok_strmap_get(const struct tok_strmap *m, const char *pool, const char *s, size_t n);

LMS_NODISCARD enum lms_status tok_pairmap_init(struct tok_pairmap *m, size_t expected);
void tok_pairmap_free(struct tok_pairmap *m);
/* Inserts or overwrites (a, b) → (rank, id); grows the table as needed. */
LMS_NODISCARD enum lms_status tok_pairmap_put(struct tok_pairmap *m, int32_t a, int32_t b,
					      int32_t rank, int32_t id);
/* Returns the slot or NULL. */
static inline const struct tok_pairslot *tok_pairmap_get(const struct tok_pairmap *m, int32_t a,
							 int32_t b)
{
	uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
	for (;;) {
		const struct tok_pairslot *s = &m->slots[i];
		if (s->key == key)
			return s;
		if (s->key == 0)
			return NULL;
		i = (i + 1) & m->mask;
	}
}

LMS_NODISCARD enum lms_status tok_cache_init(struct tok_cache *c, size_t max_count);
void tok_cache_free(struct tok_cache *c);
/* Finds a word; on a hit sets *ids (borrowed until the next put) and *n. */
int tok_cache_get(const struct tok_cache *c, const char *w, size_t n, uint64_t h,
		  const int32_t **ids, size_t *n_ids);
/* Adds a word (clears the whole cache first when it is full). */
LMS_NODISCARD enum lms_status tok_cache_put(struct tok_cache *c, const char *w, size_t n,
					    uint64_t h, const int32_t *ids, size_t n_ids);

#endif
