/* h5tables.c — the convenience tables /groups/table and /modules/table: one
 * compound dataset per table with one row per group / module, so that
 *     pandas.DataFrame(h5py.File(path)["groups/table"][()])
 * gives the whole per-layer table in one call (reference
 * config-launch-storage.md §4.2).
 *
 * Invariant: the tables are DERIVED from the column datasets written by
 * h5stats_write.c (which stay the source of truth and the only thing the
 * reader uses); they hold the same values. Strings are fixed-length, so
 * PyTables and pandas can read them too.
 *
 * Fields: groups: name, layer, n_params, n_members, disabled, score_<format>
 * per non-NONE format (raw score), chosen (format name; only after the
 * search). modules: name, kind, layer, in_features, out_features, group,
 * act_amax, weight_amax, score_<format> (when modules have scores). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoquant/result.h"
#include "io/h5util.h"

#define MAX_COLS 80 /* 8 fixed columns + up to 64 formats (LMS_SEARCH_MAX_CHOICES) */

struct table {
	size_t n_cols, row_size;
	char names[MAX_COLS][96];
	hid_t types[MAX_COLS]; /* owned when owned[i] */
	int owned[MAX_COLS];
	size_t offsets[MAX_COLS];
};

static size_t max_len(const char *const *s, size_t stride, size_t n)
{
	size_t w = 1;
	for (size_t i = 0; i < n; i++) {
		const char *x = *(const char *const *)((const char *)s + i * stride);
		if (x && strlen(x) + 1 > w)
			w = strlen(x) + 1;
	}
	return w;
}

/* Adds a column; a string column when str_width > 0. Returns -1 on failure. */
static int add_col(struct table *t, const char *name, hid_t type, size_t str_width)
{
	if (t->n_cols == MAX_COLS)
		return -1;
	size_t i = t->n_cols;
	snprintf(t->names[i], sizeof t->names[i], "%s", name);
	if (str_width) {
		hid_t s = H5Tcopy(H5T_C_S1);
		if (s < 0 || H5Tset_size(s, str_width) < 0 ||
		    H5Tset_strpad(s, H5T_STR_NULLTERM) < 0 || H5Tset_cset(s, H5T_CSET_UTF8) < 0)
			return -1;
		t->types[i] = s;
		t->owned[i] = 1;
	} else {
		t->types[i] = type;
		t->owned[i] = 0;
	}
	t->offsets[i] = t->row_size;
	t->row_size += H5Tget_size(t->types[i]);
	t->n_cols++;
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->owned[i])
			H5Tclose(t->types[i]);
	t->n_cols = 0;
}

static void put(const struct table *t, char *row, size_t col, const void *v, size_t n)
{
	memcpy(row + t->offsets[col], v, n);
}

static void put_str(const struct table *t, char *row, size_t col, const char *s)
{
	size_t w = H5Tget_size(t->types[col]);
	if (s)
		strncpy(row + t->offsets[col], s, w - 1); /* the buffer is zeroed: NUL-terminated */
}

static enum lms_status write_table(struct lms_h5 *h, const char *path, struct table *t, size_t n,
				   const char *rows)
{
	enum lms_status st = LMS_OK;
	hid_t ct = -1;
	LMS_H5_TRY(h, path, ct = H5Tcreate(H5T_COMPOUND, t->row_size));
	for (size_t i = 0; i < t->n_cols; i++)
		LMS_H5_TRY(h, path, H5Tinsert(ct, t->names[i], t->offsets[i], t->types[i]));
	hsize_t dims[1] = {n};
	st = lms_h5_write(h, path, ct, ct, 1, dims, NULL, rows);
out:
	lms_h5_close(ct);
	return st;
}

