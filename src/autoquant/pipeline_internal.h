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
	double *calib_loss;           /* (n_calib) */
	int n_calib;

	/* scoring output */
	int n_score;
	double *scores;               /* (NL, NF) Σ over steps, per linear */
	double *step_scores;          /* (n_score, NL, NF) */
	double *score_loss;           /* (n_score) */
	long long score_tokens;       /* valid tokens in the scoring batches */

	/* scratch in backend memory */
	lms_bf16 *d_xq;               /* (max M·in) */
	lms_bf16 *d_wq;               /* (max out·in) */
	lms_bf16 *d_yq;               /* (max M·out) */
	float *d_amax_tmp;            /* (1) dynamic per-tensor amax */
	double *d_acc;                /* (NL·NF) score accumulators; kl_div: (B·T) per-row KL */
	size_t xq_elems, wq_elems, yq_elems;

	/* timings (seconds) */
	double t_load, t_calib, t_score;
	double t_search, t_write;     /* summed over the jobs finished so far */

	/* data parallelism (pipeline.h); NULL: this rank alone */
	const struct lms_aq_dist *dist;
};

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

/* score.c: the replay of one linear for format f (index into c->fmt):
 * d_out (M, out) = fq_in(X) · fq_w(W)ᵀ in bf16 (the gradient method's Yq;
 * the kl_div method passes the engine's writable Y). Uses d_xq, d_wq,
 * d_amax_tmp; d_out must not be X or W. */
LMS_NODISCARD enum lms_status lms_aq_replay(struct aq_ctx *c, int f, const struct lms_linear_event *ev,
					    lms_bf16 *d_out);
/* score.c: allocates the score tables (scores, step_scores, score_loss) and
 * the replay scratch (d_xq, d_wq, d_yq, d_amax_tmp, d_acc). */
LMS_NODISCARD enum lms_status lms_aq_score_alloc(struct aq_ctx *c);

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

/* Monotonic seconds. */
double lms_aq_now(void);

/* report_only.c: runner.report_only for one job, and whether cfg asks for it
 * (a bad value counts as false; the config engine checks types). */
LMS_NODISCARD enum lms_status lms_aq_report_only(const struct lms_pipeline_job *job);
int lms_aq_is_report_only(const struct lms_cfg *cfg);

#endif
