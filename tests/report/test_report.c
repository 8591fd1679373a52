/* test_report.c — manifest, per-layer Markdown/JSON/SVG: content checks
 * against the synthetic result, byte-identical regeneration from the HDF5
 * file (report-only mode), determinism, and the small helpers (recipe
 * strings, Python-style float repr, scheme names, ranking, validation).
 *
 * It leaves one complete job directory in $LMSENS_BUILD_DIR/report-fixture/
 * for the script tests (h5py schema check, h5dump, `lmsens report`), which
 * depend on this test through the CTest fixture "report_artifacts". */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aq_fixture.h"
#include "autoquant/search.h"
#include "core/fsutil.h"
#include "io/h5stats.h"
#include "report/report.h"
#include "test.h"

static const char *const k_files[] = {"tiny_qwen3_wfp8_afp8_quant_manifest.json", LMS_REPORT_JSON,
				      LMS_REPORT_MD, LMS_REPORT_SVG};

static char *slurp(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	char *data = NULL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (lms_read_file(path, 1 << 24, "report", &data, NULL) != LMS_OK)
		return NULL;
	return data;
}

static void check_same_files(const char *a, const char *b)
{
	for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
		char *x = slurp(a, k_files[i]), *y = slurp(b, k_files[i]);
		int same = x && y && strcmp(x, y) == 0;
		if (!same)
			fprintf(stderr, "%s differs between %s and %s\n", k_files[i], a, b);
		CHECK(same);
		free(x);
		free(y);
	}
}

static void test_helpers(void)
{
	char buf[64];
	const struct {
		double v;
		const char *want;
	} reprs[] = {
	    {8.0, "8.0"},     {4.5, "4.5"},    {16.0, "16.0"}, {0.1, "0.1"},
	    {1e-05, "1e-05"}, {1e16, "1e+16"}, {-2.0, "-2.0"}, {1.0 / 3.0, "0.3333333333333333"},
	    {6.25, "6.25"}};
	for (size_t i = 0; i < sizeof reprs / sizeof reprs[0]; i++) {
		lms_aq_fmt_double(reprs[i].v, buf, sizeof buf);
		CHECK_STR_EQ(buf, reprs[i].want);
	}
	struct lms_aq_format f = {.name = "NVFP4_DEFAULT_CFG", .bits = 4.5};
	lms_aq_format_recipe(&f, buf, sizeof buf);
	CHECK_STR_EQ(buf, "NVFP4_DEFAULT_CFG(effective-bits: 4.5)");
	struct lms_aq_format none = {.name = "NONE", .bits = 16};
	lms_aq_format_recipe(&none, buf, sizeof buf);
	CHECK_STR_EQ(buf, "NONE(effective-bits: 16.0)");

	CHECK_INT_EQ(lms_aq_scheme_name("qwen3_vl_4b_instruct", "wfp8_afp8", NULL, buf, sizeof buf),
		     LMS_OK);
	CHECK_STR_EQ(buf, "qwen3_vl_4b_instruct_wfp8_afp8");
	CHECK_INT_EQ(lms_aq_scheme_name("m", "p", "int8_lm_only", buf, sizeof buf), LMS_OK);
	CHECK_STR_EQ(buf, "int8_lm_only");
	CHECK_INT_EQ(lms_aq_scheme_name("Qwen3 VL/4B", "w8", "", buf, sizeof buf), LMS_OK);
	CHECK_STR_EQ(buf, "Qwen3_VL_4B_w8");
	CHECK_FAILS_WITH(lms_aq_scheme_name(NULL, "", NULL, buf, sizeof buf), LMS_ERR_CONFIG,
			 "scheme name is empty");
	CHECK_FAILS_WITH(lms_aq_scheme_name("a-very-long-model-name", "pair", NULL, buf, 8),
			 LMS_ERR_CONFIG, "longer than 7");
}

