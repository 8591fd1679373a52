/* tok_encode.c — encoding (text → ids) and decoding (ids → text).
 *
 * Pipeline per call (HF tokenizers order, reference/qwen3-vl-lm.md §6.4):
 *   validate UTF-8 → cut out added tokens with normalized=false (leftmost,
 *   longest) → normalize each remaining segment → cut out added tokens with
 *   normalized=true → pre-tokenizer steps (Split regexes, then ByteLevel) →
 *   per pre-token: word cache or byte-level BPE → ids.
 * BPE works on ids: the symbols start as the ids of the single-byte tokens,
 * and a min-heap of (rank, left position) picks the lowest-rank adjacent
 * pair, leftmost on ties, exactly like HF's `Word::merge_all`. Stale heap
 * entries are recognised by re-looking-up the pair (as HF does). This keeps a
 * word of n bytes at O(n log n), so long runs of one character stay fast.
 *
 * Invariants: on failure `out` is restored to its length at entry.
 * What it does not do: offsets, truncation, padding, post-processing. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

#define CACHE_MAX_WORD 256 /* longer pre-tokens bypass the word cache */

void lms_tokens_free(struct lms_tokens *t)
{
	if (!t)
		return;
	free(t->ids);
	t->ids = NULL;
	t->n = t->cap = 0;
}

static enum lms_status push_ids(struct lms_tokens *out, const int32_t *ids, size_t n)
{
	if (n == 0) /* a word of bytes missing from the vocabulary (no unk): HF drops it */
		return LMS_OK;
	if (out->n + n > out->cap) {
		size_t cap = out->cap ? out->cap : 256;
		while (cap < out->n + n)
			cap *= 2;
		int32_t *p = realloc(out->ids, cap * sizeof *p);
		if (!p)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for %zu token ids",
					cap);
		out->ids = p;
		out->cap = cap;
	}
	memcpy(out->ids + out->n, ids, n * sizeof *ids);
	out->n += n;
	return LMS_OK;
}

static int grow_buf(void **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 1;
	size_t nc = *cap ? *cap : 1024;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*p, nc);
	if (!q)
		return 0;
	*p = q;
	*cap = nc;
	return 1;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid).
 * With `consumed`, reports how many bytes form the maximal invalid prefix. */
static size_t utf8_len(const unsigned char *s, size_t n, size_t *consumed)
{
	unsigned c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		if (consumed)
			*consumed = 1;
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		unsigned b = i < n ? s[i] : 0;
		if (i >= n || b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
			if (consumed)
				*consumed = i;
			return 0;
		}
	}
	return len;
}

size_t lms_utf8_check(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = utf8_len(u + i, n - i, NULL);
		if (!l)
			return i;
		i += l;
	}
	return n;
}

/* ---- BPE on one pre-token ---------------------------------------------- */

struct cand {
	int32_t rank, pos, id;
};

static int cand_less(const struct cand *a, const struct cand *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct cand *h, size_t *n, struct cand c)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!cand_less(&c, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n)
{
	struct cand top = h[0], last = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct cand *best = &last;
		if (l < *n && cand_less(&h[l], best)) {
			m = l;
			best = &h[l];
		}
		if (r < *n && cand_less(&h[r], best))
			m = r;
		if (m == i)
			break;
		h[i] = h[m];
		i = m;
	}
	if (*n)
		h[i] = last;
	return top;
}

static void push_pair(const struct lms_tokenizer *tok, struct cand *h, size_t *nh,
		      const int32_t *id, int32_t pos, int32_t next)
{
	if (pos < 0 || next < 0)
		return;
	const struct tok_pairslot *s = tok_pairmap_get(&tok->merges, id[pos], id[next]);
	if (s)
		heap_push(h, nh, (struct cand){s->rank, pos, s->id});
}

