/* format.h — quantization formats (ModelOpt presets) and their cost.
 *
 * A format is one entry of the registry conf/formats/<NAME>.yaml: a name, a
 * weight and an input quantizer descriptor in ModelOpt's vocabulary
 * (quant_cfg "*weight_quantizer" / "*input_quantizer" with num_bits, axis,
 * block_sizes {-1: n, type, scale_bits}, enable, optional effective_bits),
 * the calibration `algorithm` (max, or null = never calibrated) and an
 * optional recipe-level `effective_bits`.
 *
 * Effective bits follow reference/modelopt-autoquant.md §7.1 (HEAD): the
 * recipe-level override wins outright; otherwise the minimum over the weight
 * and input entries of (entry override | num_bits | E+M+1 | 16 if disabled).
 * The cost model (§7.2) needs exact integers, so bits are kept in units of
 * 1/LMS_FORMAT_BITS_DEN bit; a value that is not such a multiple is refused.
 *
 * Not here: which layers a format applies to (autoquant/group.h). */
#ifndef LMS_QUANT_FORMAT_H
#define LMS_QUANT_FORMAT_H

#include <stdint.h>

#include "config/node.h"
#include "core/status.h"
#include "quant/quant.h"

#define LMS_FORMAT_BITS_DEN 64 /* effective bits are multiples of 1/64 bit */
#define LMS_FORMAT_NONE_NAME "NONE"

struct lms_format {
	char name[64];
	struct lms_quantizer_desc weight, input;
	char algorithm[32];             /* "max", ... ; "" when null (never calibrated) */
	double effective_bits_override; /* recipe-level effective_bits, < 0 when absent */
};

/* The "do not quantize" recipe NONE: both quantizers disabled, 16 bits. */
void lms_format_none(struct lms_format *out);

/* Effective bits (§7.1), e.g. FP8 8, NVFP4 4.5 (registry override), MXFP4 4. */
double lms_format_effective_bits(const struct lms_format *f);

/* Effective bits in units of 1/LMS_FORMAT_BITS_DEN, exactly; fails with
 * LMS_ERR_CONFIG naming the format when bits are not in (0, 16] or not a
 * multiple of 1/64. */
LMS_NODISCARD enum lms_status lms_format_bits_units(const struct lms_format *f, int64_t *units);

/* Fills *out from a format node (the content of one registry file). `where`
 * names it in errors (the node's file:line:col is added when known).
 * Every quantizer is checked with lms_quant_scheme. */
LMS_NODISCARD enum lms_status lms_format_from_node(const struct lms_cfg *node, const char *where,
						   struct lms_format *out);

/* Loads <conf_dir>/formats/<name>.yaml; name "NONE" gives lms_format_none.
 * Errors: LMS_ERR_NOT_FOUND (no such format, hint lists the directory),
 * LMS_ERR_CONFIG (bad content, with file:line:col). */
LMS_NODISCARD enum lms_status lms_format_load(const char *conf_dir, const char *name, struct lms_format *out);

/* Search order of formats: ascending effective bits (most aggressive first),
 * ties by name (strcmp), NONE last. qsort-compatible on struct lms_format. */
int lms_format_cmp(const void *a, const void *b);

#endif