static void test_validation(void)
{
	struct aq_fixture_opts o = {
	    .seed = 11, .with_search = 1, .trace_steps = 2, .target_bits = 11};
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	aq_fixture_build(&r, &o);
	CHECK_INT_EQ(lms_aq_result_validate(&r, "r"), LMS_OK);
	r.formats[1].bits = 8.0; /* NONE no longer at 16 bits */
	CHECK_FAILS_WITH(lms_aq_result_validate(&r, "r"), LMS_ERR_INPUT, "not NONE (16 bits)");
	r.formats[1].bits = 16.0;
	r.formats[0].bits = 17.0;
	CHECK_FAILS_WITH(lms_aq_result_validate(&r, "r"), LMS_ERR_INPUT, "outside (0, 16]");
	r.formats[0].bits = 8.0;
	r.groups[8].chosen = 0; /* lm_head is disabled */
	CHECK_FAILS_WITH(lms_aq_result_validate(&r, "r"), LMS_ERR_INPUT,
			 "disabled group 'lm_head' chose 'FP8_DEFAULT_CFG'");
	r.groups[8].chosen = 1;
	r.groups[2].scores[0] = NAN;
	CHECK_FAILS_WITH(lms_aq_result_validate(&r, "r"), LMS_ERR_INPUT, "non-finite score");
	r.groups[2].scores[0] = 1e-3;
	r.modules[4].group = 0; /* o_proj claims to be in the q/k/v group */
	CHECK_FAILS_WITH(lms_aq_result_validate(&r, "r"), LMS_ERR_INPUT, "not one of its modules");
	lms_aq_result_free(&r);
	lms_aq_result_free(&r); /* free is idempotent */
}

static void test_rank(const struct lms_aq_result *r)
{
	size_t order[16];
	int rank[16];
	lms_report_rank(r, order, rank);
	size_t ng = r->n_groups;
	for (size_t k = 0; k + 2 < ng; k++) /* the last one is the disabled lm_head */
		CHECK(r->groups[order[k]].scores[0] >= r->groups[order[k + 1]].scores[0]);
	CHECK_INT_EQ(order[ng - 1], ng - 1);
	CHECK_INT_EQ(rank[ng - 1], 0);
	CHECK_INT_EQ(rank[order[0]], 1);
}

/* Structural checks of the manifest against the result it came from. */
static void check_manifest(const struct lms_aq_result *r, const char *text)
{
	json_error_t err;
	json_t *root = json_loads(text, 0, &err);
	CHECK(root != NULL);
	if (!root) {
		fprintf(stderr, "manifest JSON: %s at line %d\n", err.text, err.line);
		return;
	}
	json_t *cs = json_object_get(root, "candidate_stats");
	CHECK_INT_EQ(json_object_size(cs), r->n_groups);
	json_t *qkv = json_object_get(cs, "model.layers.0.self_attn.q_proj.quant_recipe");
	CHECK(qkv != NULL);
	CHECK(json_object_get(cs, "model.layers.0.self_attn.k_proj.quant_recipe") == NULL);
	CHECK(json_object_get(cs, "model.layers.1.mlp.gate_proj.quant_recipe") != NULL);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(qkv, "formats"), 0)),
		     "FP8_DEFAULT_CFG(effective-bits: 8.0)");
	CHECK_INT_EQ(json_array_size(json_object_get(qkv, "module_names")), 3);
	/* costs = numel × bits / 16: q 64·64 + k 32·64 + v 32·64 = 8192 params. */
	CHECK_NEAR(json_real_value(json_array_get(json_object_get(qkv, "costs"), 0)), 4096.0, 0, 0);
	CHECK_NEAR(json_real_value(json_array_get(json_object_get(qkv, "costs"), 1)), 8192.0, 0, 0);
	/* Monotonised scores: never increasing with bits; NONE is 0. */
	json_t *sc = json_object_get(qkv, "scores");
	CHECK(json_real_value(json_array_get(sc, 0)) >= json_real_value(json_array_get(sc, 1)));
	CHECK(json_real_value(json_array_get(sc, 1)) == 0.0);
	CHECK(json_real_value(json_array_get(sc, 0)) == r->groups[0].scores[0]);
	json_t *head = json_object_get(cs, "lm_head.quant_recipe");
	CHECK_INT_EQ(json_array_size(json_object_get(head, "formats")), 1);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(head, "formats"), 0)),
		     "NONE(effective-bits: 16.0)");
	CHECK_NEAR(json_real_value(json_array_get(json_object_get(head, "costs"), 0)), 16384.0, 0,
		   0);
	json_t *best = json_object_get(root, "best");
	CHECK_INT_EQ(json_object_size(json_object_get(best, "recipe")), r->n_groups);
	CHECK_STR_EQ(json_string_value(
			 json_object_get(json_object_get(best, "recipe"), "lm_head.quant_recipe")),
		     "NONE(effective-bits: 16.0)");
	/* Floats round-trip exactly. */
	CHECK(json_real_value(json_object_get(json_object_get(best, "constraints"),
					      "effective_bits")) == r->search.effective_bits);
	CHECK(json_real_value(json_object_get(best, "score")) == r->search.score);
	CHECK(json_is_true(json_object_get(best, "is_satisfied")) == (r->search.is_satisfied != 0));
	CHECK(r->search.effective_bits <= 11.0);
	CHECK_INT_EQ(json_array_size(json_object_get(root, "frontier")), r->search.n_frontier);
	CHECK_STR_EQ(
	    json_string_value(json_object_get(json_object_get(root, "quant_pair"), "name")),
	    "wfp8_afp8");
	CHECK_INT_EQ(json_object_size(json_object_get(root, "timings")), 4);
	json_decref(root);
}

