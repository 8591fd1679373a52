/* h5stats_write.c — writes struct lms_aq_result as <scheme>_autoquant_state.h5.
 *
 * Layout (docs/outputs.md has the full schema with types):
 *   /                 attributes: schema_version, writer, tool_version, scheme,
 *                     model_*, dataset_*, samples, tokens, seq_len, batch_size,
 *                     pair_name, weight, activation
 *   /settings         attributes: method, effective_bits, score_size, calib_steps,
 *                     score_steps, loss_reduction; dataset disabled_layers
 *   /formats          name, bits                                     (F)
 *   /groups           name, n_params, disabled, n_members, members (flat),
 *                     scores (G,F), costs (G,F), candidate_scores (G,F, derived),
 *                     table (derived compound, h5tables.c)
 *   /modules          name, kind, layer, in_features, out_features, group,
 *                     act_amax, weight_amax, [scores (M,F)], table (derived)
 *   /traces/scores    (S,G,F) chunked per step, shuffle + deflate
 *   /loss             calib, score
 *   /timings          phase, seconds
 *   /config           resolved_yaml (scalar string)
 *   /search           (only after the search) attributes effective_bits, score,
 *                     is_satisfied; datasets chosen, chosen_format,
 *                     frontier_bits, frontier_score
 *
 * Storage: HDF5 1.10 object format (checksummed metadata); every non-empty
 * array is chunked with a Fletcher-32 checksum; the traces are also
 * shuffled and deflated.
 *
 * Invariant: the file is complete under its final name or absent. */
#include "io/h5stats.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "io/h5util.h"

#define F64 H5T_IEEE_F64LE
#define F32 H5T_IEEE_F32LE
#define I64 H5T_STD_I64LE
#define I32 H5T_STD_I32LE
#define U8 H5T_STD_U8LE

static enum lms_status write_root(struct lms_h5 *h, const struct lms_aq_result *r)
{
	const struct lms_aq_job *j = &r->job;
	LMS_TRY(lms_h5_attr_i64(h, "/", "schema_version", LMS_AQ_SCHEMA_VERSION));
	LMS_TRY(lms_h5_attr_str(h, "/", "writer", "lmsens"));
	const char *names[] = {"tool_version", "scheme",       "model_name",   "model_path",
			       "model_type",   "dataset_name", "dataset_size", "dataset_path",
			       "pair_name",    "weight",       "activation"};
	const char *vals[] = {j->tool_version, j->scheme,	j->model_name,	 j->model_path,
			      j->model_type,   j->dataset_name, j->dataset_size, j->dataset_path,
			      j->pair_name,    j->weight,	j->activation};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		LMS_TRY(lms_h5_attr_str(h, "/", names[i], vals[i]));
	LMS_TRY(lms_h5_attr_i64(h, "/", "samples", j->samples));
	LMS_TRY(lms_h5_attr_i64(h, "/", "tokens", j->tokens));
	LMS_TRY(lms_h5_attr_i64(h, "/", "seq_len", j->seq_len));
	LMS_TRY(lms_h5_attr_i64(h, "/", "batch_size", j->batch_size));
	return LMS_OK;
}

static enum lms_status write_settings(struct lms_h5 *h, const struct lms_aq_result *r)
{
	const struct lms_aq_settings *s = &r->settings;
	LMS_TRY(lms_h5_create_group(h, "/settings"));
	LMS_TRY(lms_h5_attr_str(h, "/settings", "method", s->method));
	LMS_TRY(lms_h5_attr_f64(h, "/settings", "effective_bits", s->effective_bits));
	LMS_TRY(lms_h5_attr_i64(h, "/settings", "score_size", s->score_size));
	LMS_TRY(lms_h5_attr_i64(h, "/settings", "calib_steps", s->calib_steps));
	LMS_TRY(lms_h5_attr_i64(h, "/settings", "score_steps", s->score_steps));
	LMS_TRY(lms_h5_attr_str(h, "/settings", "loss_reduction", s->loss_reduction));
	return lms_h5_write_strings(h, "/settings/disabled_layers",
				    (const char *const *)s->disabled_layers, s->n_disabled);
}

/* Scratch buffers for converting table columns; freed by the caller. */
struct scratch {
	const char **strs;
	int64_t *i64;
	int32_t *i32;
	uint8_t *u8;
	float *f32;
	double *f64;
};

