/* fuzz_compose.c — libFuzzer target for config composition
 * (lms_config_compose): the input is a primary config file, optionally
 * followed by a line "%%" and command-line overrides, one per line (at most
 * 8). It is composed from a temporary config directory placed first in the
 * search path, above the project's conf/ (so its defaults list can name the
 * real groups). Any input must compose or fail with a message; a composed
 * plan must have a resolved config per job that dumps to YAML; and no input
 * may load a config from outside the search path: a decoy outside.yaml next
 * to the temporary directory is watched with inotify, and any open of it is
 * a path escape (a check on the decoy's content would not do: the fuzzer
 * learns strings from comparisons and writes them itself). */
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "config/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char root[64] = "/tmp/lmsens-fuzz-compose-XXXXXX";
static char confd[128];
static int watch_fd = -1;

static void cleanup(void)
{
	char p[256];
	snprintf(p, sizeof p, "%s/fuzz.yaml", confd);
	unlink(p);
	snprintf(p, sizeof p, "%s/outside.yaml", root);
	unlink(p);
	rmdir(confd);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(root))
		abort();
	snprintf(confd, sizeof confd, "%s/conf", root);
	if (mkdir(confd, 0700) != 0)
		abort();
	static const char decoy[] = "escaped_decoy: 1\n";
	fuzz_write(root, "outside.yaml", decoy, sizeof decoy - 1);
	char p[160];
	snprintf(p, sizeof p, "%s/outside.yaml", root);
	watch_fd = inotify_init1(IN_NONBLOCK);
	if (watch_fd < 0 || inotify_add_watch(watch_fd, p, IN_OPEN | IN_ACCESS) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	char *text = fuzz_strndup(data, size);
	char *ov_text = strstr(text, "\n%%\n");
	size_t ylen = ov_text ? (size_t)(ov_text - text) + 1 : size;
	fuzz_write(confd, "fuzz.yaml", text, ylen);
	const char *ovs[8];
	size_t n_ov = 0;
	if (ov_text) {
		char *p = ov_text + 4;
		while (*p && n_ov < 8) {
			char *nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			ovs[n_ov++] = p;
			if (!nl)
				break;
			p = nl + 1;
		}
	}
	const char *dirs[] = {confd};
	struct lms_compose_opts o = {.config_dirs = dirs,
				     .n_config_dirs = 1,
				     .config_name = "fuzz",
				     .overrides = ovs,
				     .n_overrides = n_ov,
				     .cwd = "/fuzz/cwd",
				     .now = 1700000000};
	struct lms_plan *plan = NULL;
	enum lms_status st = lms_config_compose(&o, &plan);
	fuzz_check_error(st);
	if (st == LMS_OK) {
		if (plan->n_jobs < 1)
			abort();
		for (size_t j = 0; j < plan->n_jobs; j++) {
			const struct lms_job *job = &plan->jobs[j];
			char *y = NULL;
			if (!job->cfg || !job->output_dir ||
			    lms_cfg_to_yaml(job->cfg, &y) != LMS_OK)
				abort();
			free(y);
		}
	}
	char ev[4096];
	if (read(watch_fd, ev, sizeof ev) > 0) {
		fprintf(stderr, "outside.yaml was opened: path escape\n");
		abort();
	}
	lms_plan_free(plan);
	free(text);
	return 0;
}