static void check_sensitivity(const struct lms_aq_result *r, const char *json_text, const char *md,
			      const char *svg)
{
	size_t order[16];
	int rank[16];
	lms_report_rank(r, order, rank);
	json_t *root = json_loads(json_text, 0, NULL);
	CHECK(root != NULL);
	json_t *layers = json_object_get(root, "layers");
	CHECK_INT_EQ(json_array_size(layers), r->n_groups);
	json_t *top = json_array_get(layers, 0);
	CHECK_STR_EQ(json_string_value(json_object_get(top, "layer")), r->groups[order[0]].name);
	CHECK_INT_EQ(json_integer_value(json_object_get(top, "rank")), 1);
	json_t *last = json_array_get(layers, r->n_groups - 1);
	CHECK_STR_EQ(json_string_value(json_object_get(last, "layer")), "lm_head");
	CHECK(json_is_null(json_object_get(last, "rank")));
	json_t *sum = json_object_get(root, "summary");
	CHECK(json_real_value(json_object_get(sum, "target_effective_bits")) == 11.0);
	int ok;
	CHECK(json_real_value(json_object_get(sum, "mean_loss")) == lms_report_mean_loss(r, &ok));
	CHECK_INT_EQ(json_integer_value(json_object_get(sum, "tokens")), 1723);
	json_decref(root);

	char row[256];
	snprintf(row, sizeof row, "| 1 | `%s` |", r->groups[order[0]].name);
	CHECK_STR_CONTAINS(md, row);
	CHECK_STR_CONTAINS(md, "| — | `lm_head` | lm_head | 16,384 | — | NONE (disabled) |");
	CHECK_STR_CONTAINS(md,
			   "| samples / tokens used | 16 / 1,723 (seq_len 128, batch size 4) |");
	CHECK_STR_CONTAINS(md, "## Frontier");
	CHECK_STR_CONTAINS(md, "q_proj, k_proj, v_proj");

	CHECK(strncmp(svg, "<?xml", 5) == 0);
	CHECK_STR_CONTAINS(svg, "</svg>\n");
	CHECK_STR_CONTAINS(svg, "score (log scale");
	/* one marker per configurable group and format, plus one legend dot */
	size_t dots = 0;
	for (const char *p = svg; (p = strstr(p, "r=\"3.5\" fill=\"#1f77b4\"")); p++)
		dots++;
	CHECK_INT_EQ(dots, (r->n_groups - 1) + 1);
}

