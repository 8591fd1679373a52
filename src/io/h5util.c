/* h5util.c — checked HDF5 helpers for src/io/ (see h5util.h).
 *
 * Invariant: every function leaves no HDF5 id open, on success and on every
 * failure path (cleanup labels close what was opened). */
#include "io/h5util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lms_h5_quiet(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

#ifdef H5_HAVE_THREADSAFE
void lms_h5_lock(void) {}
void lms_h5_unlock(void) {}
#else
static pthread_mutex_t g_h5_mutex = PTHREAD_MUTEX_INITIALIZER;
void lms_h5_lock(void)
{
	pthread_mutex_lock(&g_h5_mutex);
}
void lms_h5_unlock(void)
{
	pthread_mutex_unlock(&g_h5_mutex);
}
#endif

struct walk_data {
	char desc[256];
	int found;
};

static herr_t walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
	struct walk_data *w = data;
	(void)n;
	/* Upward walk: the first entry is where the error was detected, which
	 * carries the most specific description ("file signature not found"). */
	if (!w->found && err && err->desc) {
		snprintf(w->desc, sizeof w->desc, "%s", err->desc);
		w->found = 1;
	}
	return 0;
}

enum lms_status lms_h5_fail(const struct lms_h5 *h, const char *object, const char *call)
{
	struct walk_data w = {.found = 0};
	w.desc[0] = '\0';
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
	H5Eclear2(H5E_DEFAULT);
	const char *desc = w.found ? w.desc : "no HDF5 error message";
	if (h->writing)
		return lms_fail(LMS_ERR_IO,
				"check free space and permissions of the output directory",
				"%s: %s: '%s' failed: %s", h->path, object, call, desc);
	return lms_fail(
	    LMS_ERR_INPUT,
	    "the file is corrupt or was not written by this version of lmsens; re-run the job, "
	    "or check it with 'h5dump -H'",
	    "%s: %s: '%s' failed: %s", h->path, object, call, desc);
}

void lms_h5_close(hid_t id)
{
	if (id < 0)
		return;
	switch (H5Iget_type(id)) {
	case H5I_FILE:
		H5Fclose(id);
		break;
	case H5I_GROUP:
		H5Gclose(id);
		break;
	case H5I_DATASET:
		H5Dclose(id);
		break;
	case H5I_DATASPACE:
		H5Sclose(id);
		break;
	case H5I_DATATYPE:
		H5Tclose(id);
		break;
	case H5I_ATTR:
		H5Aclose(id);
		break;
	case H5I_GENPROP_LST:
		H5Pclose(id);
		break;
	default:
		break;
	}
	H5Eclear2(H5E_DEFAULT);
}

/* --- writing ------------------------------------------------------------ */

enum lms_status lms_h5_create_group(struct lms_h5 *h, const char *path)
{
	enum lms_status st = LMS_OK;
	hid_t gcpl = -1, g = -1;
	LMS_H5_TRY(h, path, gcpl = H5Pcreate(H5P_GROUP_CREATE));
	LMS_H5_TRY(h, path, H5Pset_obj_track_times(gcpl, 0));
	LMS_H5_TRY(h, path, g = H5Gcreate2(h->file, path, H5P_DEFAULT, gcpl, H5P_DEFAULT));
out:
	lms_h5_close(g);
	lms_h5_close(gcpl);
	return st;
}

