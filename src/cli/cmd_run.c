/* cmd_run.c — the main job: compose the config from conf/ + overrides and run
 * the planned jobs. Composition lands with src/config/ (issue: configuration). */
#include <stdio.h>

#include "cli/cli.h"

int lms_cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("lmsens %s\n", LMSENS_VERSION);
	return 0;
}

int lms_cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return lms_cli_fail(lms_fail(LMS_ERR_UNSUPPORTED, "run 'lmsens help' for the available commands",
				     "the configured job runner is not part of this build yet"));
}