static void test_artifacts(const char *base)
{
	struct aq_fixture_opts o = {.seed = 42,
				    .with_search = 1,
				    .module_scores = 1,
				    .trace_steps = 4,
				    .target_bits = 11.0};
	struct lms_aq_result r, again;
	lms_aq_result_init(&r);
	lms_aq_result_init(&again);
	aq_fixture_build(&r, &o);
	test_rank(&r);
	char run[PATH_MAX], regen[PATH_MAX], second[PATH_MAX], h5[PATH_MAX + 256];
	snprintf(run, sizeof run, "%s/report-fixture/run", base);
	snprintf(regen, sizeof regen, "%s/report-fixture/regen", base);
	snprintf(second, sizeof second, "%s/report-fixture/second", base);
	snprintf(h5, sizeof h5, "%s/%s%s", run, r.job.scheme, LMS_H5STATS_SUFFIX);

	/* What a run does: statistics, then reports. */
	CHECK_INT_EQ(lms_report_write_all(&r, run, NULL), LMS_OK);
	CHECK_INT_EQ(lms_h5stats_write(&r, h5), LMS_OK);
	char *manifest = slurp(run, k_files[0]), *js = slurp(run, k_files[1]);
	char *md = slurp(run, k_files[2]), *svg = slurp(run, k_files[3]);
	CHECK(manifest && js && md && svg);
	if (manifest && js && md && svg) {
		check_manifest(&r, manifest);
		check_sensitivity(&r, js, md, svg);
	}
	free(manifest);
	free(js);
	free(md);
	free(svg);

	/* Report-only: rebuilt from the HDF5 alone, byte for byte. */
	CHECK_INT_EQ(lms_report_from_h5(h5, regen), LMS_OK);
	check_same_files(run, regen);
	/* A second, independent run with the same inputs gives the same bytes. */
	aq_fixture_build(&again, &o);
	CHECK_INT_EQ(lms_report_write_all(&again, second, NULL), LMS_OK);
	check_same_files(run, second);

	/* Scheme override names the manifest. */
	CHECK_INT_EQ(lms_report_write_all(&r, second, "int8_lm_only"), LMS_OK);
	char *alt = slurp(second, "int8_lm_only_quant_manifest.json");
	CHECK(alt != NULL);
	free(alt);
	/* A file where the directory should be: clear error. */
	char blocker[PATH_MAX];
	snprintf(blocker, sizeof blocker, "%s/report-fixture/blocker", base);
	CHECK_INT_EQ(lms_write_file_atomic(blocker, "x", 1), LMS_OK);
	lms_error_clear();
	CHECK(lms_report_write_all(&r, blocker, NULL) != LMS_OK);
	CHECK_STR_CONTAINS(lms_error_message(), "blocker");
	lms_aq_result_free(&r);
	lms_aq_result_free(&again);
}

/* The tiny fixture's four reports against the files in
 * tests/data/report/golden/: any change of format (a column, a key, a number
 * format) shows up here as a diff to review. LMSENS_UPDATE_GOLDEN=1
 * rewrites the golden files instead. */
static void test_golden(const char *base)
{
	const char *src = getenv("LMSENS_SOURCE_DIR");
	char run[PATH_MAX], golden[PATH_MAX];
	snprintf(run, sizeof run, "%s/report-fixture/run", base);
	snprintf(golden, sizeof golden, "%s/tests/data/report/golden",
		 src && src[0] ? src : LMSENS_SOURCE_DIR);
	int update =
	    getenv("LMSENS_UPDATE_GOLDEN") && strcmp(getenv("LMSENS_UPDATE_GOLDEN"), "1") == 0;
	for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
		char *got = slurp(run, k_files[i]), *want = NULL;
		char path[2 * PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", golden, k_files[i]);
		if (update && got) {
			CHECK_INT_EQ(lms_mkdir_p(golden), LMS_OK);
			CHECK_INT_EQ(lms_write_file_atomic(path, got, strlen(got)), LMS_OK);
		}
		want = slurp(golden, k_files[i]);
		int same = got && want && strcmp(got, want) == 0;
		if (!same)
			fprintf(stderr,
				"%s/%s differs from the golden %s\n  review: diff %s %s/%s\n"
				"  accept: LMSENS_UPDATE_GOLDEN=1 ctest -R test_report\n",
				run, k_files[i], path, path, run, k_files[i]);
		CHECK(same);
		free(got);
		free(want);
	}
}

