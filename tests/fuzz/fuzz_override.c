/* fuzz_override.c — libFuzzer target for the command-line override parser:
 * any argument must parse or fail with a recorded error; a parsed value
 * written back in override syntax must parse to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/override.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096 || memchr(data, 0, size))
		return 0;
	char *arg = malloc(size + 1);
	if (!arg)
		return 0;
	memcpy(arg, data, size);
	arg[size] = '\0';
	struct lms_override o;
	enum lms_status st = lms_override_parse(arg, &o);
	if (st != LMS_OK && lms_error_message()[0] == '\0')
		abort();
	if (st == LMS_OK && o.value) {
		char *t = NULL;
		if (lms_override_value_text(o.value, &t) == LMS_OK) {
			struct lms_cfg *back = NULL;
			if (lms_override_parse_value(t, &back) != LMS_OK)
				abort(); /* what we write must parse */
			char *y1 = NULL, *y2 = NULL;
			if (lms_cfg_to_yaml(o.value, &y1) == LMS_OK &&
			    lms_cfg_to_yaml(back, &y2) == LMS_OK && strcmp(y1, y2) != 0)
				abort(); /* to the same value */
			free(y1);
			free(y2);
			lms_cfg_free(back);
		}
		free(t);
	}
	lms_override_clear(&o);
	free(arg);
	return 0;
}
