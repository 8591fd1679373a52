/* fuzz_ledger.c — libFuzzer target for the sweep ledger read by resume
 * (lms_ledger_last, src/dist/ledger.c): any file must be read or refused
 * with a message; every record it returns must be a JSON object whose "job"
 * is an integer in range and whose "event" is a terminal one. */
#include <jansson.h>

#include "dist/dist_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_JOBS 6

static struct fuzz_file file;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!file.path[0])
		fuzz_file_init(&file, "ledger.jsonl");
	fuzz_file_set(&file, data, size);
	void *last[N_JOBS];
	enum lms_status st = lms_ledger_last(file.path, N_JOBS, last);
	fuzz_check_error(st);
	for (int k = 0; k < N_JOBS; k++) {
		json_t *r = last[k];
		if (st != LMS_OK && r)
			abort();
		if (!r)
			continue;
		const char *ev = json_string_value(json_object_get(r, "event"));
		json_t *job = json_object_get(r, "job");
		if (!json_is_object(r) || !json_is_integer(job) || json_integer_value(job) != k ||
		    !ev ||
		    (strcmp(ev, "done") && strcmp(ev, "failed") && strcmp(ev, "interrupted")))
			abort();
		json_decref(r);
	}
	return 0;
}