enum lms_status lms_h5_write(struct lms_h5 *h, const char *path, hid_t file_type, hid_t mem_type,
			     int rank, const hsize_t *dims, const hsize_t *chunk, const void *data)
{
	enum lms_status st = LMS_OK;
	hid_t space = -1, dcpl = -1, d = -1;
	hsize_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	LMS_H5_TRY(h, path,
		   space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR));
	LMS_H5_TRY(h, path, dcpl = H5Pcreate(H5P_DATASET_CREATE));
	LMS_H5_TRY(h, path, H5Pset_obj_track_times(dcpl, 0));
	/* Every non-empty array is chunked so that it can carry a Fletcher-32
	 * checksum: a flipped bit in the data is a read error, not a silently
	 * wrong score. Small arrays are one chunk; `chunk` (the traces) adds
	 * shuffle + deflate. Scalars cannot be chunked (the config text). */
	if (rank > 0 && n > 0) {
		LMS_H5_TRY(h, path, H5Pset_chunk(dcpl, rank, chunk ? chunk : dims));
		if (chunk) {
			LMS_H5_TRY(h, path, H5Pset_shuffle(dcpl));
			LMS_H5_TRY(h, path, H5Pset_deflate(dcpl, 4));
		}
		LMS_H5_TRY(h, path, H5Pset_fletcher32(dcpl));
	}
	LMS_H5_TRY(h, path,
		   d = H5Dcreate2(h->file, path, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
	if (n > 0)
		LMS_H5_TRY(h, path, H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
out:
	lms_h5_close(d);
	lms_h5_close(dcpl);
	lms_h5_close(space);
	return st;
}

/* A fixed-length, NUL-terminated UTF-8 string type of `size` bytes (≥ 1),
 * holding at most size-1 characters. NUL-terminated rather than NUL-padded
 * so that h5dump prints "lm_head", not "lm_head\000\000..."; h5py and
 * numpy strip the padding either way. */
static hid_t str_type(size_t size)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	if (t < 0)
		return t;
	if (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
	    H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
		H5Tclose(t);
		return -1;
	}
	return t;
}

enum lms_status lms_h5_write_strings(struct lms_h5 *h, const char *path, const char *const *s,
				     size_t n)
{
	enum lms_status st = LMS_OK;
	hid_t t = -1;
	size_t width = 1; /* longest string + its terminator */
	for (size_t i = 0; i < n; i++)
		if (s[i] && strlen(s[i]) + 1 > width)
			width = strlen(s[i]) + 1;
	char *buf = calloc(n ? n : 1, width);
	if (!buf)
		return lms_fail(LMS_ERR_NOMEM, NULL, "%s: out of memory writing '%s'", h->path,
				path);
	for (size_t i = 0; i < n; i++)
		if (s[i])
			memcpy(buf + i * width, s[i], strlen(s[i]));
	LMS_H5_TRY(h, path, t = str_type(width));
	hsize_t dims[1] = {n};
	st = lms_h5_write(h, path, t, t, 1, dims, NULL, buf);
out:
	lms_h5_close(t);
	free(buf);
	return st;
}

/* FNV-1a 64 of a text, as 16 hex digits: the checksum of scalar string
 * datasets, which cannot be chunked and so cannot carry Fletcher-32. */
static void fnv1a64_hex(const char *s, char out[17])
{
	uint64_t x = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		x = (x ^ *p) * 0x100000001b3ull;
	snprintf(out, 17, "%016llx", (unsigned long long)x);
}

enum lms_status lms_h5_write_text(struct lms_h5 *h, const char *path, const char *s)
{
	enum lms_status st = LMS_OK;
	hid_t t = -1;
	size_t len = s ? strlen(s) : 0;
	const char *data = len ? s : "";
	char sum[17];
	LMS_H5_TRY(h, path, t = str_type(len + 1));
	st = lms_h5_write(h, path, t, t, 0, NULL, NULL, data);
	fnv1a64_hex(data, sum);
	if (st == LMS_OK)
		st = lms_h5_attr_str(h, path, "fnv1a64", sum);
out:
	lms_h5_close(t);
	return st;
}

static enum lms_status write_attr(struct lms_h5 *h, const char *obj, const char *name, hid_t type,
				  const void *v)
{
	enum lms_status st = LMS_OK;
	hid_t space = -1, a = -1;
	char what[512];
	snprintf(what, sizeof what, "attribute '%s' of '%s'", name, obj);
	LMS_H5_TRY(h, what, space = H5Screate(H5S_SCALAR));
	LMS_H5_TRY(h, what,
		   a = H5Acreate_by_name(h->file, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
					 H5P_DEFAULT));
	LMS_H5_TRY(h, what, H5Awrite(a, type, v));
out:
	lms_h5_close(a);
	lms_h5_close(space);
	return st;
}

enum lms_status lms_h5_attr_str(struct lms_h5 *h, const char *obj, const char *name, const char *s)
{
	enum lms_status st = LMS_OK;
	hid_t t = -1;
	size_t len = s ? strlen(s) : 0;
	LMS_H5_TRY(h, obj, t = str_type(len + 1));
	st = write_attr(h, obj, name, t, len ? s : "");
out:
	lms_h5_close(t);
	return st;
}

enum lms_status lms_h5_attr_i64(struct lms_h5 *h, const char *obj, const char *name, int64_t v)
{
	return write_attr(h, obj, name, H5T_NATIVE_INT64, &v);
}

enum lms_status lms_h5_attr_f64(struct lms_h5 *h, const char *obj, const char *name, double v)
{
	return write_attr(h, obj, name, H5T_NATIVE_DOUBLE, &v);
}

/* --- reading ------------------------------------------------------------ */

/* The name to hand to HDF5 for an absolute schema path: itself, or, when
 * the location is a group inside a larger file (a job of a sweep file), the
 * path relative to that group ("/" → "."). */
static const char *loc_path(const struct lms_h5 *h, const char *path)
{
	if (!h->relative || path[0] != '/')
		return path;
	return path[1] ? path + 1 : ".";
}

int lms_h5_exists(struct lms_h5 *h, const char *path)
{
	if (strcmp(path, "/") == 0)
		return 1;
	/* H5Lexists needs every parent to exist: check each prefix. */
	char buf[512];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1;; p++) {
		char c = *p;
		if (c == '/' || c == '\0') {
			*p = '\0';
			htri_t e = H5Lexists(h->file, loc_path(h, buf), H5P_DEFAULT);
			*p = c;
			if (e <= 0) {
				H5Eclear2(H5E_DEFAULT);
				return 0;
			}
		}
		if (c == '\0')
			return 1;
	}
}