static enum lms_status scratch_alloc(struct scratch *s, size_t n, size_t n_f64)
{
	n = n ? n : 1;
	s->strs = calloc(n, sizeof *s->strs);
	s->i64 = calloc(n, sizeof *s->i64);
	s->i32 = calloc(n, sizeof *s->i32);
	s->u8 = calloc(n, sizeof *s->u8);
	s->f32 = calloc(n, sizeof *s->f32);
	s->f64 = calloc(n_f64 ? n_f64 : 1, sizeof *s->f64);
	if (!s->strs || !s->i64 || !s->i32 || !s->u8 || !s->f32 || !s->f64)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing statistics");
	return LMS_OK;
}

static void scratch_free(struct scratch *s)
{
	free(s->strs);
	free(s->i64);
	free(s->i32);
	free(s->u8);
	free(s->f32);
	free(s->f64);
}

static enum lms_status write_formats(struct lms_h5 *h, const struct lms_aq_result *r,
				     struct scratch *s)
{
	size_t nf = r->n_formats;
	hsize_t d1[1] = {nf};
	LMS_TRY(lms_h5_create_group(h, "/formats"));
	for (size_t f = 0; f < nf; f++) {
		s->strs[f] = r->formats[f].name;
		s->f64[f] = r->formats[f].bits;
	}
	LMS_TRY(lms_h5_write_strings(h, "/formats/name", s->strs, nf));
	return lms_h5_write(h, "/formats/bits", F64, H5T_NATIVE_DOUBLE, 1, d1, NULL, s->f64);
}

/* Gathers field `f` (n_formats doubles per group) into s->f64 as (G, F). */
static void gather_group_matrix(const struct lms_aq_result *r, struct scratch *s, int costs)
{
	for (size_t g = 0; g < r->n_groups; g++)
		memcpy(s->f64 + g * r->n_formats, costs ? r->groups[g].costs : r->groups[g].scores,
		       r->n_formats * sizeof(double));
}

static enum lms_status write_groups(struct lms_h5 *h, const struct lms_aq_result *r,
				    struct scratch *s)
{
	size_t ng = r->n_groups, nf = r->n_formats;
	hsize_t d1[1] = {ng}, d2[2] = {ng, nf};
	LMS_TRY(lms_h5_create_group(h, "/groups"));
	for (size_t g = 0; g < ng; g++)
		s->strs[g] = r->groups[g].name;
	LMS_TRY(lms_h5_write_strings(h, "/groups/name", s->strs, ng));
	for (size_t g = 0; g < ng; g++)
		s->i64[g] = r->groups[g].n_params;
	LMS_TRY(lms_h5_write(h, "/groups/n_params", I64, H5T_NATIVE_INT64, 1, d1, NULL, s->i64));
	for (size_t g = 0; g < ng; g++)
		s->u8[g] = (uint8_t)(r->groups[g].disabled != 0);
	LMS_TRY(lms_h5_write(h, "/groups/disabled", U8, H5T_NATIVE_UINT8, 1, d1, NULL, s->u8));
	size_t total = 0;
	for (size_t g = 0; g < ng; g++) {
		s->i64[g] = (int64_t)r->groups[g].n_members;
		total += r->groups[g].n_members;
	}
	LMS_TRY(lms_h5_write(h, "/groups/n_members", I64, H5T_NATIVE_INT64, 1, d1, NULL, s->i64));
	/* members: the concatenation of every group's module indices, in group order. */
	int64_t *flat = calloc(total ? total : 1, sizeof *flat);
	if (!flat)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing statistics");
	for (size_t g = 0, k = 0; g < ng; g++)
		for (size_t i = 0; i < r->groups[g].n_members; i++)
			flat[k++] = (int64_t)r->groups[g].members[i];
	hsize_t dm[1] = {total};
	enum lms_status st =
	    lms_h5_write(h, "/groups/members", I64, H5T_NATIVE_INT64, 1, dm, NULL, flat);
	free(flat);
	LMS_TRY(st);
	gather_group_matrix(r, s, 0);
	LMS_TRY(lms_h5_write(h, "/groups/scores", F64, H5T_NATIVE_DOUBLE, 2, d2, NULL, s->f64));
	gather_group_matrix(r, s, 1);
	LMS_TRY(lms_h5_write(h, "/groups/costs", F64, H5T_NATIVE_DOUBLE, 2, d2, NULL, s->f64));
	for (size_t g = 0; g < ng; g++)
		lms_aq_group_candidate_scores(r, g, s->f64 + g * nf);
	return lms_h5_write(h, "/groups/candidate_scores", F64, H5T_NATIVE_DOUBLE, 2, d2, NULL,
			    s->f64);
}

