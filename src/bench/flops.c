/* flops.c — FLOP counts of the AutoQuant phases from the model config
 * (flops.h holds the definitions of each term).
 *
 * Invariants: pure arithmetic on the config in double precision (no
 * overflow for any shape the loader accepts); 2 FLOPs per multiply-add.
 * Not here: timing, peaks, the benchmark driver (src/cli/cmd_bench.c). */
#include "bench/flops.h"

void lms_flops_per_token(const struct lms_model_config *cfg, int seq_len,
			 struct lms_flops_per_token *out)
{
	double C = cfg->hidden_size, F = cfg->intermediate_size, L = cfg->num_layers;
	double HD = (double)cfg->num_heads * cfg->head_dim;
	double GD = (double)cfg->num_kv_heads * cfg->head_dim;
	/* q, k, v, o, gate, up, down: in·out multiply-adds per token */
	double layer_macs = C * HD + 2.0 * C * GD + HD * C + 3.0 * C * F;
	out->decoder_fwd = 2.0 * L * layer_macs;
	out->lm_head_fwd = 2.0 * C * (double)cfg->vocab_size;
	out->linear_fwd = out->decoder_fwd + out->lm_head_fwd;
	double T = seq_len > 0 ? seq_len : 1;
	/* QKᵀ and PV: 2 products × 2 FLOPs × H·D per visible key; causal rows
	 * see (T+1)/2 keys on average */
	out->attn_fwd = L * 4.0 * HD * (T + 1.0) / 2.0;
	out->attn_bwd = 2.0 * out->attn_fwd;
}

void lms_flops_phases(const struct lms_model_config *cfg, int seq_len, long long tokens,
		      int n_formats, int lm_head_scored, struct lms_flops_phase *out)
{
	struct lms_flops_per_token t;
	lms_flops_per_token(cfg, seq_len, &t);
	double n = (double)tokens;
	double per_format = t.decoder_fwd + (lm_head_scored ? t.lm_head_fwd : 0.0);
	out->calibrate = n * (t.linear_fwd + t.attn_fwd);
	out->replays = n * (double)(n_formats > 0 ? n_formats : 0) * per_format;
	out->score = n * (2.0 * t.linear_fwd + t.attn_fwd + t.attn_bwd) + out->replays;
}
