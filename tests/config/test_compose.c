/* test_compose.c — runs the data-driven composition cases of
 * tests/data/config/cases.yaml (format described at the top of that file)
 * against lms_config_compose, with a fixed cwd (/cwd) and time
 * (1700000000, TZ=UTC) so that directories are exact. */
#include <stdlib.h>
#include <time.h>

#include "config/config.h"
#include "core/status.h"
#include "test.h"

#define DATA LMSENS_SOURCE_DIR "/tests/data/config"

static const char *str_of(const struct lms_cfg *c, const char *key, const char *dflt)
{
	const struct lms_cfg *n = lms_cfg_map_get(c, key);
	return n && n->type == LMS_CFG_STR ? n->s : dflt;
}

static int same(const struct lms_cfg *a, const struct lms_cfg *e)
{
	if (!a)
		return 0;
	if (a->type != e->type)
		return 0;
	char *ya = NULL, *ye = NULL;
	int ok = lms_cfg_to_yaml(a, &ya) == LMS_OK && lms_cfg_to_yaml(e, &ye) == LMS_OK &&
		 strcmp(ya, ye) == 0;
	free(ya);
	free(ye);
	return ok;
}

static void check_value(const char *name, const struct lms_job *j, const char *key,
			const struct lms_cfg *want)
{
	const struct lms_cfg *got = strncmp(key, "hydra.", 6) == 0 ? lms_cfg_find(j->hydra, key + 6)
								   : lms_cfg_find(j->cfg, key);
	int absent = want->type == LMS_CFG_STR && strcmp(want->s, "<absent>") == 0;
	int ok = absent ? got == NULL : same(got, want);
	if (!ok) {
		char *yg = NULL, *yw = NULL;
		if (got && lms_cfg_to_yaml(got, &yg) != LMS_OK)
			yg = NULL;
		if (lms_cfg_to_yaml(want, &yw) != LMS_OK)
			yw = NULL;
		fprintf(stderr, "FAIL [%s] %s: got %s (%s), want %s (%s)\n", name, key,
			yg ? yg : "<absent>\n", got ? lms_cfg_type_name(got->type) : "-",
			yw ? yw : "?", lms_cfg_type_name(want->type));
		free(yg);
		free(yw);
	}
	CHECK(ok);
}