static enum lms_status write_modules(struct lms_h5 *h, const struct lms_aq_result *r,
				     struct scratch *s)
{
	size_t nm = r->n_modules, nf = r->n_formats;
	hsize_t d1[1] = {nm}, d2[2] = {nm, nf};
	LMS_TRY(lms_h5_create_group(h, "/modules"));
	for (size_t m = 0; m < nm; m++)
		s->strs[m] = r->modules[m].name;
	LMS_TRY(lms_h5_write_strings(h, "/modules/name", s->strs, nm));
	for (size_t m = 0; m < nm; m++)
		s->strs[m] = r->modules[m].kind;
	LMS_TRY(lms_h5_write_strings(h, "/modules/kind", s->strs, nm));
	for (size_t m = 0; m < nm; m++)
		s->i32[m] = r->modules[m].layer;
	LMS_TRY(lms_h5_write(h, "/modules/layer", I32, H5T_NATIVE_INT32, 1, d1, NULL, s->i32));
	for (size_t m = 0; m < nm; m++)
		s->i64[m] = r->modules[m].in_features;
	LMS_TRY(
	    lms_h5_write(h, "/modules/in_features", I64, H5T_NATIVE_INT64, 1, d1, NULL, s->i64));
	for (size_t m = 0; m < nm; m++)
		s->i64[m] = r->modules[m].out_features;
	LMS_TRY(
	    lms_h5_write(h, "/modules/out_features", I64, H5T_NATIVE_INT64, 1, d1, NULL, s->i64));
	for (size_t m = 0; m < nm; m++)
		s->i64[m] = (int64_t)r->modules[m].group;
	LMS_TRY(lms_h5_write(h, "/modules/group", I64, H5T_NATIVE_INT64, 1, d1, NULL, s->i64));
	for (size_t m = 0; m < nm; m++)
		s->f32[m] = r->modules[m].act_amax;
	LMS_TRY(lms_h5_write(h, "/modules/act_amax", F32, H5T_NATIVE_FLOAT, 1, d1, NULL, s->f32));
	for (size_t m = 0; m < nm; m++)
		s->f32[m] = r->modules[m].weight_amax;
	LMS_TRY(
	    lms_h5_write(h, "/modules/weight_amax", F32, H5T_NATIVE_FLOAT, 1, d1, NULL, s->f32));
	/* Per-module scores only when every module has them (gradient method). */
	int have = nm > 0;
	for (size_t m = 0; m < nm; m++)
		have &= r->modules[m].scores != NULL;
	if (!have)
		return LMS_OK;
	for (size_t m = 0; m < nm; m++)
		memcpy(s->f64 + m * nf, r->modules[m].scores, nf * sizeof(double));
	return lms_h5_write(h, "/modules/scores", F64, H5T_NATIVE_DOUBLE, 2, d2, NULL, s->f64);
}

static enum lms_status write_series(struct lms_h5 *h, const struct lms_aq_result *r,
				    struct scratch *s)
{
	hsize_t d3[3] = {r->n_trace_steps, r->n_groups, r->n_formats};
	hsize_t chunk[3] = {1, r->n_groups ? r->n_groups : 1, r->n_formats ? r->n_formats : 1};
	LMS_TRY(lms_h5_create_group(h, "/traces"));
	LMS_TRY(lms_h5_write(h, "/traces/scores", F64, H5T_NATIVE_DOUBLE, 3, d3, chunk, r->traces));
	LMS_TRY(lms_h5_create_group(h, "/loss"));
	hsize_t dc[1] = {r->n_calib_loss}, ds[1] = {r->n_score_loss}, dt[1] = {r->n_timings};
	LMS_TRY(lms_h5_write(h, "/loss/calib", F64, H5T_NATIVE_DOUBLE, 1, dc, NULL, r->calib_loss));
	LMS_TRY(lms_h5_write(h, "/loss/score", F64, H5T_NATIVE_DOUBLE, 1, ds, NULL, r->score_loss));
	LMS_TRY(lms_h5_create_group(h, "/timings"));
	for (size_t i = 0; i < r->n_timings; i++) {
		s->strs[i] = r->timings[i].phase;
		s->f64[i] = r->timings[i].seconds;
	}
	LMS_TRY(lms_h5_write_strings(h, "/timings/phase", s->strs, r->n_timings));
	LMS_TRY(lms_h5_write(h, "/timings/seconds", F64, H5T_NATIVE_DOUBLE, 1, dt, NULL, s->f64));
	LMS_TRY(lms_h5_create_group(h, "/config"));
	return lms_h5_write_text(h, "/config/resolved_yaml", r->config_yaml);
}

