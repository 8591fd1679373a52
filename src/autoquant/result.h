/* result.h — everything a finished AutoQuant job knows, independent of how it
 * was computed: the data model behind the HDF5 statistics file
 * (src/io/h5stats.h), the manifest JSON and the per-layer reports
 * (src/report/report.h).
 *
 * One struct lms_aq_result describes ONE quant pair of one job. A bundle that
 * scored several pairs in one pass produces one result per pair.
 *
 * Invariants (checked by lms_aq_result_validate, which the writers call):
 *   - formats[] are the candidate formats of the pair sorted by ascending
 *     effective bits, and the LAST one is "NONE" at 16 bits (bf16, ModelOpt's
 *     NONE recipe). So format index n_formats-1 is always "unquantized".
 *   - every group has n_formats scores and costs; a disabled group only ever
 *     uses NONE (its other entries are ignored and written as stored);
 *   - every module belongs to exactly one group (modules[i].group), and the
 *     group lists it in members[]; groups[g].name == the name of its first
 *     member module (ModelOpt's hparam naming, reference §3.4);
 *   - all floating-point values are finite.
 *
 * Ownership: the result owns every pointer inside it (strings and arrays are
 * malloc'ed); lms_aq_result_free releases them all. Setters copy their input.
 * A zero-initialised struct (or lms_aq_result_init) is empty and safe to free.
 * Strings that are unknown may be NULL; writers treat NULL exactly like "",
 * and readers return "" — so a result survives an HDF5 round trip unchanged
 * as far as every report is concerned.
 *
 * Not here: how scores are computed (src/autoquant/), the knapsack search
 * (src/autoquant/search.h, which fills the search fields), file formats. */
#ifndef LMS_AUTOQUANT_RESULT_H
#define LMS_AUTOQUANT_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Version of the data model / HDF5 schema. Bump when a field changes. */
#define LMS_AQ_SCHEMA_VERSION 1

/* One candidate format of the pair, e.g. {"FP8_DEFAULT_CFG", 8.0}. */
struct lms_aq_format {
	char *name;  /* ModelOpt-style preset name; "NONE" for bf16 */
	double bits; /* effective bits = compression × 16 (reference §7.1) */
};

/* A group of linears that share one format (q/k/v, gate/up, or a single linear). */
struct lms_aq_group {
	char *name; /* first member's module name, without ".quant_recipe" */
	size_t n_members;
	size_t *members;  /* (n_members) indices into result.modules, model order */
	int64_t n_params; /* Σ weight numel of the members */
	int disabled;	  /* matched autoquant.disabled_layers: stays NONE (bf16) */
	double *scores;	  /* (n_formats) raw score Σ over members and steps; NONE = 0 */
	double *costs;	  /* (n_formats) n_params × bits / 16 (lms_aq_result_fill_costs) */
	int chosen;	  /* search output: index into formats; -1 before the search */
};

/* One searched linear layer. */
struct lms_aq_module {
	char *name;	     /* e.g. "model.layers.0.self_attn.q_proj", "lm_head" */
	char *kind;	     /* "q_proj" ... "down_proj", "lm_head" */
	int layer;	     /* decoder layer index; -1 for modules outside the decoder */
	int64_t in_features; /* weight shape is (out_features, in_features) */
	int64_t out_features;
	size_t group;	   /* index into result.groups */
	float act_amax;	   /* max |input| from calibration (a bf16 value, exact in float) */
	float weight_amax; /* max |W| over the whole weight (a bf16 value) */
	double *scores;	   /* (n_formats) this module's own score, or NULL when the
			      method only scores whole groups (kl_div) */
};

/* Wall-clock time of one phase of the job ("load", "calibrate", "score", ...). */
struct lms_aq_timing {
	char *phase;
	double seconds;
};

/* Who/what/where of the job. */
struct lms_aq_job {
	char *scheme;	    /* artifact name stem: <scheme>_quant_manifest.json */
	char *tool_version; /* LMSENS_VERSION of the writer */
	char *model_name;   /* model.name */
	char *model_path;   /* model.path */
	char *model_type;   /* "qwen3_vl" | "qwen3" */
	char *dataset_name; /* dataset.name */
	char *dataset_size; /* small | medium | large | custom */
	char *dataset_path; /* captions file */
	int64_t samples;    /* calibration samples used */
	int64_t tokens;	    /* valid (non-padding) tokens scored */
	int64_t seq_len;    /* dataset.calib_seq_len */
	int64_t batch_size; /* autoquant.batch_size */
	char *pair_name;    /* quant_pair.name, e.g. "wfp8_afp8" */
	char *weight;	    /* quant_pair.weight: fp4 | fp8 | int8 */
	char *activation;   /* quant_pair.activation: fp8 | fp16 | int8 */
};

struct lms_aq_settings {
	char *method;	       /* "gradient" | "kl_div" */
	double effective_bits; /* the target (constraint) */
	int64_t score_size;    /* samples used for scoring */
	int64_t calib_steps;   /* calibration batches */
	int64_t score_steps;   /* scoring batches */
	char *loss_reduction;  /* "mean" | "sum" */
	size_t n_disabled;
	char **disabled_layers; /* (n_disabled) fnmatch patterns */
};

/* Output of the multiple-choice knapsack (src/autoquant/search.h). The chosen
 * format of each group is groups[g].chosen. */
