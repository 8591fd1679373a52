/* format.c — the formats registry (conf/formats/NAME.yaml) and effective bits.
 *
 * Invariants: a parsed format always passes lms_quant_scheme for both
 * quantizers; unknown keys are errors (a typo must not silently disable a
 * quantizer); every error names the file:line:col and the key path.
 * A quantizer of a format whose algorithm is null is never calibrated, so
 * its amax is computed per call (ModelOpt's dynamic _get_amax, §9.7
 * W4A8_MXFP4_FP8): dynamic_amax is set for it.
 *
 * Not here: applying formats to layers, calibration loops. */
#include "quant/format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yaml.h"

void lms_format_none(struct lms_format *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", LMS_FORMAT_NONE_NAME);
	lms_quant_desc_disabled(&out->weight);
	lms_quant_desc_disabled(&out->input);
	out->effective_bits_override = -1.0;
}

double lms_format_effective_bits(const struct lms_format *f)
{
	if (f->effective_bits_override >= 0.0)
		return f->effective_bits_override;
	double w = lms_quant_entry_bits(&f->weight), i = lms_quant_entry_bits(&f->input);
	return w < i ? w : i;
}

enum lms_status lms_format_bits_units(const struct lms_format *f, int64_t *units)
{
	double b = lms_format_effective_bits(f);
	double u = b * LMS_FORMAT_BITS_DEN;
	if (!(b > 0.0 && b <= 16.0) || u != floor(u))
		return lms_fail(LMS_ERR_CONFIG, "effective_bits must be in (0, 16] and a multiple of 1/64",
				"format %s: effective bits %g", f->name, b);
	*units = (int64_t)u;
	return LMS_OK;
}

