/* test_manifest_in.c — lms_aq_result_from_manifest (report-only from a
 * manifest): a ModelOpt-layout manifest becomes a valid result whose search
 * reproduces the manifest's best; lmsens fields are read when present; every
 * malformed manifest is an error naming the file and what is wrong, with
 * nothing left in the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoquant/manifest_in.h"
#include "core/status.h"
#include "test.h"

static char g_dir[] = "/tmp/lmsens-manifest-XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", g_dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Two groups (q/k/v with module_names, and o_proj without), lm_head disabled. */
static const char *k_good =
	"{\"candidate_stats\": {\n"
	" \"m.layers.0.self_attn.q_proj.quant_recipe\": {\"formats\": [\"INT4_BLOCKWISE_WEIGHT_ONLY_CFG(effective-bits: 4.0)\","
	"  \"FP8_DEFAULT_CFG(effective-bits: 8.0)\", \"NONE(effective-bits: 16.0)\"], \"scores\": [3.0, 1.0, 0.0],"
	"  \"costs\": [100.0, 200.0, 400.0], \"module_names\": [\"m.layers.0.self_attn.q_proj\","
	"  \"m.layers.0.self_attn.k_proj\", \"m.layers.0.self_attn.v_proj\"]},\n"
	" \"m.layers.0.self_attn.o_proj.quant_recipe\": {\"formats\": [\"INT4_BLOCKWISE_WEIGHT_ONLY_CFG(effective-bits: 4.0)\","
	"  \"FP8_DEFAULT_CFG(effective-bits: 8.0)\", \"NONE(effective-bits: 16.0)\"], \"scores\": [0.5, 0.25, 0.0],"
	"  \"costs\": [50.0, 100.0, 200.0]},\n"
	" \"lm_head.quant_recipe\": {\"formats\": [\"NONE(effective-bits: 16.0)\"], \"scores\": [0.0], \"costs\": [400.0]}},\n"
	" \"best\": {\"recipe\": {}, \"constraints\": {\"effective_bits\": 11.0}, \"score\": 1.5, \"is_satisfied\": true}}\n";

static void test_good(void)
{
	const char *p = write_tmp("good_quant_manifest.json", k_good);
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	CHECK_INT_EQ(lms_aq_result_from_manifest(p, &r), LMS_OK);
	CHECK_INT_EQ((int)r.n_formats, 3);
	CHECK_STR_EQ(r.formats[0].name, "INT4_BLOCKWISE_WEIGHT_ONLY_CFG");
	CHECK_STR_EQ(r.formats[2].name, "NONE");
	CHECK_INT_EQ((int)r.n_groups, 3);
	CHECK_INT_EQ((int)r.n_modules, 5);
	CHECK_STR_EQ(r.groups[0].name, "m.layers.0.self_attn.q_proj");
	CHECK_INT_EQ((int)r.groups[0].n_members, 3);
	CHECK_INT_EQ((int)r.groups[0].n_params, 400);
	CHECK_INT_EQ((int)r.groups[1].n_params, 200);
	CHECK_STR_EQ(r.modules[3].name, "m.layers.0.self_attn.o_proj");
	CHECK_STR_EQ(r.modules[3].kind, "o_proj");
	CHECK_INT_EQ(r.modules[3].layer, 0);
	CHECK_INT_EQ(r.modules[4].layer, -1);
	CHECK(r.groups[2].disabled);
	CHECK_STR_EQ(r.job.scheme, "good");
	CHECK(r.has_search);
	/* budget 11 bits of 1000 params = 687.5 cost: FP8 for q/k/v (200) and
	 * o_proj (100) + lm_head 400 = 700 > 687.5; the optimum is q/k/v FP8,
	 * o_proj INT4 (50): 650, score 1.5 */
	CHECK_INT_EQ(r.groups[0].chosen, 1);
	CHECK_INT_EQ(r.groups[1].chosen, 0);
	CHECK_INT_EQ(r.groups[2].chosen, 2);
	CHECK_NEAR(r.search.score, 1.5, 0, 1e-15);
	CHECK_NEAR(r.search.effective_bits, 16.0 * 650 / 1000, 0, 1e-15);
	CHECK(r.search.is_satisfied);
	CHECK_INT_EQ(lms_aq_result_validate(&r, "test"), LMS_OK);
	lms_aq_result_free(&r);
}

