/* cmd_eval.c — `lmsens eval [flags] [key=value ...]`: compose the config
 * like the main job, load the model and the calibration batches it names,
 * and print one JSON line per batch on stdout:
 *   {"batch": i, "loss": x, "tokens": n}
 * (loss = the unquantized model's causal-LM loss with
 * autoquant.loss_reduction, tokens = the valid shifted tokens it averages or
 * sums over). A quick check of model, tokenizer and data before a long job.
 * Exit 0, 2 for user errors (flags, config, missing model or captions),
 * 1 otherwise. Does not: write files (except the synthetic model that
 * model.synthetic asks for), sweep (-m), quantize. */
#include <stdio.h>
#include <string.h>

#include "autoquant/pipeline.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/log.h"

static void help(FILE *f)
{
	fprintf(f, "usage: lmsens eval [-cn NAME] [-cp DIR] [-cd DIR] [key=value ...]\n\n"
		   "Composes the configuration like the main job (default primary config: " LMS_DEFAULT_CONFIG_NAME
		   "),\n"
		   "loads model.path and the calibration batches of dataset.* / autoquant.batch_size,\n"
		   "and prints one JSON line per batch:\n"
		   "  {\"batch\": i, \"loss\": x, \"tokens\": n}\n"
		   "loss: the unquantized causal-LM loss (autoquant.loss_reduction mean or sum);\n"
		   "tokens: the valid shifted tokens of the batch.\n\n"
		   "flags:\n"
		   "  -cn, --config-name NAME   primary config (e.g. demo)\n"
		   "  -cp, --config-path DIR    the config directory\n"
		   "  -cd, --config-dir DIR     add DIR to the config search path\n"
		   "  -h, --help                this help\n\n"
		   "example:\n"
		   "  lmsens eval -cn demo dataset.max_calib_samples=8\n");
}

static int take_value(int argc, char **argv, int *i, const char *s, const char *l, const char **v)
{
	const char *a = argv[*i];
	size_t ll = strlen(l);
	if (strncmp(a, l, ll) == 0 && a[ll] == '=') {
		*v = a + ll + 1;
		return 1;
	}
	if (strcmp(a, s) != 0 && strcmp(a, l) != 0)
		return 0;
	*v = *i + 1 < argc ? argv[++*i] : NULL;
	return *v ? 1 : -1;
}

int lms_cmd_eval(int argc, char **argv)
{
	const char *ovr[256], *dirs[16];
	struct lms_compose_opts o = {0};
	size_t n_ovr = 0, n_dirs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int r;
		if (lms_cli_is_help(a)) {
			help(stdout);
			return 0;
		}
		if (a[0] != '-') {
			if (n_ovr == sizeof ovr / sizeof ovr[0])
				return lms_cli_fail(lms_fail(LMS_ERR_USAGE, NULL, "too many overrides"));
			ovr[n_ovr++] = a;
		} else if (strcmp(a, "-m") == 0 || strcmp(a, "--multirun") == 0) {
			return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "run one eval per configuration",
						     "lmsens eval does not sweep (-m)"));
		} else if ((r = take_value(argc, argv, &i, "-cn", "--config-name", &v)) != 0) {
			if (r < 0)
				goto missing;
			o.config_name = v;
		} else if ((r = take_value(argc, argv, &i, "-cp", "--config-path", &v)) != 0) {
			if (r < 0)
				goto missing;
			o.config_path = v;
		} else if ((r = take_value(argc, argv, &i, "-cd", "--config-dir", &v)) != 0) {
			if (r < 0)
				goto missing;
			if (n_dirs == sizeof dirs / sizeof dirs[0])
				return lms_cli_fail(lms_fail(LMS_ERR_USAGE, NULL, "too many -cd directories"));
			dirs[n_dirs++] = v;
		} else {
			return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "see 'lmsens eval --help'", "unknown flag '%s'", a));
		}
		continue;
	missing:
		return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "give the flag a value", "flag '%s' needs a value", a));
	}
	o.overrides = ovr;
	o.n_overrides = n_ovr;
	o.config_dirs = dirs;
	o.n_config_dirs = n_dirs;
	struct lms_plan *plan = NULL;
	enum lms_status st = lms_config_compose(&o, &plan);
	if (st == LMS_OK)
		st = lms_pipeline_eval(plan->jobs[0].cfg, stdout);
	lms_plan_free(plan);
	return st == LMS_OK ? 0 : lms_cli_fail(st);
}