/* Runs BPE over the bytes of one pre-token and appends the ids to out. */
static enum lms_status bpe_word(struct lms_tokenizer *tok, const unsigned char *w, size_t n,
				struct lms_tokens *out)
{
	/* scratch: id, prev, next (n each) and a heap of at most 3n candidates */
	size_t need = n * 3 * sizeof(int32_t) + 3 * n * sizeof(struct cand) + 64;
	if (!grow_buf(&tok->bpe_buf, &tok->bpe_cap, need))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for a %zu-byte word", n);
	struct cand *heap = tok->bpe_buf;
	int32_t *id = (int32_t *)(heap + 3 * n), *prev = id + n, *next = prev + n;
	size_t ns = 0, nh = 0;
	for (size_t i = 0; i < n; i++) {
		int32_t t = tok->byte_id[w[i]];
		if (t < 0) {
			if (tok->unk_id < 0)
				continue; /* HF drops characters it cannot map when there is no unk
					   */
			if (tok->fuse_unk && ns > 0 && id[ns - 1] == tok->unk_id)
				continue;
			t = tok->unk_id;
		}
		id[ns++] = t;
	}
	for (size_t i = 0; i < ns; i++) {
		prev[i] = (int32_t)i - 1;
		next[i] = i + 1 < ns ? (int32_t)i + 1 : -1;
	}
	for (size_t i = 0; i + 1 < ns; i++)
		push_pair(tok, heap, &nh, id, (int32_t)i, (int32_t)i + 1);
	while (nh > 0) {
		struct cand c = heap_pop(heap, &nh);
		int32_t j = next[c.pos];
		if (id[c.pos] < 0 || j < 0)
			continue;
		const struct tok_pairslot *s = tok_pairmap_get(&tok->merges, id[c.pos], id[j]);
		if (!s || s->id != c.id)
			continue; /* stale: the pair at pos changed since it was pushed */
		id[c.pos] = c.id;
		id[j] = -1;
		next[c.pos] = next[j];
		if (next[j] >= 0)
			prev[next[j]] = c.pos;
		push_pair(tok, heap, &nh, id, prev[c.pos], c.pos);
		push_pair(tok, heap, &nh, id, c.pos, next[c.pos]);
	}
	/* compact the surviving symbols in place (id[] is read left to right) */
	size_t m = 0;
	for (int32_t i = ns ? 0 : -1; i >= 0; i = next[i])
		id[m++] = id[i];
	return push_ids(out, id, m);
}