static const char *class_name(H5T_class_t c)
{
	switch (c) {
	case H5T_INTEGER:
		return "integer";
	case H5T_FLOAT:
		return "floating-point";
	case H5T_STRING:
		return "string";
	case H5T_COMPOUND:
		return "compound";
	default:
		return "other";
	}
}

/* Opens path as a dataset and checks its class and rank; fills dims. */
static enum lms_status open_checked(struct lms_h5 *h, const char *path, H5T_class_t expect_class,
				    int rank, hsize_t *dims, hid_t *d_out, hid_t *t_out)
{
	enum lms_status st = LMS_OK;
	hid_t d = -1, t = -1, space = -1;
	*d_out = *t_out = -1;
	if (!lms_h5_exists(h, path))
		return lms_fail(
		    LMS_ERR_INPUT,
		    "the file is incomplete or not an lmsens statistics file; re-run the job",
		    "%s: dataset '%s' is missing", h->path, path);
	LMS_H5_TRY(h, path, d = H5Dopen2(h->file, loc_path(h, path), H5P_DEFAULT));
	LMS_H5_TRY(h, path, t = H5Dget_type(d));
	H5T_class_t cls = H5Tget_class(t);
	if (cls != expect_class) {
		st = lms_fail(LMS_ERR_INPUT, "the file was not written by this version of lmsens",
			      "%s: dataset '%s' holds %s values, expected %s", h->path, path,
			      class_name(cls), class_name(expect_class));
		goto out;
	}
	LMS_H5_TRY(h, path, space = H5Dget_space(d));
	int got_rank = H5Sget_simple_extent_ndims(space);
	if (got_rank != rank) {
		st = lms_fail(LMS_ERR_INPUT, "the file was not written by this version of lmsens",
			      "%s: dataset '%s' has %d dimensions, expected %d", h->path, path,
			      got_rank, rank);
		goto out;
	}
	hsize_t got[8] = {0};
	if (rank > 0)
		LMS_H5_TRY(h, path, H5Sget_simple_extent_dims(space, got, NULL));
	for (int i = 0; i < rank; i++) {
		if (dims[i] != LMS_H5_ANY && dims[i] != got[i]) {
			st = lms_fail(
			    LMS_ERR_INPUT, "the file is inconsistent; re-run the job that wrote it",
			    "%s: dataset '%s' has extent %llu in dimension %d, expected %llu",
			    h->path, path, (unsigned long long)got[i], i,
			    (unsigned long long)dims[i]);
			goto out;
		}
		dims[i] = got[i];
	}
	/* A corrupt or hostile file can declare any extent: the element count
	 * must not overflow and must stay within what a statistics file holds,
	 * or the readers' buffers (count × element size) would be wrong. */
	hsize_t count = 1;
	for (int i = 0; i < rank && st == LMS_OK; i++)
		if (dims[i] != 0 && count > LMS_H5_MAX_ELEMS / dims[i])
			st = lms_fail(LMS_ERR_INPUT,
				      "the file is corrupt; re-run the job to rewrite it",
				      "%s: dataset '%s' is larger than %llu elements", h->path,
				      path, (unsigned long long)LMS_H5_MAX_ELEMS);
		else
			count *= dims[i];
	if (st != LMS_OK)
		goto out;
	*d_out = d;
	*t_out = t;
	d = t = -1;
out:
	lms_h5_close(space);
	lms_h5_close(t);
	lms_h5_close(d);
	return st;
}

