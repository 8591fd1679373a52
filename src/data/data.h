/* data.h — calibration captions → token batches.
 *
 * What it does: reads a captions file (UTF-8, one sample per line), tokenizes
 * each sample without special tokens, truncates it to seq_len tokens and
 * builds batches of batch_size samples, right-padded to the longest sample of
 * the batch with pad_token_id, with an attention mask and labels (= ids, -100
 * on padding; the loss does the causal shift). With packing, samples are
 * instead joined into one stream separated by sep_token_id and cut into full
 * rows of seq_len tokens (all valid; the incomplete tail row is dropped).
 *
 * Phases (ModelOpt AutoQuantize, reference/modelopt-autoquant.md §1.2): both
 * calibration and scoring start at batch 0; calibration uses the first
 * n_calib batches (all, or calib_steps), scoring the first n_score.
 * Data-parallel groups split a phase's batches by rank: rank r of k takes
 * batches r, r+k, r+2k, ... (lms_data_rank_batches), so the union over the
 * ranks is exactly the single-rank set.
 *
 * Mapping from the config (done by the runner's glue, not here, so that this
 * module does not depend on src/config/):
 *   captions_path  dataset.captions_path (by default
 *                  ${dataset.root}/coco2017_captions_${dataset.size}.txt)
 *   max_samples    dataset.max_calib_samples, or when it is null
 *                  dataset.size_to_max_samples[dataset.size]
 *   seq_len        dataset.calib_seq_len
 *   pad_token_id   dataset.pad_token_id, or when null the tokenizer's
 *                  "<|endoftext|>" (lms_tokenizer_token_id; Qwen: 151643)
 *   batch_size     autoquant.batch_size
 *   calib_steps    autoquant.calib_steps (null → 0 = all batches)
 *   score_steps    lms_data_score_steps(autoquant.score_size, batch_size)
 *   packing        dataset.packing
 *
 * Invariants of a built dataset: every batch has 1 <= B <= batch_size and
 * 1 <= T <= seq_len; all batches but the last have B = batch_size; for every
 * element mask ∈ {0,1}, mask = 0 ⇔ labels = -100 ⇔ the position is padding
 * (then ids = pad_token_id); padding is only on the right of a row; each row
 * has at least one valid token; n_tokens = Σ mask.
 *
 * What it does not do: chat templates, images, left padding, BOS/EOS
 * insertion (Qwen has no BOS), or reading anything but plain text lines. */
#ifndef LMS_DATA_DATA_H
#define LMS_DATA_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

#define LMS_LABEL_IGNORE (-100)

struct lms_data_opts {
	const char *captions_path; /* borrowed for the duration of the build */
	long max_samples;	   /* > 0: use at most this many samples; <= 0: all */
	int seq_len;		   /* tokens per sample (truncation) or row (packing); >= 2 */
	int batch_size;		   /* samples (rows) per batch; >= 1 */
	int32_t pad_token_id;	   /* padding id (Qwen: 151643 <|endoftext|>) */
	int32_t sep_token_id;	   /* packing separator; < 0: pad_token_id */
	int packing;		   /* 0: one sample per row; 1: packed rows */
	int calib_steps;	   /* <= 0: all batches; else min(calib_steps, n_batches) */
	int score_steps;	   /* <= 0: all batches; else min(score_steps, n_batches) */
	uint64_t shuffle_seed;	   /* 0: file order; else a seeded shuffle of all samples
				      before the first max_samples are taken */
	int skip_invalid_utf8;	   /* 1: skip (and count) lines that are not UTF-8 */
};

/* Fills the defaults: no path, all samples, seq_len 512, batch_size 1,
 * pad and sep 151643, no packing, all batches for both phases, file order,
 * invalid UTF-8 is an error. */
void lms_data_opts_default(struct lms_data_opts *o);

/* Score batches from a score size in samples, as ModelOpt's hf_ptq does:
 * max(1, score_size / batch_size). batch_size <= 0 gives 1. */
