/* test_group.c — grouping rules (§3.2, first match wins), disabled layers
 * (§3.5), monotonization and candidate stats (§5.5), and the whole chain
 * groups → candidates → search on a Qwen3-shaped layer list. */
#include <stdlib.h>
#include <string.h>

#include "autoquant/group.h"
#include "autoquant/search.h"
#include "test.h"

static void check_key(const char *name, const char *want_key, int want_rule)
{
	char key[256];
	int rule = -1;
	CHECK_INT_EQ(lms_aq_group_key(name, key, sizeof key, &rule), LMS_OK);
	CHECK_STR_EQ(key, want_key);
	CHECK_INT_EQ(rule, want_rule);
}

static void test_keys(void)
{
	check_key("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn", 1);
	check_key("model.layers.0.self_attn.v_proj", "model.layers.0.self_attn", 1);
	check_key("model.layers.0.self_attn.o_proj", "model.layers.0.self_attn.o_proj", 0);
	check_key("model.layers.3.mlp.gate_proj", "model.layers.3.mlp", 3);
	check_key("model.layers.3.mlp.up_proj", "model.layers.3.mlp", 3);
	check_key("model.layers.3.mlp.down_proj", "model.layers.3.mlp.down_proj", 0);
	/* Qwen3-MoE: all experts of a layer, gate/up/down together (rule 2 before 3) */
	check_key("model.layers.1.mlp.experts.17.down_proj", "model.layers.1.mlp.experts", 2);
	check_key("model.layers.1.mlp.experts.0.gate_proj", "model.layers.1.mlp.experts", 2);
	/* shared expert gate/up: rule 3 */
	check_key("model.layers.1.mlp.shared_expert.up_proj", "model.layers.1.mlp.shared_expert", 3);
	/* Mixtral and DBRX */
	check_key("model.layers.2.block_sparse_moe.experts.5.w2", "model.layers.2.block_sparse_moe.experts", 4);
	check_key("transformer.blocks.0.ffn.experts.mlp.w1_linear.3", "transformer.blocks.0.ffn.experts.mlp", 5);
	check_key("lm_head", "lm_head", 0);
	check_key("q_proj", "q_proj", 0); /* the regexes need a dot */
	check_key("x.experts.1.up_proj", "x.experts.1", 3); /* no ".mlp.experts": falls to rule 3 */
	char small[4];
	int rule;
	CHECK_INT_EQ(lms_aq_group_key("model.layers.0.self_attn.q_proj", small, sizeof small, &rule), LMS_ERR_INPUT);
}

static void test_disabled(void)
{
	const char *pats[] = {"*lm_head*", "*mlp.gate.*", "*router*"};
	CHECK(lms_aq_name_disabled("lm_head", pats, 3));
	CHECK(lms_aq_name_disabled("model.lm_head.x", pats, 3));
	/* ModelOpt quirk: "*mlp.gate.*" needs a trailing dot, so the router itself is not matched */
	CHECK(!lms_aq_name_disabled("model.layers.0.mlp.gate", pats, 3));
	CHECK(lms_aq_name_disabled("model.layers.0.mlp.gate.weight", pats, 3));
	CHECK(!lms_aq_name_disabled("model.layers.0.mlp.gate_proj", pats, 3));
	CHECK(!lms_aq_name_disabled("lm_head", pats, 0));
}

static void test_monotonize(void)
{
	double s[] = {5.0, 7.0, 2.0, 3.0, 0.0};
	lms_aq_monotonize(s, 5);
	CHECK_NEAR(s[1], 5.0, 0, 0);
	CHECK_NEAR(s[2], 2.0, 0, 0);
	CHECK_NEAR(s[3], 2.0, 0, 0);
	CHECK_NEAR(s[4], 0.0, 0, 0);
}

