/* interp.c — lazy OmegaConf interpolation over an lms_cfg tree (interp.h).
 *
 * resolve_node walks a subtree and copies it; a string with "${" is
 * evaluated by eval_string, which splits it into text and `${...}` parts;
 * eval_interp evaluates one part: a resolver call when a top-level ':' is
 * present, else a node path (absolute, or relative with leading dots, after
 * evaluating nested interpolations inside the path).
 *
 * Invariant: `stack` holds the key paths being resolved, so a reference back
 * into it is reported as a cycle instead of recursing forever. */
#include "config/interp.h"

/* Messages and paths are built in fixed buffers; truncating an overlong
 * one is intended (it is reported, never used to reach outside conf/). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <stdlib.h>
#include <string.h>

#include "config/strbuf.h"

#define MAX_STACK 64

struct rctx {
	const struct lms_cfg *root;
	const struct lms_resolve_ctx *ctx;
	const char *stack[MAX_STACK];
	int depth;
	const char *where; /* the key whose value is being resolved, for messages */
};

static enum lms_status resolve_node(struct rctx *R, const struct lms_cfg *n, const char *path,
				    struct lms_cfg **out);

int lms_cfg_has_interp(const char *s)
{
	return s && strstr(s, "${") != NULL;
}

static enum lms_status ierr(const struct rctx *R, const char *hint, const char *fmt, const char *a)
{
	char msg[512];
	snprintf(msg, sizeof msg, fmt, a);
	return lms_fail(LMS_ERR_CONFIG, hint, "%s (while resolving '%s')", msg, R->where);
}

/* Python str() of a scalar, for concatenations. */
static void py_str(struct lms_sb *b, const struct lms_cfg *v)
{
	char buf[128];
	switch (v->type) {
	case LMS_CFG_BOOL:
		lms_sb_puts(b, v->b ? "True" : "False");
		break;
	case LMS_CFG_NULL:
		lms_sb_puts(b, "None");
		break;
	case LMS_CFG_STR:
		lms_sb_puts(b, v->s);
		break;
	case LMS_CFG_FLOAT:
		lms_cfg_scalar_text(v, buf, sizeof buf);
		lms_sb_puts(b, strcmp(buf, ".inf") == 0	   ? "inf"
			       : strcmp(buf, "-.inf") == 0 ? "-inf"
			       : strcmp(buf, ".nan") == 0  ? "nan"
							   : buf);
		break;
	default:
		lms_cfg_scalar_text(v, buf, sizeof buf);
		lms_sb_puts(b, buf);
		break;
	}
}

/* Index just past the '}' matching the "${" at s[i]; 0 when unterminated. */
static size_t match_close(const char *s, size_t i)
{
	int depth = 0;
	char q = 0;
	for (size_t k = i; s[k]; k++) {
		if (q) {
			if (s[k] == '\\' && s[k + 1])
				k++;
			else if (s[k] == q)
				q = 0;
			continue;
		}
		if (depth > 0 && (s[k] == '\'' || s[k] == '"'))
			q = s[k];
		else if (s[k] == '$' && s[k + 1] == '{') {
			depth++;
			k++;
		} else if (s[k] == '{' && depth > 0)
			depth++;
		else if (s[k] == '}' && depth > 0 && --depth == 0)
			return k + 1;
	}
	return 0;
}

static enum lms_status eval_string(struct rctx *R, const char *s, const char *parent,
				   struct lms_cfg **out);

/* Turns "a.b", ".x", "..y" (relative to the container `parent`) into an absolute path. */
static enum lms_status abs_path(struct rctx *R, const char *key, const char *parent, char *buf,
				size_t cap)
{
	if (key[0] != '.') {
		snprintf(buf, cap, "%s", key);
		return LMS_OK;
	}
	size_t dots = 0;
	while (key[dots] == '.')
		dots++;
	char base[1024];
	snprintf(base, sizeof base, "%s", parent);
	for (size_t k = 1; k < dots; k++) {
		char *cut = strrchr(base, '.');
		char *br = strrchr(base, '[');
		if (br && (!cut || br > cut))
			cut = br;
		if (!cut && !base[0])
			return ierr(R, "there are more leading dots than parent levels",
				    "relative interpolation '${%s}' goes above the root", key);
		if (cut)
			*cut = '\0';
		else
			base[0] = '\0';
	}
	snprintf(buf, cap, "%s%s%s", base, base[0] && key[dots] ? "." : "", key + dots);
	return LMS_OK;
}