/* No searched layers at all: every renderer still produces valid output. */
static void test_empty_reports(const char *base)
{
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	CHECK_INT_EQ(lms_aq_result_alloc(&r, 1, 0, 0, 0, 0, 0, 0), LMS_OK);
	CHECK_INT_EQ(lms_aq_set_str(&r.formats[0].name, "NONE"), LMS_OK);
	r.formats[0].bits = 16.0;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/report-fixture/empty", base);
	CHECK_FAILS_WITH(lms_report_write_all(&r, dir, NULL), LMS_ERR_CONFIG, "no scheme name");
	CHECK_INT_EQ(lms_report_write_all(&r, dir, "empty"), LMS_OK);
	char *m = slurp(dir, "empty_quant_manifest.json"), *js = slurp(dir, LMS_REPORT_JSON);
	json_t *a = m ? json_loads(m, 0, NULL) : NULL, *b = js ? json_loads(js, 0, NULL) : NULL;
	CHECK(a && b);
	CHECK_INT_EQ(json_object_size(json_object_get(a, "candidate_stats")), 0);
	CHECK(json_is_null(json_object_get(json_object_get(b, "summary"), "mean_loss")));
	json_decref(a);
	json_decref(b);
	free(m);
	free(js);
	char *svg = slurp(dir, LMS_REPORT_SVG);
	CHECK(svg && strstr(svg, "</svg>"));
	free(svg);
	lms_aq_result_free(&r);
}

static void test_without_search(void)
{
	struct aq_fixture_opts o = {
	    .seed = 9, .two_formats = 1, .trace_steps = 0, .target_bits = 6.0};
	struct lms_aq_result r;
	lms_aq_result_init(&r);
	aq_fixture_build(&r, &o);
	char *m = NULL, *md = NULL, *svg = NULL;
	CHECK_INT_EQ(lms_report_manifest_json(&r, &m), LMS_OK);
	CHECK_INT_EQ(lms_report_markdown(&r, &md), LMS_OK);
	CHECK_INT_EQ(lms_report_svg(&r, &svg), LMS_OK);
	CHECK_STR_CONTAINS(m, "\"best\": null");
	CHECK_STR_CONTAINS(m, "\"W4A8_MXFP4_FP8(effective-bits: 4.0)\"");
	CHECK_STR_CONTAINS(md, "| score W4A8_MXFP4_FP8 | score FP8_DEFAULT_CFG | chosen |");
	CHECK_STR_CONTAINS(md, "search not run");
	CHECK_STR_CONTAINS(svg, "W4A8_MXFP4_FP8 (4.0 bits)");
	free(m);
	free(md);
	free(svg);
	lms_aq_result_free(&r);
}

/* The fixture's brute-force search and src/autoquant/search.c agree, and
 * report-only on a statistics file written before the search runs it and
 * reports what a run that searched would have. */
static void test_search_integration(const char *base)
{
	for (int two = 0; two <= 1; two++) {
		struct aq_fixture_opts o = {.seed = 77 + (uint64_t)two,
					    .two_formats = two,
					    .with_search = 1,
					    .module_scores = 1,
					    .trace_steps = 3,
					    .target_bits = two ? 7.5 : 11.0};
		struct lms_aq_result brute, exact;
		lms_aq_result_init(&brute);
		lms_aq_result_init(&exact);
		aq_fixture_build(&brute, &o);
		o.with_search = 0;
		aq_fixture_build(&exact, &o);
		CHECK(!exact.has_search);
		char h5[PATH_MAX + 64], dir_a[PATH_MAX], dir_b[PATH_MAX];
		snprintf(dir_a, sizeof dir_a, "%s/report-fixture/search%d-a", base, two);
		snprintf(dir_b, sizeof dir_b, "%s/report-fixture/search%d-b", base, two);
		CHECK_INT_EQ(lms_mkdir_p(dir_a), LMS_OK);
		snprintf(h5, sizeof h5, "%s/presearch_autoquant_state.h5", dir_a);
		CHECK_INT_EQ(lms_h5stats_write(&exact, h5), LMS_OK); /* no /search group */
		CHECK_INT_EQ(lms_search_result(&exact), LMS_OK);
		CHECK(exact.has_search);
		for (size_t g = 0; g < exact.n_groups; g++)
			CHECK_INT_EQ(exact.groups[g].chosen, brute.groups[g].chosen);
		CHECK_NEAR(exact.search.effective_bits, brute.search.effective_bits, 0, 1e-15);
		CHECK_NEAR(exact.search.score, brute.search.score, 0, 1e-15);
		CHECK_INT_EQ(exact.search.is_satisfied, brute.search.is_satisfied);
		CHECK_INT_EQ(exact.search.n_frontier, brute.search.n_frontier);
		for (size_t i = 0; i < exact.search.n_frontier && i < brute.search.n_frontier;
		     i++) {
			CHECK_NEAR(exact.search.frontier_bits[i], brute.search.frontier_bits[i], 0,
				   1e-15);
			CHECK_NEAR(exact.search.frontier_score[i], brute.search.frontier_score[i],
				   0, 1e-15);
		}
		CHECK_INT_EQ(lms_report_write_all(&exact, dir_b, NULL), LMS_OK);
		CHECK_INT_EQ(lms_report_from_h5(h5, dir_a), LMS_OK);
		const char *files[] = {LMS_REPORT_JSON, LMS_REPORT_MD, LMS_REPORT_SVG};
		for (size_t i = 0; i < 3; i++) {
			char *x = slurp(dir_a, files[i]), *y = slurp(dir_b, files[i]);
			CHECK(x && y && strcmp(x, y) == 0);
			free(x);
			free(y);
		}
		lms_aq_result_free(&brute);
		lms_aq_result_free(&exact);
	}
}

