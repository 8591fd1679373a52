/* override.c — Hydra's override grammar as a recursive-descent parser.
 *
 * The value parser works on a cursor over the text after '='. Top level:
 * element (',' element)* → a choice sweep when there is more than one; a
 * function call choice()/range()/glob() → a sweep. Elements are lists,
 * dicts, quoted strings or primitives. A primitive runs to the next
 * unescaped ',', ']', '}', ')' (or ':' inside a dict key) outside any
 * `${...}`; its type follows the lexer's token rules (see override.h).
 *
 * Invariant: every node built is attached to *out or freed; errors name the
 * whole argument and the column of the problem. */
#include "config/override.h"

/* Messages and paths are built in fixed buffers; truncating an overlong
 * one is intended (it is reported, never used to reach outside conf/). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/strbuf.h"

struct cur {
	const char *s; /* the value text */
	size_t p;
	const char *arg; /* the whole argument, for messages */
	size_t base;	 /* offset of s within arg */
	int depth;
};

#define MAX_VALUE_DEPTH 32

static enum lms_status perr(const struct cur *c, const char *what)
{
	return lms_fail(LMS_ERR_USAGE,
			"quote the value in the shell and in Hydra syntax, e.g. 'key=\"a,b\"' "
			"(see docs/config.md, Overrides)",
			"Error parsing override '%s': %s at column %zu", c->arg, what,
			c->base + c->p + 1);
}

static void skip_ws(struct cur *c)
{
	while (c->s[c->p] == ' ' || c->s[c->p] == '\t')
		c->p++;
}

static int is_digit_run(const char *s, size_t *n, int allow_underscore)
{
	size_t k = 0;
	if (!isdigit((unsigned char)s[0]))
		return 0;
	while (isdigit((unsigned char)s[k]) ||
	       (allow_underscore && s[k] == '_' && isdigit((unsigned char)s[k + 1])))
		k++;
	*n = k;
	return 1;
}

/* Hydra lexer INT: [+-]?('0'|[1-9]('_'?DIGIT)*) */
static int lex_int(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (s[0] == '0')
		return s[1] == '\0';
	size_t n;
	return s[0] >= '1' && s[0] <= '9' && is_digit_run(s, &n, 1) && s[n] == '\0';
}

/* Hydra lexer FLOAT: point float, exponent float, inf, nan (any case). */
static int lex_float(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "nan") == 0)
		return 1;
	size_t n = 0, k = 0;
	int have_int = is_digit_run(s, &n, 1), have_frac = 0, have_point = 0;
	k = have_int ? n : 0;
	if (s[k] == '.') {
		have_point = 1;
		k++;
		if (is_digit_run(s + k, &n, 1)) {
			have_frac = 1;
			k += n;
		}
	}
	if (!have_int && !have_frac)
		return 0;
	int point_float = have_point && (have_frac || have_int);
	if (s[k] == 'e' || s[k] == 'E') {
		k++;
		if (s[k] == '+' || s[k] == '-')
			k++;
		if (!is_digit_run(s + k, &n, 0))
			return 0;
		return s[k + n] == '\0';
	}
	return point_float && s[k] == '\0';
}

/* Types an unquoted primitive the way Hydra's lexer does. */
static struct lms_cfg *type_primitive(const char *t, int had_escape)
{
	if (!had_escape) {
		if (strcasecmp(t, "true") == 0 || strcasecmp(t, "false") == 0)
			return lms_cfg_new_bool(strcasecmp(t, "true") == 0);
		if (strcasecmp(t, "null") == 0)
			return lms_cfg_new(LMS_CFG_NULL);
		if (lex_int(t)) {
			char buf[64];
			size_t n = 0;
			for (const char *q = t; *q && n + 1 < sizeof buf; q++)
				if (*q != '_')
					buf[n++] = *q;
			buf[n] = '\0';
			char *end;
			errno = 0;
			long long v = strtoll(buf, &end, 10);
			if (errno == 0)
				return lms_cfg_new_int(v);
		}
		if (lex_float(t)) {
			char buf[128];
			size_t n = 0;
			for (const char *q = t; *q && n + 1 < sizeof buf; q++)
				if (*q != '_')
					buf[n++] = *q;
			buf[n] = '\0';
			return lms_cfg_new_float(strtod(buf, NULL));
		}
		if (strcmp(t, "???") == 0)
			return lms_cfg_new(LMS_CFG_MISSING);
	}
	return lms_cfg_new_str(t);
}