static enum lms_status lookup(struct rctx *R, const char *path, struct lms_cfg **out)
{
	const struct lms_cfg *n = lms_cfg_find(R->root, path);
	if (!n)
		return ierr(R, "check the key path; 'lmsens --cfg job' prints the composed config",
			    "Interpolation key '%s' not found", path);
	if (n->type == LMS_CFG_MISSING)
		return ierr(R, "set the value on the command line (key=value)",
			    "MissingMandatoryValue while resolving interpolation: Missing "
			    "mandatory value: %s",
			    path);
	for (int k = 0; k < R->depth; k++)
		if (strcmp(R->stack[k], path) == 0)
			return ierr(R, "two values refer to each other; break the loop",
				    "interpolation cycle through '%s'", path);
	if (R->depth >= MAX_STACK)
		return ierr(R, "simplify the chain of interpolations",
			    "interpolations nested deeper than %s", "64");
	R->stack[R->depth++] = path;
	enum lms_status st = resolve_node(R, n, path, out);
	R->depth--;
	return st;
}

/* Splits resolver arguments at top-level commas and evaluates each. */
static enum lms_status eval_args(struct rctx *R, const char *a, const char *parent,
				 struct lms_cfg **args)
{
	struct lms_cfg *seq = lms_cfg_new(LMS_CFG_SEQ);
	if (!seq)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	size_t i = 0, len = strlen(a);
	while (i <= len && len > 0) {
		size_t j = i;
		char q = 0;
		while (j < len) {
			if (q) {
				if (a[j] == q)
					q = 0;
			} else if (a[j] == '\'' || a[j] == '"') {
				q = a[j];
			} else if (a[j] == '$' && a[j + 1] == '{') {
				size_t e = match_close(a, j);
				if (!e)
					break;
				j = e;
				continue;
			} else if (a[j] == ',') {
				break;
			}
			j++;
		}
		char *arg = strndup(a + i, j - i);
		if (!arg) {
			lms_cfg_free(seq);
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		}
		char *s = arg;
		while (*s == ' ')
			s++;
		size_t l = strlen(s);
		while (l && s[l - 1] == ' ')
			s[--l] = '\0';
		struct lms_cfg *v = NULL;
		enum lms_status st = LMS_OK;
		if (l >= 2 && (s[0] == '\'' || s[0] == '"') && s[l - 1] == s[0]) {
			s[l - 1] = '\0';
			st = eval_string(R, s + 1, parent, &v);
		} else if (strcmp(s, "null") == 0) {
			v = lms_cfg_new(LMS_CFG_NULL);
		} else {
			st = eval_string(R, s, parent, &v);
		}
		free(arg);
		if (st == LMS_OK && !v)
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		if (st == LMS_OK)
			st = lms_cfg_seq_push(seq, v);
		if (st != LMS_OK) {
			lms_cfg_free(seq);
			return st;
		}
		i = j + 1;
	}
	*args = seq;
	return LMS_OK;
}

static enum lms_status arg_str(struct rctx *R, const struct lms_cfg *args, size_t k,
			       const char *resolver, char *buf, size_t cap)
{
	if (k >= args->n)
		return ierr(R, "see docs/config.md, Interpolation",
			    "resolver '%s' is missing an argument", resolver);
	struct lms_sb b = {0};
	py_str(&b, args->kids[k]);
	LMS_TRY(lms_sb_status(&b));
	snprintf(buf, cap, "%s", b.s ? b.s : "");
	lms_sb_free(&b);
	return LMS_OK;
}