enum lms_status lms_h5_extent(struct lms_h5 *h, const char *path, H5T_class_t expect_class,
			      int rank, hsize_t *dims)
{
	hid_t d = -1, t = -1;
	LMS_TRY(open_checked(h, path, expect_class, rank, dims, &d, &t));
	lms_h5_close(t);
	lms_h5_close(d);
	return LMS_OK;
}

enum lms_status lms_h5_read(struct lms_h5 *h, const char *path, H5T_class_t expect_class,
			    hid_t mem_type, size_t elem_size, int rank, hsize_t *dims, void **out)
{
	enum lms_status st = LMS_OK;
	hid_t d = -1, t = -1;
	*out = NULL;
	LMS_TRY(open_checked(h, path, expect_class, rank, dims, &d, &t));
	hsize_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	void *buf = calloc(n ? n : 1, elem_size);
	if (!buf) {
		st = lms_fail(LMS_ERR_NOMEM, NULL, "%s: out of memory reading '%s'", h->path, path);
		goto out;
	}
	if (n > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
		free(buf);
		st = lms_h5_fail(h, path, "H5Dread");
		goto out;
	}
	*out = buf;
out:
	lms_h5_close(t);
	lms_h5_close(d);
	return st;
}

static void free_strings(char **s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

/* Reads n strings of dataset d (type t) into new C strings. Handles both
 * fixed-length (what lmsens writes) and variable-length strings (what a
 * user editing the file with h5py might leave). */
static enum lms_status read_string_data(struct lms_h5 *h, const char *path, hid_t d, hid_t t,
					size_t n, char **strs)
{
	enum lms_status st = LMS_OK;
	hid_t mt = -1, space = -1;
	char *fixed = NULL;
	char **vl = NULL;
	htri_t is_vl = H5Tis_variable_str(t);
	LMS_H5_TRY(h, path, is_vl);
	LMS_H5_TRY(h, path, mt = H5Tcopy(H5T_C_S1));
	if (is_vl) {
		LMS_H5_TRY(h, path, H5Tset_size(mt, H5T_VARIABLE));
		vl = calloc(n ? n : 1, sizeof *vl);
		if (!vl)
			goto oom;
		LMS_H5_TRY(h, path, H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl));
		for (size_t i = 0; i < n; i++)
			if (!(strs[i] = strdup(vl[i] ? vl[i] : "")))
				goto oom_reclaim;
		LMS_H5_TRY(h, path, space = H5Dget_space(d));
		H5Dvlen_reclaim(mt, space, H5P_DEFAULT, vl);
		goto out;
	}
	size_t width = H5Tget_size(t);
	LMS_H5_TRY(h, path, H5Tset_size(mt, width));
	LMS_H5_TRY(h, path, H5Tset_strpad(mt, H5T_STR_NULLPAD));
	LMS_H5_TRY(h, path, H5Tset_cset(mt, H5Tget_cset(t)));
	fixed = calloc(n ? n : 1, width);
	if (!fixed)
		goto oom;
	LMS_H5_TRY(h, path, H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed));
	for (size_t i = 0; i < n; i++) {
		const char *src = fixed + i * width;
		size_t len = strnlen(src, width);
		if (!(strs[i] = malloc(len + 1)))
			goto oom;
		memcpy(strs[i], src, len);
		strs[i][len] = '\0';
	}
	goto out;
