/* tok_load.c — builds a struct lms_tokenizer from an HF tokenizer.json (jansson).
 *
 * Supported (anything else is refused with LMS_ERR_UNSUPPORTED naming the key
 * path and the component type):
 *   model          BPE: vocab (object), merges ("a b" strings or ["a","b"]
 *                  pairs), unk_token, fuse_unk, ignore_merges; dropout null/0,
 *                  byte_fallback false, no subword prefix/suffix.
 *   added_tokens   id, content, special, normalized, lstrip, rstrip
 *                  (single_word=true is refused).
 *   normalizer     null, NFC, NFD, NFKC, NFKD, Lowercase, Sequence of these.
 *   pre_tokenizer  ByteLevel (add_prefix_space, use_regex), or a Sequence of
 *                  Split (Regex or String pattern, behavior Isolated or
 *                  Removed, invert false) ending in one ByteLevel.
 *   decoder        null or ByteLevel.
 *   post_processor ignored (encode is add_special_tokens=False).
 *   truncation, padding  must be null.
 * Invariants: on success every merge's parts and result are vocabulary ids;
 * on failure nothing is leaked and *out is NULL. */
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "tokenizer/tok_fastjson.h"
#include "tokenizer/tok_internal.h"

struct tok_fast {
	const char *text; /* the original file text */
	struct tok_span vocab, merges;
};

#define MAX_TOKENIZER_BYTES ((size_t)1 << 30)
#define CACHE_WORDS 65536

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char HINT_FORMAT[] =
    "the file must be an HF tokenizers 'tokenizer.json' for a byte-level BPE model; "
    "see docs/tokenizer-data.md for the supported components";

static enum lms_status unsupported(const char *path, const char *what)
{
	return lms_fail(LMS_ERR_UNSUPPORTED, HINT_FORMAT, "%s: unsupported %s", path, what);
}

static enum lms_status bad(const char *path, const char *what)
{
	return lms_fail(LMS_ERR_INPUT, HINT_FORMAT, "%s: %s", path, what);
}

/* Reads an optional boolean member; absent or null gives dflt. */
static enum lms_status get_bool(json_t *obj, const char *key, const char *path, int dflt, int *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return LMS_OK;
	}
	if (!json_is_boolean(v))
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT, "%s.%s: expected true or false", path,
				key);
	*out = json_is_true(v);
	return LMS_OK;
}

static enum lms_status pool_add(struct lms_tokenizer *tok, const char *s, size_t n, uint32_t *off)
{
	if (tok->pool_len + n > UINT32_MAX)
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT, "vocabulary strings exceed 4 GiB");
	if (tok->pool_len + n > tok->pool_cap) {
		size_t cap = tok->pool_cap ? tok->pool_cap : 1 << 20;
		while (cap < tok->pool_len + n)
			cap *= 2;
		char *p = realloc(tok->pool, cap);
		if (!p)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for the vocabulary");
		tok->pool = p;
		tok->pool_cap = cap;
	}
	memcpy(tok->pool + tok->pool_len, s, n);
	*off = (uint32_t)tok->pool_len;
	tok->pool_len += n;
	return LMS_OK;
}

static int utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	out[0] = (char)(0xE0 | (cp >> 12));
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[2] = (char)(0x80 | (cp & 0x3F));
	return 3;
}

/* One vocabulary entry (both paths). */
static enum lms_status vocab_entry(struct lms_tokenizer *tok, const char *key, size_t n,
				   long long id, int32_t *max_id)
{
	if (id < 0 || id >= INT32_MAX / 2)
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT,
				"model.vocab[\"%.*s\"]: expected an id in [0, %d)", (int)n, key,
				INT32_MAX / 2);
	uint32_t off = 0;
	LMS_TRY(pool_add(tok, key, n, &off));
	LMS_TRY(tok_strmap_put(&tok->vocab, tok->pool, off, (uint32_t)n, (int32_t)id));
	if (id > *max_id)
		*max_id = (int32_t)id;
	return LMS_OK;
}