static enum lms_status parse_element(struct cur *c, int in_dict_key, struct lms_cfg **out);

static enum lms_status parse_quoted(struct cur *c, struct lms_cfg **out)
{
	char q = c->s[c->p++];
	struct lms_sb b = {0};
	for (;;) {
		char ch = c->s[c->p];
		if (ch == '\0') {
			lms_sb_free(&b);
			return perr(c, "unterminated quoted string");
		}
		c->p++;
		if (ch == q)
			break;
		if (ch == '\\' && (c->s[c->p] == q || c->s[c->p] == '\\')) {
			/* \' → '; a run of backslashes before a quote is halved */
			lms_sb_putc(&b, c->s[c->p++]);
			continue;
		}
		lms_sb_putc(&b, ch);
	}
	enum lms_status st = lms_sb_status(&b);
	char *s = lms_sb_take(&b);
	if (st == LMS_OK && !(*out = lms_cfg_new_str(s)))
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	free(s);
	return st;
}

static enum lms_status parse_primitive(struct cur *c, int in_dict_key, struct lms_cfg **out)
{
	struct lms_sb b = {0};
	int interp = 0, escaped = 0;
	size_t start = c->p;
	for (;;) {
		char ch = c->s[c->p];
		if (ch == '\0')
			break;
		if (interp == 0 && (ch == ',' || ch == ']' || ch == '}' || ch == ')' ||
				    (in_dict_key && ch == ':') || ch == '[' || ch == '{' ||
				    ch == '(' || ch == '\'' || ch == '"')) {
			if (ch == '[' || ch == '{' || ch == '(' || ch == '\'' || ch == '"') {
				lms_sb_free(&b);
				return perr(
				    c,
				    "unexpected character (quote the value to make it a string)");
			}
			break;
		}
		if (ch == '\\' && interp == 0 && c->s[c->p + 1] &&
		    strchr("\\()[]{}:=, \t", c->s[c->p + 1])) {
			lms_sb_putc(&b, c->s[c->p + 1]);
			c->p += 2;
			escaped = 1;
			continue;
		}
		if (ch == '$' && c->s[c->p + 1] == '{') {
			interp++;
			lms_sb_puts(&b, "${");
			c->p += 2;
			continue;
		}
		if (interp > 0 && ch == '{')
			interp++;
		if (interp > 0 && ch == '}')
			interp--;
		lms_sb_putc(&b, ch);
		c->p++;
	}
	if (interp > 0) {
		lms_sb_free(&b);
		return perr(c, "unterminated interpolation '${'");
	}
	enum lms_status st = lms_sb_status(&b);
	char *t = lms_sb_take(&b);
	if (st != LMS_OK) {
		free(t);
		return st;
	}
	/* trim surrounding whitespace (escaped whitespace was kept by the copy above) */
	size_t len = strlen(t), a = 0;
	while (a < len && (t[a] == ' ' || t[a] == '\t'))
		a++;
	while (len > a && (t[len - 1] == ' ' || t[len - 1] == '\t') &&
	       !(escaped && c->p > start && c->s[c->p - 2] == '\\'))
		len--;
	t[len] = '\0';
	*out = type_primitive(t + a, escaped);
	free(t);
	return *out ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
}

