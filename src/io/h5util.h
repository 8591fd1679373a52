/* h5util.h — small HDF5 helpers shared by the statistics writer and reader
 * (internal to src/io/, not a public API).
 *
 * Every object is addressed by its absolute path inside the file
 * ("/groups/name"), so error messages can name it. Every HDF5 call is
 * checked (a negative return is failure); HDF5's own automatic error printing
 * is switched off (lms_h5_quiet) and its innermost message is folded into
 * ours instead: "<file>: dataset '/groups/name': 'H5Dread(...)' failed:
 * <HDF5 description>".
 *
 * Writing: fixed-length, NUL-terminated UTF-8 strings sized to the longest
 * element + 1; no object timestamps (H5Pset_obj_track_times 0), so two writes of
 * the same data are byte-identical. Reading: each dataset's class, rank and
 * shape are checked against what the caller expects before any data is read.
 *
 * Does not: know the schema (h5stats_write.c / h5stats_read.c do). */
#ifndef LMS_IO_H5UTIL_H
#define LMS_IO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Any extent, in expected dims passed to the readers. */
#define LMS_H5_ANY ((hsize_t)-1)
/* Largest dataset (in elements) a reader accepts: 2^28, about 100x the
 * traces of a 4B model's longest run; a larger extent is a corrupt file. */
#define LMS_H5_MAX_ELEMS ((hsize_t)1 << 28)

struct lms_h5 {
	const char *path; /* for messages; borrowed */
	hid_t file;	  /* the file, or (relative = 1) a group standing for the schema root */
	int writing;	  /* failures are LMS_ERR_IO when writing, LMS_ERR_INPUT when reading */
	int relative;	  /* readers: resolve "/x/y" as "x/y" below `file` (a sweep's /jobs/<n>) */
};

/* Turns off HDF5's automatic error stack printing (idempotent). */
void lms_h5_quiet(void);

/* Serialises whole file operations (open … close) when the HDF5 library was
 * built without thread safety (H5_HAVE_THREADSAFE unset; a thread-safe build
 * locks every call itself and these are no-ops). Rank 0's coordinator thread
 * and its worker may both touch statistics files. Not recursive. */
void lms_h5_lock(void);
void lms_h5_unlock(void);

/* Records a failure of `call` on `object` (a path or description) with the
 * innermost HDF5 error message, clears the HDF5 error stack, and returns the
 * status (LMS_ERR_IO when writing, LMS_ERR_INPUT when reading). */
enum lms_status lms_h5_fail(const struct lms_h5 *h, const char *object, const char *call);

/* Checked call inside a function with `enum lms_status st` and a label `out`. */
#define LMS_H5_TRY(h, object, call)                                                                \
	do {                                                                                       \
		if ((long long)(call) < 0) {                                                       \
			st = lms_h5_fail((h), (object), #call);                                    \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

/* Closes an id of any kind when it is valid (for cleanup paths). */
void lms_h5_close(hid_t id);

/* --- writing ------------------------------------------------------------ */

LMS_NODISCARD enum lms_status lms_h5_create_group(struct lms_h5 *h, const char *path);

/* Creates and writes a dataset of `rank` dims. file_type is the stored type
 * (e.g. H5T_IEEE_F64LE), mem_type the type of `data`. Non-empty arrays are
 * chunked with a Fletcher-32 checksum (one chunk unless `chunk` is given);
 * `chunk` (rank dims) also adds shuffle + deflate(4). */
LMS_NODISCARD enum lms_status lms_h5_write(struct lms_h5 *h, const char *path, hid_t file_type,
					   hid_t mem_type, int rank, const hsize_t *dims,
					   const hsize_t *chunk, const void *data);
/* 1-D fixed-length string dataset; NULL entries are written as "". */
LMS_NODISCARD enum lms_status lms_h5_write_strings(struct lms_h5 *h, const char *path,
						   const char *const *s, size_t n);
/* Scalar fixed-length string dataset (for long text such as the config),
 * with its FNV-1a 64 checksum in the attribute "fnv1a64" (16 hex digits). */
LMS_NODISCARD enum lms_status lms_h5_write_text(struct lms_h5 *h, const char *path, const char *s);
LMS_NODISCARD enum lms_status lms_h5_attr_str(struct lms_h5 *h, const char *obj, const char *name,
					      const char *s);
LMS_NODISCARD enum lms_status lms_h5_attr_i64(struct lms_h5 *h, const char *obj, const char *name,
					      int64_t v);
LMS_NODISCARD enum lms_status lms_h5_attr_f64(struct lms_h5 *h, const char *obj, const char *name,
					      double v);

/* Writes the derived compound tables /groups/table and /modules/table
 * (h5tables.c). r is borrowed and already validated. */
struct lms_aq_result;
LMS_NODISCARD enum lms_status lms_h5_write_tables(struct lms_h5 *h, const struct lms_aq_result *r);

/* --- reading ------------------------------------------------------------ */

/* 1 if the link exists (a missing parent group counts as missing). */
int lms_h5_exists(struct lms_h5 *h, const char *path);

/* Reads a numeric dataset into a new buffer (*out, caller frees; non-NULL
 * even for zero elements). expect_class is H5T_INTEGER or H5T_FLOAT; dims
 * holds the expected extents on input (LMS_H5_ANY accepts any) and the
 * actual ones on output. elem_size is sizeof one mem_type element. */
LMS_NODISCARD enum lms_status lms_h5_read(struct lms_h5 *h, const char *path,
					  H5T_class_t expect_class, hid_t mem_type,
					  size_t elem_size, int rank, hsize_t *dims, void **out);
/* Checks class and rank of a dataset and returns its extents in dims (which
 * hold expected extents or LMS_H5_ANY on input) without reading data. */
LMS_NODISCARD enum lms_status lms_h5_extent(struct lms_h5 *h, const char *path,
					    H5T_class_t expect_class, int rank, hsize_t *dims);
/* 1-D string dataset → *n new strings (array and strings: caller frees). If
 * expect_n != LMS_H5_ANY the length must match. */
LMS_NODISCARD enum lms_status lms_h5_read_strings(struct lms_h5 *h, const char *path,
						  hsize_t expect_n, size_t *n, char ***out);
/* Scalar string dataset → new NUL-terminated string (caller frees). When
 * the dataset has an "fnv1a64" attribute the text must match it. */
LMS_NODISCARD enum lms_status lms_h5_read_text(struct lms_h5 *h, const char *path, char **out);
LMS_NODISCARD enum lms_status lms_h5_read_attr_str(struct lms_h5 *h, const char *obj,
						   const char *name, char **out);
LMS_NODISCARD enum lms_status lms_h5_read_attr_i64(struct lms_h5 *h, const char *obj,
						   const char *name, int64_t *out);
LMS_NODISCARD enum lms_status lms_h5_read_attr_f64(struct lms_h5 *h, const char *obj,
						   const char *name, double *out);

#endif