/* One merge (both paths): parts and result must be vocabulary entries. */
static enum lms_status merge_entry(struct lms_tokenizer *tok, size_t i, const char *a, size_t na,
				   const char *b, size_t nb)
{
	char buf[4096];
	if (na + nb > sizeof buf)
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT, "model.merges[%zu]: token too long", i);
	if (i >= INT32_MAX / 2)
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT, "model.merges: too many merges");
	memcpy(buf, a, na);
	memcpy(buf + na, b, nb);
	int32_t ia = tok_strmap_get(&tok->vocab, tok->pool, a, na);
	int32_t ib = tok_strmap_get(&tok->vocab, tok->pool, b, nb);
	int32_t ic = tok_strmap_get(&tok->vocab, tok->pool, buf, na + nb);
	if (ia < 0 || ib < 0 || ic < 0) {
		const char *miss = ia < 0 ? a : ib < 0 ? b : buf;
		int len = ia < 0 ? (int)na : ib < 0 ? (int)nb : (int)(na + nb);
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT,
				"model.merges[%zu]: %s \"%.*s\" is not in model.vocab", i,
				ia < 0 || ib < 0 ? "part" : "merged token", len, miss);
	}
	tok->n_merges = i + 1;
	return tok_pairmap_put(&tok->merges, ia, ib, (int32_t)i, ic);
}

static enum lms_status load_vocab(struct lms_tokenizer *tok, json_t *vocab, int32_t *max_id)
{
	if (!json_is_object(vocab))
		return bad("model.vocab", "expected an object mapping token strings to ids");
	const char *key;
	json_t *v;
	json_object_foreach(vocab, key, v)
	{
		LMS_TRY(vocab_entry(tok, key, strlen(key),
				    json_is_integer(v) ? json_integer_value(v) : -1, max_id));
	}
	return LMS_OK;
}

/* One merge entry of the JSON tree → the two part strings (borrowed). */
static enum lms_status merge_parts(json_t *m, size_t i, const char **a, size_t *na, const char **b,
				   size_t *nb)
{
	if (json_is_string(m)) {
		const char *s = json_string_value(m);
		const char *sp = strchr(s, ' ');
		if (!sp || strchr(sp + 1, ' ') || sp == s || sp[1] == '\0')
			return lms_fail(
			    LMS_ERR_INPUT, HINT_FORMAT,
			    "model.merges[%zu]: \"%s\" is not two tokens separated by one space", i,
			    s);
		*a = s;
		*na = (size_t)(sp - s);
		*b = sp + 1;
		*nb = strlen(sp + 1);
	} else if (json_is_array(m) && json_array_size(m) == 2 &&
		   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
		*a = json_string_value(json_array_get(m, 0));
		*b = json_string_value(json_array_get(m, 1));
		*na = strlen(*a);
		*nb = strlen(*b);
	} else {
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT,
				"model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", i);
	}
	return LMS_OK;
}

static enum lms_status load_merges(struct lms_tokenizer *tok, json_t *merges)
{
	if (merges && !json_is_null(merges) && !json_is_array(merges))
		return bad("model.merges", "expected an array");
	size_t n = json_is_array(merges) ? json_array_size(merges) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *a = NULL, *b = NULL;
		size_t na = 0, nb = 0;
		LMS_TRY(merge_parts(json_array_get(merges, i), i, &a, &na, &b, &nb));
		LMS_TRY(merge_entry(tok, i, a, na, b, nb));
	}
	return LMS_OK;
}

/* The fast path (tok_fastjson.c): the same entries, scanned from the text. */
struct fast_ctx {
	struct lms_tokenizer *tok;
	int32_t *max_id;
};

static int fast_vocab_cb(void *ctx, const char *key, size_t n, long long id)
{
	struct fast_ctx *c = ctx;
	return vocab_entry(c->tok, key, n, id, c->max_id) == LMS_OK;
}

