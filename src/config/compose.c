/* compose.c — one job's Hydra composition: defaults lists, group choices,
 * packages, merge, then config overrides under struct mode.
 *
 * The defaults tree is walked depth first. Each config's `defaults` entries
 * are: `_self_` (where the config's own content merges; last when absent),
 * `path[@pkg]` (a config, always loaded), and `[optional|override]
 * group[@pkg]: option|null|[options]` (a group default). Choices: the file's
 * option, then `override` entries found anywhere in the tree (later in DFS
 * order wins), then the command line. Because an override can change which
 * files load (and so which overrides exist), the walk repeats until the set
 * of file overrides is stable (at most 5 walks).
 *
 * Packages: an explicit @pkg is relative to the parent's package (_global_,
 * _here_, _group_ keywords), then the file's `# @package` directive, then
 * the group path as written (relative to the parent's package).
 *
 * Safety: group and config names may not contain "..", "\" or start with
 * "/" after the absolute-path slash is removed, so no lookup leaves the
 * search path; the defaults tree is at most LMS_MAX_DEFAULTS_DEPTH deep. */
#include "config/compose_internal.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

/* Paths and keys live in fixed buffers (512+ bytes); a name that long is
 * truncated and then simply not found, which is reported as an error. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

struct choice_ovr {
	const char *group, *pkg, *option; /* option NULL = null; borrowed */
	int is_list;
	const struct lms_cfg *list;
	int matched;
	int del;
};

struct walk {
	struct lms_composer *C;
	struct lms_cfg *root;
	struct lms_cfg *choices;
	struct lms_sb table;
	struct lms_cfg *file_ovr;	/* seq of {group, pkg, option} collected this walk */
	const struct lms_cfg *prev_ovr; /* from the previous walk */
	struct choice_ovr *cli;
	size_t n_cli;
	struct lms_cfg *seen; /* map of group keys already given a default */
};

static enum lms_status bad_name(const char *name, const char *where)
{
	return lms_fail(LMS_ERR_CONFIG, "group and config names are relative paths inside conf/",
			"%s: '%s' is not a valid config path (no '..', '\\' or empty parts)", where,
			name);
}

static int name_ok(const char *n)
{
	if (!*n || strstr(n, "..") || strchr(n, '\\') || n[0] == '/' || strstr(n, "//"))
		return 0;
	for (const char *p = n; *p; p++)
		if (!(*p == '/' || *p == '.' || *p == '_' || *p == '-' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return 0;
	return n[strlen(n) - 1] != '/';
}

/* Loads conf/<rel>.yaml through the cache. *tree borrowed (NULL if absent). */
static enum lms_status load_rel(struct lms_composer *C, const char *rel,
				const struct lms_cached_file **out)
{
	for (size_t k = 0; k < C->n_cache; k++)
		if (strcmp(C->cache[k].path, rel) == 0) {
			*out = &C->cache[k];
			return LMS_OK;
		}
	if (C->n_cache == LMS_MAX_CACHE)
		return lms_fail(LMS_ERR_CONFIG, "reduce the number of config files",
				"more than %d config files", LMS_MAX_CACHE);
	struct lms_cached_file *f = &C->cache[C->n_cache];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(rel)))
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	C->n_cache++;
	for (size_t d = 0; d < C->n_dirs; d++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.yaml", C->dirs[d], rel);
		if (!lms_is_file(path))
			continue;
		char *text;
		size_t len;
		LMS_TRY(lms_read_file(path, LMS_YAML_MAX_BYTES, "config file", &text, &len));
		enum lms_status st = lms_yaml_load_string(text, len, path, &f->tree);
		if (st == LMS_OK && !lms_yaml_package_directive(text, f->pkg, sizeof f->pkg))
			f->pkg[0] = '\0';
		free(text);
		LMS_TRY(st);
		if (f->tree->type != LMS_CFG_MAP) {
			lms_cfg_free(f->tree);
			f->tree = NULL;
			return lms_fail(
			    LMS_ERR_CONFIG, "a config file holds a mapping (key: value lines)",
			    "%s: the top level is %s, not a mapping", path, "a scalar or list");
		}
		break;
	}
	*out = f;
	return LMS_OK;
}

