/* tok_map.c — the tokenizer's hash tables and the GPT-2 byte alphabet.
 *
 * Three open-addressing tables with linear probing, sized to a power of two
 * at most half full: token string → id (vocabulary), (left id, right id) →
 * (rank, merged id) (merges), and pre-token bytes → ids (the per-word cache,
 * bounded; it is cleared wholesale when full, which keeps it simple and its
 * memory bounded). Hashes are never 0, so 0 marks an empty slot.
 *
 * The vocabulary and pair tables double when half full.
 * What it does not do: deletion (nothing needs it). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static int printable(unsigned b)
{
	return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t tok_byte_to_cp(unsigned b)
{
	/* Printable bytes map to themselves; the 68 others, in increasing byte
	 * order, map to U+0100, U+0101, ... */
	if (printable(b))
		return b;
	unsigned n = 0;
	for (unsigned c = 0; c < b; c++)
		n += !printable(c);
	return 256 + n;
}

int tok_cp_to_byte(uint32_t cp)
{
	if (cp < 256)
		return printable(cp) ? (int)cp : -1;
	unsigned n = 0;
	for (unsigned b = 0; b < 256; b++)
		if (!printable(b) && n++ == cp - 256)
			return (int)b;
	return -1;
}

uint64_t tok_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		s += 8;
		n -= 8;
	}
	uint64_t v = 0;
	memcpy(&v, s, n);
	h = (h ^ v) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h ? h : 1;
}

static size_t pow2_for(size_t expected)
{
	size_t cap = 16;
	while (cap < expected * 2 + 2)
		cap <<= 1;
	return cap;
}

enum lms_status tok_strmap_init(struct tok_strmap *m, size_t expected)
{
	size_t cap = pow2_for(expected);
	m->slots = calloc(cap, sizeof *m->slots);
	if (!m->slots)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for a %zu-entry vocabulary",
				expected);
	m->mask = cap - 1;
	m->count = 0;
	return LMS_OK;
}

void tok_strmap_free(struct tok_strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->mask = m->count = 0;
}