static int fast_merge_cb(void *ctx, size_t i, const char *a, size_t na, const char *b, size_t nb)
{
	struct fast_ctx *c = ctx;
	return merge_entry(c->tok, i, a, na, b, nb) == LMS_OK;
}

static enum lms_status load_vocab_merges(struct lms_tokenizer *tok, json_t *model,
					 const struct tok_fast *fast, int32_t *max_id)
{
	/* Sizes: exact from the tree, or estimated from the text (entries of a
	 * pretty-printed file take >= 20 and >= 40 bytes; the tables grow if
	 * the estimate is short). */
	size_t nv = fast ? (fast->vocab.end - fast->vocab.begin) / 20
			 : json_object_size(json_object_get(model, "vocab"));
	size_t nm = fast ? (fast->merges.end - fast->merges.begin) / 40
			 : json_array_size(json_object_get(model, "merges"));
	LMS_TRY(tok_strmap_init(&tok->vocab, nv));
	if (fast) { /* the keys take fewer bytes than their JSON text: no pool regrowth */
		tok->pool_cap = fast->vocab.end - fast->vocab.begin;
		tok->pool = malloc(tok->pool_cap);
		if (!tok->pool)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for the vocabulary");
	}
	LMS_TRY(tok_pairmap_init(&tok->merges, nm));
	if (fast) {
		struct fast_ctx c = {tok, max_id};
		if (!tok_fast_vocab(fast->text, fast->vocab, fast_vocab_cb, &c) ||
		    !tok_fast_merges(fast->text, fast->merges, fast_merge_cb, &c))
			return lms_fail(LMS_ERR_INTERNAL, NULL, "fast path gave up");
	} else {
		LMS_TRY(load_vocab(tok, json_object_get(model, "vocab"), max_id));
		LMS_TRY(load_merges(tok, json_object_get(model, "merges")));
	}
	tok->n_vocab = tok->vocab.count;
	return LMS_OK;
}

static enum lms_status check_empty_string(json_t *model, const char *key)
{
	json_t *v = json_object_get(model, key);
	if (!v || json_is_null(v) || (json_is_string(v) && json_string_value(v)[0] == '\0'))
		return LMS_OK;
	char path[64];
	snprintf(path, sizeof path, "model.%s", key);
	return unsupported(path,
			   "non-empty value (only byte-level BPE without affixes is supported)");
}

