/* cmd_run.c — the main job, Hydra style: parse the flags (-m, -cn, -cp, -cd,
 * --cfg, --resolve, --info, --dry-run, --help) and the key=value overrides,
 * compose the config into a job plan (src/config/), print what was asked
 * for, or hand the plan to lms_run_plan (run_plan.c).
 *
 * Everything that does not start with '-' is an override; flags and
 * overrides may be mixed in any order, as with Hydra. Exit codes: 0 ok,
 * 2 for user errors (bad flag, override or config), else what the runner
 * returns. Does not: create files (run_plan.c does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/log.h"
#include "dist/dist.h"

int lms_cmd_version(int argc, char **argv)
{
	if (argc >= 2 && lms_cli_is_help(argv[1])) {
		printf("usage: lmsens version   (or lmsens --version)\n\n"
		       "Prints the version of lmsens, as recorded in every manifest and .h5 file.\n");
		return 0;
	}
	printf("lmsens %s\n", LMSENS_VERSION);
	return 0;
}

static void help(void)
{
	printf("usage: lmsens [flags] [key=value ...]\n\n"
	       "Composes conf/ (default primary config: " LMS_DEFAULT_CONFIG_NAME ") with\n"
	       "Hydra-style overrides and runs the sensitivity job(s).\n\n"
	       "flags:\n"
	       "  -m, --multirun            sweep: a,b,c / choice() / range() / glob() values\n"
	       "  -cn, --config-name NAME   primary config (looked up as preset/NAME, then NAME)\n"
	       "  -cp, --config-path DIR    the config directory (default: $LMSENS_CONF_DIR,\n"
	       "                            ./conf, or the source tree's conf/)\n"
	       "  -cd, --config-dir DIR     add DIR to the search path (before the others)\n"
	       "  -c, --cfg job|hydra|all   print the composed config and exit\n"
	       "  --resolve                 with --cfg: resolve interpolations\n"
	       "  -i, --info defaults|searchpath|all   print composition details and exit\n"
	       "  --dry-run                 print the job plan and run nothing\n"
	       "                            (same as runner.dry_run=true)\n"
	       "  --version                 print the version\n"
	       "  -h, --help                this help\n\n"
	       "overrides:\n"
	       "  key=value    change a value     (dataset.size=medium)\n"
	       "  group=option choose a config     (quant_pair=wfp8_afp16)\n"
	       "  +key=value   add a new key       ++key=value  add or change\n"
	       "  ~key         delete a key or group\n\n"
	       "examples:\n"
	       "  lmsens output_layout=tmp quant_pair=wfp8_afp8 dataset.size=small\n"
	       "  lmsens -m output_layout=publish quant_pair=wfp4_afp8,wfp8_afp8 "
	       "dataset.size=small,medium\n"
	       "  lmsens --cfg job quant_pair=wint8_afp16\n"
	       "  lmsens -cn demo\n\n"
	       "The manual: docs/README.md (commands: docs/usage.md, keys and defaults:\n"
	       "docs/config-reference.md, composition rules: docs/config.md).\n");
}

struct args {
	struct lms_compose_opts o;
	const char *cfg; /* --cfg value or NULL */
	int resolve;
	const char *info; /* --info value or NULL */
	int dry_run;
	const char **ovr;
	size_t n_ovr;
	const char **dirs;
	size_t n_dirs;
};

/* Value of a flag given as "--flag VALUE" or "--flag=VALUE". */
static int flag_value(int argc, char **argv, int *i, const char *s, const char *l, const char **out)
{
	const char *a = argv[*i];
	size_t ll = strlen(l);
	if (strncmp(a, l, ll) == 0 && a[ll] == '=') {
		*out = a + ll + 1;
		return 1;
	}
	if (strcmp(a, l) != 0 && !(s && strcmp(a, s) == 0))
		return 0;
	if (*i + 1 >= argc) {
		*out = NULL;
		return -1;
	}
	*out = argv[++*i];
	return 1;
}

static enum lms_status parse_args(int argc, char **argv, struct args *A)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int r;
		if (a[0] != '-') {
			A->ovr[A->n_ovr++] = a;
			continue;
		}
		if (strcmp(a, "-m") == 0 || strcmp(a, "--multirun") == 0) {
			A->o.multirun = 1;
		} else if (strcmp(a, "--resolve") == 0) {
			A->resolve = 1;
		} else if (strcmp(a, "--dry-run") == 0) {
			A->dry_run = 1;
		} else if ((r = flag_value(argc, argv, &i, "-cn", "--config-name", &v)) != 0) {
			if (r < 0)
				goto missing;
			A->o.config_name = v;
		} else if ((r = flag_value(argc, argv, &i, "-cp", "--config-path", &v)) != 0) {
			if (r < 0)
				goto missing;
			A->o.config_path = v;
		} else if ((r = flag_value(argc, argv, &i, "-cd", "--config-dir", &v)) != 0) {
			if (r < 0)
				goto missing;
			A->dirs[A->n_dirs++] = v;
		} else if ((r = flag_value(argc, argv, &i, "-c", "--cfg", &v)) != 0) {
			if (r < 0)
				goto missing;
			if (strcmp(v, "job") != 0 && strcmp(v, "hydra") != 0 &&
			    strcmp(v, "all") != 0)
				return lms_fail(LMS_ERR_USAGE,
						"use --cfg job, --cfg hydra or --cfg all",
						"argument --cfg/-c: invalid choice: '%s' (choose "
						"from 'job', 'hydra', 'all')",
						v);
			A->cfg = v;
		} else if ((r = flag_value(argc, argv, &i, "-i", "--info", &v)) != 0) {
			/* a bare --info means all (Hydra); a following override is not its value */
			if (r < 0) {
				v = "all";
			} else if (strchr(v, '=') && strncmp(argv[i], "--info=", 7) != 0) {
				i--;
				v = "all";
			}
			if (strcmp(v, "defaults") != 0 && strcmp(v, "searchpath") != 0 &&
			    strcmp(v, "all") != 0)
				return lms_fail(LMS_ERR_USAGE,
						"use --info defaults, searchpath or all",
						"argument --info/-i: invalid choice: '%s' (choose "
						"from 'all', 'defaults', 'searchpath')",
						v);
			A->info = v;
		} else {
			return lms_fail(
			    LMS_ERR_USAGE,
			    "run 'lmsens --help' for the flags; overrides are key=value",
			    "unknown flag '%s'", a);
		}
		continue;
	missing:
		return lms_fail(LMS_ERR_USAGE, "give the flag a value", "flag '%s' needs a value",
				a);
	}
	A->o.overrides = A->ovr;
	A->o.n_overrides = A->n_ovr;
	A->o.config_dirs = A->dirs;
	A->o.n_config_dirs = A->n_dirs;
	return LMS_OK;
}

