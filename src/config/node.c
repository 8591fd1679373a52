/* node.c — the configuration tree (see node.h): construction, copy, merge,
 * path lookup, typed getters and the YAML dump.
 *
 * Key paths are dotted with optional [index] for sequences: "a.b[2].c".
 * The dump follows PyYAML's block style as OmegaConf.to_yaml writes it, so a
 * dumped file loads back to the same typed tree (tests check round trips). */
#include "config/node.h"

/* Messages and paths are built in fixed buffers; truncating an overlong
 * one is intended (it is reported, never used to reach outside conf/). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config/strbuf.h"
#include "config/yaml.h"
#include "core/log.h"

struct lms_cfg *lms_cfg_new(enum lms_cfg_type type)
{
	struct lms_cfg *n = calloc(1, sizeof *n);
	if (n)
		n->type = type;
	return n;
}

struct lms_cfg *lms_cfg_new_str(const char *s)
{
	struct lms_cfg *n = lms_cfg_new(LMS_CFG_STR);
	if (!n)
		return NULL;
	n->s = strdup(s ? s : "");
	if (!n->s) {
		free(n);
		return NULL;
	}
	return n;
}

struct lms_cfg *lms_cfg_new_int(long long v)
{
	struct lms_cfg *n = lms_cfg_new(LMS_CFG_INT);
	if (n)
		n->i = v;
	return n;
}

struct lms_cfg *lms_cfg_new_float(double v)
{
	struct lms_cfg *n = lms_cfg_new(LMS_CFG_FLOAT);
	if (n)
		n->f = v;
	return n;
}

struct lms_cfg *lms_cfg_new_bool(int v)
{
	struct lms_cfg *n = lms_cfg_new(LMS_CFG_BOOL);
	if (n)
		n->b = !!v;
	return n;
}

static void clear(struct lms_cfg *n)
{
	for (size_t k = 0; k < n->n; k++) {
		if (n->keys)
			free(n->keys[k]);
		lms_cfg_free(n->kids[k]);
	}
	free(n->keys);
	free(n->kids);
	free(n->s);
	n->keys = NULL;
	n->kids = NULL;
	n->s = NULL;
	n->n = n->cap = 0;
}

void lms_cfg_free(struct lms_cfg *n)
{
	if (!n)
		return;
	clear(n);
	free(n);
}

struct lms_cfg *lms_cfg_copy(const struct lms_cfg *n)
{
	if (!n)
		return NULL;
	struct lms_cfg *c = lms_cfg_new(n->type);
	if (!c)
		return NULL;
	c->b = n->b;
	c->i = n->i;
	c->f = n->f;
	c->line = n->line;
	c->col = n->col;
	c->file = n->file; /* interned: shared, never freed */
	if (n->s && !(c->s = strdup(n->s)))
		goto fail;
	if (n->n) {
		c->kids = calloc(n->n, sizeof *c->kids);
		if (!c->kids)
			goto fail;
		if (n->type == LMS_CFG_MAP) {
			c->keys = calloc(n->n, sizeof *c->keys);
			if (!c->keys)
				goto fail;
		}
		c->cap = n->n;
		for (size_t k = 0; k < n->n; k++) {
			c->n = k + 1;
			c->kids[k] = lms_cfg_copy(n->kids[k]);
			if (!c->kids[k] || (c->keys && !(c->keys[k] = strdup(n->keys[k]))))
				goto fail;
		}
	}
	return c;
fail:
	lms_cfg_free(c);
	return NULL;
}

/* File names are interned: nodes share one copy per distinct name, kept for
 * the life of the process (there are few: the config files and "command
 * line"). This halves the allocations of copying and resolving trees. */
static pthread_mutex_t g_intern_lock = PTHREAD_MUTEX_INITIALIZER;
static char **g_interned;
static size_t g_n_interned, g_cap_interned;

