/* override.h — Hydra command-line overrides: `key=value`, `+key=value`,
 * `++key=value`, `~key[=value]`, `group@pkg=option`, and sweeps
 * (`a,b,c`, `choice(...)`, `range(...)`, `glob(...)`).
 *
 * Values are typed by Hydra's override lexer (OverrideLexer.g4, summarised
 * in reference/config-launch-storage.md §1.5): INT without leading zeros,
 * FLOAT with '.', exponent, inf or nan, BOOL only true/false, NULL, quoted
 * strings, `${...}` kept as text, backslash escapes in unquoted text, lists
 * `[...]` and dicts `{k: v}`. A primitive made of several tokens is a string.
 *
 * Does not: decide whether a key is a config group (compose.c does, with the
 * search path) or expand glob() (it needs the group's options). */
#ifndef LMS_CONFIG_OVERRIDE_H
#define LMS_CONFIG_OVERRIDE_H

#include <stddef.h>

#include "config/node.h"
#include "core/status.h"

enum lms_ovr_kind {
	LMS_OVR_CHANGE = 0, /* key=value */
	LMS_OVR_ADD,	    /* +key=value */
	LMS_OVR_FORCE_ADD,  /* ++key=value */
	LMS_OVR_DELETE,	    /* ~key or ~key=value */
};

enum lms_sweep_kind {
	LMS_SWEEP_NONE = 0,
	LMS_SWEEP_CHOICE, /* a,b,c or choice(a,b,c): values in `sweep` */
	LMS_SWEEP_RANGE,  /* range(...): already expanded into `sweep` */
	LMS_SWEEP_GLOB,	  /* glob(include, exclude=...): patterns in glob_* */
};

struct lms_override {
	char *text; /* the argument as given (owned) */
	enum lms_ovr_kind kind;
	char *key;	       /* without prefix and package: "dataset.size", "quant_pair" */
	char *pkg;	       /* the "@pkg" part, or NULL */
	struct lms_cfg *value; /* the value (owned); NULL for "~key" without value and for sweeps */
	enum lms_sweep_kind sweep;
	struct lms_cfg *sweep_values; /* LMS_CFG_SEQ of values for choice/range (owned) */
	struct lms_cfg *glob_include, *glob_exclude; /* LMS_CFG_SEQ of strings (owned) */
	char *value_text; /* the value as written after '=' (owned; "" for ~key) */
};

/* Parses one command-line argument. *out is filled (free with
 * lms_override_clear even on failure). Errors are LMS_ERR_USAGE with
 * "Error parsing override '<text>': ..." and a hint. */
LMS_NODISCARD enum lms_status lms_override_parse(const char *arg, struct lms_override *out);

/* Frees what an override owns and zeroes it. NULL-safe. */
void lms_override_clear(struct lms_override *o);

/* Parses a Hydra override value on its own ("[1,2]", "7.0", "'a b'") into a
 * new node; sweeps are refused. Used by tests and by the fuzz target. */
LMS_NODISCARD enum lms_status lms_override_parse_value(const char *text, struct lms_cfg **out);

/* Writes a value back in override syntax (for overrides.yaml and the job
 * plan): strings that would re-parse as something else are quoted. New string. */
LMS_NODISCARD enum lms_status lms_override_value_text(const struct lms_cfg *v, char **out);

/* 1 if s matches the glob pattern (fnmatch without special '/' handling). */
int lms_glob_match(const char *pattern, const char *s);

#endif