static enum lms_status load_model(struct lms_tokenizer *tok, json_t *root,
				  const struct tok_fast *fast, int32_t *max_id)
{
	json_t *model = json_object_get(root, "model");
	if (!json_is_object(model))
		return bad("model", "missing or not an object");
	json_t *type = json_object_get(model, "type");
	if (type && !json_is_string(type))
		return bad("model.type", "expected a string");
	if (type && strcmp(json_string_value(type), "BPE") != 0) {
		char what[128];
		snprintf(what, sizeof what, "model type \"%.64s\" (only BPE is supported)",
			 json_string_value(type));
		return unsupported("model.type", what);
	}
	json_t *dropout = json_object_get(model, "dropout");
	if (dropout && !json_is_null(dropout) &&
	    !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
		return unsupported("model.dropout", "BPE dropout (set it to null)");
	int byte_fallback;
	LMS_TRY(get_bool(model, "byte_fallback", "model", 0, &byte_fallback));
	if (byte_fallback)
		return unsupported("model.byte_fallback",
				   "byte fallback (byte-level BPE does not need it)");
	LMS_TRY(check_empty_string(model, "continuing_subword_prefix"));
	LMS_TRY(check_empty_string(model, "end_of_word_suffix"));
	LMS_TRY(get_bool(model, "fuse_unk", "model", 0, &tok->fuse_unk));
	LMS_TRY(get_bool(model, "ignore_merges", "model", 0, &tok->ignore_merges));

	LMS_TRY(load_vocab_merges(tok, model, fast, max_id));

	json_t *unk = json_object_get(model, "unk_token");
	tok->unk_id = -1;
	if (unk && !json_is_null(unk)) {
		if (!json_is_string(unk))
			return bad("model.unk_token", "expected a string or null");
		const char *u = json_string_value(unk);
		tok->unk_id = tok_strmap_get(&tok->vocab, tok->pool, u, strlen(u));
		if (tok->unk_id < 0)
			return lms_fail(LMS_ERR_INPUT, HINT_FORMAT,
					"model.unk_token: \"%s\" is not in model.vocab", u);
	}
	for (unsigned b = 0; b < 256; b++) {
		char s[4];
		int n = utf8_put(tok_byte_to_cp(b), s);
		tok->byte_id[b] = tok_strmap_get(&tok->vocab, tok->pool, s, (size_t)n);
	}
	return LMS_OK;
}

static enum lms_status load_added(struct lms_tokenizer *tok, json_t *root, int32_t *max_id)
{
	json_t *arr = json_object_get(root, "added_tokens");
	if (!arr || json_is_null(arr))
		return LMS_OK;
	if (!json_is_array(arr))
		return bad("added_tokens", "expected an array");
	size_t n = json_array_size(arr);
	tok->added = calloc(n ? n : 1, sizeof *tok->added);
	if (!tok->added)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for added tokens");
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(arr, i);
		char path[64];
		snprintf(path, sizeof path, "added_tokens[%zu]", i);
		json_t *id = json_object_get(t, "id"), *content = json_object_get(t, "content");
		if (!json_is_object(t) || !json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= INT32_MAX / 2 || !json_is_string(content) ||
		    json_string_length(content) == 0)
			return bad(path, "expected an object with an integer \"id\" >= 0 and a "
					 "non-empty string \"content\"");
		struct tok_added *a = &tok->added[tok->n_added];
		int single_word = 0;
		LMS_TRY(get_bool(t, "single_word", path, 0, &single_word));
		if (single_word)
			return unsupported(path, "single_word=true");
		LMS_TRY(get_bool(t, "special", path, 0, &a->special));
		LMS_TRY(get_bool(t, "normalized", path, !a->special, &a->normalized));
		LMS_TRY(get_bool(t, "lstrip", path, 0, &a->lstrip));
		LMS_TRY(get_bool(t, "rstrip", path, 0, &a->rstrip));
		a->id = (int32_t)json_integer_value(id);
		a->len = json_string_length(content);
		a->content = malloc(a->len + 1);
		if (!a->content)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for added tokens");
		memcpy(a->content, json_string_value(content), a->len + 1);
		tok->n_added++;
		if (a->id > *max_id)
			*max_id = a->id;
		if (a->normalized)
			tok->added_first_norm[(unsigned char)a->content[0]] = 1;
		else
			tok->added_first[(unsigned char)a->content[0]] = 1;
	}
	return LMS_OK;
}

static enum lms_status add_norm(struct lms_tokenizer *tok, json_t *n, const char *path)
{
	if (!n || json_is_null(n))
		return LMS_OK;
	json_t *type = json_object_get(n, "type");
	if (!json_is_object(n) || !json_is_string(type))
		return bad(path, "expected an object with a \"type\"");
	const char *t = json_string_value(type);
	static const struct {
		const char *name;
		enum tok_norm kind;
	} known[] = {{"NFC", TOK_NORM_NFC},
		     {"NFD", TOK_NORM_NFD},
		     {"NFKC", TOK_NORM_NFKC},
		     {"NFKD", TOK_NORM_NFKD},
		     {"Lowercase", TOK_NORM_LOWERCASE}};
	if (strcmp(t, "Sequence") == 0) {
		json_t *list = json_object_get(n, "normalizers");
		if (!json_is_array(list))
			return bad(path, "Sequence without a \"normalizers\" array");
		for (size_t i = 0; i < json_array_size(list); i++) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s.normalizers[%zu]", path, i);
			LMS_TRY(add_norm(tok, json_array_get(list, i), sub));
		}
		return LMS_OK;
	}
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strcmp(t, known[i].name) != 0)
			continue;
		if (tok->n_norms == TOK_MAX_NORMS)
			return unsupported(path, "number of normalizers (more than 8)");
		tok->norms[tok->n_norms++] = known[i].kind;
		return LMS_OK;
	}
	char what[160];
	snprintf(what, sizeof what,
		 "normalizer \"%.64s\" (supported: NFC, NFD, NFKC, NFKD, Lowercase, Sequence)", t);
	return unsupported(path, what);
}