static const char *intern(const char *s)
{
	const char *r = NULL;
	pthread_mutex_lock(&g_intern_lock);
	for (size_t k = g_n_interned; k-- > 0 && !r;)
		if (strcmp(g_interned[k], s) == 0)
			r = g_interned[k];
	if (!r) {
		if (g_n_interned == g_cap_interned) {
			size_t cap = g_cap_interned ? 2 * g_cap_interned : 64;
			char **v = realloc(g_interned, cap * sizeof *v);
			if (v) {
				g_interned = v;
				g_cap_interned = cap;
			}
		}
		char *c = g_n_interned < g_cap_interned ? strdup(s) : NULL;
		if (c)
			g_interned[g_n_interned++] = c;
		r = c;
	}
	pthread_mutex_unlock(&g_intern_lock);
	return r;
}

enum lms_status lms_cfg_set_loc(struct lms_cfg *n, const char *file, int line, int col)
{
	n->file = NULL;
	if (file && !(n->file = intern(file)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	n->line = line;
	n->col = col;
	return LMS_OK;
}

long lms_cfg_map_index(const struct lms_cfg *map, const char *key)
{
	if (!map || map->type != LMS_CFG_MAP)
		return -1;
	for (size_t k = 0; k < map->n; k++)
		if (strcmp(map->keys[k], key) == 0)
			return (long)k;
	return -1;
}

struct lms_cfg *lms_cfg_map_get(const struct lms_cfg *map, const char *key)
{
	long k = lms_cfg_map_index(map, key);
	return k < 0 ? NULL : map->kids[k];
}

static int reserve(struct lms_cfg *c, int with_keys)
{
	if (c->n < c->cap)
		return 1;
	size_t cap = c->cap ? c->cap * 2 : 4;
	struct lms_cfg **kids = realloc(c->kids, cap * sizeof *kids);
	if (!kids)
		return 0;
	c->kids = kids;
	if (with_keys) {
		char **keys = realloc(c->keys, cap * sizeof *keys);
		if (!keys)
			return 0;
		c->keys = keys;
	}
	c->cap = cap;
	return 1;
}

enum lms_status lms_cfg_map_set(struct lms_cfg *map, const char *key, struct lms_cfg *val)
{
	LMS_ASSERT(map->type == LMS_CFG_MAP);
	/* Callers pass constructors straight in (lms_cfg_copy(x), ...): a NULL
	 * value is their allocation failure, reported here (jansson's _new). */
	if (!val)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory setting key '%s'", key);
	long k = lms_cfg_map_index(map, key);
	if (k >= 0) {
		lms_cfg_free(map->kids[k]);
		map->kids[k] = val;
		return LMS_OK;
	}
	char *kc = strdup(key);
	if (!kc || !reserve(map, 1)) {
		free(kc);
		lms_cfg_free(val);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory adding key '%s'", key);
	}
	map->keys[map->n] = kc;
	map->kids[map->n++] = val;
	return LMS_OK;
}

struct lms_cfg *lms_cfg_map_take(struct lms_cfg *map, const char *key)
{
	long k = lms_cfg_map_index(map, key);
	if (k < 0)
		return NULL;
	struct lms_cfg *v = map->kids[k];
	free(map->keys[k]);
	memmove(map->keys + k, map->keys + k + 1, (map->n - (size_t)k - 1) * sizeof *map->keys);
	memmove(map->kids + k, map->kids + k + 1, (map->n - (size_t)k - 1) * sizeof *map->kids);
	map->n--;
	return v;
}

enum lms_status lms_cfg_seq_push(struct lms_cfg *seq, struct lms_cfg *val)
{
	LMS_ASSERT(seq->type == LMS_CFG_SEQ);
	if (!val)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory adding a list item");
	if (!reserve(seq, 0)) {
		lms_cfg_free(val);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory growing a list");
	}
	seq->kids[seq->n++] = val;
	return LMS_OK;
}

void lms_cfg_replace(struct lms_cfg *dst, struct lms_cfg *src)
{
	clear(dst);
	*dst = *src;
	free(src);
}

enum lms_status lms_cfg_merge(struct lms_cfg *dst, const struct lms_cfg *src)
{
	if (src->type == LMS_CFG_MISSING)
		return LMS_OK;
	if (dst->type == LMS_CFG_MAP && src->type == LMS_CFG_MAP) {
		for (size_t k = 0; k < src->n; k++) {
			struct lms_cfg *d = lms_cfg_map_get(dst, src->keys[k]);
			if (d && d->type == LMS_CFG_MAP && src->kids[k]->type == LMS_CFG_MAP) {
				LMS_TRY(lms_cfg_merge(d, src->kids[k]));
				continue;
			}
			if (d && src->kids[k]->type == LMS_CFG_MISSING)
				continue;
			struct lms_cfg *c = lms_cfg_copy(src->kids[k]);
			if (!c)
				return lms_fail(LMS_ERR_NOMEM, NULL,
						"out of memory merging configs");
			LMS_TRY(lms_cfg_map_set(dst, src->keys[k], c));
		}
		return LMS_OK;
	}
	struct lms_cfg *c = lms_cfg_copy(src);
	if (!c)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory merging configs");
	lms_cfg_replace(dst, c);
	return LMS_OK;
}

/* Splits the next path element off *p: a key (up to '.' or '[') or an index
 * "[n]". Returns 1 and fills key/idx (idx >= 0 for an index), 0 at the end,
 * -1 on a malformed path. */
static int next_elem(const char **p, char *key, size_t cap, long *idx)
{
	const char *s = *p;
	if (*s == '.')
		s++;
	if (!*s)
		return 0;
	*idx = -1;
	if (*s == '[') {
		char *end;
		long v = strtol(s + 1, &end, 10);
		if (end == s + 1 || *end != ']' || v < 0)
			return -1;
		*idx = v;
		*p = end + 1;
		return 1;
	}
	size_t n = strcspn(s, ".[");
	if (n == 0 || n >= cap)
		return -1;
	memcpy(key, s, n);
	key[n] = '\0';
	*p = s + n;
	return 1;
}

struct lms_cfg *lms_cfg_find(const struct lms_cfg *root, const char *path)
{
	const struct lms_cfg *cur = root;
	const char *p = path;
	char key[256];
	long idx;
	int r;
	while (cur && (r = next_elem(&p, key, sizeof key, &idx)) != 0) {
		if (r < 0)
			return NULL;
		if (idx >= 0)
			cur = (cur->type == LMS_CFG_SEQ && (size_t)idx < cur->n) ? cur->kids[idx]
										 : NULL;
		else
			cur = lms_cfg_map_get(cur, key);
	}
	return (struct lms_cfg *)cur;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	size_t d[64][64];
	for (size_t x = 0; x <= la; x++)
		d[x][0] = x;
	for (size_t y = 0; y <= lb; y++)
		d[0][y] = y;
	for (size_t x = 1; x <= la; x++)
		for (size_t y = 1; y <= lb; y++) {
			size_t sub = d[x - 1][y - 1] + (a[x - 1] != b[y - 1]);
			size_t del = d[x - 1][y] + 1, ins = d[x][y - 1] + 1;
			d[x][y] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	return d[la][lb];
}

void lms_cfg_closest_keys(const struct lms_cfg *map, const char *key, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!map || map->type != LMS_CFG_MAP || cap == 0)
		return;
	size_t limit = strlen(key) / 3 + 2, used = 0;
	for (size_t pass = 0; pass <= limit; pass++)
		for (size_t k = 0; k < map->n; k++) {
			size_t d = edit_distance(key, map->keys[k]);
			int prefix = strncmp(key, map->keys[k], strlen(key)) == 0 && key[0];
			if ((prefix ? 0 : d) != pass)
				continue;
			int w = snprintf(buf + used, cap - used, "%s'%s'", used ? ", " : "",
					 map->keys[k]);
			if (w < 0 || (size_t)w >= cap - used)
				return;
			used += (size_t)w;
		}
}

enum lms_status lms_cfg_get_node(const struct lms_cfg *root, const char *path, struct lms_cfg **out)
{
	*out = lms_cfg_find(root, path);
	if (*out)
		return LMS_OK;
	/* Find the deepest existing parent to suggest keys from it. */
	const struct lms_cfg *cur = root;
	const char *p = path;
	char key[256];
	long idx;
	int r;
	while ((r = next_elem(&p, key, sizeof key, &idx)) > 0) {
		const struct lms_cfg *nx =
		    idx >= 0 ? ((cur->type == LMS_CFG_SEQ && (size_t)idx < cur->n) ? cur->kids[idx]
										   : NULL)
			     : lms_cfg_map_get(cur, key);
		if (!nx)
			break;
		cur = nx;
	}
	char near[512] = "";
	if (r > 0 && idx < 0)
		lms_cfg_closest_keys(cur, key, near, sizeof near);
	if (near[0])
		return lms_fail(LMS_ERR_NOT_FOUND, "check the spelling of the key",
				"config key '%s' not found (closest: %s)", path, near);
	return lms_fail(LMS_ERR_NOT_FOUND, "check the key path against 'lmsens --cfg job'",
			"config key '%s' not found", path);
}

const char *lms_cfg_type_name(enum lms_cfg_type t)
{
	switch (t) {
	case LMS_CFG_NULL:
		return "null";
	case LMS_CFG_MISSING:
		return "missing ('?\?\?')";
	case LMS_CFG_BOOL:
		return "a boolean";
	case LMS_CFG_INT:
		return "an integer";
	case LMS_CFG_FLOAT:
		return "a float";
	case LMS_CFG_STR:
		return "a string";
	case LMS_CFG_MAP:
		return "a mapping";
	case LMS_CFG_SEQ:
		return "a list";
	}
	return "?";
}

static enum lms_status typed(const struct lms_cfg *root, const char *path, enum lms_cfg_type want,
			     const char *want_name, struct lms_cfg **out)
{
	LMS_TRY(lms_cfg_get_node(root, path, out));
	struct lms_cfg *n = *out;
	if (n->type == want || (want == LMS_CFG_FLOAT && n->type == LMS_CFG_INT))
		return LMS_OK;
	if (n->type == LMS_CFG_MISSING)
		return lms_fail(LMS_ERR_CONFIG, "set it on the command line, e.g. key=value",
				"Missing mandatory value: %s", path);
	char val[128];
	lms_cfg_scalar_text(n, val, sizeof val);
	char loc[600] = "";
	if (n->file && n->line)
		snprintf(loc, sizeof loc, "%s:%d:%d", n->file, n->line, n->col);
	else if (n->file)
		snprintf(loc, sizeof loc, "%s", n->file);
	return lms_fail(LMS_ERR_CONFIG,
			"fix the value in the config or override it on the command line",
			"config key '%s' is %s (%s), expected %s%s%s%s", path, lms_cfg_type_name(n->type),
			val, want_name, n->file ? " (set at " : "", n->file ? loc : "", n->file ? ")" : "");
}

enum lms_status lms_cfg_get_int(const struct lms_cfg *root, const char *path, long long *out)
{
	struct lms_cfg *n;
	LMS_TRY(typed(root, path, LMS_CFG_INT, "an integer", &n));
	*out = n->i;
	return LMS_OK;
}

enum lms_status lms_cfg_get_double(const struct lms_cfg *root, const char *path, double *out)
{
	struct lms_cfg *n;
	LMS_TRY(typed(root, path, LMS_CFG_FLOAT, "a number", &n));
	*out = n->type == LMS_CFG_INT ? (double)n->i : n->f;
	return LMS_OK;
}

enum lms_status lms_cfg_get_bool(const struct lms_cfg *root, const char *path, int *out)
{
	struct lms_cfg *n;
	LMS_TRY(typed(root, path, LMS_CFG_BOOL, "true or false", &n));
	*out = n->b;
	return LMS_OK;
}

enum lms_status lms_cfg_get_str(const struct lms_cfg *root, const char *path, const char **out)
{
	struct lms_cfg *n;
	LMS_TRY(typed(root, path, LMS_CFG_STR, "a string", &n));
	*out = n->s;
	return LMS_OK;
}

int lms_cfg_is_null(const struct lms_cfg *root, const char *path)
{
	struct lms_cfg *n = lms_cfg_find(root, path);
	return n && n->type == LMS_CFG_NULL;
}

/* Python repr() of a float: shortest round-trip digits, always with a '.'
 * or exponent; YAML spellings for inf/nan. */
static void float_text(double v, char *buf, size_t cap)
{
	if (isnan(v)) {
		snprintf(buf, cap, ".nan");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, cap, v < 0 ? "-.inf" : ".inf");
		return;
	}
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, cap, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strpbrk(buf, ".e")) {
		size_t l = strlen(buf);
		if (l + 3 <= cap)
			memcpy(buf + l, ".0", 3);
	} else if (strchr(buf, 'e') && !strchr(buf, '.')) {
		/* 1e-05 → 1.0e-05 so that YAML 1.1 reads it back as a float */
		char tmp[64];
		const char *e = strchr(buf, 'e');
		snprintf(tmp, sizeof tmp, "%.*s.0%s", (int)(e - buf), buf, e);
		snprintf(buf, cap, "%s", tmp);
	}
}

