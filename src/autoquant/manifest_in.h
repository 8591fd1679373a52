/* manifest_in.h — a struct lms_aq_result rebuilt from a
 * <scheme>_quant_manifest.json (ModelOpt candidate_stats + best, plus the
 * lmsens fields when present), for report-only mode without a statistics
 * file. See manifest_in.c for what can and cannot be recovered. */
#ifndef LMS_AUTOQUANT_MANIFEST_IN_H
#define LMS_AUTOQUANT_MANIFEST_IN_H

#include "autoquant/result.h"
#include "core/status.h"

/* Reads path into *out (initialised, empty), runs the search for the
 * manifest's target and returns LMS_OK; on failure *out is left empty.
 * Errors: LMS_ERR_NOT_FOUND (no file), LMS_ERR_INPUT (not JSON, or no usable
 * candidate_stats; the message names the file), LMS_ERR_UNSUPPORTED (groups
 * offering different format sets). */
LMS_NODISCARD enum lms_status lms_aq_result_from_manifest(const char *path, struct lms_aq_result *out);

#endif