/* ignore_merges: a pre-token that is a whole vocabulary entry is one id. */
static int32_t whole_word_id(struct lms_tokenizer *tok, const unsigned char *w, size_t n)
{
	char buf[3 * CACHE_MAX_WORD];
	size_t k = 0;
	if (n > CACHE_MAX_WORD)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t cp = tok_byte_to_cp(w[i]);
		if (cp < 0x80) {
			buf[k++] = (char)cp;
		} else {
			buf[k++] = (char)(0xC0 | (cp >> 6));
			buf[k++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return tok_strmap_get(&tok->vocab, tok->pool, buf, k);
}

static enum lms_status encode_word(struct lms_tokenizer *tok, const char *s, size_t n,
				   struct lms_tokens *out)
{
	const unsigned char *w = (const unsigned char *)s;
	if (n == 1 && tok->byte_id[w[0]] >= 0)
		return push_ids(out, &tok->byte_id[w[0]], 1);
	if (tok->ignore_merges) {
		int32_t whole = whole_word_id(tok, w, n);
		if (whole >= 0)
			return push_ids(out, &whole, 1);
	}
	if (n > CACHE_MAX_WORD)
		return bpe_word(tok, w, n, out);
	uint64_t h = tok_hash(s, n);
	const int32_t *ids;
	size_t k;
	if (tok_cache_get(&tok->cache, s, n, h, &ids, &k))
		return push_ids(out, ids, k);
	size_t start = out->n;
	LMS_TRY(bpe_word(tok, w, n, out));
	size_t got = out->n - start; /* 0 when the word's bytes are not in the vocabulary */
	return tok_cache_put(&tok->cache, s, n, h, got ? out->ids + start : NULL, got);
}

/* ---- pre-tokenization ------------------------------------------------- */

static enum lms_status pretok(struct lms_tokenizer *tok, int step, const char *s, size_t n,
			      struct lms_tokens *out);

/* Calls pretok(step + 1) on the pieces of s cut by p's regex: the matches
 * (unless behavior is Removed) and the text between them. */
static enum lms_status regex_split(struct lms_tokenizer *tok, int step, struct tok_pretok *p,
				   const char *s, size_t n, struct lms_tokens *out)
{
	size_t off = 0, gap = 0;
	while (off < n) {
		int rc = p->jit ? pcre2_jit_match(p->re, (PCRE2_SPTR)s, n, off, 0, p->md, NULL)
				: pcre2_match(p->re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK,
					      p->md, NULL);
		if (rc ==
		    PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its stack on the heap */
			rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, off,
					 PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, p->md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(rc, msg, sizeof msg);
			return lms_fail(
			    LMS_ERR_INPUT, "the text is too hard for the pre-tokenizer regex",
			    "pre-tokenizer regex failed at byte %zu: %s", off, (const char *)msg);
		}
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
		size_t ms = ov[0], me = ov[1];
		if (me == ms) { /* empty match: HF drops empty pieces; step one character */
			size_t l = utf8_len((const unsigned char *)s + ms, n - ms, NULL);
			off = ms + (l ? l : 1);
			continue;
		}
		if (ms > gap)
			LMS_TRY(pretok(tok, step + 1, s + gap, ms - gap, out));
		if (p->behavior == TOK_SPLIT_ISOLATED)
			LMS_TRY(pretok(tok, step + 1, s + ms, me - ms, out));
		gap = off = me;
	}
	if (n > gap)
		LMS_TRY(pretok(tok, step + 1, s + gap, n - gap, out));
	return LMS_OK;
}

static enum lms_status pretok(struct lms_tokenizer *tok, int step, const char *s, size_t n,
			      struct lms_tokens *out)
{
	if (n == 0)
		return LMS_OK;
	if (step == tok->n_pre)
		return encode_word(tok, s, n, out);
	struct tok_pretok *p = &tok->pre[step];
	if (p->kind == TOK_PRE_BYTELEVEL && p->add_prefix_space && s[0] != ' ') {
		/* ByteLevel is the last step, so pre_buf is not in use above us. */
		if (!grow_buf((void **)&tok->pre_buf, &tok->pre_cap, n + 1))
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory in the pre-tokenizer");
		tok->pre_buf[0] = ' ';
		memcpy(tok->pre_buf + 1, s, n);
		s = tok->pre_buf;
		n++;
	}
	if (p->re)
		return regex_split(tok, step, p, s, n, out);
	return pretok(tok, step + 1, s, n, out);
}

/* ---- normalization and added tokens ----------------------------------- */

static int is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

static enum lms_status norm_one(struct lms_tokenizer *tok, enum tok_norm kind, const char *s,
				size_t n, char **res, size_t *res_n)
{
	utf8proc_uint8_t *mapped = NULL;
	utf8proc_ssize_t m;
	if (kind == TOK_NORM_LOWERCASE) {
		/* Rust's str::to_lowercase: per code point, with U+0130 → "i̇". */
		mapped = malloc(n * 3 + 4);
		if (!mapped)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory normalizing text");
		m = 0;
		for (size_t i = 0; i < n;) {
			utf8proc_int32_t cp;
			i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)s + i,
						      (utf8proc_ssize_t)(n - i), &cp);
			if (cp == 0x130) {
				m += utf8proc_encode_char('i', mapped + m);
				cp = 0x307;
			} else {
				cp = utf8proc_tolower(cp);
			}
			m += utf8proc_encode_char(cp, mapped + m);
		}
	} else {
		int opt = UTF8PROC_STABLE;
		opt |= (kind == TOK_NORM_NFC || kind == TOK_NORM_NFKC) ? UTF8PROC_COMPOSE
								       : UTF8PROC_DECOMPOSE;
		if (kind == TOK_NORM_NFKC || kind == TOK_NORM_NFKD)
			opt |= UTF8PROC_COMPAT;
		m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &mapped,
				 (utf8proc_option_t)opt);
		if (m < 0)
			return lms_fail(LMS_ERR_INPUT, NULL, "Unicode normalization failed: %s",
					utf8proc_errmsg(m));
	}
	if (!grow_buf((void **)&tok->norm_buf, &tok->norm_cap, (size_t)m + 1)) {
		free(mapped);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory normalizing text");
	}
	memcpy(tok->norm_buf, mapped, (size_t)m);
	free(mapped);
	*res = tok->norm_buf;
	*res_n = (size_t)m;
	return LMS_OK;
}

