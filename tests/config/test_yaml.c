/* test_yaml.c — the YAML loader and node tree: OmegaConf typing of scalars,
 * anchors/aliases/merge keys, limits on hostile input, getters' errors, and
 * dump → load round trips. */
#include <math.h>

#include "config/node.h"
#include "config/yaml.h"
#include "core/status.h"
#include "test.h"

static struct lms_cfg *load(const char *text)
{
	struct lms_cfg *c = NULL;
	enum lms_status st = lms_yaml_load_string(text, strlen(text), "t.yaml", &c);
	if (st != LMS_OK)
		fprintf(stderr, "load failed: %s\n", lms_error_message());
	return c;
}

static void test_typing(void)
{
	/* reference/config-launch-storage.md §1.6.6, verified against OmegaConf 2.2.2 */
	struct lms_cfg *c =
	    load("a: yes\nb: on\nc: no\nd: 1e-3\ne: 1.0e-3\nf: 010\ng: 0x10\n"
		 "h: 1_000\ni: .inf\nj: ~\nk:\nl: 2024-01-02\nm: '7.0'\nn: 1e3\n"
		 "o: Off\np: 7.0\nq: -.inf\nr: .nan\ns: 1:30\nt: y\nu: ???\nv: !!str 1\n"
		 "w: !!float 3\nx: 09\ny: \"???\"\nz: True\n");
	CHECK(c != NULL);
	if (!c)
		return;
	int b;
	long long i;
	double f;
	const char *s;
	CHECK(lms_cfg_get_bool(c, "a", &b) == LMS_OK && b == 1);
	CHECK(lms_cfg_get_bool(c, "b", &b) == LMS_OK && b == 1);
	CHECK(lms_cfg_get_bool(c, "c", &b) == LMS_OK && b == 0);
	CHECK(lms_cfg_get_bool(c, "o", &b) == LMS_OK && b == 0);
	CHECK(lms_cfg_get_bool(c, "z", &b) == LMS_OK && b == 1);
	CHECK(lms_cfg_find(c, "d")->type == LMS_CFG_FLOAT);
	CHECK(lms_cfg_get_double(c, "d", &f) == LMS_OK && f == 0.001);
	CHECK(lms_cfg_get_double(c, "e", &f) == LMS_OK && f == 0.001);
	CHECK(lms_cfg_get_int(c, "f", &i) == LMS_OK && i == 8);
	CHECK(lms_cfg_get_int(c, "g", &i) == LMS_OK && i == 16);
	CHECK(lms_cfg_get_int(c, "h", &i) == LMS_OK && i == 1000);
	CHECK(lms_cfg_get_double(c, "i", &f) == LMS_OK && isinf(f) && f > 0);
	CHECK(lms_cfg_is_null(c, "j"));
	CHECK(lms_cfg_is_null(c, "k"));
	CHECK(lms_cfg_get_str(c, "l", &s) == LMS_OK && strcmp(s, "2024-01-02") == 0);
	CHECK(lms_cfg_get_str(c, "m", &s) == LMS_OK && strcmp(s, "7.0") == 0);
	CHECK(lms_cfg_get_double(c, "n", &f) == LMS_OK && f == 1000.0);
	CHECK(lms_cfg_find(c, "n")->type == LMS_CFG_FLOAT);
	CHECK(lms_cfg_find(c, "p")->type == LMS_CFG_FLOAT);
	CHECK(lms_cfg_get_double(c, "q", &f) == LMS_OK && isinf(f) && f < 0);
	CHECK(lms_cfg_get_double(c, "r", &f) == LMS_OK && isnan(f));
	CHECK(lms_cfg_get_int(c, "s", &i) == LMS_OK && i == 90);
	CHECK(lms_cfg_get_str(c, "t", &s) == LMS_OK && strcmp(s, "y") == 0);
	CHECK(lms_cfg_find(c, "u")->type == LMS_CFG_MISSING);
	CHECK(lms_cfg_find(c, "y")->type == LMS_CFG_MISSING);
	CHECK(lms_cfg_get_str(c, "v", &s) == LMS_OK && strcmp(s, "1") == 0);
	CHECK(lms_cfg_find(c, "w")->type == LMS_CFG_FLOAT && lms_cfg_find(c, "w")->f == 3.0);
	CHECK(lms_cfg_get_str(c, "x", &s) == LMS_OK && strcmp(s, "09") == 0);
	/* getters name the key path and the closest keys */
	CHECK_FAILS_WITH(lms_cfg_get_int(c, "l", &i), LMS_ERR_CONFIG,
			 "config key 'l' is a string (2024-01-02), expected an integer (set at t.yaml:12:4)");
	CHECK_FAILS_WITH(lms_cfg_get_int(c, "u", &i), LMS_ERR_CONFIG, "Missing mandatory value: u");
	lms_cfg_free(c);
}

