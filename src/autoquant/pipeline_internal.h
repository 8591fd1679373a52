/* pipeline_internal.h — shared by the AutoQuant pipeline's files
 * (pipeline.c: setup and orchestration; calib.c: calibration; score.c:
 * gradient scoring; bundle.c: results, search and artifacts per pair).
 *
 * A run is one BUNDLE: jobs that share model, dataset and calibration/score
 * settings and differ in the quant pair (and the search target). The bundle
 * keeps one list of distinct candidate formats (the union of the pairs'
 * formats, without NONE), runs one calibration and one forward+backward per
 * scoring batch, and scores every (linear, distinct format). Each pair then
 * reads its formats' scores, so its numbers are the same as in a run of that
 * pair alone (tests/autoquant_e2e checks it).
 *
 * Dimension letters: M = B·T rows of a linear's input, NL = number of
 * linears (7·L + 1), NF = number of distinct formats. */
#ifndef LMS_AUTOQUANT_PIPELINE_INTERNAL_H
#define LMS_AUTOQUANT_PIPELINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "autoquant/pipeline.h"
#include "backend/backend.h"
#include "config/node.h"
#include "data/data.h"
#include "engine/engine.h"
#include "model/model.h"
#include "quant/format.h"
#include "quant/quant.h"
#include "tokenizer/tokenizer.h"

/* One linear layer of the model, as the engine names it. */
struct aq_linear {
	const char *name;       /* HF module name, borrowed from the engine */
	enum lms_linear_kind kind;
	int layer;              /* -1 for lm_head */
	int64_t in, out;
};

/* replay_fp8.c: autoquant.replay_gemm=fp8's E4M3 operands (CUDA only). */
struct aq_fp8 {
	int on;                   /* some format replays through the FP8 GEMM */
	uint8_t **d_x8;           /* (n_in) E4M3 X of an FP8 format's input quantizer, or NULL */
	const lms_bf16 **x_src;   /* (n_in) the X it holds in this pass, or NULL */
	int *x_layer;             /* (n_in) */
	int64_t *x_m;             /* (n_in) M·in */
	uint8_t **d_w8;           /* (n_w) E4M3 W scratch for uncached linears, or NULL */
	int *w_lin;               /* (n_w) the linear d_w8 holds, or -1 */
	void **d_wblock;          /* (n_w) E4M3 weight cache block, or NULL */
	int64_t *w_off;           /* (n_w·NL) byte offset of the slot, -1: none */
	unsigned char *w_filled;  /* (n_w·NL) */
	float *d_inv;             /* (n_in + n_w·NL) scales amax/448, 64 bytes apart: inputs,
				   * then (j, l) */
	size_t cache_bytes;
	int cache_slots, cache_want; /* E4M3 weight slots allocated / wanted */
};

/* replay.c: the distinct quantizers of the bundle's formats, their scratch
 * and the cache of fake-quantized weights. DQ = distinct quantizers. */
struct aq_replay {
	int n_in, n_w;            /* distinct enabled input / weight quantizers */
	int *in_of, *w_of;        /* (NF) format f's distinct quantizer, -1: disabled */
	int *in_fmt, *w_fmt;      /* (DQ) the first format using it */
	lms_bf16 **d_xq;          /* (n_in) (max M·in) fq_in(X) */
	const lms_bf16 **x_src;   /* (n_in) the X it holds in this pass, or NULL */
	int *x_layer;             /* (n_in) and that X's layer */
	int64_t *x_m;             /* (n_in) and its M·in */
	lms_bf16 **d_wq;          /* (n_w) (max out·in) fq_w(W) of uncached linears, or NULL
				   * when every scored linear has a cache slot */
	int *wq_lin;              /* (n_w) the linear whose fq_w(W) d_wq holds, or -1 */
	void **d_wblock;          /* (n_w) cache block, or NULL */
	int64_t *w_off;           /* (n_w·NL) byte offset of the slot in d_wblock, -1: none */
	unsigned char *w_filled;  /* (n_w·NL) */
	size_t wcache_bytes;      /* allocated for the cache */
	int wcache_slots, wcache_want; /* slots allocated / wanted (scored linears × n_w) */
	struct aq_fp8 f8;         /* replay_fp8.c */
};