/* Normalizes s into tok->norm_buf (or returns s itself when unchanged). */
static enum lms_status normalize(struct lms_tokenizer *tok, const char *s, size_t n,
				 const char **res, size_t *res_n)
{
	*res = s;
	*res_n = n;
	int ascii = is_ascii(s, n);
	for (int i = 0; i < tok->n_norms; i++) {
		if (ascii && tok->norms[i] != TOK_NORM_LOWERCASE)
			continue; /* ASCII is invariant under every Unicode normal form */
		char *r = NULL;
		LMS_TRY(norm_one(tok, tok->norms[i], *res, *res_n, &r, res_n));
		*res = r;
	}
	return LMS_OK;
}

static int is_space_at(const char *s, size_t n, size_t i, size_t *len)
{
	utf8proc_int32_t cp;
	utf8proc_ssize_t l =
	    utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
	*len = l > 0 ? (size_t)l : 1;
	return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
	       cp == 0x205F || cp == 0x3000;
}

/* The longest added token of the pass (normalized or not) starting at s[i]. */
static const struct tok_added *match_added(const struct lms_tokenizer *tok, int normalized,
					   const char *s, size_t n, size_t i)
{
	const struct tok_added *best = NULL;
	for (size_t k = 0; k < tok->n_added; k++) {
		const struct tok_added *a = &tok->added[k];
		if (a->normalized == normalized && a->len <= n - i &&
		    (!best || a->len > best->len) && memcmp(s + i, a->content, a->len) == 0)
			best = a;
	}
	return best;
}

static enum lms_status segment(struct lms_tokenizer *tok, int normalized, const char *s, size_t n,
			       struct lms_tokens *out);

/* Cuts s around the added tokens of one pass and hands the text between them
 * on: to normalization (raw pass) or to the pre-tokenizer (normalized pass). */
static enum lms_status split_added(struct lms_tokenizer *tok, int normalized, const char *s,
				   size_t n, struct lms_tokens *out)
{
	const uint8_t *first = normalized ? tok->added_first_norm : tok->added_first;
	size_t start = 0, i = 0;
	while (i < n) {
		const struct tok_added *a =
		    first[(unsigned char)s[i]] ? match_added(tok, normalized, s, n, i) : NULL;
		if (!a) {
			i++;
			continue;
		}
		size_t seg_end = i, next = i + a->len, l;
		if (a->lstrip) /* the token absorbs the whitespace on its left */
			while (seg_end > start) {
				size_t b = seg_end - 1;
				while (b > start && ((unsigned char)s[b] & 0xC0) == 0x80)
					b--;
				if (!is_space_at(s, n, b, &l))
					break;
				seg_end = b;
			}
		if (a->rstrip)
			while (next < n && is_space_at(s, n, next, &l))
				next += l;
		LMS_TRY(segment(tok, normalized, s + start, seg_end - start, out));
		LMS_TRY(push_ids(out, &a->id, 1));
		start = i = next;
	}
	return segment(tok, normalized, s + start, n - start, out);
}

