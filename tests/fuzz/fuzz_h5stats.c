/* fuzz_h5stats.c — libFuzzer target for the statistics file read by
 * report-only (lms_h5stats_read, then every report renderer on what was
 * read). Any file must be read or refused with a message; a result that was
 * read must validate and render. The checked-in seed is a real
 * <scheme>_autoquant_state.h5, so mutations explore a valid layout.
 *
 * libhdf5 itself is not instrumented; a crash inside it on a corrupt file is
 * a libhdf5 bug that lmsens cannot fix, and docs/RELIABILITY.md lists any we
 * met. Only lmsens code is on trial here. */
#include "autoquant/result.h"
#include "fuzz_util.h"
#include "io/h5stats.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_file file;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!file.path[0])
		fuzz_file_init(&file, "state.h5");
	fuzz_file_set(&file, data, size);
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	enum lms_status st = lms_h5stats_read(file.path, &r);
	fuzz_check_error(st);
	if (st == LMS_OK) {
		if (lms_aq_result_validate(&r, "fuzz") != LMS_OK)
			abort(); /* the reader promises a valid result */
		char *out = NULL;
		if (lms_report_manifest_json(&r, &out) != LMS_OK)
			abort();
		free(out);
		out = NULL;
		if (lms_report_sensitivity_json(&r, &out) != LMS_OK)
			abort();
		free(out);
		out = NULL;
		if (lms_report_markdown(&r, &out) != LMS_OK)
			abort();
		free(out);
		out = NULL;
		if (lms_report_svg(&r, &out) != LMS_OK)
			abort();
		free(out);
	}
	lms_aq_result_free(&r);
	return 0;
}