static enum lms_status call_resolver(struct rctx *R, const char *name, const char *argtext,
				     const char *parent, struct lms_cfg **out)
{
	struct lms_cfg *args = NULL;
	LMS_TRY(eval_args(R, argtext, parent, &args));
	char a0[1024];
	enum lms_status st = LMS_OK;
	if (strcmp(name, "oc.env") == 0) {
		st = arg_str(R, args, 0, name, a0, sizeof a0);
		const char *v = st == LMS_OK ? getenv(a0) : NULL;
		if (st != LMS_OK) {
		} else if (v) {
			*out = lms_cfg_new_str(v);
		} else if (args->n >= 2) {
			if (args->kids[1]->type == LMS_CFG_NULL)
				*out = lms_cfg_new(LMS_CFG_NULL);
			else {
				char d[1024];
				st = arg_str(R, args, 1, name, d, sizeof d);
				if (st == LMS_OK)
					*out = lms_cfg_new_str(d);
			}
		} else {
			st = ierr(R, "set the variable or give a default: ${oc.env:VAR,default}",
				  "Environment variable '%s' not found", a0);
		}
	} else if (strcmp(name, "oc.select") == 0 || strcmp(name, "hydra") == 0) {
		st = arg_str(R, args, 0, name, a0, sizeof a0);
		char path[1100];
		if (st == LMS_OK) {
			if (name[0] == 'h')
				snprintf(path, sizeof path, "hydra.%s", a0);
			else
				st = abs_path(R, a0, parent, path, sizeof path);
		}
		if (st == LMS_OK) {
			const struct lms_cfg *n = lms_cfg_find(R->root, path);
			if (name[0] == 'o' && (!n || n->type == LMS_CFG_MISSING))
				*out = args->n >= 2 ? lms_cfg_copy(args->kids[1])
						    : lms_cfg_new(LMS_CFG_NULL);
			else
				st = lookup(R, path, out);
		}
	} else if (strcmp(name, "now") == 0) {
		st = arg_str(R, args, 0, name, a0, sizeof a0);
		struct tm tm;
		char buf[256];
		if (st == LMS_OK) {
			localtime_r(&R->ctx->now, &tm);
			size_t n = strftime(buf, sizeof buf, a0, &tm);
			if (n == 0 && a0[0])
				st = ierr(R, "use a shorter strftime format",
					  "${now:%s} gives an empty or too long string", a0);
			else
				*out = lms_cfg_new_str(buf);
		}
	} else if (strcmp(name, "lmsens") == 0) {
		st = arg_str(R, args, 0, name, a0, sizeof a0);
		if (st == LMS_OK && strcmp(a0, "source_dir") == 0)
			*out = lms_cfg_new_str(R->ctx->source_dir ? R->ctx->source_dir : ".");
		else if (st == LMS_OK)
			st = ierr(R, "the lmsens resolver knows: source_dir",
				  "unknown key '%s' of ${lmsens:...}", a0);
	} else {
		st = ierr(R, "known resolvers: oc.env, oc.select, hydra, now, lmsens",
			  "Unsupported interpolation type %s", name);
	}
	lms_cfg_free(args);
	if (st == LMS_OK && !*out)
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	return st;
}

/* Evaluates the inside of one "${...}". */
static enum lms_status eval_interp(struct rctx *R, const char *inner, const char *parent,
				   struct lms_cfg **out)
{
	/* a resolver is "name:" with a name made of [A-Za-z0-9_.] */
	size_t k = 0;
	while (inner[k] == ' ')
		k++;
	size_t s = k;
	while ((inner[k] >= 'a' && inner[k] <= 'z') || (inner[k] >= 'A' && inner[k] <= 'Z') ||
	       (inner[k] >= '0' && inner[k] <= '9') || inner[k] == '_' || inner[k] == '.')
		k++;
	if (inner[k] == ':' && k > s) {
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(k - s), inner + s);
		return call_resolver(R, name, inner + k + 1, parent, out);
	}
	struct lms_cfg *keyn = NULL;
	LMS_TRY(eval_string(R, inner, parent, &keyn));
	struct lms_sb b = {0};
	py_str(&b, keyn);
	lms_cfg_free(keyn);
	LMS_TRY(lms_sb_status(&b));
	char *key = lms_sb_take(&b);
	char *t = key;
	while (*t == ' ')
		t++;
	size_t l = strlen(t);
	while (l && t[l - 1] == ' ')
		t[--l] = '\0';
	char path[1100];
	enum lms_status st = l == 0 ? ierr(R, "write ${key.path}", "empty interpolation%s", "")
				    : abs_path(R, t, parent, path, sizeof path);
	free(key);
	if (st == LMS_OK)
		st = lookup(R, path, out);
	return st;
}

