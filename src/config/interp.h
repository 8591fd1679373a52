/* interp.h — OmegaConf interpolation: `${a.b}`, relative `${.x}` / `${..x}`,
 * resolvers `${oc.env:VAR,default}`, `${oc.select:key,default}`,
 * `${hydra:path}`, `${now:fmt}`, `${lmsens:source_dir}`, escapes `\${`.
 *
 * A string that is exactly one interpolation takes the referenced node's
 * type (`${dataset.calib_seq_len}` is an int); any concatenation is a string
 * with Python's str() of each part (True, None, 7.0). Interpolations that
 * point at interpolations resolve recursively; cycles and references to
 * `???` are errors that name the key being resolved.
 *
 * Does not: interpolate inside defaults lists (compose.c refuses those). */
#ifndef LMS_CONFIG_INTERP_H
#define LMS_CONFIG_INTERP_H

#include <time.h>

#include "config/node.h"
#include "core/status.h"

struct lms_resolve_ctx {
	time_t now;		/* the run's fixed time for ${now:...} */
	const char *source_dir; /* ${lmsens:source_dir} */
};

/* A new, fully resolved copy of the node at `path` in root ("" = all of
 * root). root is borrowed. Errors are LMS_ERR_CONFIG naming the key. */
LMS_NODISCARD enum lms_status lms_cfg_resolve(const struct lms_cfg *root, const char *path,
					      const struct lms_resolve_ctx *ctx,
					      struct lms_cfg **out);

/* 1 if s holds an (unescaped or escaped) interpolation "${". */
int lms_cfg_has_interp(const char *s);

#endif
