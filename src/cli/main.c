/* main.c — lmsens entry point: dispatches to a subcommand or runs the main job. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "dist/dist.h"

static const struct lms_command g_commands[] = {
	{"version", "print the version", lms_cmd_version},
	{"inspect", "check a checkpoint and print the model summary", lms_cmd_inspect},
	{"mkmodel", "write a checkpoint with seeded random weights (presets)", lms_cmd_mkmodel},
	{"tokenize", "encode lines with a tokenizer.json (one JSON id array per line)", lms_cmd_tokenize},
	{"report", "rebuild a job's manifest and reports from its statistics (.h5)", lms_cmd_report},
	{"eval", "print the loss of each calibration batch of the config (JSON lines)", lms_cmd_eval},
	{"bench", "measure GEMM/copy peaks and time the AutoQuant phases (docs/BENCHMARKS.md)", lms_cmd_bench},
	{"merge", "merge sweeps (or single runs) into one sweep.h5 and summary", lms_cmd_merge},
};

#define N_COMMANDS (sizeof g_commands / sizeof g_commands[0])

static void usage(FILE *f)
{
	fprintf(f,
		"lmsens %s — per-layer quantization sensitivity of transformer language models\n\n"
		"usage: lmsens [flags] [key=value ...]     run the sensitivity job(s) of the config\n"
		"       lmsens <command> [args]            run a command\n\n"
		"commands:\n",
		LMSENS_VERSION);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", g_commands[i].name, g_commands[i].summary);
	fprintf(f, "\n'lmsens <command> --help' describes a command. The manual is docs/README.md.\n");
}

int lms_cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int lms_cli_fail(enum lms_status st)
{
	lms_log_last_error();
	return lms_status_exit_code(st);
}

int main(int argc, char **argv)
{
	lms_log_init_from_env();
	lms_dist_init(&argc, &argv); /* MPI (under a launcher), signals; finalizes at exit */
	if (argc >= 2) {
		if (strcmp(argv[1], "--version") == 0) {
			printf("lmsens %s\n", LMSENS_VERSION);
			return 0;
		}
		if (strcmp(argv[1], "help") == 0 || lms_cli_is_help(argv[1])) {
			/* the commands, then the main job's flags (cmd_run.c) */
			usage(stdout);
			printf("\n");
			char *job_help[] = {argv[0], "--help", NULL};
			return lms_cmd_run(2, job_help);
		}
		for (size_t i = 0; i < N_COMMANDS; i++)
			if (strcmp(argv[1], g_commands[i].name) == 0)
				return g_commands[i].run(argc - 1, argv + 1);
	}
	return lms_cmd_run(argc, argv);
}