/* HF tokenizers matches with Oniguruma, whose \s is Unicode White_Space;
 * PCRE2's \s under UCP also matches U+180E (MONGOLIAN VOWEL SEPARATOR). To
 * get Oniguruma's split, \s (anywhere) and \S (outside a class) are
 * rewritten to the explicit White_Space set. Returns new memory or NULL. */
#define WHITE_SPACE                                                                                \
	"\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"               \
	"\\x{202F}\\x{205F}\\x{3000}"

static char *rewrite_white_space(const char *pat)
{
	size_t n = strlen(pat), w = 0;
	char *out = malloc(n * sizeof WHITE_SPACE + 1);
	if (!out)
		return NULL;
#define PUT(str) (memcpy(out + w, (str), strlen(str)), w += strlen(str))
	int in_class = 0;
	for (size_t i = 0; i < n; i++) {
		char c = pat[i];
		if (c == '\\' && i + 1 < n) {
			char d = pat[++i];
			if (d == 's') {
				PUT(in_class ? WHITE_SPACE : "[" WHITE_SPACE "]");
			} else if (d == 'S' && !in_class) {
				PUT("[^" WHITE_SPACE "]");
			} else {
				out[w++] = c;
				out[w++] = d;
			}
			continue;
		}
		if (in_class && c == '[' && pat[i + 1] == ':') { /* [:alpha:] inside a class */
			const char *end = strstr(pat + i, ":]");
			size_t k = end ? (size_t)(end - pat) + 2 : n;
			memcpy(out + w, pat + i, k - i);
			w += k - i;
			i = k - 1;
			continue;
		}
		out[w++] = c;
		if (c == '[' && !in_class) {
			in_class = 1;
			if (pat[i + 1] == '^')
				out[w++] = pat[++i];
			if (pat[i + 1] == ']') /* a leading ] is a literal */
				out[w++] = pat[++i];
		} else if (c == ']' && in_class) {
			in_class = 0;
		}
	}
#undef PUT
	out[w] = '\0';
	return out;
}

static enum lms_status compile_re(struct tok_pretok *p, const char *pattern, int literal,
				  const char *path)
{
	int err;
	PCRE2_SIZE off;
	uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP); /* LITERAL refuses UCP */
	/* The pattern as written is compiled first, so that an error's offset
	 * refers to it; then the White_Space rewrite replaces it. */
	p->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
	if (!p->re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof msg);
		return lms_fail(LMS_ERR_INPUT,
				"fix the regular expression (PCRE2 syntax, UTF + UCP)",
				"%s: cannot compile the pattern at offset %zu: %s", path,
				(size_t)off, (const char *)msg);
	}
	if (!literal) {
		char *rewritten = rewrite_white_space(pattern);
		if (!rewritten)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory compiling %s", path);
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)rewritten, PCRE2_ZERO_TERMINATED, opts,
					       &err, &off, NULL);
		free(rewritten);
		if (!re)
			return lms_fail(LMS_ERR_INTERNAL, NULL,
					"%s: the pattern compiles but its \\s rewrite does not",
					path);
		pcre2_code_free(p->re);
		p->re = re;
	}
	/* LMSENS_PCRE2_JIT=0 forces the interpreter (same matches): valgrind
	 * cannot follow JIT code and reports its reads as uninitialised. */
	const char *jit_env = getenv("LMSENS_PCRE2_JIT");
	p->jit = !(jit_env && strcmp(jit_env, "0") == 0) &&
		 pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) == 0;
	p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
	if (!p->md)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for PCRE2 match data");
	return LMS_OK;
}