/* Qwen3-4B-shaped names for 2 layers + lm_head (hidden 2560, q 4096, kv 1024, ffn 9728, vocab 151936). */
static void test_chain(void)
{
	const char *names[] = {
		"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj",
		"model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_proj",    "model.layers.0.mlp.up_proj",
		"model.layers.0.mlp.down_proj",    "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj",
		"model.layers.1.self_attn.v_proj", "model.layers.1.self_attn.o_proj", "model.layers.1.mlp.gate_proj",
		"model.layers.1.mlp.up_proj",      "model.layers.1.mlp.down_proj",    "lm_head"};
	const int64_t H = 2560, Q = 4096, KV = 1024, F = 9728, V = 151936;
	const int64_t per[] = {Q * H, KV * H, KV * H, H * Q, F * H, F * H, H * F};
	int64_t numel[15];
	for (int i = 0; i < 14; i++)
		numel[i] = per[i % 7];
	numel[14] = V * H;
	const char *dis[] = {"*lm_head*"};
	struct lms_aq_grouping gs;
	CHECK_INT_EQ(lms_aq_grouping_build(names, numel, 15, dis, 1, &gs), LMS_OK);
	CHECK_INT_EQ(gs.n, 9);
	CHECK_STR_EQ(gs.g[0].name, "model.layers.0.self_attn.q_proj.quant_recipe");
	CHECK_INT_EQ(gs.g[0].n_modules, 3);
	CHECK_INT_EQ(gs.g[0].numel, (Q + 2 * KV) * H);
	CHECK_STR_EQ(gs.g[2].name, "model.layers.0.mlp.gate_proj.quant_recipe");
	CHECK_INT_EQ(gs.g[2].numel, 2 * F * H);
	CHECK_STR_EQ(gs.g[8].name, "lm_head.quant_recipe");
	CHECK(gs.g[8].disabled && !gs.g[0].disabled);

	/* candidates: a 4.5-bit and an 8-bit format + NONE */
	struct lms_format fm[3];
	lms_format_none(&fm[0]);
	lms_format_none(&fm[1]);
	lms_format_none(&fm[2]);
	strcpy(fm[0].name, "NVFP4_DEFAULT_CFG");
	fm[0].effective_bits_override = 4.5;
	strcpy(fm[1].name, "FP8_DEFAULT_CFG");
	fm[1].effective_bits_override = 8.0;
	int64_t cost[9][3];
	double score[9][3];
	struct lms_search_group sg[9];
	int64_t total = 0;
	for (size_t g = 0; g < gs.n; g++) {
		double raw[3] = {1.0 + (double)g, 2.0 + (double)g, 123.0}; /* FP8 worse than NVFP4 → monotonized */
		size_t nc;
		CHECK_INT_EQ(lms_aq_candidates(&gs.g[g], fm, 3, raw, cost[g], score[g], &nc), LMS_OK);
		CHECK_INT_EQ(nc, gs.g[g].disabled ? 1 : 3);
		sg[g].n_choices = nc;
		sg[g].cost = cost[g];
		sg[g].score = score[g];
		total += gs.g[g].numel * 16 * LMS_FORMAT_BITS_DEN;
	}
	CHECK_NEAR(score[0][1], 1.0, 0, 0); /* min(2, 1) */
	CHECK_NEAR(score[0][2], 0.0, 0, 0);
	CHECK_INT_EQ(cost[0][0], (Q + 2 * KV) * H * 288);
	CHECK_NEAR(score[8][0], 0.0, 0, 0);
	CHECK_INT_EQ(cost[8][0], V * H * 1024);

	struct lms_search_frontier *f = NULL;
	CHECK_INT_EQ(lms_search_frontier_build(sg, gs.n, &f), LMS_OK);
	int choice[9];
	struct lms_search_result r;
	/* everything at 4.5 bits except lm_head at 16: the least achievable */
	int64_t lin = 0;
	for (int i = 0; i < 14; i++)
		lin += numel[i];
	double minbits = (4.5 * (double)lin + 16.0 * (double)(V * H)) / (double)(lin + V * H);
	CHECK_INT_EQ(lms_search_solve(f, total, 4.8, choice, &r), LMS_OK);
	CHECK(!r.is_satisfied);
	CHECK_NEAR(r.min_effective_bits, minbits, 1e-12, 0);
	CHECK_INT_EQ(lms_search_solve(f, total, 16.0, choice, &r), LMS_OK);
	CHECK(r.is_satisfied);
	CHECK_NEAR(r.score, 0.0, 0, 0);
	CHECK_INT_EQ(choice[0], 2);
	lms_search_frontier_free(f);

	const char *dup[] = {"a.q_proj", "a.q_proj"};
	int64_t dn[] = {1, 1};
	struct lms_aq_grouping g2;
	CHECK_INT_EQ(lms_aq_grouping_build(dup, dn, 2, NULL, 0, &g2), LMS_ERR_INPUT);
	lms_aq_grouping_free(&g2);
	lms_aq_grouping_free(&gs);
}

int main(void)
{
	test_keys();
	test_disabled();
	test_monotonize();
	test_chain();
	return lms_test_finish();
}