static enum lms_status groups_table(struct lms_h5 *h, const struct lms_aq_result *r)
{
	struct table t = {0};
	size_t ng = r->n_groups, nf = r->n_formats;
	int bad =
	    add_col(&t, "name", 0,
		    max_len((const char *const *)&r->groups[0].name, sizeof r->groups[0], ng));
	bad |= add_col(&t, "layer", H5T_NATIVE_INT32, 0);
	bad |= add_col(&t, "n_params", H5T_NATIVE_INT64, 0);
	bad |= add_col(&t, "n_members", H5T_NATIVE_INT64, 0);
	bad |= add_col(&t, "disabled", H5T_NATIVE_UINT8, 0);
	for (size_t f = 0; !bad && f + 1 < nf; f++) {
		char name[96];
		snprintf(name, sizeof name, "score_%s", r->formats[f].name);
		bad |= add_col(&t, name, H5T_NATIVE_DOUBLE, 0);
	}
	if (r->has_search && !bad)
		bad |= add_col(
		    &t, "chosen", 0,
		    max_len((const char *const *)&r->formats[0].name, sizeof r->formats[0], nf));
	char *rows = bad ? NULL : calloc(ng ? ng : 1, t.row_size);
	enum lms_status st = LMS_OK;
	if (!rows) {
		table_free(&t);
		return bad ? lms_fail(LMS_ERR_INTERNAL, NULL,
				      "%s: cannot build /groups/table (%zu formats)", h->path, nf)
			   : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing %s", h->path);
	}
	for (size_t g = 0; g < ng; g++) {
		const struct lms_aq_group *gr = &r->groups[g];
		char *row = rows + g * t.row_size;
		int32_t layer = r->modules[gr->members[0]].layer;
		int64_t nm = (int64_t)gr->n_members;
		uint8_t dis = gr->disabled != 0;
		size_t c = 0;
		put_str(&t, row, c++, gr->name);
		put(&t, row, c++, &layer, sizeof layer);
		put(&t, row, c++, &gr->n_params, sizeof gr->n_params);
		put(&t, row, c++, &nm, sizeof nm);
		put(&t, row, c++, &dis, sizeof dis);
		for (size_t f = 0; f + 1 < nf; f++)
			put(&t, row, c++, &gr->scores[f], sizeof(double));
		if (r->has_search)
			put_str(&t, row, c++, r->formats[gr->chosen].name);
	}
	st = write_table(h, "/groups/table", &t, ng, rows);
	free(rows);
	table_free(&t);
	return st;
}

static enum lms_status modules_table(struct lms_h5 *h, const struct lms_aq_result *r)
{
	struct table t = {0};
	size_t nm = r->n_modules, nf = r->n_formats;
	int scores = nm > 0;
	for (size_t m = 0; m < nm; m++)
		scores &= r->modules[m].scores != NULL;
	int bad =
	    add_col(&t, "name", 0,
		    max_len((const char *const *)&r->modules[0].name, sizeof r->modules[0], nm));
	bad |= add_col(&t, "kind", 0,
		       max_len((const char *const *)&r->modules[0].kind, sizeof r->modules[0], nm));
	bad |= add_col(&t, "layer", H5T_NATIVE_INT32, 0);
	bad |= add_col(&t, "in_features", H5T_NATIVE_INT64, 0);
	bad |= add_col(&t, "out_features", H5T_NATIVE_INT64, 0);
	bad |= add_col(&t, "group", H5T_NATIVE_INT64, 0);
	bad |= add_col(&t, "act_amax", H5T_NATIVE_FLOAT, 0);
	bad |= add_col(&t, "weight_amax", H5T_NATIVE_FLOAT, 0);
	for (size_t f = 0; scores && !bad && f + 1 < nf; f++) {
		char name[96];
		snprintf(name, sizeof name, "score_%s", r->formats[f].name);
		bad |= add_col(&t, name, H5T_NATIVE_DOUBLE, 0);
	}
	char *rows = bad ? NULL : calloc(nm ? nm : 1, t.row_size);
	if (!rows) {
		table_free(&t);
		return bad ? lms_fail(LMS_ERR_INTERNAL, NULL,
				      "%s: cannot build /modules/table (%zu formats)", h->path, nf)
			   : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing %s", h->path);
	}
	for (size_t m = 0; m < nm; m++) {
		const struct lms_aq_module *mo = &r->modules[m];
		char *row = rows + m * t.row_size;
		int64_t group = (int64_t)mo->group;
		size_t c = 0;
		put_str(&t, row, c++, mo->name);
		put_str(&t, row, c++, mo->kind);
		put(&t, row, c++, &mo->layer, sizeof mo->layer);
		put(&t, row, c++, &mo->in_features, sizeof mo->in_features);
		put(&t, row, c++, &mo->out_features, sizeof mo->out_features);
		put(&t, row, c++, &group, sizeof group);
		put(&t, row, c++, &mo->act_amax, sizeof mo->act_amax);
		put(&t, row, c++, &mo->weight_amax, sizeof mo->weight_amax);
		for (size_t f = 0; scores && f + 1 < nf; f++)
			put(&t, row, c++, &mo->scores[f], sizeof(double));
	}
	enum lms_status st = write_table(h, "/modules/table", &t, nm, rows);
	free(rows);
	table_free(&t);
	return st;
}

enum lms_status lms_h5_write_tables(struct lms_h5 *h, const struct lms_aq_result *r)
{
	LMS_TRY(groups_table(h, r));
	return modules_table(h, r);
}
