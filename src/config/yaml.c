/* yaml.c — libyaml event stream → lms_cfg tree, with OmegaConf's scalar typing.
 *
 * The loader is a small stack machine over libyaml's events (no libyaml
 * document tree, so limits apply while parsing). Scalar typing transcribes
 * PyYAML's YAML 1.1 implicit resolvers and OmegaConf's added float resolver
 * (reference/config-launch-storage.md §1.6.6) as PCRE2 patterns, tried in
 * PyYAML's order: bool, float, int, null, then OmegaConf's float.
 *
 * Invariants: every node created is either attached to the tree or freed;
 * anchors hold a private copy of their node; an alias expands to a deep copy
 * whose node count is charged against LMS_YAML_MAX_ALIAS_NODES. */
#include "config/yaml.h"

/* Messages and paths are built in fixed buffers; truncating an overlong
 * one is intended (it is reported, never used to reach outside conf/). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/fsutil.h"

/* ---- scalar typing ------------------------------------------------------ */

enum { RE_BOOL, RE_FLOAT_PY, RE_INT, RE_NULL, RE_FLOAT_OC, RE_COUNT };

static const char *const g_patterns[RE_COUNT] = {
    "^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$",
    "^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    "^(?:~|null|Null|NULL|)$",
    "^(?:[-+]?[0-9]+(?:_[0-9]+)*\\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?["
    "0-9]+)"
    "|\\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?|[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\\.[0-9_]*"
    "|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$",
};

static pcre2_code *g_re[RE_COUNT];
static pthread_once_t g_re_once = PTHREAD_ONCE_INIT;

static void compile_patterns(void)
{
	for (int k = 0; k < RE_COUNT; k++) {
		int err;
		PCRE2_SIZE off;
		g_re[k] = pcre2_compile((PCRE2_SPTR)g_patterns[k], PCRE2_ZERO_TERMINATED, 0, &err,
					&off, NULL);
	}
}

