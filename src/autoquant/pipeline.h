/* pipeline.h — the AutoQuant sensitivity job, end to end in one process:
 * load the model (creating the synthetic one when asked), tokenize and batch
 * the captions, calibrate (per-tensor activation amax, weight amax), score
 * (ModelOpt's gradient method: one unquantized forward + backward per batch,
 * each linear replayed per format with fake-quantized input and weight,
 * Σ(g·Δ)² in fp64), search (exact knapsack) and write the artifacts
 * (<scheme>_autoquant_state.h5, <scheme>_quant_manifest.json,
 * per-layer-sensitivity.{md,json,svg}) into each job's output directory.
 *
 * The numbers follow shared/reference/modelopt-autoquant.md §1.2 (score
 * steps = max(1, score_size / batch_size); calibration over all batches or
 * autoquant.calib_steps), §4 (calibration), §5 (gradient score), §7 (costs).
 *
 * Bundles: jobs of one -m sweep that differ only in the quant pair (and the
 * search target / disabled layers) share one model load, one calibration and
 * one forward+backward per batch (lms_pipeline_same_bundle); each pair adds
 * its own replays. A pair's results are bit-identical to running it alone.
 *
 * Config keys read (with the seeds' names): model.path, model.name,
 * model.synthetic (a mkmodel preset created at model.path when it has no
 * config.json; null = never), dataset.{captions_path, max_calib_samples,
 * size, size_to_max_samples, calib_seq_len, pad_token_id, packing, name},
 * autoquant.{method, device, batch_size, score_size, calib_steps,
 * effective_bits, disabled_layers, loss_reduction, kl_prefix_reuse, calib_loss,
 * recompute, weight_cache, replay_gemm},
 * quant_pair.{name, weight,
 * activation, format_name (a name or a list), scheme_name},
 * runner.{backend, report_only, debug}.
 *
 * Report-only (runner.report_only=true): all four artifacts from the job's
 * statistics file, or, without one, the per-layer reports from its manifest
 * (autoquant/manifest_in.h).
 *
 * autoquant.method = kl_div (kldiv.c, reference §6): the same calibration,
 * then per batch one unquantized forward and one forward per (group,
 * format) from the group's first layer with the group's linears replaced by
 * their replays; score = KL(P ‖ Q) over all positions and the vocabulary.
 * autoquant.kl_prefix_reuse=false starts every such forward at the
 * embedding instead (same bits, for benchmarks). It needs the backend op
 * kl_div_accum (runner.backend=auto falls back to the CPU without it).
 *
 * Not here: config composition and job directories (src/config/,
 * src/cli/run_plan.c), scheduling bundles and MPI (src/dist/). */
#ifndef LMS_AUTOQUANT_PIPELINE_H
#define LMS_AUTOQUANT_PIPELINE_H

#include <stddef.h>
#include <stdio.h>

#include "config/node.h"
#include "core/status.h"

struct lms_plan;

/* One job of a bundle; everything borrowed for the call. */
struct lms_pipeline_job {
	const struct lms_plan *plan; /* finds conf/formats/<name>.yaml on its search path */
	const struct lms_cfg *cfg;   /* the job's resolved config */
	const char *output_dir;    /* existing or creatable directory */
	int num;                   /* hydra.job.num, for messages */
};

/* 1 when a and b can share a bundle: same model, dataset, method, batch
 * size, score size, calibration steps, loss reduction, kl prefix reuse,
 * calibration loss, replay GEMM, backend, report-only and debug settings
 * (runner.debug, runner.debug_dump). autoquant.recompute and weight_cache
 * do not split bundles: they change memory and speed, never the numbers. */
int lms_pipeline_same_bundle(const struct lms_cfg *a, const struct lms_cfg *b);

/* The bundle in steps, for a runner that handles each job's status itself:
 * open does the shared work of jobs[0..n) (load, calibrate, score; nothing
 * in report-only mode), finish does one job's search and artifacts (or its
 * report-only rebuild), close frees (NULL-safe). *out is new on success.
 * jobs are borrowed for open only; finish may be called for each of them. */
struct lms_pipeline;
LMS_NODISCARD enum lms_status lms_pipeline_open(const struct lms_pipeline_job *jobs, size_t n,
						struct lms_pipeline **out);