static enum lms_status eval_string(struct rctx *R, const char *s, const char *parent,
				   struct lms_cfg **out)
{
	*out = NULL;
	size_t len = strlen(s);
	/* exactly one interpolation: keep the referenced type */
	if (s[0] == '$' && s[1] == '{' && match_close(s, 0) == len) {
		char *inner = strndup(s + 2, len - 3);
		if (!inner)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		enum lms_status st = eval_interp(R, inner, parent, out);
		free(inner);
		return st;
	}
	struct lms_sb b = {0};
	for (size_t i = 0; i < len;) {
		if (s[i] == '\\' && s[i + 1] == '$' && s[i + 2] == '{') { /* \${ → literal */
			lms_sb_puts(&b, "${");
			i += 3;
			continue;
		}
		if (s[i] == '\\' && s[i + 1] == '\\' && s[i + 2] == '$' && s[i + 3] == '{') {
			lms_sb_putc(&b, '\\'); /* \\${x} → backslash + value */
			i += 2;
			continue;
		}
		if (s[i] == '$' && s[i + 1] == '{') {
			size_t e = match_close(s, i);
			if (!e) {
				lms_sb_free(&b);
				return ierr(R, "close every ${ with }",
					    "unterminated interpolation in '%s'", s);
			}
			char *inner = strndup(s + i + 2, e - i - 3);
			struct lms_cfg *v = NULL;
			enum lms_status st = inner ? eval_interp(R, inner, parent, &v)
						   : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			free(inner);
			if (st == LMS_OK && (v->type == LMS_CFG_MAP || v->type == LMS_CFG_SEQ))
				st = ierr(R,
					  "interpolate scalars into strings, or use the whole "
					  "value ${key}",
					  "cannot put a mapping or list into the string '%s'", s);
			if (st != LMS_OK) {
				lms_cfg_free(v);
				lms_sb_free(&b);
				return st;
			}
			py_str(&b, v);
			lms_cfg_free(v);
			i = e;
			if (b.len > (1u << 20)) {
				lms_sb_free(&b);
				return ierr(R, "interpolations must not grow strings without bound",
					    "interpolated string longer than 1 MiB in '%s'",
					    R->where);
			}
			continue;
		}
		lms_sb_putc(&b, s[i++]);
	}
	enum lms_status st = lms_sb_status(&b);
	char *str = lms_sb_take(&b);
	if (st == LMS_OK && !(*out = lms_cfg_new_str(str)))
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	free(str);
	return st;
}

static enum lms_status resolve_node(struct rctx *R, const struct lms_cfg *n, const char *path,
				    struct lms_cfg **out)
{
	*out = NULL;
	if (n->type == LMS_CFG_STR && lms_cfg_has_interp(n->s)) {
		const char *saved = R->where;
		R->where = path;
		/* the container of this value is the path minus its last element */
		char parent[1024];
		snprintf(parent, sizeof parent, "%s", path);
		char *cut = strrchr(parent, '.');
		char *br = strrchr(parent, '[');
		if (br && (!cut || br > cut))
			cut = br;
		if (cut)
			*cut = '\0';
		else
			parent[0] = '\0';
		enum lms_status st = eval_string(R, n->s, parent, out);
		R->where = saved;
		if (st == LMS_OK && !(*out)->file && n->file)
			st = lms_cfg_set_loc(*out, n->file, n->line, n->col);
		return st;
	}
	if (n->type != LMS_CFG_MAP && n->type != LMS_CFG_SEQ) {
		*out = lms_cfg_copy(n);
		return *out ? LMS_OK : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	struct lms_cfg *c = lms_cfg_new(n->type);
	if (!c)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	enum lms_status st = lms_cfg_set_loc(c, n->file, n->line, n->col);
	for (size_t k = 0; k < n->n && st == LMS_OK; k++) {
		char sub[1024];
		if (n->type == LMS_CFG_MAP)
			snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", n->keys[k]);
		else
			snprintf(sub, sizeof sub, "%s[%zu]", path, k);
		struct lms_cfg *v = NULL;
		st = resolve_node(R, n->kids[k], sub, &v);
		if (st == LMS_OK)
			st = n->type == LMS_CFG_MAP ? lms_cfg_map_set(c, n->keys[k], v)
						    : lms_cfg_seq_push(c, v);
	}
	if (st != LMS_OK) {
		lms_cfg_free(c);
		return st;
	}
	*out = c;
	return LMS_OK;
}

enum lms_status lms_cfg_resolve(const struct lms_cfg *root, const char *path,
				const struct lms_resolve_ctx *ctx, struct lms_cfg **out)
{
	*out = NULL;
	struct rctx R = {.root = root, .ctx = ctx, .where = path};
	const struct lms_cfg *n = lms_cfg_find(root, path);
	if (!n)
		return lms_cfg_get_node(root, path, out);
	return resolve_node(&R, n, path, out);
}
