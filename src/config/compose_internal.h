/* compose_internal.h — shared between compose.c (one job's config) and
 * plan.c (sweeps, jobs, output directories). Not a public API.
 *
 * A composer holds the search path and a cache of parsed files, so that
 * composing the 21 jobs of a 7 × 3 sweep parses each YAML file once. */
#ifndef LMS_CONFIG_COMPOSE_INTERNAL_H
#define LMS_CONFIG_COMPOSE_INTERNAL_H

#include "config/config.h"
#include "config/strbuf.h"

#define LMS_MAX_DEFAULTS_DEPTH 32
#define LMS_MAX_CACHE 256

struct lms_cached_file {
	char *path;
	struct lms_cfg *tree; /* NULL: the file does not exist */
	char pkg[128];	      /* "# @package" directive, "" when none */
};

struct lms_composer {
	char **dirs; /* search path, highest priority first */
	size_t n_dirs;
	const char *config_name;
	struct lms_cached_file cache[LMS_MAX_CACHE];
	size_t n_cache;
	struct {
		char *name;
		int is_group;
	} groups[LMS_MAX_CACHE]; /* answers of lms_composer_is_group */
	size_t n_groups;
	struct lms_cfg *hydra_defaults; /* Hydra's run/sweep dir defaults, parsed once */
};

/* One job's composed config: the merged tree (with the hydra node), the
 * group choices (runtime.choices) and the --info defaults table. */
struct lms_composed {
	struct lms_cfg *cfg;	 /* owned */
	struct lms_cfg *choices; /* map group key → option (owned) */
	char *defaults_table;	 /* owned */
	char *primary_dir;	 /* owned */
};

/* Composes the primary config with one job's overrides (no sweeps). */
LMS_NODISCARD enum lms_status lms_compose_one(struct lms_composer *C,
					      const struct lms_override *ovr, size_t n_ovr,
					      struct lms_composed *out);
void lms_composed_clear(struct lms_composed *c);
void lms_composer_clear(struct lms_composer *C);

/* Merges content into root at the dotted package path (created as maps). */
LMS_NODISCARD enum lms_status lms_compose_merge_at(struct lms_cfg *root, const char *pkg,
						   const struct lms_cfg *content);
/* Applies a config (non-group) override with struct-mode rules (apply.c). */
LMS_NODISCARD enum lms_status lms_compose_apply_value(struct lms_cfg *root,
						      const struct lms_override *o);

/* Sorted options (file stems) of a group over the search path. */
LMS_NODISCARD enum lms_status lms_composer_options(struct lms_composer *C, const char *group,
						   char ***out, size_t *n);
/* 1 when `group` is a directory in the search path (a config group). */
int lms_composer_is_group(struct lms_composer *C, const char *group);

#endif