static enum lms_status write_search(struct lms_h5 *h, const struct lms_aq_result *r,
				    struct scratch *s)
{
	const struct lms_aq_search *se = &r->search;
	if (!r->has_search)
		return LMS_OK;
	LMS_TRY(lms_h5_create_group(h, "/search"));
	LMS_TRY(lms_h5_attr_f64(h, "/search", "effective_bits", se->effective_bits));
	LMS_TRY(lms_h5_attr_f64(h, "/search", "score", se->score));
	LMS_TRY(lms_h5_attr_i64(h, "/search", "is_satisfied", se->is_satisfied != 0));
	hsize_t dg[1] = {r->n_groups}, dfr[1] = {se->n_frontier};
	for (size_t g = 0; g < r->n_groups; g++) {
		s->i32[g] = r->groups[g].chosen;
		s->strs[g] = r->formats[r->groups[g].chosen].name;
	}
	LMS_TRY(lms_h5_write(h, "/search/chosen", I32, H5T_NATIVE_INT32, 1, dg, NULL, s->i32));
	LMS_TRY(lms_h5_write_strings(h, "/search/chosen_format", s->strs, r->n_groups));
	LMS_TRY(lms_h5_write(h, "/search/frontier_bits", F64, H5T_NATIVE_DOUBLE, 1, dfr, NULL,
			     se->frontier_bits));
	return lms_h5_write(h, "/search/frontier_score", F64, H5T_NATIVE_DOUBLE, 1, dfr, NULL,
			    se->frontier_score);
}

static enum lms_status write_all(struct lms_h5 *h, const struct lms_aq_result *r)
{
	size_t n = r->n_groups > r->n_modules ? r->n_groups : r->n_modules;
	n = n > r->n_formats ? n : r->n_formats;
	n = n > r->n_timings ? n : r->n_timings;
	size_t rows = r->n_groups > r->n_modules ? r->n_groups : r->n_modules;
	size_t n_f64 = rows * r->n_formats > n ? rows * r->n_formats : n;
	struct scratch s = {0};
	enum lms_status st = scratch_alloc(&s, n, n_f64);
	if (st == LMS_OK)
		st = write_root(h, r);
	if (st == LMS_OK)
		st = write_settings(h, r);
	if (st == LMS_OK)
		st = write_formats(h, r, &s);
	if (st == LMS_OK)
		st = write_groups(h, r, &s);
	if (st == LMS_OK)
		st = write_modules(h, r, &s);
	if (st == LMS_OK)
		st = write_series(h, r, &s);
	if (st == LMS_OK)
		st = write_search(h, r, &s);
	if (st == LMS_OK)
		st = lms_h5_write_tables(h, r);
	scratch_free(&s);
	return st;
}

static enum lms_status write_file(const struct lms_aq_result *r, const char *path);

enum lms_status lms_h5stats_write(const struct lms_aq_result *r, const char *path)
{
	LMS_TRY(lms_aq_result_validate(r, path));
	lms_h5_lock();
	enum lms_status st = write_file(r, path);
	lms_h5_unlock();
	return st;
}

/* Bob Jenkins' lookup3 hashlittle() (public domain), HDF5's metadata
 * checksum (H5_checksum_lookup3 with initval 0; File Format Spec. §II.A). */
#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t lookup3(const unsigned char *k, size_t len)
{
	uint32_t a, b, c;
	a = b = c = 0xdeadbeefu + (uint32_t)len;
	while (len > 12) {
		a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
		b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
		c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) +
		     ((uint32_t)k[11] << 24);
		a -= c, a ^= ROT(c, 4), c += b;
		b -= a, b ^= ROT(a, 6), a += c;
		c -= b, c ^= ROT(b, 8), b += a;
		a -= c, a ^= ROT(c, 16), c += b;
		b -= a, b ^= ROT(a, 19), a += c;
		c -= b, c ^= ROT(b, 4), b += a;
		len -= 12;
		k += 12;
	}
	if (len == 0)
		return c;
	unsigned char t[12] = {0};
	memcpy(t, k, len);
	a += t[0] + ((uint32_t)t[1] << 8) + ((uint32_t)t[2] << 16) + ((uint32_t)t[3] << 24);
	b += t[4] + ((uint32_t)t[5] << 8) + ((uint32_t)t[6] << 16) + ((uint32_t)t[7] << 24);
	c += t[8] + ((uint32_t)t[9] << 8) + ((uint32_t)t[10] << 16) + ((uint32_t)t[11] << 24);
	c ^= b, c -= ROT(b, 14);
	a ^= c, a -= ROT(c, 11);
	b ^= a, b -= ROT(a, 25);
	c ^= b, c -= ROT(b, 16);
	a ^= c, a -= ROT(c, 4);
	b ^= a, b -= ROT(a, 14);
	c ^= b, c -= ROT(b, 24);
	return c;
}
#undef ROT

