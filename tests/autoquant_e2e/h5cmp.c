/* h5cmp.c — test driver: compares two statistics files
 * (<scheme>_autoquant_state.h5) exactly, field by field
 * (lms_aq_result_equal), ignoring what legitimately differs between two runs
 * of the same job: the wall-clock timings and, with --ignore-config, the
 * composed config text (output directories, sweep overrides), and with
 * --ignore-calib-loss the calibration losses (/loss/calib: present only with
 * autoquant.calib_loss=true, whose other numbers must not change).
 *   h5cmp [--ignore-config] [--ignore-calib-loss] A.h5 B.h5
 *   → exit 0 equal, 1 different, 2 error */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/result.h"
#include "core/log.h"
#include "io/h5stats.h"

static void normalize(struct lms_aq_result *r, int ignore_config, int ignore_calib_loss)
{
	if (ignore_calib_loss)
		r->n_calib_loss = 0;
	for (size_t i = 0; i < r->n_timings; i++)
		r->timings[i].seconds = 0.0;
	if (ignore_config) {
		free(r->config_yaml);
		r->config_yaml = NULL;
	}
}

int main(int argc, char **argv)
{
	int ic = 0, il = 0, k = 1;
	for (; k < argc && strncmp(argv[k], "--", 2) == 0; k++) {
		if (strcmp(argv[k], "--ignore-config") == 0)
			ic = 1;
		else if (strcmp(argv[k], "--ignore-calib-loss") == 0)
			il = 1;
		else
			break;
	}
	if (argc != k + 2) {
		fprintf(stderr, "usage: h5cmp [--ignore-config] [--ignore-calib-loss] A.h5 B.h5\n");
		return 2;
	}
	struct lms_aq_result a, b;
	lms_aq_result_init(&a);
	lms_aq_result_init(&b);
	if (lms_h5stats_read(argv[k], &a) != LMS_OK || lms_h5stats_read(argv[k + 1], &b) != LMS_OK) {
		lms_log_last_error();
		return 2;
	}
	normalize(&a, ic, il);
	normalize(&b, ic, il);
	char why[1024] = "";
	int eq = lms_aq_result_equal(&a, &b, why, sizeof why);
	if (!eq)
		printf("different: %s\n", why);
	lms_aq_result_free(&a);
	lms_aq_result_free(&b);
	return eq ? 0 : 1;
}
