/* tok_fastjson.c — a fast path for the two huge members of tokenizer.json.
 *
 * Why: the Qwen3 tokenizer.json is 11 MB, nearly all of it model.vocab
 * (151,643 entries) and model.merges (151,387 entries). Building jansson's
 * tree for them (and freeing it) costs several times the target load time
 * of 300 ms. So tok_load.c first asks this file to locate the two members,
 * blanks them out of a copy that jansson then parses (everything else keeps
 * jansson's validation and its line:col errors), and parses the two members
 * here with a strict, allocation-free scanner.
 *
 * Invariant: this file never decides that a file is bad. Anything it does
 * not understand exactly (a syntax error, an escape it does not decode, a
 * duplicate "model" key, a float id, ...) makes it return 0, and the caller
 * then loads the whole file with jansson, which produces the real error.
 * What it does not do: general JSON parsing. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_fastjson.h"

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* Skips a string starting at the opening quote; returns the position after
 * the closing quote or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c > '\\')
			continue; /* the common case: letters and UTF-8 bytes */
		if (c == '"')
			return p + 1;
		if (c == '\\')
			p++;
		else if (c < 0x20)
			return NULL;
	}
	return NULL;
}

/* Skips any JSON value (structurally; scalars are checked lightly because
 * jansson parses everything outside the two members again). */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;
	do {
		p = skip_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == '"') {
			p = skip_string(p, end);
			if (!p)
				return NULL;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			if (--depth < 0)
				return NULL;
			p++;
		} else if (*p == ',' || *p == ':') {
			if (depth == 0)
				return NULL;
			p++;
		} else { /* a number, true, false or null */
			const char *q = p;
			while (q < end &&
			       (isalnum((unsigned char)*q) || *q == '-' || *q == '+' || *q == '.'))
				q++;
			if (q == p)
				return NULL;
			p = q;
		}
	} while (depth > 0);
	return p;
}

/* Decodes the string at p (opening quote) into buf (cap bytes) unless it has
 * no escapes, in which case *s points into the text. Returns the position
 * after the closing quote, or NULL for anything unusual. */