/* The real model's size: 36 layers → 145 groups, 253 linears, lm_head
 * 151936 × 2560. Round trip and report-only stay byte-identical; the time of
 * each step is printed (the numbers quoted in docs/outputs.md). */
static void test_qwen3_vl_4b_scale(const char *base)
{
	struct aq_fixture_opts o = {.seed = 4,
				    .two_formats = 1,
				    .with_search = 1,
				    .module_scores = 1,
				    .trace_steps = 64,
				    .target_bits = 6.0,
				    .n_layers = 36};
	struct lms_aq_result r, back;
	lms_aq_result_init(&r);
	lms_aq_result_init(&back);
	struct timespec t0, t1, t2, t3;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	aq_fixture_build(&r, &o);
	CHECK_INT_EQ(r.n_groups, 145);
	CHECK_INT_EQ(r.n_modules, 253);
	char run[PATH_MAX], regen[PATH_MAX], h5[PATH_MAX + 64];
	snprintf(run, sizeof run, "%s/report-fixture/qwen3-vl-4b/run", base);
	snprintf(regen, sizeof regen, "%s/report-fixture/qwen3-vl-4b/regen", base);
	snprintf(h5, sizeof h5, "%s/4b_autoquant_state.h5", run);
	CHECK_INT_EQ(lms_report_write_all(&r, run, "4b"), LMS_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_INT_EQ(lms_h5stats_write(&r, h5), LMS_OK);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	CHECK_INT_EQ(lms_h5stats_read(h5, &back), LMS_OK);
	char why[256] = "";
	CHECK(lms_aq_result_equal(&r, &back, why, sizeof why));
	CHECK_INT_EQ(lms_report_write_all(&back, regen, "4b"), LMS_OK);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	const char *files[] = {"4b_quant_manifest.json", LMS_REPORT_JSON, LMS_REPORT_MD,
			       LMS_REPORT_SVG};
	for (size_t i = 0; i < 4; i++) {
		char *x = slurp(run, files[i]), *y = slurp(regen, files[i]);
		CHECK(x && y && strcmp(x, y) == 0);
		free(x);
		free(y);
	}
#define MS(a, b) (((double)(b.tv_sec - a.tv_sec) * 1e3) + (double)(b.tv_nsec - a.tv_nsec) / 1e6)
	printf("qwen3-vl-4b shape (145 groups, 64 trace steps): build+search+reports %.1f ms, "
	       "write h5 %.1f ms, read h5 + reports %.1f ms; frontier %zu points, achieved %.4f "
	       "bits\n",
	       MS(t0, t1), MS(t1, t2), MS(t2, t3), r.search.n_frontier, r.search.effective_bits);
#undef MS
	lms_aq_result_free(&r);
	lms_aq_result_free(&back);
}

int main(void)
{
	const char *base = getenv("LMSENS_BUILD_DIR");
	char dir[PATH_MAX / 2];
	snprintf(dir, sizeof dir, "%s", base && base[0] ? base : "/tmp");
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/report-fixture'", dir);
	if (system(cmd) != 0)
		return 1;
	test_helpers();
	test_validation();
	test_artifacts(dir);
	test_golden(dir);
	test_without_search();
	test_empty_reports(dir);
	test_search_integration(dir);
	test_qwen3_vl_4b_scale(dir);
	return lms_test_finish();
}