void lms_cfg_scalar_text(const struct lms_cfg *n, char *buf, size_t cap)
{
	switch (n->type) {
	case LMS_CFG_NULL:
		snprintf(buf, cap, "null");
		break;
	case LMS_CFG_MISSING:
		snprintf(buf, cap, "???");
		break;
	case LMS_CFG_BOOL:
		snprintf(buf, cap, n->b ? "true" : "false");
		break;
	case LMS_CFG_INT:
		snprintf(buf, cap, "%lld", n->i);
		break;
	case LMS_CFG_FLOAT:
		float_text(n->f, buf, cap);
		break;
	case LMS_CFG_STR:
		snprintf(buf, cap, "%s", n->s);
		break;
	case LMS_CFG_MAP:
		snprintf(buf, cap, "{...}");
		break;
	case LMS_CFG_SEQ:
		snprintf(buf, cap, "[...]");
		break;
	}
}

/* A string needs quotes when YAML would read it back as something else. */
static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 1;
	if (strncmp(s, "---", 3) == 0 || strncmp(s, "...", 3) == 0) /* document markers */
		return 1;
	if (s[0] == '-') {
		if (s[1] == ' ' || s[1] == '\0' || isdigit((unsigned char)s[1]) || s[1] == '.')
			return 1;
	} else if (strchr("!&*[]{}|>'\"%@`#,?:~ \t", s[0])) {
		return 1;
	}
	size_t l = strlen(s);
	if (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == ':')
		return 1;
	if (strstr(s, ": ") || strstr(s, " #") || strstr(s, ":\t"))
		return 1;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 1;
	if (strcmp(s, "???") == 0 || strcmp(s, "<<") == 0 || strcmp(s, "=") == 0)
		return 1;
	return lms_yaml_plain_type(s) != LMS_CFG_STR;
}

