/* report.h — the human- and machine-readable artifacts of one AutoQuant job,
 * rendered from a struct lms_aq_result:
 *
 *   <scheme>_quant_manifest.json   ModelOpt-style candidate_stats + best, plus
 *                                  model, dataset, pair, settings, tool, timings
 *   per-layer-sensitivity.md       ranked table, summary, frontier
 *   per-layer-sensitivity.json     the same, machine-readable
 *   per-layer-sensitivity.svg      log-scale score per layer, chosen formats marked
 *
 * Invariants:
 *   - every renderer is a pure function of the result: the same result gives
 *     the same bytes (no clocks, no locale, no hash order), so a report
 *     rebuilt from the HDF5 file is byte-identical to the one the run wrote;
 *   - files are written atomically (temporary name + rename);
 *   - JSON floats are printed with 17 significant digits (exact round trip).
 *
 * The only field that differs between two otherwise identical runs is the
 * manifest's "timings" object (wall-clock seconds); per-layer-sensitivity.*
 * carry no timings.
 *
 * Does not: merge sweeps. The renderers do not run the search: a result
 * without search output gets reports without chosen formats (only
 * lms_report_from_h5 runs it). */
#ifndef LMS_REPORT_REPORT_H
#define LMS_REPORT_REPORT_H

#include <stddef.h>

#include "autoquant/result.h"
#include "core/status.h"

#define LMS_REPORT_MANIFEST_SUFFIX "_quant_manifest.json"
#define LMS_REPORT_MD "per-layer-sensitivity.md"
#define LMS_REPORT_JSON "per-layer-sensitivity.json"
#define LMS_REPORT_SVG "per-layer-sensitivity.svg"

/* Renderers: each sets *out to a new NUL-terminated text (caller frees with
 * free()). r is borrowed and must satisfy lms_aq_result_validate. */
LMS_NODISCARD enum lms_status lms_report_manifest_json(const struct lms_aq_result *r, char **out);
LMS_NODISCARD enum lms_status lms_report_sensitivity_json(const struct lms_aq_result *r,
							  char **out);
LMS_NODISCARD enum lms_status lms_report_markdown(const struct lms_aq_result *r, char **out);
LMS_NODISCARD enum lms_status lms_report_svg(const struct lms_aq_result *r, char **out);

/* Sensitivity ranking: order[k] is the group ranked k-th (most sensitive
 * first); rank[g] is group g's rank, 1-based, or 0 for disabled groups,
 * which come last in model order. Ranked by the raw score at the most
 * aggressive format (formats[0]), descending; ties keep model order. Both
 * arrays have n_groups entries and are caller-owned. */
void lms_report_rank(const struct lms_aq_result *r, size_t *order, int *rank);

/* Validates r, then writes the four artifacts into dir (created if needed).
 * scheme names the manifest; NULL or "" uses r->job.scheme. */
LMS_NODISCARD enum lms_status lms_report_write_all(const struct lms_aq_result *r, const char *dir,
						   const char *scheme);

/* Report-only mode: reads the statistics file h5_path (src/io/h5stats.h) and
 * writes the four artifacts into dir with the scheme recorded in the file.
 * A file without search output (written before the search) gets the exact
 * search (lms_search_result, src/autoquant/search.h) run on it first. */
LMS_NODISCARD enum lms_status lms_report_from_h5(const char *h5_path, const char *dir);
/* Same for a job stored under `group` of a sweep file (lms_h5stats_read_group). */
LMS_NODISCARD enum lms_status lms_report_from_h5_group(const char *h5_path, const char *group,
						       const char *dir);

/* Internal helpers shared by the renderers (src/report/ only). */
/* Mean of the scoring losses (or of the calibration losses when there are
 * none); sets *ok = 0 when there is no loss at all. */
double lms_report_mean_loss(const struct lms_aq_result *r, int *ok);
/* Short member label: the module's kind ("q_proj"), else its full name. */
const char *lms_report_member_label(const struct lms_aq_result *r, size_t module);

#endif
