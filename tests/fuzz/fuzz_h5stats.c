/* fuzz_h5stats.c — libFuzzer target for the statistics file read by
 * report-only (lms_h5stats_read, then every report renderer on what was
 * read). Any file must be read or refused with a message; a result that was
 * read must validate and render. The checked-in seed is a real
 * <scheme>_autoquant_state.h5, so mutations explore a valid layout.
 *
 * libhdf5 itself is not instrumented; a crash inside it on a corrupt file is
 * a libhdf5 bug that lmsens cannot fix, and docs/RELIABILITY.md lists any we
 * met. libhdf5 1.10.8 leaks object-header memory on some corrupt files, so
 * this target runs with -detect_leaks=0 and checks instead that no HDF5
 * object is left open (an id lmsens forgot to close). The file is a real one
 * (libhdf5 resolves the real path of what it opens, which a memfd lacks). */
#include <hdf5.h>

#include "autoquant/result.h"
#include "fuzz_util.h"
#include "io/h5stats.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_file file;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!file.path[0])
		fuzz_file_init_disk(&file);
	fuzz_file_set(&file, data, size);
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	enum lms_status st = lms_h5stats_read(file.path, &r);
	fuzz_check_error(st);
	if (st != LMS_OK && getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s\n", lms_error_message());
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
	ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
	if (open_ids != 0) {
		fprintf(stderr, "%zd HDF5 objects left open after reading\n", open_ids);
		abort(); /* an id the reader did not close */
	}
	return 0;
}
