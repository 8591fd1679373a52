/* h5dump.c — writer of the debug dump file (h5dump.h): bf16 tensors as
 * uint16 datasets with dtype = "bfloat16", string and integer attributes,
 * written to "<path>.tmp.<pid>" and renamed into place.
 *
 * Invariants: no partial file under the final name (the temporary is
 * removed on any failure); no object timestamps (h5util), so two dumps of
 * the same tensors are byte-identical.
 * Not here: which tensors are dumped (src/autoquant/debug_dump.c). */
#include "io/h5dump.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"

/* Creates every missing group on the way to the dataset `path`. */
static enum lms_status make_parents(struct lms_h5 *h, const char *path)
{
	char buf[512];
	if (strlen(path) >= sizeof buf)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "%s: object path too long: %s", h->path, path);
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (!lms_h5_exists(h, buf))
			LMS_TRY(lms_h5_create_group(h, buf));
		*p = '/';
	}
	return LMS_OK;
}

static enum lms_status write_all(struct lms_h5 *h, const struct lms_h5dump_tensor *t, size_t n_t,
				 const struct lms_h5dump_attr *a, size_t n_a)
{
	for (size_t i = 0; i < n_t; i++) {
		hsize_t dims[2] = {(hsize_t)t[i].rows, (hsize_t)t[i].cols};
		LMS_TRY(make_parents(h, t[i].path));
		LMS_TRY(lms_h5_write(h, t[i].path, H5T_STD_U16LE, H5T_NATIVE_UINT16, 2, dims, NULL,
				     t[i].data));
		LMS_TRY(lms_h5_attr_str(h, t[i].path, "dtype", "bfloat16"));
	}
	for (size_t i = 0; i < n_a; i++) {
		if (a[i].str)
			LMS_TRY(lms_h5_attr_str(h, a[i].obj, a[i].name, a[i].str));
		else
			LMS_TRY(lms_h5_attr_i64(h, a[i].obj, a[i].name, a[i].i64));
	}
	return LMS_OK;
}

enum lms_status lms_h5dump_write(const char *path, const struct lms_h5dump_tensor *t, size_t n_t,
				 const struct lms_h5dump_attr *a, size_t n_a)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
		return lms_fail(LMS_ERR_IO, "use a shorter output directory",
				"debug dump path too long: %s", path);
	lms_h5_quiet();
	lms_h5_lock();
	struct lms_h5 h = {.path = path, .file = -1, .writing = 1};
	enum lms_status st = LMS_OK;
	hid_t fcpl = -1;
	LMS_H5_TRY(&h, "file creation properties", fcpl = H5Pcreate(H5P_FILE_CREATE));
	LMS_H5_TRY(&h, "file creation properties", H5Pset_obj_track_times(fcpl, 0));
	h.file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
	if (h.file < 0) {
		st = lms_h5_fail(&h, "creating the file", "H5Fcreate");
		goto out;
	}
	st = write_all(&h, t, n_t, a, n_a);
	if (H5Fclose(h.file) < 0 && st == LMS_OK)
		st = lms_h5_fail(&h, "the file", "H5Fclose");
	h.file = -1;
	if (st == LMS_OK && rename(tmp, path) != 0)
		st = lms_fail(LMS_ERR_IO, "check the output directory's permissions and free space",
			      "cannot rename %s to %s", tmp, path);
out:
	lms_h5_close(fcpl);
	if (st != LMS_OK)
		(void)unlink(tmp);
	lms_h5_unlock();
	return st;
}