/* The shared state of one bundle run. */
struct aq_ctx {
	/* settings (from the first job's config; equal across the bundle) */
	const struct lms_cfg *cfg;
	int batch_size, seq_len;
	long max_samples;
	long long score_size;
	int calib_steps_cfg;          /* <= 0: all batches */
	enum lms_loss_reduction loss_reduction;
	const char *method;           /* "gradient" | "kl_div" */
	int is_kl;                    /* method is kl_div */
	int kl_prefix_reuse;          /* autoquant.kl_prefix_reuse (default 1) */
	int calib_loss_on;            /* autoquant.calib_loss (default 0): calibration
				       * forwards compute logits and the loss */
	int recompute_cfg, wcache_cfg; /* autoquant.recompute / weight_cache: -1 auto, 0, 1 */
	double wcache_gb;             /* autoquant.weight_cache given as a size in GB, else < 0 */
	int recompute;                /* what the engine runs with */
	int replay_fp8;               /* autoquant.replay_gemm = fp8 (default exact) */
	const char *captions_path;

	/* resources */
	struct lms_model *model;
	struct lms_tokenizer *tok;
	struct lms_dataset *ds;
	struct lms_backend *be;
	struct lms_engine *eng;

	/* linears */
	int n_linears;                /* NL */
	struct aq_linear *lin;        /* (NL) */
	unsigned char *skip;          /* (NL) 1: disabled in every job of the bundle, not scored */

	/* distinct candidate formats (NONE excluded), sorted with lms_format_cmp */
	int n_formats;                /* NF */
	struct lms_format *fmt;       /* (NF) */

	/* calibration output */
	float *d_act_amax;            /* (NL) backend memory: per-tensor max|X| */
	float *act_amax;              /* (NL) host copy */
	float *weight_amax;           /* (NL) host: per-tensor max|W| */
	float **d_w_amax;             /* (NF·NL) backend memory, the weight quantizer's
				       * amax of linear l for format f, or NULL when it
				       * needs none (MX, disabled) */
	double *calib_loss;           /* (n_calib); all 0 unless calib_loss_on */
	int n_calib;

	/* scoring output */
	int n_score;
	double *scores;               /* (NL, NF) Σ over steps, per linear */
	double *step_scores;          /* (n_score, NL, NF) */
	double *score_loss;           /* (n_score) */
	long long score_tokens;       /* valid tokens in the scoring batches */

	/* scratch in backend memory */
	struct aq_replay rp;          /* replay.c */
	lms_bf16 *d_yq;               /* (max M·out) */
	float *d_amax_tmp;            /* (1) dynamic per-tensor amax */
	double *d_acc;                /* (NL·NF) score accumulators; kl_div: (B·T) per-row KL */
	size_t xq_elems, wq_elems, yq_elems;
	/* score.c: v_proj's backward event, replayed with k_proj's (one batched
	 * GEMM) when kv_wait is set */
	struct lms_linear_event kv_v;
	int kv_wait;

	/* timings (seconds) */
	double t_load, t_calib, t_score;
	double t_search, t_write;     /* summed over the jobs finished so far */

	/* data parallelism (pipeline.h); NULL: this rank alone */
	const struct lms_aq_dist *dist;

	/* runner.debug_dump (debug_dump.c); NULL: none */
	struct aq_dump *dump;
};

/* debug_dump.c (runner.debug_dump): setup checks the layer name against the
 * engine's linears (needs eng, skip, is_kl; a bad name is LMS_ERR_CONFIG
 * with a hint listing the valid names) and makes c->dump, or leaves it NULL
 * when runner.debug_dump.layer is null; step tells the scoring step that
 * runs now; capture copies the event's tensors and every format's replay
 * operands and output to the host when ev is the dumped layer (within the
 * first `steps` steps; a no-op otherwise); write stores the job's pair
 * formats in <job output dir>/debug_dump.h5; free is NULL-safe. */
struct aq_dump;
LMS_NODISCARD enum lms_status lms_aq_dump_setup(struct aq_ctx *c);
void lms_aq_dump_step(struct aq_ctx *c, int step);
LMS_NODISCARD enum lms_status lms_aq_dump_capture(struct aq_ctx *c, const struct lms_linear_event *ev);
LMS_NODISCARD enum lms_status lms_aq_dump_write(struct aq_ctx *c, const struct lms_pipeline_job *job);
void lms_aq_dump_free(struct aq_ctx *c);

/* dp.c: this rank's share of n_batches (lms_data_rank_batches; all of
 * them without c->dist). *idx is new (free), *n its length. */
LMS_NODISCARD enum lms_status lms_aq_my_batches(const struct aq_ctx *c, int n_batches, int **idx,
						int *n);
