/* h5cmp.c — test driver: compares two statistics files
 * (<scheme>_autoquant_state.h5) exactly, field by field
 * (lms_aq_result_equal), ignoring what legitimately differs between two runs
 * of the same job: the wall-clock timings and, with --ignore-config, the
 * composed config text (output directories, sweep overrides).
 *   h5cmp [--ignore-config] A.h5 B.h5   → exit 0 equal, 1 different, 2 error */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/result.h"
#include "core/log.h"
#include "io/h5stats.h"

static void normalize(struct lms_aq_result *r, int ignore_config)
{
	for (size_t i = 0; i < r->n_timings; i++)
		r->timings[i].seconds = 0.0;
	if (ignore_config) {
		free(r->config_yaml);
		r->config_yaml = NULL;
	}
}

int main(int argc, char **argv)
{
	int ic = argc > 1 && strcmp(argv[1], "--ignore-config") == 0;
	if (argc != 3 + ic) {
		fprintf(stderr, "usage: h5cmp [--ignore-config] A.h5 B.h5\n");
		return 2;
	}
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	lms_aq_result_init(&b);
	if (lms_h5stats_read(argv[1 + ic], &a) != LMS_OK || lms_h5stats_read(argv[2 + ic], &b) != LMS_OK) {
		lms_log_last_error();
		return 2;
	}
	normalize(&a, ic);
	normalize(&b, ic);
	char why[1024] = "";
	int eq = lms_aq_result_equal(&a, &b, why, sizeof why);
	if (!eq)
		printf("different: %s\n", why);
	lms_aq_result_free(&a);
	lms_aq_result_free(&b);
	return eq ? 0 : 1;
}
