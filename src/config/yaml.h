/* yaml.h — YAML files to lms_cfg trees (libyaml), typed like OmegaConf.
 *
 * Plain scalars are typed with PyYAML's YAML 1.1 implicit resolvers plus
 * OmegaConf's extra float rule (yes/on → true, 010 → 8, 1e-3 → 0.001,
 * 2024-01-02 → string); quoted scalars are strings; explicit !!str, !!int,
 * !!float, !!bool, !!null tags are honoured. "???" is LMS_CFG_MISSING.
 * Anchors, aliases and "<<" merge keys work as in PyYAML's SafeLoader.
 *
 * Hostile input is bounded: file size (LMS_YAML_MAX_BYTES), nesting depth,
 * and the number of nodes aliases may expand to (a "billion laughs" file is
 * refused); recursive aliases and duplicate keys are errors. Every error
 * names file:line:col and carries a hint.
 *
 * Does not: resolve interpolations, apply Hydra's defaults lists, write YAML
 * (node.h has lms_cfg_to_yaml). */
#ifndef LMS_CONFIG_YAML_H
#define LMS_CONFIG_YAML_H

#include <stddef.h>

#include "config/node.h"
#include "core/status.h"

#define LMS_YAML_MAX_BYTES (4u << 20)
#define LMS_YAML_MAX_DEPTH 64
#define LMS_YAML_MAX_ALIAS_NODES 100000

/* Loads one YAML document from a file. An empty file gives an empty map.
 * *out is new (lms_cfg_free). Errors: LMS_ERR_NOT_FOUND (no such file),
 * LMS_ERR_CONFIG (bad YAML, with file:line:col), LMS_ERR_INPUT (too big). */
LMS_NODISCARD enum lms_status lms_yaml_load_file(const char *path, struct lms_cfg **out);

/* Same for text in memory (len bytes, need not be NUL-terminated); `name`
 * is used as the file name in locations and messages. */
LMS_NODISCARD enum lms_status lms_yaml_load_string(const char *text, size_t len, const char *name,
						   struct lms_cfg **out);

/* The type YAML 1.1 + OmegaConf give the plain (unquoted, untagged) scalar s. */
enum lms_cfg_type lms_yaml_plain_type(const char *s);

/* A new typed node for the plain scalar s (as in a YAML file). */
LMS_NODISCARD enum lms_status lms_yaml_plain_scalar(const char *s, struct lms_cfg **out);

/* The package of a "# @package <pkg>" line in the file's header comments
 * (Hydra), copied into buf; returns 1 when found, 0 otherwise. */
int lms_yaml_package_directive(const char *text, char *buf, size_t cap);

#endif
