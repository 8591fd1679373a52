/* test_dist_sched.c — unit tests of the runner's pieces that need no MPI:
 * the FNV-1a 64 checksum (published test vectors), the ledger (append, last
 * terminal record per job, a torn last line ignored and not swallowing the
 * next record, foreign job numbers ignored) and the stop flag. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist.h"
#include "dist/dist_internal.h"
#include "test.h"

static void test_fnv(const char *dir)
{
	/* FNV-1a 64 vectors (Fowler/Noll/Vo reference): "" and "a", "foobar" */
	CHECK(lms_fnv1a64(LMS_FNV_INIT, "", 0) == 0xcbf29ce484222325ULL);
	CHECK(lms_fnv1a64(LMS_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
	CHECK(lms_fnv1a64(LMS_FNV_INIT, "foobar", 6) == 0x85944171f73967e8ULL);
	char path[4096], hex[17];
	snprintf(path, sizeof path, "%s/f.txt", dir);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	fputs("foobar", f);
	fclose(f);
	CHECK(lms_dist_file_hash(path, hex) == LMS_OK);
	CHECK_STR_EQ(hex, "85944171f73967e8");
	snprintf(path, sizeof path, "%s/nope", dir);
	CHECK(lms_dist_file_hash(path, hex) == LMS_ERR_NOT_FOUND);
}

static void append(const char *path, const char *text)
{
	json_t *r = json_loads(text, 0, NULL);
	CHECK(r != NULL);
	CHECK(lms_ledger_append(path, r) == LMS_OK);
	json_decref(r);
}

static void test_ledger(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/ledger.jsonl", dir);
	void *last[3];
	CHECK(lms_ledger_last(path, 3, last) == LMS_OK); /* no ledger: no records */
	CHECK(last[0] == NULL && last[1] == NULL && last[2] == NULL);
	append(path, "{\"event\":\"sweep_start\"}");
	append(path, "{\"event\":\"start\",\"job\":0}");
	append(path, "{\"event\":\"failed\",\"job\":0,\"error\":\"x\"}");
	append(path, "{\"event\":\"done\",\"job\":0}");
	append(path, "{\"event\":\"start\",\"job\":0}"); /* a start is not terminal */
	append(path, "{\"event\":\"interrupted\",\"job\":1}");
	append(path, "{\"event\":\"done\",\"job\":7}"); /* not a job of this plan */
	FILE *f = fopen(path, "ab");
	CHECK(f != NULL);
	fputs("{\"event\":\"done\",\"job\":2", f); /* torn: the writer died */
	fclose(f);
	CHECK(lms_ledger_last(path, 3, last) == LMS_OK);
	CHECK(last[0] && strcmp(json_string_value(json_object_get(last[0], "event")), "done") == 0);
	CHECK(last[1] &&
	      strcmp(json_string_value(json_object_get(last[1], "event")), "interrupted") == 0);
	CHECK(last[2] == NULL);
	for (int k = 0; k < 3; k++)
		json_decref(last[k]);
	/* an append after the torn line starts a new line: the record survives */
	append(path, "{\"event\":\"done\",\"job\":2}");
	CHECK(lms_ledger_last(path, 3, last) == LMS_OK);
	CHECK(last[2] && strcmp(json_string_value(json_object_get(last[2], "event")), "done") == 0);
	for (int k = 0; k < 3; k++)
		json_decref(last[k]);
	/* each record is one line */
	char *text = NULL;
	size_t len = 0;
	f = fopen(path, "rb");
	CHECK(f != NULL);
	CHECK(getdelim(&text, &len, '\0', f) > 0);
	fclose(f);
	int lines = 0;
	for (char *p = text; p && *p; p++)
		lines += *p == '\n';
	CHECK_INT_EQ(lines, 9); /* 7 records, the torn line, 1 after it */
	free(text);
}

int main(void)
{
	char dir[] = "/tmp/lms_dist_XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	test_fnv(dir);
	test_ledger(dir);
	CHECK(!lms_dist_interrupted());
	lms_dist_request_stop();
	CHECK(lms_dist_interrupted());
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return lms_test_finish();
}
