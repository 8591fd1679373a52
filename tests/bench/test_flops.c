/* test_flops.c — the FLOP count of src/bench/flops.c against hand-computed
 * values: the Qwen3-VL-4B shape (the numbers quoted in the benchmark issue and
 * docs/BENCHMARKS.md: 8.04 GFLOP forward per token, 7.27 per replay, 0.151
 * attention at T = 512, ≈ 1.56 PFLOP for the standard scoring run) and a
 * small irregular shape where every term differs. All values are integers
 * below 2^53, so the comparisons are exact. */
#include <string.h>

#include "bench/flops.h"
#include "test.h"

static struct lms_model_config shape(int C, int F, int L, int H, int G, int D, int V)
{
	struct lms_model_config c;
	memset(&c, 0, sizeof c);
	c.hidden_size = C;
	c.intermediate_size = F;
	c.num_layers = L;
	c.num_heads = H;
	c.num_kv_heads = G;
	c.head_dim = D;
	c.vocab_size = V;
	return c;
}

int main(void)
{
	struct lms_model_config q4b = shape(2560, 9728, 36, 32, 8, 128, 151936);
	struct lms_flops_per_token t;
	lms_flops_per_token(&q4b, 512, &t);
	/* per layer: q 2560·4096, k and v 2560·1024, o 4096·2560, gate/up/down 2560·9728 */
	CHECK(t.decoder_fwd == 2.0 * 36 * 100925440.0);
	CHECK(t.decoder_fwd == 7266631680.0);
	CHECK(t.lm_head_fwd == 777912320.0);
	CHECK(t.linear_fwd == 8044544000.0);
	CHECK(t.attn_fwd == 151289856.0); /* 36 · 4 · 4096 · 513/2 */
	CHECK(t.attn_bwd == 2.0 * t.attn_fwd);
	lms_flops_per_token(&q4b, 1, &t);
	CHECK(t.attn_fwd == 36.0 * 4 * 4096); /* one token sees itself */
	lms_flops_per_token(&q4b, 0, &t);     /* defensive: treated as 1 */
	CHECK(t.attn_fwd == 36.0 * 4 * 4096);

	/* the standard scenario: 65,536 tokens, one format, lm_head disabled */
	struct lms_flops_phase p;
	lms_flops_phases(&q4b, 512, 65536, 1, 0, &p);
	CHECK(p.replays == 65536.0 * 7266631680.0);
	CHECK(p.score == 65536.0 * (2 * 8044544000.0 + 3 * 151289856.0 + 7266631680.0));
	CHECK(p.score > 1.55e15 && p.score < 1.57e15);
	CHECK(p.calibrate == 65536.0 * (8044544000.0 + 151289856.0));
	/* seven formats: only the replays grow */
	struct lms_flops_phase p7;
	lms_flops_phases(&q4b, 512, 65536, 7, 0, &p7);
	CHECK(p7.replays == 7 * p.replays);
	CHECK(p7.score - p.score == 6 * p.replays);
	CHECK(p7.calibrate == p.calibrate);

	/* irregular shape: C 64, F 96, L 2, H 4, G 2, D 16, V 512, T 7 */
	struct lms_model_config s = shape(64, 96, 2, 4, 2, 16, 512);
	lms_flops_per_token(&s, 7, &t);
	CHECK(t.decoder_fwd == 122880.0); /* 2·2·(64·64 + 2·64·32 + 64·64 + 3·64·96) */
	CHECK(t.lm_head_fwd == 65536.0);
	CHECK(t.linear_fwd == 188416.0);
	CHECK(t.attn_fwd == 2048.0); /* 2 · 4 · 64 · 8/2 */
	CHECK(t.attn_bwd == 4096.0);
	lms_flops_phases(&s, 7, 10, 3, 1, &p);
	CHECK(p.calibrate == 1904640.0);
	CHECK(p.replays == 5652480.0); /* lm_head scored: 10 · 3 · (122880 + 65536) */
	CHECK(p.score == 9482240.0);
	lms_flops_phases(&s, 7, 10, 0, 1, &p);
	CHECK(p.replays == 0.0);
	CHECK(p.score == 3829760.0);
	return lms_test_finish();
}
