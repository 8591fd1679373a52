/* h5stats.h — the per-job statistics file <scheme>_autoquant_state.h5.
 *
 * One serial HDF5 file per job (per quant pair), written by the job's leader
 * after the in-group reduction. The schema (groups, datasets, attributes,
 * types) is documented in docs/outputs.md and versioned by the root
 * attribute schema_version (= LMS_AQ_SCHEMA_VERSION).
 *
 * Invariants:
 *   - the file appears under its final name only when complete: it is
 *     written to "<path>.tmp.<pid>", closed, fsync'ed and renamed;
 *   - writing the same result twice gives byte-identical files (no object
 *     timestamps, fixed-length strings, deterministic layout);
 *   - lms_h5stats_read(lms_h5stats_write(r)) == r exactly (lms_aq_result_equal),
 *     with NULL strings coming back as "".
 *
 * Does not: merge jobs into a sweep file, or run the search. */
#ifndef LMS_IO_H5STATS_H
#define LMS_IO_H5STATS_H

#include "autoquant/result.h"
#include "core/status.h"

/* File name suffix: "<scheme>" LMS_H5STATS_SUFFIX. */
#define LMS_H5STATS_SUFFIX "_autoquant_state.h5"

/* Validates r (lms_aq_result_validate) and writes it to path atomically.
 * r is borrowed. LMS_ERR_INPUT for an inconsistent result, LMS_ERR_IO when
 * the file cannot be written (no partial file is left behind). */
LMS_NODISCARD enum lms_status lms_h5stats_write(const struct lms_aq_result *r, const char *path);

/* Reads path into *out, which must be empty (initialised); on failure *out is
 * left empty. Missing, mistyped or mis-shaped datasets, a wrong schema
 * version and inconsistent contents fail with LMS_ERR_INPUT (or
 * LMS_ERR_NOT_FOUND for a missing file) and a message naming the file and the
 * dataset. */
LMS_NODISCARD enum lms_status lms_h5stats_read(const char *path, struct lms_aq_result *out);

/* Same, for a job stored under `group` of a larger file (e.g. "/jobs/3" of a
 * sweep.h5 made by copying job files with H5Ocopy); group "/" or NULL is the
 * file itself. Messages name "<path>:<group>". */
LMS_NODISCARD enum lms_status lms_h5stats_read_group(const char *path, const char *group,
						     struct lms_aq_result *out);

#endif