/* dp.c: agrees on a phase's outcome across the group: returns st when it
 * failed here, LMS_ERR_INTERRUPTED / LMS_ERR_INTERNAL naming the other rank's
 * failure when it failed elsewhere, else LMS_OK. Collective. */
LMS_NODISCARD enum lms_status lms_aq_agree(const struct aq_ctx *c, enum lms_status st,
					   const char *phase);
/* dp.c: 1 when the runner asks to stop (between batches). */
int lms_aq_interrupted(const struct aq_ctx *c);

/* calib.c: runs the calibration forwards (batches [0, n_calib)); fills
 * act_amax, weight_amax, d_w_amax, calib_loss and the linear table. */
LMS_NODISCARD enum lms_status lms_aq_calibrate(struct aq_ctx *c);

/* score.c: gradient scoring over batches [0, n_score); fills scores,
 * step_scores, score_loss, score_tokens. */
LMS_NODISCARD enum lms_status lms_aq_score(struct aq_ctx *c);

/* replay.c: the replay of one linear for format f (index into c->fmt):
 * d_out (M, out) = fq_in(X) · fq_w(W)ᵀ in bf16 (the gradient method's Yq;
 * the kl_div method passes the engine's writable Y). Uses c->rp and
 * d_amax_tmp; d_out must not be X or W. Call lms_aq_replay_reset before
 * every engine pass whose events it replays. */
LMS_NODISCARD enum lms_status lms_aq_replay(struct aq_ctx *c, int f, const struct lms_linear_event *ev,
					    lms_bf16 *d_out);
/* replay.c: the two operands of that replay, fq_in(X) and fq_w(W) (X or W
 * itself where the format leaves it unquantized), quantized now if needed:
 * *xq, *wq are backend memory, borrowed until the next replay. Also sets
 * the op label "<linear> replay <format>". lms_aq_replay = this + the GEMM;
 * the debug dump (debug_dump.c) reads the operands through it. */
LMS_NODISCARD enum lms_status lms_aq_replay_operands(struct aq_ctx *c, int f,
						     const struct lms_linear_event *ev,
						     const lms_bf16 **xq, const lms_bf16 **wq);
/* replay.c: the replays of two linears of one shape that share X (k_proj
 * and v_proj) for format f as one strided batch of 2 GEMMs: d_out0, d_out1
 * get Yq of e0, e1 (the batch may round otherwise than two single GEMMs:
 * docs/cuda.md). *paired = 0 with nothing replayed where that is not
 * possible: a host backend, an FP8-GEMM format, a weight quantizer without
 * cache slots for both, operands or outputs not at a fixed distance. */
LMS_NODISCARD enum lms_status lms_aq_replay_pair(struct aq_ctx *c, int f,
						 const struct lms_linear_event *e0,
						 const struct lms_linear_event *e1, lms_bf16 *d_out0,
						 lms_bf16 *d_out1, int *paired);
/* replay.c: forgets which X the input scratch holds (a pass boundary). */
void lms_aq_replay_reset(struct aq_ctx *c);
/* replay.c: the distinct quantizers, their scratch, d_amax_tmp, xq_elems,
 * wq_elems and a weight cache of at most wcache_budget bytes (0: none), for
 * the linears with replayed[l] != 0 (NL; borrowed for the call; only those
 * may be replayed). Needs c->lin, c->fmt. */
LMS_NODISCARD enum lms_status lms_aq_replay_alloc(struct aq_ctx *c, const unsigned char *replayed,
						  size_t wcache_budget);
void lms_aq_replay_free(struct aq_ctx *c); /* everything lms_aq_replay_alloc made */

/* replay_fp8.c: 1 when format f replays through the FP8 GEMM
 * (autoquant.replay_gemm=fp8 and per-tensor E4M3 input and weight). */
int lms_aq_fp8_format(const struct aq_ctx *c, int f);
/* replay_fp8.c: the FP8 scratch, scales and E4M3 weight cache (taking its
 * bytes from *budget) when some format replays through the FP8 GEMM; called
 * by lms_aq_replay_alloc after the distinct quantizers are known.
 * LMS_ERR_UNSUPPORTED without CUDA or for shapes the FP8 GEMM refuses. */
LMS_NODISCARD enum lms_status lms_aq_fp8_alloc(struct aq_ctx *c, const unsigned char *replayed,
					       size_t *budget);