static void run_case(const struct lms_cfg *c)
{
	const char *name = str_of(c, "name", "?");
	const char *conf = str_of(c, "conf", "test");
	const struct lms_cfg *args = lms_cfg_map_get(c, "args");
	const char *argv[64];
	size_t n = 0;
	for (size_t k = 0; args && k < args->n && k < 64; k++)
		argv[n++] = args->kids[k]->s;
	const struct lms_cfg *m = lms_cfg_map_get(c, "m");
	struct lms_compose_opts o = {
	    .config_path = strcmp(conf, "repo") == 0 ? LMSENS_SOURCE_DIR "/conf" : DATA "/conf",
	    .config_name = str_of(c, "cn", NULL),
	    .overrides = argv,
	    .n_overrides = n,
	    .multirun = m && m->type == LMS_CFG_BOOL && m->b,
	    .cwd = "/cwd",
	    .now = 1700000000,
	};
	struct lms_plan *plan = NULL;
	lms_error_clear();
	enum lms_status st = lms_config_compose(&o, &plan);
	const char *err = str_of(c, "error", NULL);
	if (err) {
		const char *want_st = str_of(c, "status", "config");
		int ok = st != LMS_OK && strcmp(lms_status_name(st), want_st) == 0 &&
			 strstr(lms_error_message(), err) != NULL && lms_error_hint()[0] != '\0';
		if (!ok)
			fprintf(
			    stderr,
			    "FAIL [%s]\n  status %s (want %s)\n  message: \"%s\"\n  want: \"%s\"\n",
			    name, lms_status_name(st), want_st, lms_error_message(), err);
		CHECK(ok);
		lms_plan_free(plan);
		return;
	}
	if (st != LMS_OK) {
		fprintf(stderr, "FAIL [%s]: %s\n  hint: %s\n", name, lms_error_message(),
			lms_error_hint());
		CHECK(st == LMS_OK);
		return;
	}
	const struct lms_cfg *jobs = lms_cfg_map_get(c, "jobs");
	if (jobs)
		CHECK_INT_EQ(plan->n_jobs, jobs->i);
	const struct lms_cfg *get = lms_cfg_map_get(c, "get");
	for (size_t k = 0; get && k < get->n; k++)
		check_value(name, &plan->jobs[0], get->keys[k], get->kids[k]);
	const struct lms_cfg *jo = lms_cfg_map_get(c, "job_overrides");
	for (size_t k = 0; jo && k < jo->n && k < plan->n_jobs; k++) {
		const struct lms_job *j = &plan->jobs[k];
		CHECK_INT_EQ(j->n_overrides, jo->kids[k]->n);
		for (size_t i = 0; i < j->n_overrides && i < jo->kids[k]->n; i++)
			CHECK_STR_EQ(j->overrides[i], jo->kids[k]->kids[i]->s);
	}
	const struct lms_cfg *od = lms_cfg_map_get(c, "output_dirs");
	if (od)
		CHECK_INT_EQ(plan->n_jobs, od->n);
	for (size_t k = 0; od && k < od->n && k < plan->n_jobs; k++)
		CHECK_STR_EQ(plan->jobs[k].output_dir, od->kids[k]->s);
	const char *yaml = str_of(c, "cfg_yaml", NULL);
	if (yaml) {
		struct lms_cfg *full = lms_cfg_copy(plan->jobs[0].unresolved);
		char *y = NULL;
		/* --cfg all style: the unresolved config plus the (resolved) hydra node */
		struct lms_cfg *h = lms_cfg_copy(plan->jobs[0].hydra);
		struct lms_cfg *hr = h ? lms_cfg_find(h, "runtime") : NULL;
		if (hr)
			CHECK(lms_cfg_map_set(hr, "output_dir",
					      lms_cfg_new_str("${hydra.run.dir}")) == LMS_OK);
		struct lms_cfg *hrun = h ? lms_cfg_find(h, "run") : NULL;
		if (hrun)
			CHECK(lms_cfg_map_set(
				  hrun, "dir",
				  lms_cfg_new_str("outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}")) ==
			      LMS_OK);
		struct lms_cfg *hsw = h ? lms_cfg_find(h, "sweep") : NULL;
		if (hsw) {
			CHECK(lms_cfg_map_set(
				  hsw, "dir",
				  lms_cfg_new_str("multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}")) ==
			      LMS_OK);
			CHECK(lms_cfg_map_set(hsw, "subdir", lms_cfg_new_str("${hydra.job.num}")) ==
			      LMS_OK);
		}
		CHECK(full && h && lms_cfg_map_set(full, "hydra", h) == LMS_OK);
		CHECK(full && lms_cfg_to_yaml(full, &y) == LMS_OK);
		if (y && strcmp(y, yaml) != 0)
			fprintf(stderr, "[%s] --cfg yaml differs:\n%s\n", name, y);
		CHECK_STR_EQ(y, yaml);
		free(y);
		lms_cfg_free(full);
	}
	lms_plan_free(plan);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	unsetenv("LMS_TEST_USER");
	unsetenv("LMS_TEST_UNSET_VAR");
	struct lms_cfg *cases = NULL;
	enum lms_status st = lms_yaml_load_file(DATA "/cases.yaml", &cases);
	if (st != LMS_OK)
		fprintf(stderr, "cannot load cases: %s\n", lms_error_message());
	CHECK(st == LMS_OK && cases->type == LMS_CFG_SEQ);
	for (size_t k = 0; st == LMS_OK && k < cases->n; k++) {
		int before = lms_test_failed_;
		run_case(cases->kids[k]);
		printf("%s %s\n", lms_test_failed_ == before ? "ok  " : "FAIL",
		       str_of(cases->kids[k], "name", "?"));
	}
	lms_cfg_free(cases);
	return lms_test_finish();
}