oom_reclaim:
	if ((space = H5Dget_space(d)) >= 0)
		H5Dvlen_reclaim(mt, space, H5P_DEFAULT, vl);
oom:
	st = lms_fail(LMS_ERR_NOMEM, NULL, "%s: out of memory reading '%s'", h->path, path);
out:
	free(fixed);
	free(vl);
	lms_h5_close(space);
	lms_h5_close(mt);
	return st;
}

enum lms_status lms_h5_read_strings(struct lms_h5 *h, const char *path, hsize_t expect_n, size_t *n,
				    char ***out)
{
	hid_t d = -1, t = -1;
	hsize_t dims[1] = {expect_n};
	*out = NULL;
	*n = 0;
	LMS_TRY(open_checked(h, path, H5T_STRING, 1, dims, &d, &t));
	char **strs = calloc(dims[0] ? dims[0] : 1, sizeof *strs);
	enum lms_status st =
	    strs ? read_string_data(h, path, d, t, (size_t)dims[0], strs)
		 : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory reading '%s'", path);
	lms_h5_close(t);
	lms_h5_close(d);
	if (st != LMS_OK) {
		free_strings(strs, (size_t)dims[0]);
		return st;
	}
	*out = strs;
	*n = (size_t)dims[0];
	return LMS_OK;
}

enum lms_status lms_h5_read_text(struct lms_h5 *h, const char *path, char **out)
{
	hid_t d = -1, t = -1;
	*out = NULL;
	LMS_TRY(open_checked(h, path, H5T_STRING, 0, NULL, &d, &t));
	enum lms_status st = read_string_data(h, path, d, t, 1, out);
	lms_h5_close(t);
	lms_h5_close(d);
	/* Verify the checksum when there is one (a text rewritten with h5py has none). */
	htri_t has = st == LMS_OK
			 ? H5Aexists_by_name(h->file, loc_path(h, path), "fnv1a64", H5P_DEFAULT)
			 : 0;
	H5Eclear2(H5E_DEFAULT);
	if (has > 0) {
		char *want = NULL, got[17];
		st = lms_h5_read_attr_str(h, path, "fnv1a64", &want);
		fnv1a64_hex(*out, got);
		if (st == LMS_OK && strcmp(want, got) != 0)
			st = lms_fail(
			    LMS_ERR_INPUT, "the file is corrupt; re-run the job to rewrite it",
			    "%s: dataset '%s' does not match its checksum (fnv1a64 %s, stored %s)",
			    h->path, path, got, want);
		free(want);
	}
	if (st != LMS_OK) {
		free(*out);
		*out = NULL;
	}
	return st;
}