/* YAML 1.1 treats NEL (U+0085) and the Unicode line and paragraph separators
 * (U+2028, U+2029) as line breaks: inside a plain or single-quoted scalar they
 * would be folded on reading. Returns the escape letter for the one at p
 * (and its UTF-8 length in *len), or 0. */
static char yaml_break(const char *p, int *len)
{
	const unsigned char *u = (const unsigned char *)p;
	if (u[0] == 0xc2 && u[1] == 0x85) {
		*len = 2;
		return 'N';
	}
	if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) {
		*len = 3;
		return u[2] == 0xa8 ? 'L' : 'P';
	}
	return 0;
}

static void put_str(struct lms_sb *b, const char *s)
{
	int dq = 0, blen;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || yaml_break(p, &blen))
			dq = 1;
	if (!dq && !needs_quotes(s)) {
		lms_sb_puts(b, s);
		return;
	}
	if (!dq) {
		lms_sb_putc(b, '\'');
		for (const char *p = s; *p; p++) {
			if (*p == '\'')
				lms_sb_putc(b, '\'');
			lms_sb_putc(b, *p);
		}
		lms_sb_putc(b, '\'');
		return;
	}
	lms_sb_putc(b, '"');
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			lms_sb_printf(b, "\\%c", c);
		else if (c == '\n')
			lms_sb_puts(b, "\\n");
		else if (c == '\t')
			lms_sb_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			lms_sb_printf(b, "\\x%02x", c);
		else if (yaml_break(p, &blen)) {
			lms_sb_printf(b, "\\%c", yaml_break(p, &blen));
			p += blen - 1;
		} else
			lms_sb_putc(b, (char)c);
	}
	lms_sb_putc(b, '"');
}

