/* fuzz_yaml.c — libFuzzer target for the YAML loader, the dumper and
 * interpolation: any input must load or fail cleanly; a loaded tree must
 * dump to YAML that loads back to the same dump (round trip); resolving it
 * must succeed or fail with a recorded error, never crash or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/interp.h"
#include "config/node.h"
#include "config/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lms_cfg *c = NULL;
	if (lms_yaml_load_string((const char *)data, size, "fuzz.yaml", &c) != LMS_OK) {
		if (lms_error_message()[0] == '\0')
			abort(); /* a failure must say why */
		return 0;
	}
	char *y1 = NULL, *y2 = NULL;
	if (lms_cfg_to_yaml(c, &y1) == LMS_OK) {
		struct lms_cfg *c2 = NULL;
		if (lms_yaml_load_string(y1, strlen(y1), "dump.yaml", &c2) != LMS_OK)
			abort(); /* the dump of a loaded tree must load */
		if (lms_cfg_to_yaml(c2, &y2) != LMS_OK || strcmp(y1, y2) != 0)
			abort(); /* and give the same tree */
		lms_cfg_free(c2);
	}
	struct lms_resolve_ctx ctx = {.now = 1700000000, .source_dir = "/src"};
	struct lms_cfg *r = NULL;
	if (lms_cfg_resolve(c, "", &ctx, &r) != LMS_OK && lms_error_message()[0] == '\0')
		abort();
	lms_cfg_free(r);
	free(y1);
	free(y2);
	lms_cfg_free(c);
	return 0;
}