struct bad_case {
	const char *name, *text;
	enum lms_status st;
	const char *msg;
};

static const struct bad_case k_bad[] = {
	{"notjson", "{\"candidate_stats\": ", LMS_ERR_INPUT, "notjson_quant_manifest.json:1:"},
	{"array", "[1, 2]", LMS_ERR_INPUT, "not a JSON object"},
	{"nocs", "{\"best\": {}}", LMS_ERR_INPUT, "no candidate_stats object"},
	{"emptycs", "{\"candidate_stats\": {}}", LMS_ERR_INPUT, "no candidate_stats object"},
	{"noformats", "{\"candidate_stats\": {\"a\": {\"scores\": [0]}}}", LMS_ERR_INPUT,
	 "candidate_stats entry without a formats list"},
	{"badrecipe", "{\"candidate_stats\": {\"a\": {\"formats\": [\"FP8(bits: 8)\"], \"scores\": [1], \"costs\": [1]}}}",
	 LMS_ERR_INPUT, "a format is not 'NAME(effective-bits: B)'"},
	{"badbits", "{\"candidate_stats\": {\"a\": {\"formats\": [\"FP8(effective-bits: 17.0)\"], \"scores\": [1], \"costs\": [1]}}}",
	 LMS_ERR_INPUT, "a format is not 'NAME(effective-bits: B)'"},
	{"lengths", "{\"candidate_stats\": {\"a\": {\"formats\": [\"NONE(effective-bits: 16.0)\"], \"scores\": [0, 1], \"costs\": [1]}}}",
	 LMS_ERR_INPUT, "scores and costs must match formats"},
	{"strscore", "{\"candidate_stats\": {\"a\": {\"formats\": [\"NONE(effective-bits: 16.0)\"], \"scores\": [\"0\"], \"costs\": [1]}}}",
	 LMS_ERR_INPUT, "bad format, score or cost"},
	{"notarget", "{\"candidate_stats\": {\"a\": {\"formats\": [\"NONE(effective-bits: 16.0)\"], \"scores\": [0], \"costs\": [1]}}}",
	 LMS_ERR_INPUT, "no target"},
	{"mixed", "{\"candidate_stats\": {\"a\": {\"formats\": [\"FP8_DEFAULT_CFG(effective-bits: 8.0)\", \"NONE(effective-bits: 16.0)\"],"
		  " \"scores\": [1, 0], \"costs\": [1, 2]}, \"b\": {\"formats\": [\"INT8_DEFAULT_CFG(effective-bits: 8.0)\","
		  " \"NONE(effective-bits: 16.0)\"], \"scores\": [1, 0], \"costs\": [1, 2]}}, \"best\": {\"constraints\": {\"effective_bits\": 8}}}",
	 LMS_ERR_UNSUPPORTED, "group a offers 2 of the 3 formats"},
	{"modnames", "{\"candidate_stats\": {\"a\": {\"formats\": [\"NONE(effective-bits: 16.0)\"], \"scores\": [0], \"costs\": [1],"
		    " \"module_names\": [3]}}, \"best\": {\"constraints\": {\"effective_bits\": 8}}}",
	 LMS_ERR_INPUT, "module_names holds a non-string"},
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
		char name[128];
		snprintf(name, sizeof name, "%s_quant_manifest.json", k_bad[i].name);
		const char *p = write_tmp(name, k_bad[i].text);
		struct lms_aq_result r;
		lms_aq_result_init(&r);
		enum lms_status st = lms_aq_result_from_manifest(p, &r);
		CHECK_INT_EQ(st, k_bad[i].st);
		CHECK_STR_CONTAINS(lms_error_message(), k_bad[i].msg);
		CHECK_STR_CONTAINS(lms_error_message(), name);
		CHECK(r.n_groups == 0 && r.groups == NULL && r.formats == NULL);
		lms_aq_result_free(&r);
	}
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	CHECK_INT_EQ(lms_aq_result_from_manifest("/nonexistent/x_quant_manifest.json", &r), LMS_ERR_NOT_FOUND);
	CHECK_STR_CONTAINS(lms_error_message(), "/nonexistent/x_quant_manifest.json");
}

int main(void)
{
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_good();
	test_bad();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", g_dir);
	return lms_test_finish();
}
