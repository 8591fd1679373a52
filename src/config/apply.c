/* apply.c — applies one config (non-group) override to a composed tree:
 * key=value (the key must exist: struct mode, with the closest keys in the
 * hint), +key=value (must not exist, dicts merge), ++key=value (add or
 * replace), ~key[=value] (delete, optionally only a matching value).
 * Dict values merge into dicts; everything else, lists included, replaces.
 *
 * Does not: handle config-group overrides (compose.c). */
#include "config/compose_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* Applies a config (non-group) override to root with struct-mode rules. */
enum lms_status lms_compose_apply_value(struct lms_cfg *root, const struct lms_override *o)
{
	char parent_path[512];
	snprintf(parent_path, sizeof parent_path, "%s", o->key);
	char *dot = strrchr(parent_path, '.');
	const char *leaf = dot ? dot + 1 : o->key;
	if (dot)
		*dot = '\0';
	else
		parent_path[0] = '\0';
	struct lms_cfg *parent = lms_cfg_find(root, parent_path);
	struct lms_cfg *cur =
	    parent && parent->type == LMS_CFG_MAP ? lms_cfg_map_get(parent, leaf) : NULL;
	char vt[256];
	snprintf(vt, sizeof vt, "%s", o->value_text ? o->value_text : "");
	if (o->kind == LMS_OVR_DELETE) {
		if (!cur)
			return lms_fail(LMS_ERR_CONFIG, "check the key with 'lmsens --cfg job'",
					"Could not delete from config. '%s' does not exist.",
					o->key);
		if (o->value) {
			char a[256], b[256];
			lms_cfg_scalar_text(cur, a, sizeof a);
			lms_cfg_scalar_text(o->value, b, sizeof b);
			if (strcmp(a, b) != 0)
				return lms_fail(LMS_ERR_CONFIG,
						"drop the =value to delete whatever is there",
						"Could not delete from config. The value of '%s' "
						"is %s and not %s.",
						o->key, a, b);
		}
		lms_cfg_free(lms_cfg_map_take(parent, leaf));
		return LMS_OK;
	}
	if (o->kind == LMS_OVR_CHANGE && !cur) {
		char near[512] = "";
		lms_cfg_closest_keys(parent, leaf, near, sizeof near);
		char hint[1200];
		if (near[0])
			snprintf(hint, sizeof hint, "closest existing keys under '%s': %s",
				 parent_path[0] ? parent_path : "<root>", near);
		else
			snprintf(hint, sizeof hint, "check the key with 'lmsens --cfg job'");
		return lms_fail(LMS_ERR_CONFIG, hint,
				"Could not override '%s'.\nTo append to your config use "
				"+%s=%s\nKey '%s' is not in struct",
				o->key, o->key, vt, leaf);
	}
	if (o->kind == LMS_OVR_ADD && cur && cur->type != LMS_CFG_NULL &&
	    !(cur->type == LMS_CFG_MAP && o->value->type == LMS_CFG_MAP))
		return lms_fail(
		    LMS_ERR_CONFIG, "use key=value to change it, or ++key=value",
		    "Could not append to config. An item is already at '%s'.\nEither remove + "
		    "prefix: '%s=%s'\nOr add a second + to add or override '%s': '++%s=%s'",
		    o->key, o->key, vt, o->key, o->key, vt);
	if (!parent || parent->type != LMS_CFG_MAP) {
		if (o->kind == LMS_OVR_CHANGE || (parent && parent->type != LMS_CFG_MAP))
			return lms_fail(LMS_ERR_CONFIG, "check the key with 'lmsens --cfg job'",
					"Could not override '%s'. '%s' is not a mapping", o->key,
					parent_path);
		struct lms_cfg *m = lms_cfg_new(LMS_CFG_MAP);
		if (!m)
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		LMS_TRY(lms_compose_merge_at(root, parent_path, m));
		lms_cfg_free(m);
		parent = lms_cfg_find(root, parent_path);
	}
	if (cur && cur->type == LMS_CFG_MAP && o->value->type == LMS_CFG_MAP)
		return lms_cfg_merge(cur, o->value); /* dicts are merged */
	struct lms_cfg *v = lms_cfg_copy(o->value);
	if (!v || lms_cfg_set_loc(v, "command line", 0, 0) != LMS_OK) {
		lms_cfg_free(v);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	return lms_cfg_map_set(parent, leaf, v);
}