int lms_data_score_steps(long score_size, int batch_size);

/* The lines of a captions file. */
struct lms_captions {
	char **lines;	    /* (n) NUL-terminated, pointing into buf */
	size_t *lens;	    /* (n) bytes of each line */
	long n;		    /* samples (non-blank lines) */
	long n_blank;	    /* blank or whitespace-only lines skipped */
	long n_invalid;	    /* lines skipped because they were not UTF-8 */
	long first_invalid; /* 1-based line number of the first skipped one, or 0 */
	char *buf;	    /* the file's bytes (modified: line ends become NUL) */
};

/* Reads path: lines end at '\n'; leading and trailing ASCII whitespace
 * (including a '\r' of CRLF files) is stripped; blank lines are skipped.
 * A line that is not valid UTF-8 is LMS_ERR_INPUT "path:line: ..." unless
 * skip_invalid_utf8, which skips and counts it. A missing file is
 * LMS_ERR_NOT_FOUND, an unreadable one LMS_ERR_IO, one with no samples
 * LMS_ERR_INPUT. On success *out owns new memory (lms_captions_free);
 * on failure it is empty. */
LMS_NODISCARD enum lms_status lms_captions_read(const char *path, int skip_invalid_utf8,
						struct lms_captions *out);
void lms_captions_free(struct lms_captions *c); /* NULL-safe, idempotent */

struct lms_data_batch {
	int B, T;	   /* rows, tokens per row */
	int32_t *ids;	   /* (B, T) token ids, pad_token_id on padding */
	int32_t *mask;	   /* (B, T) 1 valid, 0 padding */
	int32_t *labels;   /* (B, T) = ids, LMS_LABEL_IGNORE (-100) on padding */
	long n_tokens;	   /* valid tokens: Σ mask */
	long first_sample; /* index (after shuffle) of the first sample in this batch; -1 when
			      packed */
};

struct lms_dataset {
	struct lms_data_batch *batches; /* (n_batches) */
	int n_batches;
	int n_calib;	       /* calibration uses batches [0, n_calib) */
	int n_score;	       /* scoring uses batches [0, n_score) */
	long n_samples;	       /* samples tokenized */
	long n_truncated;      /* samples cut to seq_len */
	long n_tokens;	       /* valid tokens in all batches */
	long n_dropped_tokens; /* packing: tokens of the incomplete tail row */
	long n_lines_blank;    /* from the captions file */
	long n_lines_invalid;  /* skipped invalid UTF-8 lines */
	int32_t *arena;	       /* one allocation for every batch's tensors */
};

/* Reads, tokenizes and batches. `tok` is borrowed (its word cache is used,
 * so not concurrently with another thread). Errors: those of
 * lms_captions_read; LMS_ERR_CONFIG for seq_len < 2, batch_size < 1 or a
 * negative pad id; LMS_ERR_INPUT when there are fewer samples (rows) than one
 * batch, or when a sample tokenizes to nothing (a tokenizer that deletes
 * text). *out is new on success (lms_dataset_free), NULL on failure. */
LMS_NODISCARD enum lms_status lms_dataset_build(const struct lms_data_opts *o,
						struct lms_tokenizer *tok,
						struct lms_dataset **out);
void lms_dataset_free(struct lms_dataset *ds); /* NULL-safe */

/* Batch i (0 <= i < n_batches; asserted). Borrowed until lms_dataset_free. */
const struct lms_data_batch *lms_dataset_batch(const struct lms_dataset *ds, int i);

/* The data-parallel split of n_batches among world ranks: rank takes batches
 * rank, rank + world, ... in increasing order. Returns how many; writes at
 * most cap of them to idx (may be NULL when cap is 0). world >= 1 and
 * 0 <= rank < world are asserted. */
int lms_data_rank_batches(int n_batches, int rank, int world, int *idx, int cap);

#endif