static void put_scalar(struct lms_sb *b, const struct lms_cfg *n)
{
	if (n->type == LMS_CFG_STR) {
		put_str(b, n->s);
		return;
	}
	char buf[64];
	lms_cfg_scalar_text(n, buf, sizeof buf);
	lms_sb_puts(b, buf);
}

static int is_empty_container(const struct lms_cfg *n)
{
	return (n->type == LMS_CFG_MAP || n->type == LMS_CFG_SEQ) && n->n == 0;
}

static void dump(struct lms_sb *b, const struct lms_cfg *n, int indent, int inline_first);

static void pad(struct lms_sb *b, int indent)
{
	for (int k = 0; k < indent; k++)
		lms_sb_putc(b, ' ');
}

/* Writes a value after "key:" or "- ". */
static void dump_value(struct lms_sb *b, const struct lms_cfg *v, int indent, int in_seq)
{
	if (is_empty_container(v)) {
		lms_sb_puts(b, v->type == LMS_CFG_MAP ? " {}\n" : " []\n");
	} else if (v->type == LMS_CFG_MAP) {
		if (in_seq) {
			lms_sb_putc(b, ' ');
			dump(b, v, indent + 2, 1);
		} else {
			lms_sb_putc(b, '\n');
			dump(b, v, indent + 2, 0);
		}
	} else if (v->type == LMS_CFG_SEQ) {
		if (in_seq) {
			lms_sb_putc(b, ' ');
			dump(b, v, indent + 2, 1);
		} else {
			lms_sb_putc(b, '\n');
			dump(b, v, indent, 0);
		}
	} else {
		lms_sb_putc(b, ' ');
		put_scalar(b, v);
		lms_sb_putc(b, '\n');
	}
}

