/* h5stats_read.c — reads <scheme>_autoquant_state.h5 back into struct
 * lms_aq_result (the inverse of h5stats_write.c; the layout is listed there
 * and in docs/outputs.md).
 *
 * Invariants: every dataset's class, rank and extents are checked against the
 * sizes implied by /formats, /groups and /modules before its data is used;
 * the reconstructed result is validated (lms_aq_result_validate) before it
 * is returned, so a file edited into an inconsistent state is refused with a
 * message, never trusted. Derived datasets (/groups/candidate_scores,
 * /search/chosen_format) are not read: they are recomputed from the sources.
 *
 * Does not: accept other schema versions (the message says which one). */
#include "io/h5stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"

static void free_strs(char **s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

static enum lms_status read_root(struct lms_h5 *h, struct lms_aq_result *r)
{
	int64_t version = 0;
	LMS_TRY(lms_h5_read_attr_i64(h, "/", "schema_version", &version));
	if (version != LMS_AQ_SCHEMA_VERSION)
		return lms_fail(LMS_ERR_INPUT,
				"regenerate the file with this lmsens version, or use the version "
				"that wrote it",
				"%s: schema_version is %lld, this lmsens reads version %d", h->path,
				(long long)version, LMS_AQ_SCHEMA_VERSION);
	struct lms_aq_job *j = &r->job;
	const char *names[] = {"tool_version", "scheme",       "model_name",   "model_path",
			       "model_type",   "dataset_name", "dataset_size", "dataset_path",
			       "pair_name",    "weight",       "activation"};
	char **dst[] = {&j->tool_version, &j->scheme,	    &j->model_name,   &j->model_path,
			&j->model_type,	  &j->dataset_name, &j->dataset_size, &j->dataset_path,
			&j->pair_name,	  &j->weight,	    &j->activation};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		LMS_TRY(lms_h5_read_attr_str(h, "/", names[i], dst[i]));
	LMS_TRY(lms_h5_read_attr_i64(h, "/", "samples", &j->samples));
	LMS_TRY(lms_h5_read_attr_i64(h, "/", "tokens", &j->tokens));
	LMS_TRY(lms_h5_read_attr_i64(h, "/", "seq_len", &j->seq_len));
	LMS_TRY(lms_h5_read_attr_i64(h, "/", "batch_size", &j->batch_size));
	return LMS_OK;
}

static enum lms_status read_settings(struct lms_h5 *h, struct lms_aq_result *r)
{
	struct lms_aq_settings *s = &r->settings;
	LMS_TRY(lms_h5_read_attr_str(h, "/settings", "method", &s->method));
	LMS_TRY(lms_h5_read_attr_f64(h, "/settings", "effective_bits", &s->effective_bits));
	LMS_TRY(lms_h5_read_attr_i64(h, "/settings", "score_size", &s->score_size));
	LMS_TRY(lms_h5_read_attr_i64(h, "/settings", "calib_steps", &s->calib_steps));
	LMS_TRY(lms_h5_read_attr_i64(h, "/settings", "score_steps", &s->score_steps));
	LMS_TRY(lms_h5_read_attr_str(h, "/settings", "loss_reduction", &s->loss_reduction));
	return lms_h5_read_strings(h, "/settings/disabled_layers", LMS_H5_ANY, &s->n_disabled,
				   &s->disabled_layers);
}

/* Reads a 1-D dataset of n elements (n fixed by an earlier table). */
static enum lms_status read_1d(struct lms_h5 *h, const char *path, H5T_class_t cls, hid_t mt,
			       size_t elem, size_t n, void **out)
{
	hsize_t dims[1] = {n};
	return lms_h5_read(h, path, cls, mt, elem, 1, dims, out);
}

static enum lms_status read_f64_matrix(struct lms_h5 *h, const char *path, size_t rows, size_t cols,
				       double **out)
{
	hsize_t dims[2] = {rows, cols};
	return lms_h5_read(h, path, H5T_FLOAT, H5T_NATIVE_DOUBLE, sizeof(double), 2, dims,
			   (void **)out);
}

/* Sizes of the tables, read first so every later dataset can be checked. */
struct sizes {
	size_t nf, ng, nm, nsteps, ncalib, nscore, ntimings;
	char **format_names, **group_names, **module_names, **timing_phases;
};

static enum lms_status read_sizes(struct lms_h5 *h, struct sizes *z)
{
	LMS_TRY(lms_h5_read_strings(h, "/formats/name", LMS_H5_ANY, &z->nf, &z->format_names));
	LMS_TRY(lms_h5_read_strings(h, "/groups/name", LMS_H5_ANY, &z->ng, &z->group_names));
	LMS_TRY(lms_h5_read_strings(h, "/modules/name", LMS_H5_ANY, &z->nm, &z->module_names));
	LMS_TRY(
	    lms_h5_read_strings(h, "/timings/phase", LMS_H5_ANY, &z->ntimings, &z->timing_phases));
	hsize_t d3[3] = {LMS_H5_ANY, z->ng, z->nf};
	LMS_TRY(lms_h5_extent(h, "/traces/scores", H5T_FLOAT, 3, d3));
	z->nsteps = (size_t)d3[0];
	hsize_t dc[1] = {LMS_H5_ANY}, ds[1] = {LMS_H5_ANY};
	LMS_TRY(lms_h5_extent(h, "/loss/calib", H5T_FLOAT, 1, dc));
	LMS_TRY(lms_h5_extent(h, "/loss/score", H5T_FLOAT, 1, ds));
	z->ncalib = (size_t)dc[0];
	z->nscore = (size_t)ds[0];
	return LMS_OK;
}

static enum lms_status read_formats(struct lms_h5 *h, struct lms_aq_result *r, struct sizes *z)
{
	double *bits = NULL;
	LMS_TRY(read_1d(h, "/formats/bits", H5T_FLOAT, H5T_NATIVE_DOUBLE, sizeof(double), z->nf,
			(void **)&bits));
	for (size_t f = 0; f < z->nf; f++) {
		r->formats[f].name = z->format_names[f];
		z->format_names[f] = NULL;
		r->formats[f].bits = bits[f];
	}
	free(bits);
	return LMS_OK;
}

static enum lms_status read_group_members(struct lms_h5 *h, struct lms_aq_result *r)
{
	int64_t *count = NULL, *flat = NULL;
	enum lms_status st = read_1d(h, "/groups/n_members", H5T_INTEGER, H5T_NATIVE_INT64,
				     sizeof(int64_t), r->n_groups, (void **)&count);
	size_t total = 0;
	for (size_t g = 0; st == LMS_OK && g < r->n_groups; g++) {
		if (count[g] < 1 || (uint64_t)count[g] > r->n_modules)
			st = lms_fail(LMS_ERR_INPUT, "re-run the job that wrote the file",
				      "%s: /groups/n_members[%zu] = %lld is not in [1, %zu]",
				      h->path, g, (long long)count[g], r->n_modules);
		else
			total += (size_t)count[g];
	}
	if (st == LMS_OK)
		st = read_1d(h, "/groups/members", H5T_INTEGER, H5T_NATIVE_INT64, sizeof(int64_t),
			     total, (void **)&flat);
	for (size_t g = 0, k = 0; st == LMS_OK && g < r->n_groups; g++) {
		size_t n = (size_t)count[g];
		size_t *idx = calloc(n, sizeof *idx);
		if (!idx) {
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory reading %s", h->path);
			break;
		}
		for (size_t i = 0; i < n; i++, k++) {
			if (flat[k] < 0 || (uint64_t)flat[k] >= r->n_modules)
				st = lms_fail(
				    LMS_ERR_INPUT, "re-run the job that wrote the file",
				    "%s: /groups/members[%zu] = %lld is not a module index",
				    h->path, k, (long long)flat[k]);
			idx[i] = (size_t)(flat[k] < 0 ? 0 : flat[k]);
		}
		r->groups[g].members = idx;
		r->groups[g].n_members = n;
	}
	free(count);
	free(flat);
	return st;
}

static enum lms_status read_groups(struct lms_h5 *h, struct lms_aq_result *r, struct sizes *z)
{
	size_t ng = r->n_groups, nf = r->n_formats;
	int64_t *params = NULL;
	uint8_t *disabled = NULL;
	double *scores = NULL, *costs = NULL;
	enum lms_status st = read_1d(h, "/groups/n_params", H5T_INTEGER, H5T_NATIVE_INT64,
				     sizeof(int64_t), ng, (void **)&params);
	if (st == LMS_OK)
		st = read_1d(h, "/groups/disabled", H5T_INTEGER, H5T_NATIVE_UINT8, 1, ng,
			     (void **)&disabled);
	if (st == LMS_OK)
		st = read_f64_matrix(h, "/groups/scores", ng, nf, &scores);
	if (st == LMS_OK)
		st = read_f64_matrix(h, "/groups/costs", ng, nf, &costs);
	for (size_t g = 0; st == LMS_OK && g < ng; g++) {
		struct lms_aq_group *gr = &r->groups[g];
		gr->name = z->group_names[g];
		z->group_names[g] = NULL;
		gr->n_params = params[g];
		gr->disabled = disabled[g] != 0;
		memcpy(gr->scores, scores + g * nf, nf * sizeof(double));
		memcpy(gr->costs, costs + g * nf, nf * sizeof(double));
	}
	free(params);
	free(disabled);
	free(scores);
	free(costs);
	LMS_TRY(st);
	return read_group_members(h, r);
}

static enum lms_status read_module_columns(struct lms_h5 *h, struct lms_aq_result *r, char **kinds)
{
	size_t nm = r->n_modules;
	int32_t *layer = NULL;
	int64_t *in = NULL, *outf = NULL, *group = NULL;
	float *aa = NULL, *wa = NULL;
	enum lms_status st = read_1d(h, "/modules/layer", H5T_INTEGER, H5T_NATIVE_INT32,
				     sizeof(int32_t), nm, (void **)&layer);
	if (st == LMS_OK)
		st = read_1d(h, "/modules/in_features", H5T_INTEGER, H5T_NATIVE_INT64,
			     sizeof(int64_t), nm, (void **)&in);
	if (st == LMS_OK)
		st = read_1d(h, "/modules/out_features", H5T_INTEGER, H5T_NATIVE_INT64,
			     sizeof(int64_t), nm, (void **)&outf);
	if (st == LMS_OK)
		st = read_1d(h, "/modules/group", H5T_INTEGER, H5T_NATIVE_INT64, sizeof(int64_t),
			     nm, (void **)&group);
	if (st == LMS_OK)
		st = read_1d(h, "/modules/act_amax", H5T_FLOAT, H5T_NATIVE_FLOAT, sizeof(float), nm,
			     (void **)&aa);
	if (st == LMS_OK)
		st = read_1d(h, "/modules/weight_amax", H5T_FLOAT, H5T_NATIVE_FLOAT, sizeof(float),
			     nm, (void **)&wa);
	for (size_t m = 0; st == LMS_OK && m < nm; m++) {
		struct lms_aq_module *mo = &r->modules[m];
		if (group[m] < 0 || (uint64_t)group[m] >= r->n_groups) {
			st = lms_fail(LMS_ERR_INPUT, "re-run the job that wrote the file",
				      "%s: /modules/group[%zu] = %lld is not a group index",
				      h->path, m, (long long)group[m]);
			break;
		}
		mo->kind = kinds[m];
		kinds[m] = NULL;
		mo->layer = layer[m];
		mo->in_features = in[m];
		mo->out_features = outf[m];
		mo->group = (size_t)group[m];
		mo->act_amax = aa[m];
		mo->weight_amax = wa[m];
	}
	free(layer);
	free(in);
	free(outf);
	free(group);
	free(aa);
	free(wa);
	return st;
}

static enum lms_status read_modules(struct lms_h5 *h, struct lms_aq_result *r, struct sizes *z)
{
	size_t nm = r->n_modules, nf = r->n_formats, nk = 0;
	char **kinds = NULL;
	for (size_t m = 0; m < nm; m++) {
		r->modules[m].name = z->module_names[m];
		z->module_names[m] = NULL;
	}
	enum lms_status st = lms_h5_read_strings(h, "/modules/kind", nm, &nk, &kinds);
	if (st == LMS_OK)
		st = read_module_columns(h, r, kinds);
	free_strs(kinds, nk);
	LMS_TRY(st);
	if (!lms_h5_exists(h, "/modules/scores"))
		return LMS_OK;
	double *scores = NULL;
	LMS_TRY(read_f64_matrix(h, "/modules/scores", nm, nf, &scores));
	st = lms_aq_result_alloc_module_scores(r);
	for (size_t m = 0; st == LMS_OK && m < nm; m++)
		memcpy(r->modules[m].scores, scores + m * nf, nf * sizeof(double));
	free(scores);
	return st;
}

static enum lms_status read_series(struct lms_h5 *h, struct lms_aq_result *r, struct sizes *z)
{
	if (r->n_trace_steps) {
		double *t = NULL;
		hsize_t d3[3] = {r->n_trace_steps, r->n_groups, r->n_formats};
		LMS_TRY(lms_h5_read(h, "/traces/scores", H5T_FLOAT, H5T_NATIVE_DOUBLE,
				    sizeof(double), 3, d3, (void **)&t));
		free(r->traces);
		r->traces = t;
	}
	double *v = NULL;
	LMS_TRY(read_1d(h, "/loss/calib", H5T_FLOAT, H5T_NATIVE_DOUBLE, sizeof(double),
			r->n_calib_loss, (void **)&v));
	memcpy(r->calib_loss, v, r->n_calib_loss * sizeof(double));
	free(v);
	v = NULL;
	LMS_TRY(read_1d(h, "/loss/score", H5T_FLOAT, H5T_NATIVE_DOUBLE, sizeof(double),
			r->n_score_loss, (void **)&v));
	memcpy(r->score_loss, v, r->n_score_loss * sizeof(double));
	free(v);
	v = NULL;
	LMS_TRY(read_1d(h, "/timings/seconds", H5T_FLOAT, H5T_NATIVE_DOUBLE, sizeof(double),
			r->n_timings, (void **)&v));
	for (size_t i = 0; i < r->n_timings; i++) {
		r->timings[i].phase = z->timing_phases[i];
		z->timing_phases[i] = NULL;
		r->timings[i].seconds = v[i];
	}
	free(v);
	return lms_h5_read_text(h, "/config/resolved_yaml", &r->config_yaml);
}

static enum lms_status read_search(struct lms_h5 *h, struct lms_aq_result *r)
{
	if (!lms_h5_exists(h, "/search"))
		return LMS_OK; /* written before the search ran */
	struct lms_aq_search *s = &r->search;
	int64_t sat = 0;
	LMS_TRY(lms_h5_read_attr_f64(h, "/search", "effective_bits", &s->effective_bits));
	LMS_TRY(lms_h5_read_attr_f64(h, "/search", "score", &s->score));
	LMS_TRY(lms_h5_read_attr_i64(h, "/search", "is_satisfied", &sat));
	s->is_satisfied = sat != 0;
	int32_t *chosen = NULL;
	LMS_TRY(read_1d(h, "/search/chosen", H5T_INTEGER, H5T_NATIVE_INT32, sizeof(int32_t),
			r->n_groups, (void **)&chosen));
	for (size_t g = 0; g < r->n_groups; g++)
		r->groups[g].chosen = chosen[g];
	free(chosen);
	hsize_t d[1] = {LMS_H5_ANY};
	double *bits = NULL, *score = NULL;
	LMS_TRY(lms_h5_read(h, "/search/frontier_bits", H5T_FLOAT, H5T_NATIVE_DOUBLE,
			    sizeof(double), 1, d, (void **)&bits));
	size_t n = (size_t)d[0];
	enum lms_status st = read_1d(h, "/search/frontier_score", H5T_FLOAT, H5T_NATIVE_DOUBLE,
				     sizeof(double), n, (void **)&score);
	if (st == LMS_OK)
		st = lms_aq_result_alloc_frontier(r, n);
	if (st == LMS_OK && n) {
		memcpy(s->frontier_bits, bits, n * sizeof(double));
		memcpy(s->frontier_score, score, n * sizeof(double));
	}
	free(bits);
	free(score);
	r->has_search = st == LMS_OK;
	return st;
}

static enum lms_status read_all(struct lms_h5 *h, struct lms_aq_result *r)
{
	struct sizes z = {0};
	enum lms_status st = read_root(h, r);
	if (st == LMS_OK)
		st = read_settings(h, r);
	if (st == LMS_OK)
		st = read_sizes(h, &z);
	if (st == LMS_OK)
		st = lms_aq_result_alloc(r, z.nf, z.ng, z.nm, z.nsteps, z.ncalib, z.nscore,
					 z.ntimings);
	if (st == LMS_OK)
		st = read_formats(h, r, &z);
	if (st == LMS_OK)
		st = read_groups(h, r, &z);
	if (st == LMS_OK)
		st = read_modules(h, r, &z);
	if (st == LMS_OK)
		st = read_series(h, r, &z);
	if (st == LMS_OK)
		st = read_search(h, r);
	free_strs(z.format_names, z.nf);
	free_strs(z.group_names, z.ng);
	free_strs(z.module_names, z.nm);
	free_strs(z.timing_phases, z.ntimings);
	return st;
}

static enum lms_status read_file(const char *path, const char *group, struct lms_aq_result *out);

enum lms_status lms_h5stats_read(const char *path, struct lms_aq_result *out)
{
	return lms_h5stats_read_group(path, NULL, out);
}

enum lms_status lms_h5stats_read_group(const char *path, const char *group,
				       struct lms_aq_result *out)
{
	lms_aq_result_init(out);
	if (access(path, R_OK) != 0)
		return lms_fail(errno == ENOENT ? LMS_ERR_NOT_FOUND : LMS_ERR_IO,
				"check the path; the file is <scheme>" LMS_H5STATS_SUFFIX
				" in the job directory",
				"cannot read statistics file '%s': %s", path, strerror(errno));
	if (group && strcmp(group, "/") == 0)
		group = NULL;
	lms_h5_lock();
	enum lms_status st = read_file(path, group, out);
	lms_h5_unlock();
	if (st != LMS_OK)
		lms_aq_result_free(out);
	return st;
}

static enum lms_status read_file(const char *path, const char *group, struct lms_aq_result *out)
{
	lms_h5_quiet();
	char where[4096 + 256];
	snprintf(where, sizeof where, "%s%s%s", path, group ? ":" : "", group ? group : "");
	struct lms_h5 h = {.path = where, .file = -1, .writing = 0};
	enum lms_status st = LMS_OK;
	hid_t fapl = -1, file = -1;
	LMS_H5_TRY(&h, "file access properties", fapl = H5Pcreate(H5P_FILE_ACCESS));
#if H5_VERSION_GE(1, 10, 7)
	LMS_H5_TRY(&h, "file access properties", H5Pset_file_locking(fapl, 0, 1));
#endif
#if H5_VERSION_GE(1, 12, 0)
	htri_t is_h5 = H5Fis_accessible(path, fapl);
#else
	htri_t is_h5 = H5Fis_hdf5(path);
#endif
	if (is_h5 <= 0) {
		H5Eclear2(H5E_DEFAULT);
		st = lms_fail(LMS_ERR_INPUT,
			      "the file is corrupt or truncated; re-run the job (or its report) to "
			      "rewrite it",
			      "%s is not an HDF5 file (no HDF5 signature)", path);
		goto out;
	}
	file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	if (file < 0) {
		st = lms_h5_fail(&h, "cannot open", "H5Fopen");
		goto out;
	}
	h.file = file;
	if (group) {
		h.file = -1;
		htri_t e = H5Lexists(file, group, H5P_DEFAULT);
		H5Eclear2(H5E_DEFAULT);
		if (e > 0)
			h.file = H5Gopen2(file, group, H5P_DEFAULT);
		if (h.file < 0) {
			H5Eclear2(H5E_DEFAULT);
			st = lms_fail(LMS_ERR_NOT_FOUND, "list the file's groups with 'h5ls'",
				      "%s: no group '%s'", path, group);
			goto out;
		}
		h.relative = 1;
	}
	st = read_all(&h, out);
	if (st == LMS_OK)
		st = lms_aq_result_validate(out, where);
out:
	if (h.file != file)
		lms_h5_close(h.file);
	lms_h5_close(file);
	lms_h5_close(fapl);
	if (st != LMS_OK)
		lms_aq_result_free(out);
	return st;
}