static enum lms_status add_split(struct lms_tokenizer *tok, json_t *n, const char *path)
{
	struct tok_pretok *p = &tok->pre[tok->n_pre];
	p->kind = TOK_PRE_SPLIT;
	json_t *pat = json_object_get(n, "pattern");
	json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
	if (!json_is_string(re) && !json_is_string(str))
		return bad(path, "Split needs \"pattern\": {\"Regex\": ...} or {\"String\": ...}");
	int invert;
	LMS_TRY(get_bool(n, "invert", path, 0, &invert));
	if (invert)
		return unsupported(path, "Split with invert=true");
	json_t *beh = json_object_get(n, "behavior");
	const char *b = json_is_string(beh) ? json_string_value(beh) : "";
	if (strcmp(b, "Isolated") == 0) {
		p->behavior = TOK_SPLIT_ISOLATED;
	} else if (strcmp(b, "Removed") == 0) {
		p->behavior = TOK_SPLIT_REMOVED;
	} else {
		char what[128];
		snprintf(what, sizeof what,
			 "Split behavior \"%.32s\" (supported: Isolated, Removed)", b);
		return unsupported(path, what);
	}
	char ppath[256];
	snprintf(ppath, sizeof ppath, "%s.pattern", path);
	tok->n_pre++; /* counted before compiling so that free() releases a partial one */
	return compile_re(p, json_string_value(json_is_string(re) ? re : str), !json_is_string(re),
			  ppath);
}

static enum lms_status add_pretok(struct lms_tokenizer *tok, json_t *n, const char *path)
{
	json_t *type = json_object_get(n, "type");
	if (!json_is_object(n) || !json_is_string(type))
		return bad(path, "expected an object with a \"type\"");
	const char *t = json_string_value(type);
	if (strcmp(t, "Sequence") == 0) {
		json_t *list = json_object_get(n, "pretokenizers");
		if (!json_is_array(list))
			return bad(path, "Sequence without a \"pretokenizers\" array");
		for (size_t i = 0; i < json_array_size(list); i++) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", path, i);
			LMS_TRY(add_pretok(tok, json_array_get(list, i), sub));
		}
		return LMS_OK;
	}
	if (tok->n_pre == TOK_MAX_PRETOK)
		return unsupported(path, "number of pre-tokenizers (more than 8)");
	if (tok->n_pre > 0 && tok->pre[tok->n_pre - 1].kind == TOK_PRE_BYTELEVEL)
		return unsupported(path,
				   "pre-tokenizer after ByteLevel (ByteLevel must come last)");
	if (strcmp(t, "Split") == 0)
		return add_split(tok, n, path);
	if (strcmp(t, "ByteLevel") == 0) {
		struct tok_pretok *p = &tok->pre[tok->n_pre++];
		int use_regex;
		p->kind = TOK_PRE_BYTELEVEL;
		LMS_TRY(get_bool(n, "add_prefix_space", path, 1, &p->add_prefix_space));
		LMS_TRY(get_bool(n, "use_regex", path, 1, &use_regex));
		if (use_regex)
			return compile_re(p, GPT2_PATTERN, 0, path);
		return LMS_OK;
	}
	char what[160];
	snprintf(what, sizeof what,
		 "pre-tokenizer \"%.64s\" (supported: Split, ByteLevel, Sequence)", t);
	return unsupported(path, what);
}

