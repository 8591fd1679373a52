/* cmd_eval.c — `lmsens eval [flags] [key=value ...]`: composes the config
 * like the main job (one job, no -m), loads the model and the calibration
 * batches it names (model.path, model.synthetic, dataset.*,
 * autoquant.batch_size, autoquant.loss_reduction, runner.backend) and prints
 * one JSON line per batch: {"batch": i, "loss": x, "tokens": n}, where loss
 * is the batch's causal-LM loss (mean over its valid shifted tokens, or the
 * sum with autoquant.loss_reduction=sum) and tokens that count.
 *
 * The work is lms_pipeline_eval (src/autoquant/pipeline.c); this file is
 * flags and errors only. Writes nothing but stdout (and a synthetic model at
 * model.path when model.synthetic asks for one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/pipeline.h"
#include "cli/cli.h"
#include "config/config.h"

static void help(void)
{
	printf("usage: lmsens eval [-cn NAME] [-cp DIR] [-cd DIR] [key=value ...]\n\n"
	       "Loads the model and the calibration batches of the composed config and\n"
	       "prints one JSON line per batch:\n"
	       "  {\"batch\": i, \"loss\": x, \"tokens\": n}\n"
	       "loss: the causal-LM loss of the batch (HF ForCausalLMLoss: mean over the\n"
	       "valid shifted tokens; the sum with autoquant.loss_reduction=sum);\n"
	       "tokens: the number of valid shifted tokens.\n\n"
	       "Keys used: model.path, model.synthetic, dataset.*, autoquant.batch_size,\n"
	       "autoquant.loss_reduction, runner.backend (auto|cpu|cuda).\n\n"
	       "example:\n"
	       "  lmsens eval -cn demo dataset.max_calib_samples=8\n");
}

static enum lms_status parse(int argc, char **argv, struct lms_compose_opts *o, const char **ovr,
			     const char **dirs)
{
	size_t n_ovr = 0, n_dirs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			ovr[n_ovr++] = a;
			continue;
		}
		const char **slot = NULL;
		if (strcmp(a, "-cn") == 0 || strcmp(a, "--config-name") == 0)
			slot = &o->config_name;
		else if (strcmp(a, "-cp") == 0 || strcmp(a, "--config-path") == 0)
			slot = &o->config_path;
		else if (strcmp(a, "-cd") == 0 || strcmp(a, "--config-dir") == 0)
			slot = &dirs[n_dirs];
		else if (strcmp(a, "-m") == 0 || strcmp(a, "--multirun") == 0)
			return lms_fail(LMS_ERR_USAGE, "run one configuration at a time",
					"lmsens eval does not sweep (-m)");
		else
			return lms_fail(LMS_ERR_USAGE, "see 'lmsens eval --help'",
					"unknown flag '%s' for eval", a);
		if (i + 1 >= argc)
			return lms_fail(LMS_ERR_USAGE, "give the flag a value",
					"flag '%s' needs a value", a);
		*slot = argv[++i];
		if (slot == &dirs[n_dirs])
			n_dirs++;
	}
	o->overrides = ovr;
	o->n_overrides = n_ovr;
	o->config_dirs = dirs;
	o->n_config_dirs = n_dirs;
	return LMS_OK;
}

int lms_cmd_eval(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (lms_cli_is_help(argv[i])) {
			help();
			return 0;
		}
	const char **ovr = calloc((size_t)argc + 1, sizeof *ovr);
	const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
	struct lms_compose_opts o = {0};
	struct lms_plan *plan = NULL;
	enum lms_status st = ovr && dirs ? parse(argc, argv, &o, ovr, dirs)
					 : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	if (st == LMS_OK)
		st = lms_config_compose(&o, &plan);
	if (st == LMS_OK && plan->n_jobs != 1)
		st = lms_fail(LMS_ERR_USAGE, "give single values, without sweeps",
			      "lmsens eval needs exactly one job, the overrides give %zu",
			      plan->n_jobs);
	if (st == LMS_OK)
		st = lms_pipeline_eval(plan->jobs[0].cfg, stdout);
	lms_plan_free(plan);
	free(ovr);
	free(dirs);
	return st == LMS_OK ? 0 : lms_cli_fail(st);
}