static enum lms_status strmap_grow(struct tok_strmap *m)
{
	size_t cap = (m->mask + 1) * 2;
	struct tok_strslot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for the vocabulary");
	for (size_t i = 0; i <= m->mask; i++) {
		if (!m->slots[i].hash)
			continue;
		size_t j = (size_t)m->slots[i].hash & (cap - 1);
		while (slots[j].hash)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = cap - 1;
	return LMS_OK;
}

enum lms_status tok_strmap_put(struct tok_strmap *m, const char *pool, uint32_t off, uint32_t n,
			       int32_t id)
{
	if ((m->count + 1) * 2 > m->mask + 1)
		LMS_TRY(strmap_grow(m));
	uint64_t h = tok_hash(pool + off, n);
	size_t i = (size_t)h & m->mask;
	for (;;) {
		struct tok_strslot *s = &m->slots[i];
		if (s->hash == 0) {
			*s = (struct tok_strslot){h, off, n, id};
			m->count++;
			return LMS_OK;
		}
		if (s->hash == h && s->len == n && memcmp(pool + s->off, pool + off, n) == 0) {
			s->id = id; /* a later duplicate wins */
			return LMS_OK;
		}
		i = (i + 1) & m->mask;
	}
}

int32_t tok_strmap_get(const struct tok_strmap *m, const char *pool, const char *str, size_t n)
{
	if (!m->slots)
		return -1;
	uint64_t h = tok_hash(str, n);
	size_t i = (size_t)h & m->mask;
	for (;;) {
		const struct tok_strslot *s = &m->slots[i];
		if (s->hash == 0)
			return -1;
		if (s->hash == h && s->len == n && memcmp(pool + s->off, str, n) == 0)
			return s->id;
		i = (i + 1) & m->mask;
	}
}

enum lms_status tok_pairmap_init(struct tok_pairmap *m, size_t expected)
{
	size_t cap = pow2_for(expected);
	m->slots = calloc(cap, sizeof *m->slots);
	if (!m->slots)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for %zu merges", expected);
	m->mask = cap - 1;
	m->count = 0;
	return LMS_OK;
}

void tok_pairmap_free(struct tok_pairmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->mask = m->count = 0;
}

static size_t pair_slot(uint64_t key, size_t mask)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static enum lms_status pairmap_grow(struct tok_pairmap *m)
{
	size_t cap = (m->mask + 1) * 2;
	struct tok_pairslot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for the merges");
	for (size_t i = 0; i <= m->mask; i++) {
		if (!m->slots[i].key)
			continue;
		size_t j = pair_slot(m->slots[i].key, cap - 1);
		while (slots[j].key)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = cap - 1;
	return LMS_OK;
}

enum lms_status tok_pairmap_put(struct tok_pairmap *m, int32_t a, int32_t b, int32_t rank,
				int32_t id)
{
	if ((m->count + 1) * 2 > m->mask + 1)
		LMS_TRY(pairmap_grow(m));
	uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
	size_t i = pair_slot(key, m->mask);
	for (;;) {
		struct tok_pairslot *s = &m->slots[i];
		if (s->key == 0) {
			*s = (struct tok_pairslot){key, rank, id};
			m->count++;
			return LMS_OK;
		}
		if (s->key == key) { /* HF tokenizers: the later duplicate wins */
			s->rank = rank;
			s->id = id;
			return LMS_OK;
		}
		i = (i + 1) & m->mask;
	}
}

enum lms_status tok_cache_init(struct tok_cache *c, size_t max_count)
{
	memset(c, 0, sizeof *c);
	size_t cap = pow2_for(max_count);
	c->slots = calloc(cap, sizeof *c->slots);
	if (!c->slots)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for the tokenizer word cache");
	c->mask = cap - 1;
	c->max_count = max_count;
	return LMS_OK;
}

void tok_cache_free(struct tok_cache *c)
{
	free(c->slots);
	free(c->keys);
	free(c->ids);
	memset(c, 0, sizeof *c);
}

int tok_cache_get(const struct tok_cache *c, const char *w, size_t n, uint64_t h,
		  const int32_t **ids, size_t *n_ids)
{
	size_t i = (size_t)h & c->mask;
	for (;;) {
		const struct tok_cacheslot *s = &c->slots[i];
		if (s->hash == 0)
			return 0;
		if (s->hash == h && s->key_len == n && memcmp(c->keys + s->key_off, w, n) == 0) {
			*ids = s->ids_len ? c->ids + s->ids_off : NULL; /* ids may be unallocated */
			*n_ids = s->ids_len;
			return 1;
		}
		i = (i + 1) & c->mask;
	}
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 1;
	size_t nc = *cap ? *cap : 4096;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*p, nc * elem);
	if (!q)
		return 0;
	*p = q;
	*cap = nc;
	return 1;
}

enum lms_status tok_cache_put(struct tok_cache *c, const char *w, size_t n, uint64_t h,
			      const int32_t *ids, size_t n_ids)
{
	if (c->count >= c->max_count) {
		memset(c->slots, 0, (c->mask + 1) * sizeof *c->slots);
		c->count = c->keys_len = c->ids_len = 0;
	}
	if (!grow((void **)&c->keys, &c->keys_cap, c->keys_len + n, 1) ||
	    !grow((void **)&c->ids, &c->ids_cap, c->ids_len + n_ids, sizeof *c->ids))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory in the tokenizer word cache");
	size_t i = (size_t)h & c->mask;
	while (c->slots[i].hash != 0)
		i = (i + 1) & c->mask;
	memcpy(c->keys + c->keys_len, w, n);
	if (n_ids)
		memcpy(c->ids + c->ids_len, ids, n_ids * sizeof *ids);
	c->slots[i] = (struct tok_cacheslot){h, (uint32_t)c->keys_len, (uint32_t)n,
					     (uint32_t)c->ids_len, (uint32_t)n_ids};
	c->keys_len += n;
	c->ids_len += n_ids;
	c->count++;
	return LMS_OK;
}