static enum lms_status load_pipeline(struct lms_tokenizer *tok, json_t *root)
{
	static const char *const must_be_null[] = {"truncation", "padding"};
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(root, must_be_null[i]);
		if (v && !json_is_null(v))
			return lms_fail(
			    LMS_ERR_UNSUPPORTED,
			    "set it to null; lmsens truncates and pads calibration batches itself",
			    "%s: unsupported non-null value", must_be_null[i]);
	}
	LMS_TRY(add_norm(tok, json_object_get(root, "normalizer"), "normalizer"));
	json_t *pre = json_object_get(root, "pre_tokenizer");
	if (!pre || json_is_null(pre))
		return unsupported("pre_tokenizer",
				   "null pre-tokenizer (a ByteLevel one is required)");
	LMS_TRY(add_pretok(tok, pre, "pre_tokenizer"));
	if (tok->n_pre == 0 || tok->pre[tok->n_pre - 1].kind != TOK_PRE_BYTELEVEL)
		return unsupported(
		    "pre_tokenizer",
		    "pre-tokenizer without a final ByteLevel step (byte-level BPE only)");
	json_t *dec = json_object_get(root, "decoder");
	if (dec && !json_is_null(dec)) {
		json_t *type = json_object_get(dec, "type");
		if (!json_is_string(type))
			return bad("decoder", "expected an object with a \"type\"");
		if (strcmp(json_string_value(type), "ByteLevel") != 0) {
			char what[128];
			snprintf(what, sizeof what,
				 "decoder \"%.64s\" (only ByteLevel is supported)",
				 json_string_value(type));
			return unsupported("decoder.type", what);
		}
	}
	return LMS_OK;
}

static enum lms_status build_id_tables(struct lms_tokenizer *tok, int32_t max_id)
{
	tok->n_ids = max_id + 1;
	size_t n = tok->n_ids > 0 ? (size_t)tok->n_ids : 1;
	tok->tok_off = malloc(n * sizeof *tok->tok_off);
	tok->tok_len = malloc(n * sizeof *tok->tok_len);
	tok->added_of_id = malloc(n * sizeof *tok->added_of_id);
	if (!tok->tok_off || !tok->tok_len || !tok->added_of_id)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for the id tables");
	for (size_t i = 0; i < n; i++) {
		tok->tok_len[i] = UINT32_MAX;
		tok->tok_off[i] = 0;
		tok->added_of_id[i] = -1;
	}
	for (size_t i = 0; i <= tok->vocab.mask; i++) {
		const struct tok_strslot *s = &tok->vocab.slots[i];
		if (s->hash && tok->tok_len[s->id] == UINT32_MAX) {
			tok->tok_off[s->id] = s->off;
			tok->tok_len[s->id] = s->len;
		}
	}
	for (size_t i = 0; i < tok->n_added; i++)
		tok->added_of_id[tok->added[i].id] = (int32_t)i;
	return LMS_OK;
}

static enum lms_status load_root(struct lms_tokenizer *tok, json_t *root,
				 const struct tok_fast *fast)
{
	if (!json_is_object(root))
		return bad("(top level)", "expected a JSON object");
	int32_t max_id = -1;
	LMS_TRY(load_model(tok, root, fast, &max_id));
	LMS_TRY(load_added(tok, root, &max_id));
	LMS_TRY(load_pipeline(tok, root));
	LMS_TRY(build_id_tables(tok, max_id));
	return tok_cache_init(&tok->cache, CACHE_WORDS);
}

/* Parses json (jansson) and builds the tokenizer; with `fast`, json is the
 * copy whose vocab and merges were blanked, and those come from fast->text. */