static enum lms_status segment(struct lms_tokenizer *tok, int normalized, const char *s, size_t n,
			       struct lms_tokens *out)
{
	if (n == 0)
		return LMS_OK;
	if (normalized)
		return pretok(tok, 0, s, n, out);
	const char *ns = NULL;
	size_t nn = 0;
	LMS_TRY(normalize(tok, s, n, &ns, &nn));
	return split_added(tok, 1, ns, nn, out);
}

enum lms_status lms_tokenizer_encode(struct lms_tokenizer *tok, const char *text, size_t len,
				     struct lms_tokens *out)
{
	size_t bad = lms_utf8_check(text, len);
	if (bad < len)
		return lms_fail(LMS_ERR_INPUT, "the text must be UTF-8",
				"invalid UTF-8 at byte %zu (0x%02x)", bad,
				(unsigned char)text[bad]);
	size_t n0 = out->n;
	enum lms_status st = split_added(tok, 0, text, len, out);
	if (st != LMS_OK)
		out->n = n0;
	return st;
}

/* ---- decoding ---------------------------------------------------------- */

static int append(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (!grow_buf((void **)buf, cap, *len + n + 1))
		return 0;
	memcpy(*buf + *len, p, n);
	*len += n;
	return 1;
}

/* Byte-level token string → raw bytes; a token with a character outside the
 * alphabet is copied as is (HF's ByteLevel decoder does the same). */
static int append_token_bytes(char **buf, size_t *len, size_t *cap, const char *t, size_t n)
{
	size_t start = *len;
	for (size_t i = 0; i < n;) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)t + i,
						      (utf8proc_ssize_t)(n - i), &cp);
		int b = l > 0 ? tok_cp_to_byte((uint32_t)cp) : -1;
		if (b < 0) {
			*len = start;
			return append(buf, len, cap, t, n);
		}
		char c = (char)b;
		if (!append(buf, len, cap, &c, 1))
			return 0;
		i += (size_t)l;
	}
	return 1;
}

enum lms_status lms_tokenizer_decode(const struct lms_tokenizer *tok, const int32_t *ids, size_t n,
				     int skip_special, char **out, size_t *out_len)
{
	char *raw = NULL, *res = NULL;
	size_t len = 0, cap = 0, rlen = 0, rcap = 0;
	*out = NULL;
	for (size_t k = 0; k < n; k++) {
		int32_t id = ids[k];
		int ok;
		if (id < 0 || id >= tok->n_ids ||
		    (tok->added_of_id[id] < 0 && tok->tok_len[id] == UINT32_MAX)) {
			free(raw);
			return lms_fail(LMS_ERR_INPUT, "ids must come from this tokenizer",
					"id %d at position %zu names no token", (int)id, k);
		}
		if (tok->added_of_id[id] >= 0) {
			const struct tok_added *a = &tok->added[tok->added_of_id[id]];
			ok = (skip_special && a->special) ||
			     append(&raw, &len, &cap, a->content, a->len);
		} else {
			ok = append_token_bytes(&raw, &len, &cap, tok->pool + tok->tok_off[id],
						tok->tok_len[id]);
		}
		if (!ok)
			goto nomem;
	}
	/* invalid UTF-8 → U+FFFD per maximal invalid subsequence (from_utf8_lossy) */
	for (size_t i = 0; i < len;) {
		size_t bad = 1, l = utf8_len((unsigned char *)raw + i, len - i, &bad);
		if (!(l ? append(&res, &rlen, &rcap, raw + i, l)
			: append(&res, &rlen, &rcap, "\xEF\xBF\xBD", 3)))
			goto nomem;
		i += l ? l : bad;
	}
	if (!append(&res, &rlen, &rcap, "", 0))
		goto nomem;
	res[rlen] = '\0';
	free(raw);
	*out = res;
	*out_len = rlen;
	return LMS_OK;
nomem:
	free(raw);
	free(res);
	return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory decoding %zu ids", n);
}