/* libhdf5 1.10.8's H5Fget_file_image writes the EOF address of a version 2/3
 * superblock after computing the superblock's checksum, so the image does not
 * open ("incorrect metadata checksum"). The superblock is at offset 0 (no
 * user block): signature, version, offset size O, length size, flags, four
 * addresses of O bytes, then the lookup3 checksum of all that. */
static void fix_superblock_checksum(unsigned char *img, size_t n)
{
	if (n < 12 || memcmp(img, "\x89HDF\r\n\x1a\n", 8) != 0 || img[8] < 2)
		return;
	size_t body = 12 + 4 * (size_t)img[9];
	if (body + 4 > n)
		return;
	uint32_t sum = lookup3(img, body);
	for (int i = 0; i < 4; i++)
		img[body + (size_t)i] = (unsigned char)(sum >> (8 * i));
}

/* The file is built in memory (HDF5's core driver without a backing store)
 * and its image written with lms_write_file_atomic. HDF5 then never writes to
 * the disk itself: a full disk or a read-only directory fails in our write
 * path with a clear error and no partial file, instead of an H5Fclose that
 * fails and leaves a file HDF5 can neither close nor forget (libhdf5 1.10
 * crashed at exit on such a file; tests/reliability/test_writefail). The
 * image is what the sec2 driver writes plus the unused tail of the metadata
 * block, with the superblock checksum repaired (above). */
static enum lms_status write_file(const struct lms_aq_result *r, const char *path)
{
	lms_h5_quiet();
	struct lms_h5 h = {.path = path, .file = -1, .writing = 1};
	enum lms_status st = LMS_OK;
	hid_t fapl = -1, fcpl = -1;
	void *image = NULL;
	LMS_H5_TRY(&h, "file access properties", fapl = H5Pcreate(H5P_FILE_ACCESS));
	LMS_H5_TRY(&h, "file access properties", H5Pset_fapl_core(fapl, (size_t)1 << 20, 0));
	/* The 1.10 object format: checksummed metadata (a corrupt header is an
	 * error on open, not garbage) and compact single-chunk indexes; readable
	 * by HDF5 ≥ 1.10, h5py and h5dump. No timestamps on the root group either. */
	LMS_H5_TRY(&h, "file access properties",
		   H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110));
	LMS_H5_TRY(&h, "file creation properties", fcpl = H5Pcreate(H5P_FILE_CREATE));
	LMS_H5_TRY(&h, "file creation properties", H5Pset_obj_track_times(fcpl, 0));
	h.file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
	if (h.file < 0) {
		st = lms_h5_fail(&h, "creating the file", "H5Fcreate");
		goto out;
	}
	st = write_all(&h, r);
	ssize_t size = -1;
	if (st == LMS_OK && H5Fflush(h.file, H5F_SCOPE_GLOBAL) < 0)
		st = lms_h5_fail(&h, "the file", "H5Fflush");
	if (st == LMS_OK && (size = H5Fget_file_image(h.file, NULL, 0)) <= 0)
		st = lms_h5_fail(&h, "the file", "H5Fget_file_image");
	if (st == LMS_OK && !(image = malloc((size_t)size)))
		st =
		    lms_fail(LMS_ERR_NOMEM, NULL, "out of memory for '%s' (%zd bytes)", path, size);
	if (st == LMS_OK && H5Fget_file_image(h.file, image, (size_t)size) != size)
		st = lms_h5_fail(&h, "the file", "H5Fget_file_image");
	if (st == LMS_OK)
		fix_superblock_checksum(image, (size_t)size);
	herr_t closed = H5Fclose(h.file); /* in memory: nothing to flush to a disk */
	h.file = -1;
	if (st == LMS_OK && closed < 0)
		st = lms_h5_fail(&h, "the file", "H5Fclose");
	if (st == LMS_OK)
		st = lms_write_file_atomic(path, image, (size_t)size);
out:
	free(image);
	lms_h5_close(fcpl);
	lms_h5_close(fapl);
	return st;
}