static const char *get_string(const char *p, const char *end, char *buf, size_t cap, const char **s,
			      size_t *n)
{
	const char *q = ++p;
	while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
		q++;
	if (q < end && *q == '"') {
		*s = p;
		*n = (size_t)(q - p);
		return lms_utf8_check(p, *n) == *n ? q + 1 : NULL;
	}
	size_t w = 0;
	for (q = p; q < end && *q != '"'; q++) {
		if (w + 4 > cap || (unsigned char)*q < 0x20)
			return NULL;
		if (*q != '\\') {
			buf[w++] = *q;
			continue;
		}
		if (++q >= end)
			return NULL;
		const char *esc = strchr("\"\\/bfnrt", *q);
		if (esc && *q) {
			buf[w++] = "\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"];
			continue;
		}
		if (*q != 'u' || end - q < 5 || !isxdigit((unsigned char)q[1]) ||
		    !isxdigit((unsigned char)q[2]) || !isxdigit((unsigned char)q[3]) ||
		    !isxdigit((unsigned char)q[4]))
			return NULL;
		unsigned cp = (unsigned)strtoul((char[]){q[1], q[2], q[3], q[4], 0}, NULL, 16);
		if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
			return NULL; /* NUL and surrogates: leave them to jansson */
		q += 4;
		if (cp < 0x80) {
			buf[w++] = (char)cp;
		} else if (cp < 0x800) {
			buf[w++] = (char)(0xC0 | (cp >> 6));
			buf[w++] = (char)(0x80 | (cp & 0x3F));
		} else {
			buf[w++] = (char)(0xE0 | (cp >> 12));
			buf[w++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			buf[w++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	if (q >= end || lms_utf8_check(buf, w) != w)
		return NULL;
	*s = buf;
	*n = w;
	return q + 1;
}

/* Walks the members of the object whose '{' is at p. For each member whose
 * key is one of names[0..n) records the value's start in at[k] (a second
 * occurrence sets *dup) and its end in ends[k] (when ends is given); for
 * names[0], a `descend` callback replaces skipping (it returns the end).
 * Returns the position after the closing '}', or NULL. */
typedef const char *(*member_fn)(void *ctx, const char *value, const char *end);

static const char *walk_object(const char *p, const char *end, const char *const *names, int n,
			       const char **at, const char **ends, int *dup, member_fn descend,
			       void *ctx)
{
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return NULL;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		if (p >= end || *p != '"')
			return NULL;
		const char *k = p + 1, *ke = skip_string(p, end);
		if (!ke)
			return NULL;
		p = skip_ws(ke, end);
		if (p >= end || *p != ':')
			return NULL;
		p = skip_ws(p + 1, end);
		int which = -1;
		for (int i = 0; i < n; i++)
			if ((size_t)(ke - 1 - k) == strlen(names[i]) &&
			    memcmp(k, names[i], strlen(names[i])) == 0)
				which = i;
		if (which >= 0) {
			*dup |= at[which] != NULL;
			at[which] = p;
		}
		p = which == 0 && descend ? descend(ctx, p, end) : skip_value(p, end);
		if (!p)
			return NULL;
		if (which >= 0 && ends)
			ends[which] = p;
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		return p < end && *p == '}' ? p + 1 : NULL;
	}
}

struct model_ctx {
	const char *at[2]; /* vocab, merges */
	const char *ends[2];
	int dup;
};

/* Walks the model object, recording where vocab and merges start and end. */
static const char *walk_model(void *ctx, const char *p, const char *end)
{
	static const char *const names[] = {"vocab", "merges"};
	struct model_ctx *m = ctx;
	return walk_object(p, end, names, 2, m->at, m->ends, &m->dup, NULL, NULL);
}

int tok_fast_find(const char *text, size_t len, struct tok_span *vocab, struct tok_span *merges)
{
	static const char *const names[] = {"model"};
	const char *end = text + len, *model = NULL;
	struct model_ctx m = {{NULL, NULL}, {NULL, NULL}, 0};
	int dup = 0;
	const char *e = walk_object(text, end, names, 1, &model, NULL, &dup, walk_model, &m);
	if (!e || skip_ws(e, end) != end || dup || m.dup || !m.at[0] || !m.at[1] || !m.ends[0] ||
	    !m.ends[1] || *m.at[0] != '{' || *m.at[1] != '[')
		return 0;
	*vocab = (struct tok_span){(size_t)(m.at[0] - text), (size_t)(m.ends[0] - text)};
	*merges = (struct tok_span){(size_t)(m.at[1] - text), (size_t)(m.ends[1] - text)};
	return 1;
}

char *tok_fast_strip(const char *text, size_t len, struct tok_span a, struct tok_span b,
		     size_t *out_len)
{
	if (a.begin > b.begin) {
		struct tok_span t = a;
		a = b;
		b = t;
	}
	size_t n = a.begin + 2 + (b.begin - a.end) + 2 + (len - b.end);
	char *out = malloc(n + 1), *w = out;
	if (!out)
		return NULL;
	memcpy(w, text, a.begin);
	w += a.begin;
	*w++ = text[a.begin];
	*w++ = text[a.begin] == '{' ? '}' : ']';
	memcpy(w, text + a.end, b.begin - a.end);
	w += b.begin - a.end;
	*w++ = text[b.begin];
	*w++ = text[b.begin] == '{' ? '}' : ']';
	memcpy(w, text + b.end, len - b.end);
	w += len - b.end;
	*w = '\0';
	*out_len = n;
	return out;
}

int tok_fast_vocab(const char *text, struct tok_span sp, tok_vocab_cb cb, void *ctx)
{
	const char *p = text + sp.begin + 1, *end = text + sp.end - 1;
	char buf[1024];
	p = skip_ws(p, end);
	while (p < end) {
		const char *k;
		size_t kn;
		if (*p != '"' || !(p = get_string(p, end, buf, sizeof buf, &k, &kn)))
			return 0;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return 0;
		p = skip_ws(p + 1, end);
		long long id = 0;
		const char *d = p;
		while (p < end && *p >= '0' && *p <= '9' && p - d < 10)
			id = id * 10 + (*p++ - '0');
		if (p == d || (p - d > 1 && *d == '0'))
			return 0;
		p = skip_ws(p, end);
		if (p < end && *p != ',')
			return 0;
		if (!cb(ctx, k, kn, id))
			return 0;
		if (p < end && (p = skip_ws(p + 1, end)) >= end)
			return 0; /* a trailing comma */
	}
	return 1;
}

int tok_fast_merges(const char *text, struct tok_span sp, tok_merge_cb cb, void *ctx)
{
	const char *p = text + sp.begin + 1, *end = text + sp.end - 1;
	char abuf[1024], bbuf[1024];
	size_t i = 0;
	p = skip_ws(p, end);
	while (p < end) {
		const char *a, *b;
		size_t na, nb;
		if (*p == '"') {
			if (!(p = get_string(p, end, abuf, sizeof abuf, &a, &na)))
				return 0;
			const char *sp1 = memchr(a, ' ', na);
			if (!sp1 || sp1 == a || sp1 + 1 == a + na ||
			    memchr(sp1 + 1, ' ', na - (size_t)(sp1 + 1 - a)))
				return 0;
			b = sp1 + 1;
			nb = na - (size_t)(b - a);
			na = (size_t)(sp1 - a);
		} else if (*p == '[') {
			p = skip_ws(p + 1, end);
			if (p >= end || *p != '"' ||
			    !(p = get_string(p, end, abuf, sizeof abuf, &a, &na)))
				return 0;
			p = skip_ws(p, end);
			if (p >= end || *p != ',')
				return 0;
			p = skip_ws(p + 1, end);
			if (p >= end || *p != '"' ||
			    !(p = get_string(p, end, bbuf, sizeof bbuf, &b, &nb)))
				return 0;
			p = skip_ws(p, end);
			if (p >= end || *p != ']')
				return 0;
			p++;
		} else {
			return 0;
		}
		p = skip_ws(p, end);
		if (p < end && *p != ',')
			return 0;
		if (!cb(ctx, i++, a, na, b, nb))
			return 0;
		if (p < end && (p = skip_ws(p + 1, end)) >= end)
			return 0; /* a trailing comma */
	}
	return 1;
}