static void test_paths_aliases(void)
{
	struct lms_cfg *c = load("base: &b {x: 1, y: [1, 2]}\nd:\n  <<: *b\n  y: [3]\n"
				 "list:\n- a: 1\n- - 2\n  - 3\n");
	CHECK(c != NULL);
	if (!c)
		return;
	long long i;
	CHECK(lms_cfg_get_int(c, "d.x", &i) == LMS_OK && i == 1);
	CHECK(lms_cfg_get_int(c, "d.y[0]", &i) == LMS_OK && i == 3);
	CHECK(lms_cfg_get_int(c, "list[0].a", &i) == LMS_OK && i == 1);
	CHECK(lms_cfg_get_int(c, "list[1][1]", &i) == LMS_OK && i == 3);
	CHECK_FAILS_WITH(lms_cfg_get_int(c, "d.yy", &i), LMS_ERR_NOT_FOUND,
			 "config key 'd.yy' not found (closest: 'y'");
	/* dump and load back: same tree */
	char *y1 = NULL, *y2 = NULL;
	CHECK(lms_cfg_to_yaml(c, &y1) == LMS_OK);
	struct lms_cfg *c2 = load(y1);
	CHECK(c2 != NULL);
	if (c2)
		CHECK(lms_cfg_to_yaml(c2, &y2) == LMS_OK);
	CHECK_STR_EQ(y2, y1);
	CHECK_STR_CONTAINS(y1, "list:\n- a: 1\n- - 2\n  - 3\n");
	free(y1);
	free(y2);
	lms_cfg_free(c2);
	lms_cfg_free(c);
}

static void test_dump_quoting(void)
{
	struct lms_cfg *c =
	    load("a: 'yes'\nb: '010'\nc: ''\nd: 'x: y'\ne: ${a.b}\nf: 7.0\ng: 1e-5\n"
		 "h: \"tab\\there\"\ni: '?\?\?'\nj: null\nk: []\nl: {}\nm: '-1'\n");
	CHECK(c != NULL);
	if (!c)
		return;
	char *y = NULL;
	CHECK(lms_cfg_to_yaml(c, &y) == LMS_OK);
	CHECK_STR_EQ(y, "a: 'yes'\nb: '010'\nc: ''\nd: 'x: y'\ne: ${a.b}\nf: 7.0\ng: 1.0e-05\n"
			"h: \"tab\\there\"\ni: ???\nj: null\nk: []\nl: {}\nm: '-1'\n");
	struct lms_cfg *c2 = y ? load(y) : NULL;
	const char *s;
	CHECK(c2 && lms_cfg_get_str(c2, "a", &s) == LMS_OK && strcmp(s, "yes") == 0);
	CHECK(c2 && lms_cfg_get_str(c2, "h", &s) == LMS_OK && strcmp(s, "tab\there") == 0);
	double f;
	CHECK(c2 && lms_cfg_get_double(c2, "g", &f) == LMS_OK && f == 1e-5);
	free(y);
	lms_cfg_free(c2);
	lms_cfg_free(c);
}

static void expect_error(const char *text, const char *needle)
{
	struct lms_cfg *c = NULL;
	CHECK_FAILS_WITH(lms_yaml_load_string(text, strlen(text), "bad.yaml", &c), LMS_ERR_CONFIG,
			 needle);
	CHECK(c == NULL);
	lms_cfg_free(c);
}

static void test_errors(void)
{
	expect_error("a: 1\na: 2\n", "bad.yaml:2:1: duplicate key 'a'");
	expect_error("a: [1, 2\n", "bad.yaml:2:1: invalid YAML");
	expect_error("a: &x [1, *x]\n", "bad.yaml:1:11: recursive alias '*x'");
	expect_error("a: *nope\n", "bad.yaml:1:4: unknown alias '*nope'");
	expect_error("a: !!int abc\n", "bad.yaml:1:4: value 'abc' does not match its tag");
	expect_error("a: !foo 1\n", "unsupported tag '!foo'");
	expect_error("? [1]\n: 2\n", "a mapping key must be a scalar");
	expect_error("a: 1\n---\nb: 2\n", "more than one YAML document");
	expect_error("a: 99999999999999999999\n",
		     "bad.yaml:1:4: integer '99999999999999999999' is out of range");
	expect_error("a: {<<: 1}\n", "merge key '<<' with an integer");
	/* a billion laughs: 10 levels of 10 aliases each */
	char bomb[4096] = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
	for (int k = 1; k < 10; k++) {
		char line[256];
		snprintf(line, sizeof line,
			 "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
			 k, k, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1,
			 k - 1);
		strcat(bomb, line);
	}
	expect_error(bomb, "YAML node expansion exceeds the limit");
	/* deep nesting */
	char deep[512] = "";
	for (int k = 0; k < 100; k++)
		strcat(deep, "[");
	expect_error(deep, "nesting deeper than 64 levels");
}

static void test_package_directive(void)
{
	char pkg[64];
	CHECK(lms_yaml_package_directive("# hello\n# @package _global_\na: 1\n", pkg, sizeof pkg) ==
	      1);
	CHECK_STR_EQ(pkg, "_global_");
	CHECK(lms_yaml_package_directive("a: 1\n# @package x\n", pkg, sizeof pkg) == 0);
}

int main(void)
{
	test_typing();
	test_paths_aliases();
	test_dump_quoting();
	test_errors();
	test_package_directive();
	return lms_test_finish();
}