static enum lms_status print_yaml(const struct lms_cfg *c)
{
	char *y;
	LMS_TRY(lms_cfg_to_yaml(c, &y));
	fputs(y, stdout);
	free(y);
	return LMS_OK;
}

static enum lms_status print_cfg(const struct lms_plan *plan, const char *what, int resolve)
{
	for (size_t k = 0; k < plan->n_jobs; k++) {
		const struct lms_job *j = &plan->jobs[k];
		if (plan->n_jobs > 1) {
			printf("# job #%d :", j->num);
			for (size_t i = 0; i < j->n_overrides; i++)
				printf(" %s", j->overrides[i]);
			printf("\n");
		}
		if (strcmp(what, "hydra") == 0 || strcmp(what, "all") == 0) {
			struct lms_cfg *h = lms_cfg_new(LMS_CFG_MAP);
			if (!h || lms_cfg_map_set(h, "hydra", lms_cfg_copy(j->hydra)) != LMS_OK) {
				lms_cfg_free(h);
				return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
			}
			enum lms_status st = print_yaml(h);
			lms_cfg_free(h);
			LMS_TRY(st);
		}
		if (strcmp(what, "job") == 0 || strcmp(what, "all") == 0)
			LMS_TRY(print_yaml(resolve ? j->cfg : j->unresolved));
	}
	return LMS_OK;
}

static void print_plan(const struct lms_plan *plan)
{
	printf("lmsens job plan: %zu job%s, config '%s'\n", plan->n_jobs,
	       plan->n_jobs == 1 ? "" : "s", plan->config_name);
	if (plan->sweep_dir)
		printf("sweep dir: %s\n", plan->sweep_dir);
	for (size_t k = 0; k < plan->n_jobs; k++) {
		const struct lms_job *j = &plan->jobs[k];
		printf("#%d :", j->num);
		for (size_t i = 0; i < j->n_overrides; i++)
			printf(" %s", j->overrides[i]);
		printf("\n    output_dir: %s\n", j->output_dir);
		if (j->experimental)
			printf("    (quant_pair is experimental)\n");
	}
	printf("dry run: nothing was run\n");
}

int lms_cmd_run(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (lms_cli_is_help(argv[i])) {
			help();
			return 0;
		}
	struct args A = {0};
	A.ovr = calloc((size_t)argc + 1, sizeof *A.ovr);
	A.dirs = calloc((size_t)argc + 1, sizeof *A.dirs);
	if (!A.ovr || !A.dirs) {
		free(A.ovr);
		free(A.dirs);
		return lms_cli_fail(lms_fail(LMS_ERR_NOMEM, NULL, "out of memory"));
	}
	struct lms_plan *plan = NULL;
	enum lms_status st = parse_args(argc, argv, &A);
	if (A.o.now == 0)
		A.o.now = lms_dist_start_time(); /* rank 0's clock: one ${now:} on every rank */
	if (st == LMS_OK)
		st = lms_config_compose(&A.o, &plan);
	int rc = 0;
	if (st != LMS_OK) {
		rc = lms_cli_fail(st);
	} else if (A.info) {
		if (strcmp(A.info, "searchpath") == 0 || strcmp(A.info, "all") == 0) {
			printf("Config search path (highest priority first):\n");
			for (size_t k = 0; k < plan->n_search_path; k++)
				printf("  %s\n", plan->search_path[k]);
		}
		if (strcmp(A.info, "defaults") == 0 || strcmp(A.info, "all") == 0)
			printf("Defaults List (job #0):\n%s",
			       plan->defaults_table ? plan->defaults_table : "");
	} else if (A.cfg) {
		st = print_cfg(plan, A.cfg, A.resolve);
		rc = st == LMS_OK ? 0 : lms_cli_fail(st);
	} else {
		int dry = A.dry_run;
		for (size_t k = 0; k < plan->n_jobs; k++) {
			const struct lms_cfg *d = lms_cfg_find(plan->jobs[k].cfg, "runner.dry_run");
			dry |= d && d->type == LMS_CFG_BOOL && d->b;
		}
		if (dry) {
			print_plan(plan);
		} else {
			struct lms_run_opts ro = {.cli_overrides = A.ovr,
						  .n_cli_overrides = A.n_ovr};
			rc = lms_run_plan(plan, &ro);
		}
	}
	lms_plan_free(plan);
	free(A.ovr);
	free(A.dirs);
	return rc;
}