void lms_aq_fp8_free(struct aq_ctx *c);
void lms_aq_fp8_reset(struct aq_ctx *c); /* a pass boundary, as lms_aq_replay_reset */
/* replay_fp8.c: lms_aq_replay for a format with lms_aq_fp8_format. */
LMS_NODISCARD enum lms_status lms_aq_fp8_replay(struct aq_ctx *c, int f,
						const struct lms_linear_event *ev, lms_bf16 *d_out);

/* memplan.c: autoquant.recompute and autoquant.weight_cache (auto | true |
 * false) into c->recompute_cfg, c->wcache_cfg; autoquant.replay_gemm
 * (exact | fp8) into c->replay_fp8. */
LMS_NODISCARD enum lms_status lms_aq_read_mem_settings(struct aq_ctx *c);
/* memplan.c: whether the engine recomputes each layer in the backward
 * (c->recompute_cfg; auto: keep the activations when they fit, with a
 * margin, in the backend's free memory). */
LMS_NODISCARD enum lms_status lms_aq_choose_recompute(struct aq_ctx *c,
						      const struct lms_model_config *mc, int max_T,
						      const struct lms_engine_options *eo,
						      int *recompute);
/* memplan.c: the backend's free memory now (*known = 0, *free_b = 0 on a
 * host backend). */
LMS_NODISCARD enum lms_status lms_aq_free_memory(struct aq_ctx *c, size_t *free_b, int *known);
/* memplan.c: the byte budget of the weight cache (c->wcache_cfg; auto: the
 * backend's free memory less a margin, on the CPU at most 1 GiB). */
LMS_NODISCARD enum lms_status lms_aq_wcache_budget(struct aq_ctx *c, size_t *budget);

/* score.c: allocates the score tables (scores, step_scores, score_loss) and
 * the replay scratch (lms_aq_replay_alloc, d_yq, d_acc) for the linears with
 * replayed[l] != 0. */
LMS_NODISCARD enum lms_status lms_aq_score_alloc(struct aq_ctx *c, const unsigned char *replayed);

/* kldiv.c: kl_div scoring (reference §6, HEAD's true KL) over batches
 * [0, n_score): per batch one unquantized forward, then per scored group and
 * format one forward from the group's first layer (c->kl_prefix_reuse; from
 * the embedding otherwise) with the group's linears replaced by their
 * replays, KL(P ‖ Q) summed over all B·T positions and the vocabulary in
 * fp64. Fills the same tables as lms_aq_score, with each group's score at
 * its first member's index (ModelOpt's score_modules[0]) and 0 at the other
 * members. Needs an engine with prefix_forward. */
LMS_NODISCARD enum lms_status lms_aq_score_kl(struct aq_ctx *c);

/* bundle.c: builds job k's result (its pair's formats read from the
 * bundle), runs the search and writes the artifacts into job->output_dir. */
LMS_NODISCARD enum lms_status lms_aq_finish_job(struct aq_ctx *c, const struct lms_pipeline_job *job);

/* The pair's candidate format names of a job config (quant_pair.format_name:
 * a string or a list of strings). *names borrowed from cfg. */
LMS_NODISCARD enum lms_status lms_aq_pair_formats(const struct lms_cfg *cfg, const char **names,
						  size_t cap, size_t *n);

/* Index of a format name among c->fmt, or -1. */
int lms_aq_format_index(const struct aq_ctx *c, const char *name);

/* Progress lines (progress.c): one phase at a time. On a terminal the line
 * is rewritten in place; otherwise a plain line is printed at most every few
 * seconds and at the end. */
void lms_aq_progress_begin(const char *phase, int total, const char *unit);
void lms_aq_progress_step(int done);
double lms_aq_progress_end(void); /* returns the phase's seconds */
/* The fields of a progress line after its phase: "done/total unit", the mean
 * rate "r unit/s" and the elapsed "t s", separated by sep, then, unless
 * final or nothing or everything is done yet, ", ETA e s" from the mean
 * rate; into buf (cap bytes, truncated, always terminated). */
void lms_aq_progress_format(char *buf, size_t cap, int done, int total, const char *unit,
			    double elapsed, int final, const char *sep);

/* Monotonic seconds. */
double lms_aq_now(void);

/* report_only.c: runner.report_only for one job, and whether cfg asks for it
 * (a bad value counts as false; the config engine checks types). */
LMS_NODISCARD enum lms_status lms_aq_report_only(const struct lms_pipeline_job *job);
int lms_aq_is_report_only(const struct lms_cfg *cfg);

#endif