int lms_composer_is_group(struct lms_composer *C, const char *group)
{
	if (!name_ok(group))
		return 0;
	for (size_t k = 0; k < C->n_groups; k++)
		if (strcmp(C->groups[k].name, group) == 0)
			return C->groups[k].is_group;
	int is = 0;
	for (size_t d = 0; d < C->n_dirs && !is; d++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", C->dirs[d], group);
		is = lms_is_dir(path);
	}
	if (C->n_groups < LMS_MAX_CACHE && (C->groups[C->n_groups].name = strdup(group)))
		C->groups[C->n_groups++].is_group = is;
	return is;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum lms_status lms_composer_options(struct lms_composer *C, const char *group, char ***out,
				     size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	char **v = NULL;
	for (size_t d = 0; d < C->n_dirs && name_ok(group); d++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", C->dirs[d], group);
		DIR *dir = opendir(path);
		if (!dir)
			continue;
		struct dirent *e;
		while ((e = readdir(dir))) {
			size_t l = strlen(e->d_name);
			if (l <= 5 || strcmp(e->d_name + l - 5, ".yaml") != 0)
				continue;
			int dup = 0;
			for (size_t k = 0; k < *n; k++)
				dup |= strncmp(v[k], e->d_name, l - 5) == 0 && v[k][l - 5] == '\0';
			if (dup)
				continue;
			if (*n == cap) {
				cap = cap ? 2 * cap : 16;
				char **nv = realloc(v, cap * sizeof *nv);
				if (!nv) {
					closedir(dir);
					lms_strv_free(v, *n);
					return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
				}
				v = nv;
			}
			if (!(v[*n] = strndup(e->d_name, l - 5))) {
				closedir(dir);
				lms_strv_free(v, *n);
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			}
			(*n)++;
		}
		closedir(dir);
	}
	if (*n)
		qsort(v, *n, sizeof *v, cmp_str);
	*out = v;
	return LMS_OK;
}

void lms_strv_free(char **v, size_t n)
{
	for (size_t k = 0; k < n && v; k++)
		free(v[k]);
	free(v);
}

static enum lms_status not_found(struct lms_composer *C, const char *parent, const char *group,
				 const char *opt)
{
	char **o;
	size_t n;
	LMS_TRY(lms_composer_options(C, group, &o, &n));
	struct lms_sb b = {0};
	for (size_t k = 0; k < n; k++)
		lms_sb_printf(&b, "\n\t%s", o[k]);
	lms_strv_free(o, n);
	enum lms_status st =
	    lms_fail(LMS_ERR_NOT_FOUND,
		     "pick one of the available options, or add conf/<group>/<option>.yaml",
		     "In '%s': Could not find '%s/%s'\n\nAvailable options in '%s':%s", parent,
		     group, opt, group, b.s ? b.s : " (none)");
	lms_sb_free(&b);
	return st;
}

/* pkg of a default: explicit (relative to parent, keywords), else directive, else group. */
static void package_of(char *out, size_t cap, const char *parent_pkg, const char *explicit_pkg,
		       const char *directive, const char *group_written, const char *group_abs,
		       int absolute)
{
	char grp_dotted[512];
	snprintf(grp_dotted, sizeof grp_dotted, "%s", group_written);
	for (char *p = grp_dotted; *p; p++)
		if (*p == '/')
			*p = '.';
	char abs_dotted[512];
	snprintf(abs_dotted, sizeof abs_dotted, "%s", group_abs);
	for (char *p = abs_dotted; *p; p++)
		if (*p == '/')
			*p = '.';
	const char *p = explicit_pkg		      ? explicit_pkg
			: (directive && directive[0]) ? directive
						      : NULL;
	int rel_parent = explicit_pkg != NULL;
	if (!p) {
		p = grp_dotted;
		rel_parent = !absolute;
	}
	if (strncmp(p, "_global_", 8) == 0) {
		snprintf(out, cap, "%s", p[8] == '.' ? p + 9 : "");
		return;
	}
	if (strcmp(p, "_here_") == 0) {
		snprintf(out, cap, "%s", parent_pkg);
		return;
	}
	char tmp[512];
	if (strncmp(p, "_group_", 7) == 0)
		snprintf(tmp, sizeof tmp, "%s%s", abs_dotted, p + 7);
	else
		snprintf(tmp, sizeof tmp, "%s", p);
	if (rel_parent && parent_pkg[0] && tmp[0])
		snprintf(out, cap, "%s.%s", parent_pkg, tmp);
	else
		snprintf(out, cap, "%s", tmp[0] ? tmp : (rel_parent ? parent_pkg : ""));
}

enum lms_status lms_compose_merge_at(struct lms_cfg *root, const char *pkg,
				     const struct lms_cfg *content)
{
	struct lms_cfg *t = root;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", pkg);
	for (char *s = buf, *e; *s; s = e) {
		e = strchr(s, '.');
		if (e)
			*e++ = '\0';
		else
			e = s + strlen(s);
		struct lms_cfg *nx = lms_cfg_map_get(t, s);
		if (!nx || nx->type != LMS_CFG_MAP) {
			struct lms_cfg *m = lms_cfg_new(LMS_CFG_MAP);
			if (!m)
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			LMS_TRY(lms_cfg_map_set(t, s, m));
			nx = m;
		}
		t = nx;
	}
	return lms_cfg_merge(t, content);
}

static enum lms_status load_config(struct walk *W, const char *rel, const char *explicit_pkg,
				   const char *parent_pkg, const char *group_written, int absolute,
				   const char *parent_name, int depth, int optional, int *found);

/* Picks the option of a group default from the file overrides and the CLI. */
static const struct lms_cfg *pick(struct walk *W, const char *group, const char *pkg,
				  const struct lms_cfg *file_opt, int *deleted)
{
	const struct lms_cfg *opt = file_opt;
	*deleted = 0;
	for (size_t k = 0; W->prev_ovr && k < W->prev_ovr->n; k++) {
		const struct lms_cfg *o = W->prev_ovr->kids[k];
		const char *g = lms_cfg_map_get(o, "group")->s;
		const struct lms_cfg *p = lms_cfg_map_get(o, "pkg");
		if (strcmp(g, group) == 0 &&
		    ((p->type == LMS_CFG_NULL && !pkg) ||
		     (p->type == LMS_CFG_STR && pkg && strcmp(p->s, pkg) == 0)))
			opt = lms_cfg_map_get(o, "option");
	}
	for (size_t k = 0; k < W->n_cli; k++) {
		struct choice_ovr *c = &W->cli[k];
		if (strcmp(c->group, group) != 0 || (c->pkg && (!pkg || strcmp(c->pkg, pkg) != 0)))
			continue;
		c->matched = 1;
		if (c->del) {
			if (!c->option ||
			    (opt && opt->type == LMS_CFG_STR && strcmp(opt->s, c->option) == 0))
				*deleted = 1;
			continue;
		}
		opt = c->list;
	}
	return opt;
}

static enum lms_status group_default(struct walk *W, const char *entry_key,
				     const struct lms_cfg *val, const char *this_group,
				     const char *this_pkg, const char *this_name, int depth)
{
	char key[512];
	snprintf(key, sizeof key, "%s", entry_key);
	int optional = 0, is_override = 0;
	if (strncmp(key, "optional ", 9) == 0) {
		optional = 1;
		memmove(key, key + 9, strlen(key + 9) + 1);
	} else if (strncmp(key, "override ", 9) == 0) {
		is_override = 1;
		memmove(key, key + 9, strlen(key + 9) + 1);
	}
	char *at = strchr(key, '@');
	const char *pkg = NULL;
	if (at) {
		*at = '\0';
		pkg = at + 1;
	}
	int absolute = key[0] == '/';
	const char *written = key + absolute;
	char group[512];
	if (absolute || !this_group[0])
		snprintf(group, sizeof group, "%s", written);
	else
		snprintf(group, sizeof group, "%s/%s", this_group, written);
	if (!name_ok(group))
		return bad_name(group, this_name);
	/* Hydra 1.4 normalisation: `foo: bar/baz` → `foo/bar: baz` */
	char optbuf[512];
	if (val->type == LMS_CFG_STR && strchr(val->s, '/')) {
		snprintf(optbuf, sizeof optbuf, "%s", val->s);
		char *slash = strrchr(optbuf, '/');
		*slash = '\0';
		size_t gl = strlen(group);
		snprintf(group + gl, sizeof group - gl, "/%s", optbuf);
		if (!name_ok(group))
			return bad_name(group, this_name);
	}
	if (val->type != LMS_CFG_STR && val->type != LMS_CFG_NULL && val->type != LMS_CFG_SEQ)
		return lms_fail(LMS_ERR_CONFIG,
				"write `group: option`, `group: null` or `group: [a, b]`",
				"%s:%d:%d: invalid option for '%s' in the defaults list",
				val->file ? val->file : this_name, val->line, val->col, entry_key);
	char gkey[600];
	snprintf(gkey, sizeof gkey, "%s%s%s", group, pkg ? "@" : "", pkg ? pkg : "");
	if (is_override) {
		struct lms_cfg *o = lms_cfg_new(LMS_CFG_MAP);
		if (!o)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		enum lms_status st = lms_cfg_map_set(o, "group", lms_cfg_new_str(group));
		if (st == LMS_OK)
			st = lms_cfg_map_set(
			    o, "pkg", pkg ? lms_cfg_new_str(pkg) : lms_cfg_new(LMS_CFG_NULL));
		if (st == LMS_OK)
			st = lms_cfg_map_set(o, "option", lms_cfg_copy(val));
		if (st == LMS_OK)
			st = lms_cfg_map_set(o, "where", lms_cfg_new_str(this_name));
		if (st == LMS_OK)
			return lms_cfg_seq_push(W->file_ovr, o);
		lms_cfg_free(o);
		return st;
	}
	if (lms_cfg_map_get(W->seen, gkey)) {
		const struct lms_cfg *prev = lms_cfg_map_get(W->seen, gkey);
		return lms_fail(LMS_ERR_CONFIG, "use `override` to change a group chosen earlier",
				"Multiple values for %s. To override a value use 'override %s: %s'",
				gkey, gkey, prev->type == LMS_CFG_STR ? prev->s : "null");
	}
	LMS_TRY(lms_cfg_map_set(W->seen, gkey, lms_cfg_copy(val)));
	int deleted;
	const struct lms_cfg *opt = pick(W, group, pkg, val, &deleted);
	const char *pkg_group = absolute || !this_group[0] ? group : group + strlen(this_group) + 1;
	if (deleted || !opt || opt->type == LMS_CFG_NULL) {
		LMS_TRY(lms_cfg_map_set(W->choices, gkey, lms_cfg_new(LMS_CFG_NULL)));
		return LMS_OK;
	}
	size_t nopt = opt->type == LMS_CFG_SEQ ? opt->n : 1;
	LMS_TRY(lms_cfg_map_set(W->choices, gkey, lms_cfg_copy(opt)));
	for (size_t k = 0; k < nopt; k++) {
		const struct lms_cfg *o = opt->type == LMS_CFG_SEQ ? opt->kids[k] : opt;
		if (o->type != LMS_CFG_STR || !name_ok(o->s) || strchr(o->s, '/'))
			return lms_fail(LMS_ERR_CONFIG, "options are file names without .yaml",
					"%s: invalid option for group '%s'", this_name, group);
		char rel[1100];
		snprintf(rel, sizeof rel, "%s/%s", group, o->s);
		int found = 0;
		LMS_TRY(load_config(W, rel, pkg, this_pkg, pkg_group, absolute, this_name,
				    depth + 1, optional, &found));
		if (!found && !optional)
			return not_found(W->C, this_name, group, o->s);
	}
	return LMS_OK;
}

static enum lms_status load_config(struct walk *W, const char *rel, const char *explicit_pkg,
				   const char *parent_pkg, const char *group_written, int absolute,
				   const char *parent_name, int depth, int optional, int *found)
{
	(void)optional;
	*found = 0;
	if (depth > LMS_MAX_DEFAULTS_DEPTH)
		return lms_fail(LMS_ERR_CONFIG, "a defaults list probably includes itself",
				"defaults lists nested deeper than %d levels (at '%s')",
				LMS_MAX_DEFAULTS_DEPTH, rel);
	const struct lms_cached_file *f;
	LMS_TRY(load_rel(W->C, rel, &f));
	if (!f->tree)
		return LMS_OK;
	*found = 1;
	char this_group[512];
	snprintf(this_group, sizeof this_group, "%s", rel);
	char *slash = strrchr(this_group, '/');
	if (slash)
		*slash = '\0';
	else
		this_group[0] = '\0';
	char pkg[512];
	if (depth == 0) /* the primary config: global unless its header says otherwise */
		package_of(pkg, sizeof pkg, "", f->pkg[0] ? f->pkg : "_global_", NULL, "",
			   this_group, 1);
	else
		package_of(pkg, sizeof pkg, parent_pkg, explicit_pkg, f->pkg, group_written,
			   this_group, absolute);
	/* The file's own content without its defaults list: a view that skips
	 * the `defaults` key when it comes first (the usual place), else a copy. */
	const struct lms_cfg *defaults = lms_cfg_map_get(f->tree, "defaults");
	struct lms_cfg view = *f->tree, *copy = NULL;
	const struct lms_cfg *content = f->tree;
	if (defaults && f->tree->kids[0] == defaults) {
		view.keys = f->tree->keys + 1;
		view.kids = f->tree->kids + 1;
		view.n = f->tree->n - 1;
		content = &view;
	} else if (defaults) {
		if (!(copy = lms_cfg_copy(f->tree)))
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		lms_cfg_free(lms_cfg_map_take(copy, "defaults"));
		content = copy;
	}
	enum lms_status st = LMS_OK;
	if (defaults && defaults->type != LMS_CFG_SEQ)
		st = lms_fail(LMS_ERR_CONFIG, "write `defaults:` as a list",
			      "%s:%d:%d: defaults must be a list", f->path, defaults->line,
			      defaults->col);
	int self_done = 0;
	size_t nd = defaults && defaults->type == LMS_CFG_SEQ ? defaults->n : 0;
	for (size_t k = 0; k <= nd && st == LMS_OK; k++) {
		const struct lms_cfg *e = k < nd ? defaults->kids[k] : NULL;
		if (!e || (e->type == LMS_CFG_STR && strcmp(e->s, "_self_") == 0)) {
			if (self_done) {
				if (e)
					st = lms_fail(
					    LMS_ERR_CONFIG, "list _self_ once",
					    "%s: _self_ appears twice in the defaults list", rel);
				continue;
			}
			self_done = 1;
			/* Hydra's table: one row per config at the place its content merges;
			 * _self_ is True for configs that have a defaults list. */
			lms_sb_printf(&W->table, "%-60s %-28s %-7s %s\n", rel, pkg[0] ? pkg : "",
				      defaults ? "True" : "False",
				      parent_name[0] ? parent_name : "<root>");
			st = lms_compose_merge_at(W->root, pkg, content);
		} else if (e->type == LMS_CFG_STR) {
			char name[512], *epkg;
			snprintf(name, sizeof name, "%s", e->s);
			epkg = strchr(name, '@');
			if (epkg)
				*epkg++ = '\0';
			int abs_e = name[0] == '/';
			char crel[1100];
			if (abs_e || !this_group[0])
				snprintf(crel, sizeof crel, "%s", name + abs_e);
			else
				snprintf(crel, sizeof crel, "%s/%s", this_group, name);
			if (!name_ok(crel)) {
				st = bad_name(crel, rel);
				break;
			}
			char cgroup[1100];
			snprintf(cgroup, sizeof cgroup, "%s", name + abs_e);
			char *cs = strrchr(cgroup, '/');
			if (cs)
				*cs = '\0';
			else
				cgroup[0] = '\0';
			int fnd = 0;
			st =
			    load_config(W, crel, epkg, pkg, cgroup, abs_e, rel, depth + 1, 0, &fnd);
			if (st == LMS_OK && !fnd) {
				char g[1100];
				snprintf(g, sizeof g, "%s", crel);
				char *gs = strrchr(g, '/');
				st = gs ? (*gs = '\0', not_found(W->C, rel, g, gs + 1))
					: lms_fail(LMS_ERR_NOT_FOUND,
						   "check the name in the defaults list",
						   "In '%s': Could not find '%s'", rel, crel);
			}
		} else if (e->type == LMS_CFG_MAP && e->n == 1) {
			st = group_default(W, e->keys[0], e->kids[0], this_group, pkg, rel, depth);
		} else {
			st = lms_fail(LMS_ERR_CONFIG,
				      "entries are _self_, a config path, or group: option",
				      "%s:%d:%d: invalid entry in the defaults list", f->path,
				      e->line, e->col);
		}
	}
	lms_cfg_free(copy);
	return st;
}

static enum lms_status walk_once(struct lms_composer *C, struct walk *W, const char *primary,
				 const struct lms_override *ovr, size_t n_ovr)
{
	int found = 0;
	lms_sb_printf(&W->table, "%-60s %-28s %-7s %s\n", "Config path", "Package", "_self_",
		      "Parent");
	LMS_TRY(load_config(W, primary, NULL, "", "", 1, "", 0, 0, &found));
	(void)C;
	/* +group=option appends to the primary's defaults list */
	for (size_t k = 0; k < n_ovr; k++) {
		const struct lms_override *o = &ovr[k];
		if (o->kind != LMS_OVR_ADD || !lms_composer_is_group(W->C, o->key))
			continue;
		char gkey[600];
		snprintf(gkey, sizeof gkey, "%s%s%s", o->key, o->pkg ? "@" : "",
			 o->pkg ? o->pkg : "");
		if (lms_cfg_map_get(W->seen, gkey))
			return lms_fail(LMS_ERR_CONFIG, "drop the + to change the option",
					"Could not add '%s'. '%s' is already in the defaults list.",
					o->text, gkey);
		char ek[700];
		snprintf(ek, sizeof ek, "/%s", gkey);
		LMS_TRY(group_default(W, ek, o->value, "", "", "<command line>", 0));
	}
	return LMS_OK;
}

static void walk_free(struct walk *W)
{
	lms_cfg_free(W->root);
	lms_cfg_free(W->choices);
	lms_cfg_free(W->file_ovr);
	lms_cfg_free(W->seen);
	lms_sb_free(&W->table);
	W->root = W->choices = W->file_ovr = W->seen = NULL;
}

static enum lms_status find_primary(struct lms_composer *C, char *rel, size_t cap)
{
	const char *name = C->config_name ? C->config_name : LMS_DEFAULT_CONFIG_NAME;
	char n[512];
	snprintf(n, sizeof n, "%s", name);
	size_t l = strlen(n);
	if (l > 5 && strcmp(n + l - 5, ".yaml") == 0)
		n[l - 5] = '\0';
	if (!name_ok(n))
		return bad_name(n, "--config-name");
	const char *cands[2];
	char pre[600];
	snprintf(pre, sizeof pre, "preset/%s", n);
	cands[0] = pre;
	cands[1] = n;
	for (int k = 0; k < 2; k++) {
		const struct lms_cached_file *f;
		LMS_TRY(load_rel(C, cands[k], &f));
		if (f->tree) {
			snprintf(rel, cap, "%s", cands[k]);
			return LMS_OK;
		}
	}
	struct lms_sb b = {0};
	for (size_t d = 0; d < C->n_dirs; d++)
		lms_sb_printf(&b, "%s%s", d ? ", " : "", C->dirs[d]);
	enum lms_status st = lms_fail(
	    LMS_ERR_NOT_FOUND, "check -cn/--config-name and -cp/-cd",
	    "Cannot find primary config '%s'. Check that it's in your config search path (%s).",
	    name, b.s ? b.s : "");
	lms_sb_free(&b);
	return st;
}

enum lms_status lms_compose_one(struct lms_composer *C, const struct lms_override *ovr,
				size_t n_ovr, struct lms_composed *out)
{
	memset(out, 0, sizeof *out);
	char primary[600];
	LMS_TRY(find_primary(C, primary, sizeof primary));
	/* CLI group overrides */
	struct choice_ovr cli[256];
	size_t n_cli = 0;
	for (size_t k = 0; k < n_ovr && n_cli < 256; k++) {
		const struct lms_override *o = &ovr[k];
		if (o->kind == LMS_OVR_ADD || !(o->pkg || lms_composer_is_group(C, o->key)))
			continue;
		if (o->kind == LMS_OVR_FORCE_ADD)
			return lms_fail(LMS_ERR_USAGE, "use group=option or +group=option",
					"'%s': ++ is not supported for config groups", o->text);
		struct choice_ovr *c = &cli[n_cli++];
		memset(c, 0, sizeof *c);
		c->group = o->key;
		c->pkg = o->pkg;
		c->del = o->kind == LMS_OVR_DELETE;
		c->list = o->value;
		c->option = o->value && o->value->type == LMS_CFG_STR ? o->value->s : NULL;
		if (o->value && o->value->type != LMS_CFG_STR && o->value->type != LMS_CFG_NULL &&
		    o->value->type != LMS_CFG_SEQ)
			return lms_fail(LMS_ERR_USAGE, "give the option's file name without .yaml",
					"'%s': the option of a config group must be a name",
					o->text);
	}
	struct lms_cfg *prev = NULL;
	struct walk W = {0};
	enum lms_status st = LMS_OK;
	for (int iter = 0; iter < 5; iter++) {
		walk_free(&W);
		W = (struct walk){.C = C, .prev_ovr = prev, .cli = cli, .n_cli = n_cli};
		W.root = lms_cfg_new(LMS_CFG_MAP);
		W.choices = lms_cfg_new(LMS_CFG_MAP);
		W.file_ovr = lms_cfg_new(LMS_CFG_SEQ);
		W.seen = lms_cfg_new(LMS_CFG_MAP);
		if (!W.root || !W.choices || !W.file_ovr || !W.seen) {
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			break;
		}
		for (size_t k = 0; k < n_cli; k++)
			cli[k].matched = 0;
		st = walk_once(C, &W, primary, ovr, n_ovr);
		if (st != LMS_OK)
			break;
		char *a = NULL, *b = NULL;
		int same = prev && lms_cfg_to_yaml(prev, &a) == LMS_OK &&
			   lms_cfg_to_yaml(W.file_ovr, &b) == LMS_OK && strcmp(a, b) == 0;
		free(a);
		free(b);
		if (!prev && W.file_ovr->n == 0)
			same = 1;
		lms_cfg_free(prev);
		prev = lms_cfg_copy(W.file_ovr);
		W.prev_ovr = prev;
		if (same)
			break;
	}
	/* every override must have matched a group default */
	for (size_t k = 0; st == LMS_OK && prev && k < prev->n; k++) {
		const char *g = lms_cfg_map_get(prev->kids[k], "group")->s;
		int ok = 0;
		for (size_t s = 0; s < W.seen->n; s++) {
			size_t gl = strlen(g);
			ok |= strncmp(W.seen->keys[s], g, gl) == 0 &&
			      (W.seen->keys[s][gl] == '\0' || W.seen->keys[s][gl] == '@');
		}
		if (!ok)
			st = lms_fail(
			    LMS_ERR_CONFIG,
			    "add the group to a defaults list first (without override)",
			    "In '%s': Could not override '%s'. No match in the defaults list.",
			    lms_cfg_map_get(prev->kids[k], "where")->s, g);
	}
	for (size_t k = 0; st == LMS_OK && k < n_cli; k++) {
		if (cli[k].matched)
			continue;
		const struct lms_override *o = NULL;
		for (size_t j = 0; j < n_ovr; j++)
			if (ovr[j].key == cli[k].group)
				o = &ovr[j];
		if (cli[k].del)
			st = lms_fail(LMS_ERR_CONFIG, "check the group name",
				      "Could not delete '%s'. No match in the defaults list",
				      cli[k].group);
		else
			st = lms_fail(LMS_ERR_CONFIG, "prefix it with + to add the group",
				      "Could not override '%s'. No match in the defaults list.\nTo "
				      "append to your default list use +%s=%s",
				      o ? o->key : cli[k].group, o ? o->key : cli[k].group,
				      o ? o->value_text : "");
	}
	lms_cfg_free(prev);
	/* config overrides, in command-line order */
	for (size_t k = 0; st == LMS_OK && k < n_ovr; k++) {
		const struct lms_override *o = &ovr[k];
		if (o->pkg || lms_composer_is_group(C, o->key))
			continue;
		st = lms_compose_apply_value(W.root, o);
	}
	if (st == LMS_OK) {
		out->cfg = W.root;
		out->choices = W.choices;
		W.root = W.choices = NULL;
		out->defaults_table = lms_sb_take(&W.table);
		if (!out->defaults_table)
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	walk_free(&W);
	if (st != LMS_OK)
		lms_composed_clear(out);
	return st;
}

void lms_composed_clear(struct lms_composed *c)
{
	lms_cfg_free(c->cfg);
	lms_cfg_free(c->choices);
	free(c->defaults_table);
	free(c->primary_dir);
	memset(c, 0, sizeof *c);
}

void lms_composer_clear(struct lms_composer *C)
{
	for (size_t k = 0; k < C->n_cache; k++) {
		free(C->cache[k].path);
		lms_cfg_free(C->cache[k].tree);
	}
	C->n_cache = 0;
	for (size_t k = 0; k < C->n_groups; k++)
		free(C->groups[k].name);
	C->n_groups = 0;
	lms_cfg_free(C->hydra_defaults);
	C->hydra_defaults = NULL;
	lms_strv_free(C->dirs, C->n_dirs);
	C->dirs = NULL;
	C->n_dirs = 0;
}