/* Data parallelism, supplied by a runner (src/dist/) so that src/autoquant
 * stays free of MPI: the `world` ranks of a group each open the same bundle
 * with their own `rank`; rank r calibrates and scores batches r, r+world, ...
 * (lms_data_rank_batches). After each phase every rank calls the reductions,
 * collectively and in the same order, on host arrays:
 *   max_f32: the activation amax (max is exact, so amax equals a one-rank
 *            run bit for bit);
 *   sum_f64: per-batch losses, per-step score traces and token counts, where
 *            each batch's entry is non-zero on exactly one rank, so the sum
 *            is exact too, and the totals are then re-added in step order on
 *            every rank: a group's scores equal a one-rank run bit for bit.
 * A failure on one rank is agreed on (a sum of failure flags) before the
 * data reductions, so every rank returns an error instead of hanging.
 * interrupted (may be NULL) is polled between batches; non-zero stops the
 * phase with LMS_ERR_INTERRUPTED. Only the group's leader (rank 0) should
 * call lms_pipeline_finish: the others hold the same numbers. dist and ctx
 * are borrowed until lms_pipeline_close; dist == NULL is one rank alone. */
struct lms_aq_dist {
	int rank, world; /* 0 <= rank < world */
	void *ctx;
	enum lms_status (*max_f32)(void *ctx, float *buf, size_t n); /* in place, all ranks */
	enum lms_status (*sum_f64)(void *ctx, double *buf, size_t n); /* in place, all ranks */
	int (*interrupted)(void *ctx);
};
LMS_NODISCARD enum lms_status lms_pipeline_open_dist(const struct lms_pipeline_job *jobs, size_t n,
						     const struct lms_aq_dist *dist,
						     struct lms_pipeline **out);
LMS_NODISCARD enum lms_status lms_pipeline_finish(struct lms_pipeline *p,
						  const struct lms_pipeline_job *job);
void lms_pipeline_close(struct lms_pipeline *p);

/* Runs a bundle of n >= 1 jobs (all lms_pipeline_same_bundle with jobs[0]).
 * job_st[k] (n entries, caller-owned) receives each job's own status (a
 * failure in the shared part fails them all; errors of all but the last
 * job are logged as they happen). Returns the first failure, or LMS_OK. With runner.report_only=true a job only regenerates its reports
 * from the statistics file in its output directory. */
LMS_NODISCARD enum lms_status lms_pipeline_run(const struct lms_pipeline_job *jobs, size_t n,
					       enum lms_status *job_st);

/* What a bundle did, for benchmarks (lmsens bench): the phase times in
 * seconds (search and write summed over the jobs finished so far), the
 * batches and the tokens each phase processed (B·T of its batches, padding
 * included, all ranks of a data-parallel group together) and the number of
 * distinct candidate formats replayed per linear. All zero in report-only
 * mode. The memory choices (autoquant.recompute, autoquant.weight_cache)
 * as they were resolved. */
struct lms_pipeline_stats {
	double t_load, t_calib, t_score, t_search, t_write;
	int n_calib, n_score, n_formats;
	long long calib_tokens, score_tokens;
	int recompute;               /* 1: the backward recomputed each layer */
	double wcache_bytes;         /* fake-quantized weights cached for the job */
	int wcache_slots, wcache_want; /* (quantizer, linear) pairs cached / scored */
};
void lms_pipeline_get_stats(const struct lms_pipeline *p, struct lms_pipeline_stats *out);

/* `lmsens eval`: loads the model and the calibration batches of cfg and
 * prints one JSON line per batch to out: {"batch": i, "loss": x, "tokens": n}
 * (tokens = valid shifted tokens of the batch, the loss's denominator). */
LMS_NODISCARD enum lms_status lms_pipeline_eval(const struct lms_cfg *cfg, FILE *out);

/* Model reuse for a runner that executes bundles one after another in this
 * process: with on = 1, a bundle's checkpoint, tokenizer and backend stay
 * loaded after lms_pipeline_close, and the next bundle with the same
 * model.path, runner.backend and runner.debug reuses them. on = 0 frees what
 * is kept and turns reuse off (the default). Not thread-safe: one bundle at a
 * time per process. */
void lms_pipeline_keep_loaded(int on);

/* Statistics only, for a runner that renders the reports elsewhere: with
 * on = 1, lms_pipeline_finish writes a job's <scheme>_autoquant_state.h5
 * but not its manifest and per-layer reports (src/dist/: rank 0 writes them
 * from that file with lms_report_from_h5, the same bytes). Report-only jobs
 * are not affected. Process-wide, off by default, set before the bundle. */
void lms_pipeline_stats_only(int on);

/* Creates the synthetic checkpoint of cfg (model.synthetic = a mkmodel
 * preset) at model.path when it holds no config.json yet; nothing otherwise.
 * lms_pipeline_open does this itself; a runner with several processes calls
 * it once, before the work, so that processes do not race to create it. */
LMS_NODISCARD enum lms_status lms_pipeline_ensure_model(const struct lms_cfg *cfg);

/* The artifact stem of a job config: quant_pair.scheme_name when set, else
 * "<model.name>_<quant_pair.name>" (lms_aq_scheme_name). */
LMS_NODISCARD enum lms_status lms_pipeline_scheme(const struct lms_cfg *cfg, char *out, size_t cap);

#endif