static enum lms_status parse_list(struct cur *c, struct lms_cfg **out)
{
	c->p++; /* '[' */
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	if (!seq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	skip_ws(c);
	if (c->s[c->p] == ']') {
		c->p++;
		*out = seq;
		return LMS_OK;
	}
	for (;;) {
		struct lms_cfg *e = NULL;
		enum lms_status st = parse_element(c, 0, &e);
		if (st == LMS_OK)
			st = lms_cfg_seq_push(seq, e);
		if (st != LMS_OK) {
			lms_cfg_free(seq);
			return st;
		}
		skip_ws(c);
		if (c->s[c->p] == ',') {
			c->p++;
			continue;
		}
		if (c->s[c->p] == ']') {
			c->p++;
			*out = seq;
			return LMS_OK;
		}
		lms_cfg_free(seq);
		return perr(c, "expected ',' or ']' in a list");
	}
}

static enum lms_status parse_dict(struct cur *c, struct lms_cfg **out)
{
	c->p++; /* '{' */
	struct lms_cfg *map = lms_cfg_new(LMS_CFG_MAP);
	if (!map)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	skip_ws(c);
	if (c->s[c->p] == '}') {
		c->p++;
		*out = map;
		return LMS_OK;
	}
	for (;;) {
		struct lms_cfg *k = NULL, *v = NULL;
		skip_ws(c);
		enum lms_status st = parse_primitive(c, 1, &k);
		if (st == LMS_OK && c->s[c->p] != ':')
			st = perr(c, "expected ':' after a dict key");
		if (st == LMS_OK) {
			c->p++;
			st = parse_element(c, 0, &v);
		}
		char kt[256];
		if (st == LMS_OK && k->type == LMS_CFG_STR && strlen(k->s) >= sizeof kt)
			st = perr(c, "dict key longer than 255 bytes");
		if (st == LMS_OK) {
			lms_cfg_scalar_text(k, kt, sizeof kt);
			st = lms_cfg_map_set(map, kt, v);
			v = NULL;
		}
		lms_cfg_free(k);
		lms_cfg_free(v);
		if (st != LMS_OK) {
			lms_cfg_free(map);
			return st;
		}
		skip_ws(c);
		if (c->s[c->p] == ',') {
			c->p++;
			continue;
		}
		if (c->s[c->p] == '}') {
			c->p++;
			*out = map;
			return LMS_OK;
		}
		lms_cfg_free(map);
		return perr(c, "expected ',' or '}' in a dict");
	}
}

static enum lms_status parse_element(struct cur *c, int in_dict_key, struct lms_cfg **out)
{
	if (++c->depth > MAX_VALUE_DEPTH)
		return perr(c, "value nested too deeply");
	skip_ws(c);
	enum lms_status st;
	char ch = c->s[c->p];
	if (ch == '[')
		st = parse_list(c, out);
	else if (ch == '{')
		st = parse_dict(c, out);
	else if (ch == '\'' || ch == '"')
		st = parse_quoted(c, out);
	else
		st = parse_primitive(c, in_dict_key, out);
	c->depth--;
	if (st == LMS_OK) {
		skip_ws(c);
		if (ch == '\'' || ch == '"' || ch == '[' || ch == '{') {
			char nx = c->s[c->p];
			if (nx && nx != ',' && nx != ']' && nx != '}' && nx != ')') {
				lms_cfg_free(*out);
				*out = NULL;
				return perr(c,
					    "unexpected text after a quoted string, list or dict");
			}
		}
	}
	return st;
}

/* Parses "elem, elem, ..." up to ')' or the end into a sequence. */
static enum lms_status parse_args(struct cur *c, char close, struct lms_cfg **out, char **kw_names)
{
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	if (!seq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t nkw = 0;
	for (;;) {
		skip_ws(c);
		if (close && c->s[c->p] == close && seq->n == 0)
			break;
		/* keyword argument "name=" (glob's exclude=) */
		size_t q = c->p;
		while (isalnum((unsigned char)c->s[q]) || c->s[q] == '_')
			q++;
		if (kw_names && q > c->p && c->s[q] == '=' && nkw < 4 && seq->n < 64) {
			kw_names[seq->n] = strndup(c->s + c->p, q - c->p);
			c->p = q + 1;
			nkw++;
		}
		struct lms_cfg *e = NULL;
		enum lms_status st = parse_element(c, 0, &e);
		if (st == LMS_OK)
			st = lms_cfg_seq_push(seq, e);
		if (st != LMS_OK) {
			lms_cfg_free(seq);
			return st;
		}
		skip_ws(c);
		if (c->s[c->p] == ',') {
			c->p++;
			continue;
		}
		break;
	}
	if (close) {
		if (c->s[c->p] != close) {
			lms_cfg_free(seq);
			return perr(c, "expected ')'");
		}
		c->p++;
	}
	*out = seq;
	return LMS_OK;
}

static int num_of(const struct lms_cfg *v, double *d, int *is_float)
{
	if (v->type == LMS_CFG_INT) {
		*d = (double)v->i;
		return 1;
	}
	if (v->type == LMS_CFG_FLOAT) {
		*d = v->f;
		*is_float = 1;
		return isfinite(v->f);
	}
	return 0;
}

static enum lms_status expand_range(struct cur *c, struct lms_cfg *args, struct lms_cfg **out)
{
	double a = 0, b = 0, step = 1;
	int fl = 0;
	int ok = args->n >= 1 && args->n <= 3;
	if (ok && args->n == 1)
		ok = num_of(args->kids[0], &b, &fl);
	else if (ok)
		ok = num_of(args->kids[0], &a, &fl) && num_of(args->kids[1], &b, &fl) &&
		     (args->n < 3 || num_of(args->kids[2], &step, &fl));
	if (!ok || step == 0)
		return perr(c, "range() takes (stop), (start, stop) or (start, stop, step) "
			       "numbers, step != 0");
	if (!fl && (fabs(a) > 9e15 || fabs(b) > 9e15 || fabs(step) > 9e15))
		return perr(c, "range() bounds beyond ±9e15");
	double count = ceil((b - a) / step);
	if (!(count <= 100000))
		return perr(c, "range() with more than 100000 values");
	if (count < 0)
		count = 0; /* an empty range, as Python's */
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	if (!seq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (long k = 0; k < (long)count; k++) {
		double v = a + (double)k * step;
		struct lms_cfg *e = fl ? lms_cfg_new_float(v) : lms_cfg_new_int((long long)v);
		if (!e || lms_cfg_seq_push(seq, e) != LMS_OK) {
			lms_cfg_free(seq);
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		}
	}
	*out = seq;
	return LMS_OK;
}

static enum lms_status to_str_seq(struct cur *c, const struct lms_cfg *v, struct lms_cfg **out)
{
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	if (!seq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t n = v->type == LMS_CFG_SEQ ? v->n : 1;
	for (size_t k = 0; k < n; k++) {
		const struct lms_cfg *e = v->type == LMS_CFG_SEQ ? v->kids[k] : v;
		if (e->type != LMS_CFG_STR) {
			lms_cfg_free(seq);
			return perr(c, "glob() patterns must be strings");
		}
		if (lms_cfg_seq_push(seq, lms_cfg_new_str(e->s)) != LMS_OK) {
			lms_cfg_free(seq);
			return LMS_ERR_NOMEM;
		}
	}
	*out = seq;
	return LMS_OK;
}

static enum lms_status parse_value(struct cur *c, struct lms_override *o)
{
	skip_ws(c);
	/* sweep functions */
	static const char *const fns[] = {"choice", "range", "glob",	"interval",
					  "tag",    "sort",  "shuffle", "extend_list"};
	for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
		size_t l = strlen(fns[f]);
		if (strncmp(c->s + c->p, fns[f], l) != 0 || c->s[c->p + l] != '(')
			continue;
		if (f >= 3)
			return lms_fail(LMS_ERR_USAGE, "use a,b,c, choice(), range() or glob()",
					"BasicSweeper does not support sweep type : %s (in '%s')",
					fns[f], c->arg);
		c->p += l + 1;
		struct lms_cfg *args = NULL;
		char *kw[64] = {0};
		enum lms_status st = parse_args(c, ')', &args, f == 2 ? kw : NULL);
		if (st != LMS_OK) {
			for (size_t k = 0; k < 64; k++)
				free(kw[k]);
			return st;
		}
		if (f == 0) {
			o->sweep = LMS_SWEEP_CHOICE;
			o->sweep_values = args;
			args = NULL;
		} else if (f == 1) {
			o->sweep = LMS_SWEEP_RANGE;
			st = expand_range(c, args, &o->sweep_values);
		} else {
			o->sweep = LMS_SWEEP_GLOB;
			for (size_t k = 0; k < args->n && st == LMS_OK; k++) {
				if (k < 64 && kw[k] && strcmp(kw[k], "exclude") == 0)
					st = o->glob_exclude
						 ? perr(c, "glob() takes one exclude list")
						 : to_str_seq(c, args->kids[k], &o->glob_exclude);
				else if (k >= 64 || !kw[k] || strcmp(kw[k], "include") == 0)
					st = o->glob_include
						 ? perr(c, "glob() takes one include list")
						 : to_str_seq(c, args->kids[k], &o->glob_include);
				else
					st = perr(c, "glob() knows only include= and exclude=");
			}
			if (st == LMS_OK && !o->glob_include)
				st = perr(c, "glob() needs an include pattern");
		}
		for (size_t k = 0; k < 64; k++)
			free(kw[k]);
		lms_cfg_free(args);
		if (st == LMS_OK) {
			skip_ws(c);
			if (c->s[c->p])
				st = perr(c, "unexpected text after the sweep");
		}
		return st;
	}
	struct lms_cfg *args = NULL;
	LMS_TRY(parse_args(c, 0, &args, NULL));
	if (c->s[c->p]) {
		lms_cfg_free(args);
		return perr(c, "unexpected character");
	}
	if (args->n == 1) {
		o->value = args->kids[0];
		args->n = 0;
		lms_cfg_free(args);
	} else {
		o->sweep = LMS_SWEEP_CHOICE;
		o->sweep_values = args;
	}
	return LMS_OK;
}

static int valid_key(const char *k)
{
	/* segments of [A-Za-z_$][A-Za-z0-9_-]* (or digits, for list indices) separated by '.' or
	 * '/' */
	if (!*k)
		return 0;
	const char *p = k;
	while (*p) {
		const char *s = p;
		while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
			p++;
		if (p == s)
			return 0;
		if (*p == '.' || *p == '/') {
			p++;
			if (!*p)
				return 0;
		} else if (*p) {
			return 0;
		}
	}
	return 1;
}

enum lms_status lms_override_parse(const char *arg, struct lms_override *o)
{
	memset(o, 0, sizeof *o);
	if (!(o->text = strdup(arg)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	const char *p = arg;
	if (p[0] == '~') {
		o->kind = LMS_OVR_DELETE;
		p++;
	} else if (p[0] == '+' && p[1] == '+') {
		o->kind = LMS_OVR_FORCE_ADD;
		p += 2;
	} else if (p[0] == '+') {
		o->kind = LMS_OVR_ADD;
		p++;
	}
	const char *eq = strchr(p, '=');
	size_t klen = eq ? (size_t)(eq - p) : strlen(p);
	char *key = strndup(p, klen);
	if (!key)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	/* trim spaces around the key */
	char *kb = key;
	while (*kb == ' ')
		kb++;
	size_t kl = strlen(kb);
	while (kl && kb[kl - 1] == ' ')
		kb[--kl] = '\0';
	char *at = strchr(kb, '@');
	if (at) {
		*at = '\0';
		o->pkg = strdup(at + 1);
	}
	o->key = strdup(kb);
	free(key);
	if (!o->key || (at && !o->pkg))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (!valid_key(o->key) || (o->pkg && !valid_key(o->pkg)))
		return lms_fail(
		    LMS_ERR_USAGE,
		    "keys are dotted names (a.b.c) or group paths (a/b), optionally with @package",
		    "Error parsing override '%s': invalid key '%.*s'", arg, (int)klen, p);
	if (!eq) {
		if (o->kind == LMS_OVR_DELETE) {
			o->value_text = strdup("");
			return o->value_text ? LMS_OK
					     : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		}
		return lms_fail(
		    LMS_ERR_USAGE, "write overrides as key=value (flags start with '-')",
		    "Error parsing override '%s': missing '=' (expected key=value)", arg);
	}
	if (!(o->value_text = strdup(eq + 1)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	struct cur c = {.s = eq + 1, .arg = arg, .base = (size_t)(eq + 1 - arg)};
	if (eq[1] == '\0') { /* key= : the empty string */
		o->value = lms_cfg_new_str("");
		return o->value ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	LMS_TRY(parse_value(&c, o));
	if (o->sweep && o->kind == LMS_OVR_DELETE)
		return lms_fail(LMS_ERR_USAGE, "delete one key at a time",
				"Error parsing override '%s': a deletion cannot sweep", arg);
	return LMS_OK;
}

void lms_override_clear(struct lms_override *o)
{
	if (!o)
		return;
	free(o->text);
	free(o->key);
	free(o->pkg);
	free(o->value_text);
	lms_cfg_free(o->value);
	lms_cfg_free(o->sweep_values);
	lms_cfg_free(o->glob_include);
	lms_cfg_free(o->glob_exclude);
	memset(o, 0, sizeof *o);
}

enum lms_status lms_override_parse_value(const char *text, struct lms_cfg **out)
{
	*out = NULL;
	size_t n = strlen(text);
	char *arg = malloc(n + 3);
	if (!arg)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	memcpy(arg, "v=", 2);
	memcpy(arg + 2, text, n + 1);
	struct lms_override o;
	enum lms_status st = lms_override_parse(arg, &o);
	free(arg);
	if (st == LMS_OK && o.sweep)
		st = lms_fail(LMS_ERR_USAGE, "quote the value", "'%s' is a sweep, not a value",
			      text);
	if (st == LMS_OK) {
		*out = o.value;
		o.value = NULL;
	}
	lms_override_clear(&o);
	return st;
}

/* Whether an interpolation whose "${" ends just before p closes within the
 * string, counting braces as parse_primitive does. */
static int interp_closes(const char *p)
{
	int depth = 1;
	for (; *p; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return 1;
	}
	return 0;
}

static void value_text(struct lms_sb *b, const struct lms_cfg *v, int top)
{
	char buf[128];
	switch (v->type) {
	case LMS_CFG_SEQ:
		lms_sb_putc(b, '[');
		for (size_t k = 0; k < v->n; k++) {
			if (k)
				lms_sb_putc(b, ',');
			value_text(b, v->kids[k], 0);
		}
		lms_sb_putc(b, ']');
		return;
	case LMS_CFG_MAP:
		lms_sb_putc(b, '{');
		for (size_t k = 0; k < v->n; k++) {
			if (k)
				lms_sb_putc(b, ',');
			/* Keys are unquoted: escape the grammar's special characters,
			 * except inside a closed ${...}, which the parser reads
			 * verbatim (an unclosed one, from an escaped "$\{", is
			 * written escaped again). */
			int interp = 0;
			for (const char *q = v->keys[k]; *q; q++) {
				if (q[0] == '$' && q[1] == '{' && (interp > 0 || interp_closes(q + 2))) {
					interp++;
					lms_sb_puts(b, "${");
					q++;
					continue;
				}
				if (interp > 0 && *q == '{')
					interp++;
				else if (interp > 0 && *q == '}')
					interp--;
				else if (interp == 0 && strchr("\\()[]{}:=, \t", *q))
					lms_sb_putc(b, '\\');
				lms_sb_putc(b, *q);
			}
			lms_sb_putc(b, ':');
			value_text(b, v->kids[k], 0);
		}
		lms_sb_putc(b, '}');
		return;
	case LMS_CFG_STR: {
		struct lms_cfg *re = NULL;
		enum lms_status pst = v->s[0] ? lms_override_parse_value(v->s, &re) : LMS_OK;
		int plain = v->s[0] && pst == LMS_OK && re->type == LMS_CFG_STR &&
			    strcmp(re->s, v->s) == 0 && !strchr(v->s, '\\');
		lms_cfg_free(re);
		if (pst == LMS_ERR_NOMEM)
			b->oom = 1; /* not "needs quotes": the text would change */
		lms_error_clear();
		if (plain && !(top == 0 && strchr(v->s, ':'))) {
			lms_sb_puts(b, v->s);
			return;
		}
		lms_sb_putc(b, '\'');
		for (const char *p = v->s; *p; p++) {
			if (*p == '\'' || *p == '\\')
				lms_sb_putc(b, '\\');
			lms_sb_putc(b, *p);
		}
		lms_sb_putc(b, '\'');
		return;
	}
	case LMS_CFG_FLOAT:
		/* Hydra spells them inf, -inf, nan (YAML's .inf would be a string) */
		if (isnan(v->f) || isinf(v->f)) {
			lms_sb_puts(b, isnan(v->f) ? "nan" : v->f < 0 ? "-inf" : "inf");
			return;
		}
		lms_cfg_scalar_text(v, buf, sizeof buf);
		lms_sb_puts(b, buf);
		return;
	default:
		lms_cfg_scalar_text(v, buf, sizeof buf);
		lms_sb_puts(b, buf);
		return;
	}
}

enum lms_status lms_override_value_text(const struct lms_cfg *v, char **out)
{
	struct lms_sb b = {0};
	value_text(&b, v, 1);
	enum lms_status st = lms_sb_status(&b);
	*out = lms_sb_take(&b);
	if (st == LMS_OK && !*out)
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	return st;
}

int lms_glob_match(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, 0) == 0;
}
