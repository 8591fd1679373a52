/* cli.h — the subcommands of the lmsens executable.
 *
 * Each subcommand lives in src/cli/cmd_<name>.c as
 *   int lms_cmd_<name>(int argc, char **argv);   argv[0] is the command name
 * returning a process exit code (0 ok, 1 runtime failure, 2 user error), and
 * prints its own --help. main.c holds the table. Anything that is not a known
 * subcommand is the main job: Hydra-style overrides and flags (lms_cmd_run). */
#ifndef LMS_CLI_CLI_H
#define LMS_CLI_CLI_H

#include <stdio.h>

#include "core/status.h"

struct lms_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* Prints the last error (error: / hint:) and returns the exit code for st. */
int lms_cli_fail(enum lms_status st);

/* True when arg is "-h" or "--help". */
int lms_cli_is_help(const char *arg);

int lms_cmd_run(int argc, char **argv);

/* The main job's execution hook (src/cli/run_plan.c): for each job of the
 * plan it creates the output directory, writes .lmsens/{config,hydra,
 * overrides}.yaml (and multirun.yaml in the sweep directory), then runs the
 * job. plan is borrowed. Returns a process exit code. */
struct lms_plan;
struct lms_run_opts {
	const char *const *cli_overrides; /* the overrides as typed (for multirun.yaml) */
	size_t n_cli_overrides;
};
int lms_run_plan(const struct lms_plan *plan, const struct lms_run_opts *opts);
int lms_cmd_version(int argc, char **argv);
int lms_cmd_inspect(int argc, char **argv);
int lms_cmd_mkmodel(int argc, char **argv);
int lms_cmd_tokenize(int argc, char **argv);
int lms_cmd_report(int argc, char **argv);
int lms_cmd_eval(int argc, char **argv);
int lms_cmd_merge(int argc, char **argv);
int lms_cmd_bench(int argc, char **argv);

#endif