static enum lms_status load_json(const char *json, size_t len, const char *name,
				 const struct tok_fast *fast, struct lms_tokenizer **out)
{
	json_error_t err;
	json_t *root = json_loadb(json, len, 0, &err);
	if (!root)
		return lms_fail(LMS_ERR_INPUT, HINT_FORMAT, "%s:%d:%d: invalid JSON: %s", name,
				err.line, err.column, err.text);
	struct lms_tokenizer *tok = calloc(1, sizeof *tok);
	enum lms_status st = LMS_ERR_NOMEM;
	if (!tok || !(tok->name = strdup(name))) {
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory loading %s", name);
		goto fail;
	}
	st = load_root(tok, root, fast);
	tok->loaded_fast = fast != NULL;
	if (st != LMS_OK) {
		lms_error_context("%s", name);
		goto fail;
	}
	json_decref(root);
	*out = tok;
	return LMS_OK;
fail:
	json_decref(root);
	lms_tokenizer_free(tok);
	return st;
}

enum lms_status lms_tokenizer_load_text(const char *json, size_t len, const char *name,
					struct lms_tokenizer **out)
{
	*out = NULL;
	struct tok_fast fast = {json, {0, 0}, {0, 0}};
	if (tok_fast_find(json, len, &fast.vocab, &fast.merges)) {
		size_t n;
		char *copy = tok_fast_strip(json, len, fast.vocab, fast.merges, &n);
		if (copy) {
			enum lms_status st = load_json(copy, n, name, &fast, out);
			free(copy);
			if (st == LMS_OK)
				return LMS_OK;
		}
		/* Whatever went wrong, the full jansson path decides and reports. */
		lms_error_clear();
	}
	return load_json(json, len, name, NULL, out);
}

enum lms_status tok_load_text_jansson(const char *json, size_t len, const char *name,
				      struct lms_tokenizer **out)
{
	*out = NULL;
	return load_json(json, len, name, NULL, out);
}

enum lms_status lms_tokenizer_load(const char *path, struct lms_tokenizer **out)
{
	*out = NULL;
	char *text;
	size_t len;
	LMS_TRY(lms_read_file(path, MAX_TOKENIZER_BYTES, "tokenizer file", &text, &len));
	enum lms_status st = lms_tokenizer_load_text(text, len, path, out);
	free(text);
	return st;
}

void lms_tokenizer_free(struct lms_tokenizer *tok)
{
	if (!tok)
		return;
	for (int i = 0; i < tok->n_pre; i++) {
		pcre2_match_data_free(tok->pre[i].md);
		pcre2_code_free(tok->pre[i].re);
	}
	for (size_t i = 0; i < tok->n_added; i++)
		free(tok->added[i].content);
	free(tok->added);
	free(tok->added_of_id);
	free(tok->tok_off);
	free(tok->tok_len);
	tok_strmap_free(&tok->vocab);
	tok_pairmap_free(&tok->merges);
	tok_cache_free(&tok->cache);
	free(tok->pool);
	free(tok->norm_buf);
	free(tok->pre_buf);
	free(tok->bpe_buf);
	free(tok->name);
	free(tok);
}

int32_t lms_tokenizer_n_ids(const struct lms_tokenizer *tok)
{
	return tok->n_ids;
}
size_t lms_tokenizer_vocab_size(const struct lms_tokenizer *tok)
{
	return tok->n_vocab;
}
size_t lms_tokenizer_n_merges(const struct lms_tokenizer *tok)
{
	return tok->n_merges;
}
size_t lms_tokenizer_n_added(const struct lms_tokenizer *tok)
{
	return tok->n_added;
}

int lms_tokenizer_uses_jit(const struct lms_tokenizer *tok)
{
	for (int i = 0; i < tok->n_pre; i++)
		if (tok->pre[i].re && !tok->pre[i].jit)
			return 0;
	return 1;
}

int32_t lms_tokenizer_token_id(const struct lms_tokenizer *tok, const char *content)
{
	size_t n = strlen(content);
	for (size_t i = 0; i < tok->n_added; i++)
		if (tok->added[i].len == n && memcmp(tok->added[i].content, content, n) == 0)
			return tok->added[i].id;
	return tok_strmap_get(&tok->vocab, tok->pool, content, n);
}
