/* node.h — the configuration tree: maps, sequences and typed scalars.
 *
 * A `struct lms_cfg` is one node. Scalars are typed (null, bool, int, float,
 * string) and `???` is its own type (LMS_CFG_MISSING, OmegaConf's mandatory
 * value). Maps keep their keys in insertion order (OmegaConf/YAML order is
 * what users see in dumps). Every node may carry the place it came from
 * (file:line:col, or the command-line override) so errors can point at it.
 *
 * Invariants: a node owns all its children, keys and strings; there are no
 * parent pointers and no sharing, so any subtree can be moved or copied.
 * Strings that contain "${" are interpolations; they stay unresolved in the
 * tree until lms_cfg_resolve() (src/config/interp.c) produces a resolved copy.
 *
 * Getters take a dotted key path ("dataset.calib_seq_len", "a.b[2]") and on
 * failure record an error that names the key path (and, for unknown keys, the
 * closest existing keys).
 *
 * This file does not read YAML (yaml.h), resolve interpolations (config.h)
 * or know anything about Hydra composition (compose.c). */
#ifndef LMS_CONFIG_NODE_H
#define LMS_CONFIG_NODE_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

enum lms_cfg_type {
	LMS_CFG_NULL = 0,
	LMS_CFG_MISSING, /* "???": a mandatory value nobody set */
	LMS_CFG_BOOL,
	LMS_CFG_INT,
	LMS_CFG_FLOAT,
	LMS_CFG_STR,
	LMS_CFG_MAP,
	LMS_CFG_SEQ,
};

struct lms_cfg {
	enum lms_cfg_type type;
	int b;	     /* LMS_CFG_BOOL */
	long long i; /* LMS_CFG_INT */
	double f;    /* LMS_CFG_FLOAT */
	char *s;     /* LMS_CFG_STR: the value (owned) */
	size_t n;    /* map/seq: number of children */
	size_t cap;
	char **keys;	       /* map: keys[0..n) (owned) */
	struct lms_cfg **kids; /* map/seq: children (owned) */
	const char *file;      /* where it came from: a file path, or "command line"; may be
				* NULL. Interned by lms_cfg_set_loc: shared, never freed. */
	int line, col;	       /* 1-based; 0 when unknown */
};

/* Constructors. All return a new node (free with lms_cfg_free) or NULL when
 * out of memory. lms_cfg_new_str copies s. */
struct lms_cfg *lms_cfg_new(enum lms_cfg_type type);
struct lms_cfg *lms_cfg_new_str(const char *s);
struct lms_cfg *lms_cfg_new_int(long long v);
struct lms_cfg *lms_cfg_new_float(double v);
struct lms_cfg *lms_cfg_new_bool(int v);

/* Frees a node and everything under it. NULL-safe. */
void lms_cfg_free(struct lms_cfg *n);

/* Deep copy (new; NULL when out of memory or n is NULL). */
struct lms_cfg *lms_cfg_copy(const struct lms_cfg *n);

/* Sets the source location (copies file; file may be NULL). */
LMS_NODISCARD enum lms_status lms_cfg_set_loc(struct lms_cfg *n, const char *file, int line,
					      int col);

/* Map access. lms_cfg_map_get returns the child (borrowed) or NULL. */
struct lms_cfg *lms_cfg_map_get(const struct lms_cfg *map, const char *key);
/* Index of key in map, or -1. */
long lms_cfg_map_index(const struct lms_cfg *map, const char *key);
/* Sets map[key] = val; val is stolen (freed on failure too); an existing
 * child with that key is freed and replaced in place (order kept). A NULL
 * val is LMS_ERR_NOMEM (the failed constructor of the caller's argument). */
LMS_NODISCARD enum lms_status lms_cfg_map_set(struct lms_cfg *map, const char *key,
					      struct lms_cfg *val);
/* Removes map[key] and returns it (new, caller frees) or NULL if absent. */
struct lms_cfg *lms_cfg_map_take(struct lms_cfg *map, const char *key);
/* Appends val (stolen, freed on failure) to a sequence; NULL is LMS_ERR_NOMEM. */
LMS_NODISCARD enum lms_status lms_cfg_seq_push(struct lms_cfg *seq, struct lms_cfg *val);

/* Replaces *dst's content with src's (src is stolen: its shell is freed). */
void lms_cfg_replace(struct lms_cfg *dst, struct lms_cfg *src);

/* OmegaConf merge of src into dst: maps merge key by key (recursively),
 * everything else (lists included) is replaced; a MISSING ("???") value in
 * src never overwrites dst. src is borrowed. */
LMS_NODISCARD enum lms_status lms_cfg_merge(struct lms_cfg *dst, const struct lms_cfg *src);

/* Finds a node by dotted path ("a.b", "a.b[0]", "" = root). Returns NULL
 * when absent; no error is recorded. */
struct lms_cfg *lms_cfg_find(const struct lms_cfg *root, const char *path);

/* Like lms_cfg_find but records LMS_ERR_NOT_FOUND naming the path and the
 * closest existing keys when absent. *out is borrowed. */
LMS_NODISCARD enum lms_status lms_cfg_get_node(const struct lms_cfg *root, const char *path,
					       struct lms_cfg **out);

/* Typed getters: fail with LMS_ERR_CONFIG naming the key path when the node
 * has another type (null included), with LMS_ERR_NOT_FOUND when absent.
 * get_double accepts ints; get_str's *out is borrowed from the tree. */
LMS_NODISCARD enum lms_status lms_cfg_get_int(const struct lms_cfg *root, const char *path,
					      long long *out);
LMS_NODISCARD enum lms_status lms_cfg_get_double(const struct lms_cfg *root, const char *path,
						 double *out);
LMS_NODISCARD enum lms_status lms_cfg_get_bool(const struct lms_cfg *root, const char *path,
					       int *out);
LMS_NODISCARD enum lms_status lms_cfg_get_str(const struct lms_cfg *root, const char *path,
					      const char **out);
/* 1 if the path exists and holds null, else 0 (absent counts as not null). */
int lms_cfg_is_null(const struct lms_cfg *root, const char *path);

/* Type name for messages ("an integer", "a string", ...). */
const char *lms_cfg_type_name(enum lms_cfg_type t);

/* Writes the closest keys to `key` among map's keys (by edit distance) into
 * buf as "'a', 'b'" (empty when none is close). */
void lms_cfg_closest_keys(const struct lms_cfg *map, const char *key, char *buf, size_t cap);

/* YAML text of a tree, like OmegaConf.to_yaml (block style, 2-space indent,
 * strings quoted only when needed to keep their type). New string (free()). */
LMS_NODISCARD enum lms_status lms_cfg_to_yaml(const struct lms_cfg *n, char **out);

/* Writes a scalar the way an override value would be written (for messages
 * and overrides.yaml): 7.0, true, null, abc. Into buf (cap bytes). */
void lms_cfg_scalar_text(const struct lms_cfg *n, char *buf, size_t cap);

#endif