struct lms_aq_search {
	double effective_bits; /* achieved: 16 × Σ chosen cost / Σ NONE cost */
	double score;	       /* Σ chosen candidate (monotonised) score */
	int is_satisfied;      /* achieved effective_bits ≤ target */
	size_t n_frontier;
	double *frontier_bits;	/* (n_frontier) ascending effective bits */
	double *frontier_score; /* (n_frontier) minimum total score at that size */
};

struct lms_aq_result {
	struct lms_aq_job job;
	struct lms_aq_settings settings;

	size_t n_formats;
	struct lms_aq_format *formats; /* (n_formats), NONE last */
	size_t n_groups;
	struct lms_aq_group *groups; /* (n_groups), model order */
	size_t n_modules;
	struct lms_aq_module *modules; /* (n_modules), model order */

	/* Per-step score contributions: traces[(s·n_groups + g)·n_formats + f] is
	 * what scoring batch s added to group g's score for format f, so Σ_s is
	 * groups[g].scores[f] up to rounding. NULL when n_trace_steps == 0. */
	size_t n_trace_steps;
	double *traces; /* (n_trace_steps, n_groups, n_formats) */

	size_t n_calib_loss;
	double *calib_loss; /* (n_calib_loss) loss of each calibration batch */
	size_t n_score_loss;
	double *score_loss; /* (n_score_loss) loss of each scoring batch */

	size_t n_timings;
	struct lms_aq_timing *timings; /* (n_timings) */

	char *config_yaml; /* the composed config as YAML text */

	int has_search; /* 1 once the search fields (and groups[].chosen) are set */
	struct lms_aq_search search;
};

void lms_aq_result_init(struct lms_aq_result *r);
/* Frees everything r owns and leaves it initialised. NULL-safe. */
void lms_aq_result_free(struct lms_aq_result *r);

/* Allocates the zeroed arrays of r (which must be empty): formats, groups
 * (with scores/costs of n_formats each, chosen = -1), modules (scores NULL;
 * see lms_aq_result_alloc_module_scores), traces, losses and timings. */
LMS_NODISCARD enum lms_status lms_aq_result_alloc(struct lms_aq_result *r, size_t n_formats,
						  size_t n_groups, size_t n_modules,
						  size_t n_trace_steps, size_t n_calib_loss,
						  size_t n_score_loss, size_t n_timings);
/* Gives every module a zeroed scores array of n_formats. */
LMS_NODISCARD enum lms_status lms_aq_result_alloc_module_scores(struct lms_aq_result *r);
/* Allocates the frontier arrays (n points, zeroed). */
LMS_NODISCARD enum lms_status lms_aq_result_alloc_frontier(struct lms_aq_result *r, size_t n);
/* Allocates the disabled-layer pattern list (n NULL strings). */
LMS_NODISCARD enum lms_status lms_aq_result_alloc_disabled(struct lms_aq_result *r, size_t n);

/* Replaces *dst with a copy of src (NULL allowed: *dst becomes NULL). */
LMS_NODISCARD enum lms_status lms_aq_set_str(char **dst, const char *src);
/* Copies the member list into g (replacing any earlier one). */
LMS_NODISCARD enum lms_status lms_aq_group_set_members(struct lms_aq_group *g,
						       const size_t *members, size_t n);

/* Checks the invariants above; LMS_ERR_INPUT naming the bad field
 * ("groups[3].chosen = 7 is not a format index", ...). `where` prefixes the
 * message (a file name, or "result"). */
LMS_NODISCARD enum lms_status lms_aq_result_validate(const struct lms_aq_result *r,
						     const char *where);

/* costs[f] = n_params × bits_f / 16 for every group and format. */
void lms_aq_result_fill_costs(struct lms_aq_result *r);

/* ModelOpt's candidate scores of group g (reference §5.5): walking formats in
 * ascending bits, out[f] = min(raw[f], out[f-1]); NONE therefore ends ≤ any
 * other. For a disabled group only out[n_formats-1] (= 0) is meaningful. */
void lms_aq_group_candidate_scores(const struct lms_aq_result *r, size_t g, double *out);

/* Effective bits of a selection (choice[g] = format index): 16 × Σ cost /
 * Σ NONE cost. Returns 16 for an empty model. */
double lms_aq_result_effective_bits(const struct lms_aq_result *r, const int *choice);

/* "FP8_DEFAULT_CFG(effective-bits: 8.0)" — ModelOpt's QuantRecipe.__str__,
 * with the bits printed like Python's repr of a float. */
void lms_aq_format_recipe(const struct lms_aq_format *f, char *out, size_t cap);

/* Python-repr-like shortest round-trip text of a double: "8.0", "4.5",
 * "1.2345e-05". Non-finite values print as "nan", "inf", "-inf". */
void lms_aq_fmt_double(double v, char *out, size_t cap);

/* The artifact stem: `override` when non-empty, else "<model_name>_<pair_name>"
 * (either may be empty). Characters outside [A-Za-z0-9._-] become '_'.
 * LMS_ERR_CONFIG if the result is empty or does not fit in cap. */
LMS_NODISCARD enum lms_status lms_aq_scheme_name(const char *model_name, const char *pair_name,
						 const char *override, char *out, size_t cap);

/* Deep comparison (exact, bit for bit on floating point). Returns 1 when
 * equal; otherwise 0 with a description of the first difference in why. */
int lms_aq_result_equal(const struct lms_aq_result *a, const struct lms_aq_result *b, char *why,
			size_t why_cap);

#endif