/* PyYAML block style: mappings indent their values by 2, sequences inside
 * mappings are not indented ("key:\n- a"). inline_first: the first line
 * continues a "- " already written. */
static void dump(struct lms_sb *b, const struct lms_cfg *n, int indent, int inline_first)
{
	for (size_t k = 0; k < n->n; k++) {
		if (k > 0 || !inline_first)
			pad(b, indent);
		if (n->type == LMS_CFG_MAP) {
			put_str(b, n->keys[k]);
			lms_sb_putc(b, ':');
			dump_value(b, n->kids[k], indent, 0);
		} else {
			lms_sb_putc(b, '-');
			dump_value(b, n->kids[k], indent, 1);
		}
	}
}

enum lms_status lms_cfg_to_yaml(const struct lms_cfg *n, char **out)
{
	struct lms_sb b = {0};
	*out = NULL;
	if (is_empty_container(n))
		lms_sb_puts(&b, n->type == LMS_CFG_MAP ? "{}\n" : "[]\n");
	else if (n->type == LMS_CFG_MAP || n->type == LMS_CFG_SEQ)
		dump(&b, n, 0, 0);
	else {
		put_scalar(&b, n);
		lms_sb_putc(&b, '\n');
	}
	enum lms_status st = lms_sb_status(&b);
	if (st != LMS_OK) {
		lms_sb_free(&b);
		return st;
	}
	*out = lms_sb_take(&b);
	return LMS_OK;
}