/* Opens attribute `name` of `obj`, checking that it exists and its class. */
static enum lms_status open_attr(struct lms_h5 *h, const char *obj, const char *name,
				 H5T_class_t cls, hid_t *a_out, hid_t *t_out, char *what,
				 size_t what_cap)
{
	enum lms_status st = LMS_OK;
	hid_t a = -1, t = -1;
	snprintf(what, what_cap, "attribute '%s' of '%s'", name, obj);
	*a_out = *t_out = -1;
	htri_t e = lms_h5_exists(h, obj)
		       ? H5Aexists_by_name(h->file, loc_path(h, obj), name, H5P_DEFAULT)
		       : 0;
	if (e <= 0) {
		H5Eclear2(H5E_DEFAULT);
		return lms_fail(
		    LMS_ERR_INPUT,
		    "the file is incomplete or not an lmsens statistics file; re-run the job",
		    "%s: %s is missing", h->path, what);
	}
	LMS_H5_TRY(h, what,
		   a = H5Aopen_by_name(h->file, loc_path(h, obj), name, H5P_DEFAULT, H5P_DEFAULT));
	LMS_H5_TRY(h, what, t = H5Aget_type(a));
	if (H5Tget_class(t) != cls) {
		st = lms_fail(LMS_ERR_INPUT, "the file was not written by this version of lmsens",
			      "%s: %s holds %s values, expected %s", h->path, what,
			      class_name(H5Tget_class(t)), class_name(cls));
		goto out;
	}
	*a_out = a;
	*t_out = t;
	a = t = -1;
out:
	lms_h5_close(t);
	lms_h5_close(a);
	return st;
}

enum lms_status lms_h5_read_attr_str(struct lms_h5 *h, const char *obj, const char *name,
				     char **out)
{
	enum lms_status st = LMS_OK;
	hid_t a = -1, t = -1, mt = -1;
	char what[512];
	char *buf = NULL;
	*out = NULL;
	LMS_TRY(open_attr(h, obj, name, H5T_STRING, &a, &t, what, sizeof what));
	htri_t is_vl = H5Tis_variable_str(t);
	LMS_H5_TRY(h, what, is_vl);
	if (is_vl) {
		st = lms_fail(LMS_ERR_INPUT, "the file was not written by this version of lmsens",
			      "%s: %s is a variable-length string; lmsens writes fixed-length ones",
			      h->path, what);
		goto out;
	}
	size_t width = H5Tget_size(t);
	/* One more byte than the file type, so a NUL-padded string that fills its
	 * whole width (written by another tool) keeps its last character. */
	LMS_H5_TRY(h, what, mt = str_type(width + 1));
	LMS_H5_TRY(h, what, H5Tset_cset(mt, H5Tget_cset(t)));
	buf = calloc(width + 2, 1);
	if (!buf) {
		st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory reading %s", what);
		goto out;
	}
	LMS_H5_TRY(h, what, H5Aread(a, mt, buf));
	*out = buf;
	buf = NULL;
out:
	free(buf);
	lms_h5_close(mt);
	lms_h5_close(t);
	lms_h5_close(a);
	return st;
}

static enum lms_status read_attr_num(struct lms_h5 *h, const char *obj, const char *name,
				     H5T_class_t cls, hid_t mem_type, void *out)
{
	enum lms_status st = LMS_OK;
	hid_t a = -1, t = -1, space = -1;
	char what[512];
	LMS_TRY(open_attr(h, obj, name, cls, &a, &t, what, sizeof what));
	LMS_H5_TRY(h, what, space = H5Aget_space(a));
	if (H5Sget_simple_extent_npoints(space) != 1) {
		st = lms_fail(LMS_ERR_INPUT, "the file was not written by this version of lmsens",
			      "%s: %s is not a single value", h->path, what);
		goto out;
	}
	LMS_H5_TRY(h, what, H5Aread(a, mem_type, out));
out:
	lms_h5_close(space);
	lms_h5_close(t);
	lms_h5_close(a);
	return st;
}

enum lms_status lms_h5_read_attr_i64(struct lms_h5 *h, const char *obj, const char *name,
				     int64_t *out)
{
	return read_attr_num(h, obj, name, H5T_INTEGER, H5T_NATIVE_INT64, out);
}

enum lms_status lms_h5_read_attr_f64(struct lms_h5 *h, const char *obj, const char *name,
				     double *out)
{
	return read_attr_num(h, obj, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, out);
}