static int re_match(int which, const char *s)
{
	pthread_once(&g_re_once, compile_patterns);
	if (!g_re[which])
		return 0;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(g_re[which], NULL);
	if (!md)
		return 0;
	int rc = pcre2_match(g_re[which], (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

enum lms_cfg_type lms_yaml_plain_type(const char *s)
{
	/* Fast path: most strings start with a letter no resolver accepts. */
	char c = s[0];
	int maybe = c == '\0' || strchr("yYnNtTfFoO~-+.0123456789", c) != NULL;
	if (!maybe)
		return strcmp(s, "???") == 0 ? LMS_CFG_MISSING : LMS_CFG_STR;
	if (re_match(RE_BOOL, s))
		return LMS_CFG_BOOL;
	if (re_match(RE_FLOAT_PY, s))
		return LMS_CFG_FLOAT;
	if (re_match(RE_INT, s))
		return LMS_CFG_INT;
	if (re_match(RE_NULL, s))
		return LMS_CFG_NULL;
	if (re_match(RE_FLOAT_OC, s))
		return LMS_CFG_FLOAT;
	return LMS_CFG_STR;
}

/* Copies s without '_' into buf; returns 0 when it does not fit. */
static int strip_underscores(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; *s; s++) {
		if (*s == '_')
			continue;
		if (n + 1 >= cap)
			return 0;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return 1;
}

/* Sexagesimal "1:30:15" (after the sign) → value. */
static double sexagesimal(const char *s)
{
	double v = 0;
	const char *p = s;
	while (*p) {
		char *end;
		double part = strtod(p, &end);
		v = v * 60 + part;
		p = *end == ':' ? end + 1 : end;
		if (end == p && *p)
			break;
	}
	return v;
}

static enum lms_status parse_int(const char *s, long long *out)
{
	char buf[128];
	if (!strip_underscores(s, buf, sizeof buf))
		return lms_fail(LMS_ERR_CONFIG, "use a smaller number", "integer '%s' is too long",
				s);
	const char *p = buf;
	int neg = 0;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	unsigned long long v = 0;
	errno = 0;
	if (strchr(p, ':')) {
		double d = sexagesimal(p);
		if (!(d < 9.2e18))
			errno = ERANGE; /* also NaN; the cast below would be undefined */
		else
			v = (unsigned long long)d;
	} else if (p[0] == '0' && p[1] == 'b') {
		v = strtoull(p + 2, NULL, 2);
	} else if (p[0] == '0' && p[1] == 'x') {
		v = strtoull(p + 2, NULL, 16);
	} else if (p[0] == '0' && p[1]) {
		v = strtoull(p + 1, NULL, 8);
	} else {
		v = strtoull(p, NULL, 10);
	}
	if (errno == ERANGE || v > (unsigned long long)LLONG_MAX + (unsigned long long)neg)
		return lms_fail(LMS_ERR_CONFIG, "integers must fit in 64 bits",
				"integer '%s' is out of range", s);
	*out = neg ? (long long)(0 - v) : (long long)v;
	return LMS_OK;
}

static double parse_float(const char *s)
{
	char buf[256];
	if (!strip_underscores(s, buf, sizeof buf))
		return strtod(s, NULL);
	for (char *q = buf; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	const char *p = buf;
	double sign = 1;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (strcmp(p, ".inf") == 0)
		return sign * INFINITY;
	if (strcmp(p, ".nan") == 0)
		return NAN;
	if (strchr(p, ':'))
		return sign * sexagesimal(p);
	return sign * strtod(p, NULL);
}

enum lms_status lms_yaml_plain_scalar(const char *s, struct lms_cfg **out)
{
	enum lms_cfg_type t = lms_yaml_plain_type(s);
	struct lms_cfg *n = NULL;
	switch (t) {
	case LMS_CFG_BOOL:
		n = lms_cfg_new_bool(0);
		break;
	case LMS_CFG_INT: {
		long long v = 0;
		LMS_TRY(parse_int(s, &v));
		n = lms_cfg_new_int(v);
		break;
	}
	case LMS_CFG_FLOAT:
		n = lms_cfg_new_float(parse_float(s));
		break;
	case LMS_CFG_NULL:
		n = lms_cfg_new(LMS_CFG_NULL);
		break;
	case LMS_CFG_MISSING:
		n = lms_cfg_new(LMS_CFG_MISSING);
		break;
	default:
		n = lms_cfg_new_str(s);
		break;
	}
	if (!n)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	/* yes/true/on in any of their spellings are true; no/false/off false. */
	if (t == LMS_CFG_BOOL)
		n->b = (s[0] == 'y' || s[0] == 'Y' || s[0] == 't' || s[0] == 'T' ||
			((s[0] == 'o' || s[0] == 'O') && (s[1] == 'n' || s[1] == 'N')));
	*out = n;
	return LMS_OK;
}

int lms_yaml_package_directive(const char *text, char *buf, size_t cap)
{
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p;
		while (q < p + len && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < p + len && *q != '#')
			return 0; /* content starts: the header is over */
		if (q < p + len) {
			q++;
			while (q < p + len && (*q == ' ' || *q == '\t'))
				q++;
			if ((size_t)(p + len - q) > 8 && strncmp(q, "@package", 8) == 0 &&
			    (q[8] == ' ' || q[8] == '\t')) {
				q += 8;
				while (q < p + len && (*q == ' ' || *q == '\t'))
					q++;
				size_t n = 0;
				while (q + n < p + len && !isspace((unsigned char)q[n]))
					n++;
				if (n == 0 || n >= cap)
					return 0;
				memcpy(buf, q, n);
				buf[n] = '\0';
				return 1;
			}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return 0;
}

/* ---- the loader --------------------------------------------------------- */

struct frame {
	struct lms_cfg *node;
	char *key;     /* map: the pending key, NULL when a key is expected next */
	int key_merge; /* the pending key is the merge key "<<" */
	int key_line, key_col;
	struct lms_cfg *merges; /* maps to merge in at MAPPING_END (sequence), or NULL */
	char *anchor;		/* anchor of this collection, registered when it ends */
};

struct anchor {
	char *name;
	struct lms_cfg *node; /* NULL while the anchored collection is still open */
};

struct loader {
	const char *name;
	struct frame stack[LMS_YAML_MAX_DEPTH];
	int depth;
	struct lms_cfg *root;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t alias_nodes;
};

static enum lms_status fail_at(const struct loader *L, size_t line0, size_t col0, const char *hint,
			       const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof msg, fmt, arg);
	return lms_fail(LMS_ERR_CONFIG, hint, "%s:%zu:%zu: %s", L->name, line0 + 1, col0 + 1, msg);
}

static size_t count_nodes(const struct lms_cfg *n)
{
	size_t c = 1;
	for (size_t k = 0; k < n->n; k++)
		c += count_nodes(n->kids[k]);
	return c;
}

static struct anchor *find_anchor(struct loader *L, const char *name)
{
	for (size_t k = L->n_anchors; k-- > 0;)
		if (strcmp(L->anchors[k].name, name) == 0)
			return &L->anchors[k];
	return NULL;
}

/* Registers (or re-opens) an anchor; node NULL = still open. node is borrowed (copied). */
static enum lms_status set_anchor(struct loader *L, const char *name, const struct lms_cfg *node)
{
	struct anchor *a = NULL;
	for (size_t k = 0; k < L->n_anchors; k++)
		if (strcmp(L->anchors[k].name, name) == 0)
			a = &L->anchors[k];
	if (!a) {
		if (L->n_anchors == L->cap_anchors) {
			size_t cap = L->cap_anchors ? 2 * L->cap_anchors : 8;
			struct anchor *na = realloc(L->anchors, cap * sizeof *na);
			if (!na)
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			L->anchors = na;
			L->cap_anchors = cap;
		}
		a = &L->anchors[L->n_anchors];
		a->name = strdup(name);
		a->node = NULL;
		if (!a->name)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		L->n_anchors++;
	}
	lms_cfg_free(a->node);
	a->node = NULL;
	if (node && !(a->node = lms_cfg_copy(node)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	return LMS_OK;
}

/* Attaches a finished node to the open collection (or makes it the root).
 * node is stolen. */
static enum lms_status attach(struct loader *L, struct lms_cfg *node, size_t line0, size_t col0)
{
	if (L->depth == 0) {
		L->root = node;
		return LMS_OK;
	}
	struct frame *f = &L->stack[L->depth - 1];
	if (f->node->type == LMS_CFG_SEQ)
		return lms_cfg_seq_push(f->node, node);
	if (!f->key) {
		lms_cfg_free(node);
		return fail_at(L, line0, col0, "write keys as plain strings",
			       "a mapping key must be a scalar%s", "");
	}
	enum lms_status st = LMS_OK;
	if (f->key_merge) {
		if (node->type == LMS_CFG_MAP || node->type == LMS_CFG_SEQ) {
			if (node->type == LMS_CFG_SEQ)
				for (size_t k = 0; k < node->n; k++)
					if (node->kids[k]->type != LMS_CFG_MAP)
						st = fail_at(
						    L, line0, col0,
						    "'<<' takes a mapping or a list of mappings",
						    "merge key '<<' with a list holding %s",
						    lms_cfg_type_name(node->kids[k]->type));
			if (st == LMS_OK) {
				if (!f->merges && !(f->merges = lms_cfg_new(LMS_CFG_SEQ)))
					st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
				else if (node->type == LMS_CFG_MAP) {
					st = lms_cfg_seq_push(f->merges, node);
					node = NULL;
				} else {
					for (size_t k = 0; k < node->n && st == LMS_OK; k++) {
						st = lms_cfg_seq_push(f->merges, node->kids[k]);
						node->kids[k] = NULL;
					}
					node->n = 0;
				}
			}
		} else {
			st = fail_at(L, line0, col0, "'<<' takes a mapping or a list of mappings",
				     "merge key '<<' with %s", lms_cfg_type_name(node->type));
		}
		lms_cfg_free(node);
	} else if (lms_cfg_map_index(f->node, f->key) >= 0) {
		lms_cfg_free(node);
		st = fail_at(L, (size_t)f->key_line, (size_t)f->key_col,
			     "remove one of the two entries", "duplicate key '%s'", f->key);
	} else {
		st = lms_cfg_map_set(f->node, f->key, node);
	}
	free(f->key);
	f->key = NULL;
	f->key_merge = 0;
	return st;
}

static enum lms_status typed_scalar(struct loader *L, const yaml_event_t *ev, struct lms_cfg **out)
{
	const char *v = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t line0 = ev->start_mark.line, col0 = ev->start_mark.column;
	if (strlen(v) != ev->data.scalar.length)
		return fail_at(L, line0, col0, "remove the NUL character",
			       "scalar contains a NUL byte%s", "");
	enum lms_status st = LMS_OK;
	if (!tag || strcmp(tag, "!") == 0) {
		if (!tag && ev->data.scalar.plain_implicit &&
		    ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			st = lms_yaml_plain_scalar(v, out);
		else if (!(*out = (strcmp(v, "???") == 0 ? lms_cfg_new(LMS_CFG_MISSING)
							 : lms_cfg_new_str(v))))
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	} else if (strcmp(tag, YAML_STR_TAG) == 0) {
		if (!(*out = lms_cfg_new_str(v)))
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	} else {
		enum lms_cfg_type want = strcmp(tag, YAML_INT_TAG) == 0	    ? LMS_CFG_INT
					 : strcmp(tag, YAML_FLOAT_TAG) == 0 ? LMS_CFG_FLOAT
					 : strcmp(tag, YAML_BOOL_TAG) == 0  ? LMS_CFG_BOOL
					 : strcmp(tag, YAML_NULL_TAG) == 0  ? LMS_CFG_NULL
									    : LMS_CFG_MAP;
		if (want == LMS_CFG_MAP)
			return fail_at(
			    L, line0, col0,
			    "only !!str, !!int, !!float, !!bool and !!null tags are supported",
			    "unsupported tag '%s'", tag);
		enum lms_cfg_type got = lms_yaml_plain_type(v);
		if (got == LMS_CFG_INT && want == LMS_CFG_FLOAT)
			got = LMS_CFG_FLOAT;
		if (got != want)
			return fail_at(L, line0, col0, "fix the value or remove the tag",
				       "value '%s' does not match its tag", v);
		st = lms_yaml_plain_scalar(v, out);
		if (st == LMS_OK && want == LMS_CFG_FLOAT && (*out)->type == LMS_CFG_INT) {
			(*out)->f = (double)(*out)->i;
			(*out)->type = LMS_CFG_FLOAT;
		}
	}
	if (st == LMS_ERR_CONFIG) /* integer out of range: add the location */
		return lms_error_context("%s:%zu:%zu", L->name, line0 + 1, col0 + 1);
	return st;
}

/* Applies "<<" merges: keys already in the map win; among merged maps the
 * earlier one wins (PyYAML). */
static enum lms_status finish_map(struct frame *f)
{
	if (!f->merges)
		return LMS_OK;
	for (size_t m = 0; m < f->merges->n; m++) {
		const struct lms_cfg *src = f->merges->kids[m];
		for (size_t k = 0; k < src->n; k++) {
			if (lms_cfg_map_index(f->node, src->keys[k]) >= 0)
				continue;
			struct lms_cfg *c = lms_cfg_copy(src->kids[k]);
			if (!c)
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			LMS_TRY(lms_cfg_map_set(f->node, src->keys[k], c));
		}
	}
	return LMS_OK;
}

static enum lms_status on_event(struct loader *L, const yaml_event_t *ev)
{
	size_t line0 = ev->start_mark.line, col0 = ev->start_mark.column;
	struct frame *top = L->depth ? &L->stack[L->depth - 1] : NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		if (top && top->node->type == LMS_CFG_MAP && !top->key) {
			const char *v = (const char *)ev->data.scalar.value;
			if (strlen(v) != ev->data.scalar.length)
				return fail_at(L, line0, col0, "remove the NUL character",
					       "key contains a NUL byte%s", "");
			/* YAML allows implicit keys of at most 1024 characters; a
			 * longer key could not be written back as a plain mapping. */
			if (ev->data.scalar.length > 512)
				return fail_at(L, line0, col0, "use a shorter key",
					       "mapping key longer than 512 bytes%s", "");
			if (!(top->key = strdup(v)))
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			top->key_merge = strcmp(v, "<<") == 0 &&
					 ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			top->key_line = (int)line0;
			top->key_col = (int)col0;
			if (ev->data.scalar.anchor)
				return fail_at(L, line0, col0, "put anchors on values, not keys",
					       "anchor on a key%s", "");
			return LMS_OK;
		}
		struct lms_cfg *n;
		LMS_TRY(typed_scalar(L, ev, &n));
		enum lms_status st = lms_cfg_set_loc(n, L->name, (int)line0 + 1, (int)col0 + 1);
		if (st == LMS_OK && ev->data.scalar.anchor)
			st = set_anchor(L, (const char *)ev->data.scalar.anchor, n);
		if (st != LMS_OK) {
			lms_cfg_free(n);
			return st;
		}
		return attach(L, n, line0, col0);
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		struct anchor *a = find_anchor(L, name);
		if (!a)
			return fail_at(L, line0, col0, "define the anchor (&name) before using it",
				       "unknown alias '*%s'", name);
		if (!a->node)
			return fail_at(L, line0, col0,
				       "an alias cannot refer to a node that contains it",
				       "recursive alias '*%s'", name);
		if (top && top->node->type == LMS_CFG_MAP && !top->key)
			return fail_at(L, line0, col0, "write keys as plain strings",
				       "alias '*%s' used as a mapping key", name);
		L->alias_nodes += count_nodes(a->node);
		if (L->alias_nodes > LMS_YAML_MAX_ALIAS_NODES)
			return fail_at(
			    L, line0, col0, "this file expands aliases too much (a YAML bomb?)",
			    "YAML node expansion exceeds the limit of 100000 nodes at alias '*%s'",
			    name);
		struct lms_cfg *c = lms_cfg_copy(a->node);
		if (!c)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		return attach(L, c, line0, col0);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		if (L->depth >= LMS_YAML_MAX_DEPTH)
			return fail_at(L, line0, col0, "flatten the file",
				       "nesting deeper than %s levels", "64");
		if (top && top->node->type == LMS_CFG_MAP && !top->key)
			return fail_at(L, line0, col0, "write keys as plain strings",
				       "a mapping key must be a scalar%s", "");
		int is_map = ev->type == YAML_MAPPING_START_EVENT;
		struct frame *f = &L->stack[L->depth];
		memset(f, 0, sizeof *f);
		f->node = lms_cfg_new(is_map ? LMS_CFG_MAP : LMS_CFG_SEQ);
		if (!f->node)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		L->depth++;
		const yaml_char_t *anchor =
		    is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
		const yaml_char_t *tag =
		    is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
		if (tag && strcmp((const char *)tag, is_map ? YAML_MAP_TAG : YAML_SEQ_TAG) != 0)
			return fail_at(L, line0, col0, "remove the tag", "unsupported tag '%s'",
				       (const char *)tag);
		LMS_TRY(lms_cfg_set_loc(f->node, L->name, (int)line0 + 1, (int)col0 + 1));
		if (anchor) {
			if (!(f->anchor = strdup((const char *)anchor)))
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			LMS_TRY(set_anchor(L, f->anchor, NULL));
		}
		return LMS_OK;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		struct frame f = L->stack[--L->depth];
		enum lms_status st = ev->type == YAML_MAPPING_END_EVENT ? finish_map(&f) : LMS_OK;
		if (st == LMS_OK && f.anchor)
			st = set_anchor(L, f.anchor, f.node);
		free(f.anchor);
		free(f.key);
		lms_cfg_free(f.merges);
		if (st != LMS_OK) {
			lms_cfg_free(f.node);
			return st;
		}
		return attach(L, f.node, line0, col0);
	}
	default:
		return LMS_OK;
	}
}

static void loader_free(struct loader *L)
{
	while (L->depth > 0) {
		struct frame *f = &L->stack[--L->depth];
		lms_cfg_free(f->node);
		lms_cfg_free(f->merges);
		free(f->key);
		free(f->anchor);
	}
	for (size_t k = 0; k < L->n_anchors; k++) {
		free(L->anchors[k].name);
		lms_cfg_free(L->anchors[k].node);
	}
	free(L->anchors);
	lms_cfg_free(L->root);
}

enum lms_status lms_yaml_load_string(const char *text, size_t len, const char *name,
				     struct lms_cfg **out)
{
	*out = NULL;
	if (len > LMS_YAML_MAX_BYTES)
		return lms_fail(LMS_ERR_INPUT, "config files must be small YAML files",
				"%s is %zu bytes, more than the limit of %u", name, len,
				LMS_YAML_MAX_BYTES);
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory initializing the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	struct loader L = {.name = name};
	enum lms_status st = LMS_OK;
	int docs = 0, done = 0;
	while (!done && st == LMS_OK) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			st = lms_fail(LMS_ERR_CONFIG, "fix the YAML syntax at that place",
				      "%s:%zu:%zu: invalid YAML: %s%s%s", name,
				      parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				      parser.problem ? parser.problem : "syntax error",
				      parser.context ? " " : "",
				      parser.context ? parser.context : "");
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
			st = fail_at(&L, ev.start_mark.line, ev.start_mark.column,
				     "put one document per file", "more than one YAML document%s",
				     "");
		else if (ev.type == YAML_STREAM_END_EVENT)
			done = 1;
		else
			st = on_event(&L, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (st == LMS_OK) {
		*out = L.root ? L.root : lms_cfg_new(LMS_CFG_MAP);
		L.root = NULL;
		if (!*out)
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		else if ((*out)->type == LMS_CFG_NULL) { /* a document holding only a comment */
			lms_cfg_free(*out);
			*out = lms_cfg_new(LMS_CFG_MAP);
		}
	}
	loader_free(&L);
	return st;
}

enum lms_status lms_yaml_load_file(const char *path, struct lms_cfg **out)
{
	*out = NULL;
	char *text;
	size_t len;
	LMS_TRY(lms_read_file(path, LMS_YAML_MAX_BYTES, "YAML file", &text, &len));
	enum lms_status st = lms_yaml_load_string(text, len, path, out);
	free(text);
	return st;
}