int lms_format_cmp(const void *pa, const void *pb)
{
	const struct lms_format *a = pa, *b = pb;
	int an = strcmp(a->name, LMS_FORMAT_NONE_NAME) == 0, bn = strcmp(b->name, LMS_FORMAT_NONE_NAME) == 0;
	if (an != bn)
		return an - bn;
	double ba = lms_format_effective_bits(a), bb = lms_format_effective_bits(b);
	if (ba != bb)
		return ba < bb ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* ---- parsing ------------------------------------------------------------ */

static enum lms_status bad(const struct lms_cfg *n, const char *where, const char *path, const char *hint,
			   const char *what)
{
	if (n && n->file)
		return lms_fail(LMS_ERR_CONFIG, hint, "%s:%d:%d: %s: %s", n->file, n->line, n->col, path, what);
	return lms_fail(LMS_ERR_CONFIG, hint, "%s: %s: %s", where, path, what);
}

/* dst = "<a>.<b>", truncated if it must be (only used in messages). */
static void join(char *dst, size_t cap, const char *a, const char *b)
{
	if (snprintf(dst, cap, "%s.%s", a, b) >= (int)cap && cap > 4)
		memcpy(dst + cap - 4, "...", 4);
}

/* int or [E, M] */
static enum lms_status parse_bits(const struct lms_cfg *n, const char *where, const char *path, int *num_bits,
				  int *e, int *m)
{
	*num_bits = *e = *m = 0;
	if (n->type == LMS_CFG_INT && n->i >= 2 && n->i <= 16) {
		*num_bits = (int)n->i;
		return LMS_OK;
	}
	if (n->type == LMS_CFG_SEQ && n->n == 2 && n->kids[0]->type == LMS_CFG_INT &&
	    n->kids[1]->type == LMS_CFG_INT && n->kids[0]->i >= 0 && n->kids[0]->i <= 8 && n->kids[1]->i >= 0 &&
	    n->kids[1]->i <= 8) {
		*e = (int)n->kids[0]->i;
		*m = (int)n->kids[1]->i;
		return LMS_OK;
	}
	return bad(n, where, path, "write an integer (8, 4) or an [E, M] pair ([4, 3], [2, 1])", "bad num_bits");
}

static enum lms_status parse_blocks(const struct lms_cfg *n, const char *where, const char *path,
				    struct lms_quantizer_desc *d)
{
	char p[256];
	if (n->type == LMS_CFG_NULL)
		return LMS_OK;
	if (n->type != LMS_CFG_MAP)
		return bad(n, where, path, "block_sizes is a map {-1: size, type: static|dynamic, scale_bits: [E, M]}",
			   "not a map");
	d->block_dynamic = 0;
	for (size_t i = 0; i < n->n; i++) {
		const char *k = n->keys[i];
		const struct lms_cfg *v = n->kids[i];
		join(p, sizeof p, path, k);
		if (strcmp(k, "-1") == 0) {
			if (v->type != LMS_CFG_INT || v->i <= 0 || v->i > 4096)
				return bad(v, where, p, "the block size is a positive integer (16, 32, 128)", "bad block size");
			d->block_size = (int)v->i;
		} else if (strcmp(k, "type") == 0) {
			if (v->type != LMS_CFG_STR || (strcmp(v->s, "static") && strcmp(v->s, "dynamic")))
				return bad(v, where, p, "use static or dynamic", "bad block type");
			d->block_dynamic = strcmp(v->s, "dynamic") == 0;
		} else if (strcmp(k, "scale_bits") == 0) {
			int nb;
			LMS_TRY(parse_bits(v, where, p, &nb, &d->scale_exp_bits, &d->scale_man_bits));
			if (nb)
				return bad(v, where, p, "scale_bits is [8, 0] (E8M0) or [4, 3] (E4M3)", "bad scale_bits");
		} else {
			return bad(v, where, p, "block_sizes keys are -1 (the last dim), type and scale_bits",
				   "unknown or unsupported key");
		}
	}
	if (d->block_size == 0)
		return bad(n, where, path, "add -1: <size>", "block_sizes without a size for the last dim (-1)");
	return LMS_OK;
}

static enum lms_status parse_quantizer(const struct lms_cfg *n, const char *where, const char *path,
				       struct lms_quantizer_desc *d)
{
	char p[256];
	lms_quant_desc_disabled(d);
	if (n->type != LMS_CFG_MAP)
		return bad(n, where, path, "a quantizer is a map {num_bits: ..., axis: ..., enable: ...}", "not a map");
	d->enabled = 1; /* ModelOpt: enable defaults to true */
	int have_bits = 0;
	for (size_t i = 0; i < n->n; i++) {
		const char *k = n->keys[i];
		const struct lms_cfg *v = n->kids[i];
		join(p, sizeof p, path, k);
		if (strcmp(k, "enable") == 0) {
			if (v->type != LMS_CFG_BOOL)
				return bad(v, where, p, "use true or false", "enable is not a boolean");
			d->enabled = v->b;
		} else if (strcmp(k, "num_bits") == 0) {
			LMS_TRY(parse_bits(v, where, p, &d->num_bits, &d->exp_bits, &d->man_bits));
			have_bits = 1;
		} else if (strcmp(k, "axis") == 0) {
			if (v->type == LMS_CFG_NULL)
				d->axis = LMS_QAXIS_NONE;
			else if (v->type == LMS_CFG_INT && v->i == 0)
				d->axis = 0;
			else
				return bad(v, where, p, "use null (per tensor) or 0 (per output channel)", "unsupported axis");
		} else if (strcmp(k, "block_sizes") == 0) {
			LMS_TRY(parse_blocks(v, where, p, d));
		} else if (strcmp(k, "effective_bits") == 0) {
			if ((v->type != LMS_CFG_INT && v->type != LMS_CFG_FLOAT) ||
			    (v->type == LMS_CFG_INT ? (double)v->i : v->f) <= 0.0)
				return bad(v, where, p, "effective_bits is a positive number", "bad effective_bits");
			d->effective_bits = v->type == LMS_CFG_INT ? (double)v->i : v->f;
		} else if ((strcmp(k, "narrow_range") == 0 || strcmp(k, "unsigned") == 0) && v->type == LMS_CFG_BOOL &&
			   !v->b) {
			/* ModelOpt's defaults; true is not implemented */
		} else {
			return bad(v, where, p,
				   "quantizer keys are num_bits, axis, block_sizes, enable, effective_bits",
				   "unknown or unsupported key");
		}
	}
	if (d->enabled && !have_bits)
		return bad(n, where, path, "add num_bits (or enable: false)", "an enabled quantizer without num_bits");
	if (!d->enabled) {
		double eb = d->effective_bits;
		lms_quant_desc_disabled(d);
		d->effective_bits = eb;
	}
	enum lms_qscheme s;
	char w[320];
	if (n->file)
		snprintf(w, sizeof w, "%s:%d:%d: %s", n->file, n->line, n->col, path);
	else
		snprintf(w, sizeof w, "%s: %s", where, path);
	return lms_quant_scheme(d, w, &s); /* LMS_ERR_UNSUPPORTED names the place */
}

static enum lms_status parse_quant_cfg(const struct lms_cfg *qc, const char *where, struct lms_format *f)
{
	if (qc->type != LMS_CFG_MAP)
		return bad(qc, where, "quant_cfg", "quant_cfg maps quantizer patterns to settings", "not a map");
	for (size_t i = 0; i < qc->n; i++) {
		const char *k = qc->keys[i];
		const struct lms_cfg *v = qc->kids[i];
		char p[256];
		join(p, sizeof p, "quant_cfg", k);
		if (strcmp(k, "*weight_quantizer") == 0) {
			LMS_TRY(parse_quantizer(v, where, p, &f->weight));
		} else if (strcmp(k, "*input_quantizer") == 0) {
			LMS_TRY(parse_quantizer(v, where, p, &f->input));
		} else {
			/* AutoQuantize disables output quantizers and ignores path
			 * patterns (§2, §3.5); anything else that is enabled would be
			 * silently dropped, so refuse it. */
			struct lms_quantizer_desc tmp;
			LMS_TRY(parse_quantizer(v, where, p, &tmp));
			if (tmp.enabled)
				return bad(v, where, p,
					   "only *weight_quantizer and *input_quantizer can be enabled in a search format",
					   "unsupported enabled quantizer");
		}
	}
	return LMS_OK;
}

enum lms_status lms_format_from_node(const struct lms_cfg *node, const char *where, struct lms_format *out)
{
	lms_format_none(out);
	out->name[0] = '\0';
	if (!node || node->type != LMS_CFG_MAP)
		return bad(node, where, "(root)", "a format file is a map with name, quant_cfg, algorithm", "not a map");
	for (size_t i = 0; i < node->n; i++) {
		const char *k = node->keys[i];
		const struct lms_cfg *v = node->kids[i];
		if (strcmp(k, "name") == 0) {
			if (v->type != LMS_CFG_STR || strlen(v->s) == 0 || strlen(v->s) >= sizeof out->name)
				return bad(v, where, k, "name is a non-empty string under 64 bytes", "bad name");
			snprintf(out->name, sizeof out->name, "%s", v->s);
		} else if (strcmp(k, "quant_cfg") == 0) {
			LMS_TRY(parse_quant_cfg(v, where, out));
		} else if (strcmp(k, "algorithm") == 0) {
			if (v->type == LMS_CFG_NULL)
				out->algorithm[0] = '\0';
			else if (v->type == LMS_CFG_STR && strcmp(v->s, "max") == 0)
				snprintf(out->algorithm, sizeof out->algorithm, "%s", v->s);
			else
				return bad(v, where, k, "lmsens implements algorithm max or null (no calibration)",
					   "unsupported algorithm");
		} else if (strcmp(k, "effective_bits") == 0) {
			if (v->type == LMS_CFG_NULL)
				continue;
			double b = v->type == LMS_CFG_INT ? (double)v->i : v->type == LMS_CFG_FLOAT ? v->f : -1.0;
			if (!(b > 0.0 && b <= 16.0))
				return bad(v, where, k, "effective_bits is a number in (0, 16]", "bad effective_bits");
			out->effective_bits_override = b;
		} else {
			return bad(v, where, k, "format keys are name, quant_cfg, algorithm, effective_bits",
				   "unknown key");
		}
	}
	if (!out->name[0])
		return bad(node, where, "name", "add name: <FORMAT_NAME>", "missing");
	if (!out->algorithm[0]) { /* never calibrated: amax from the tensor at each call */
		out->weight.dynamic_amax = out->weight.enabled;
		out->input.dynamic_amax = out->input.enabled;
	}
	int64_t units;
	enum lms_status st = lms_format_bits_units(out, &units);
	if (st != LMS_OK)
		return lms_error_context("%s", where);
	return LMS_OK;
}

enum lms_status lms_format_load(const char *conf_dir, const char *name, struct lms_format *out)
{
	if (strcmp(name, LMS_FORMAT_NONE_NAME) == 0) {
		lms_format_none(out);
		return LMS_OK;
	}
	for (const char *c = name; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
		      *c == '-' || *c == '.') ||
		    (c == name && *c == '.'))
			return lms_fail(LMS_ERR_CONFIG, "format names are letters, digits, '_', '-' and '.'",
					"bad format name '%s'", name);
	char path[4096];
	snprintf(path, sizeof path, "%s/formats/%s.yaml", conf_dir, name);
	struct lms_cfg *node = NULL;
	enum lms_status st = lms_yaml_load_file(path, &node);
	if (st == LMS_ERR_NOT_FOUND)
		return lms_fail(LMS_ERR_NOT_FOUND, "the registry has one file per format in <conf>/formats/",
				"unknown format '%s' (no %s)", name, path);
	if (st != LMS_OK)
		return st;
	st = lms_format_from_node(node, path, out);
	if (st == LMS_OK && strcmp(out->name, name) != 0)
		st = lms_fail(LMS_ERR_CONFIG, "make the file name and its name: key agree",
			      "%s: name '%s' does not match the file name", path, out->name);
	lms_cfg_free(node);
	return st;
}
