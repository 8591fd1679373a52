/* h5dump.h — the debug dump file (<job dir>/debug_dump.h5, runner.debug_dump):
 * a flat list of named bf16 tensors and a few string/integer attributes,
 * written atomically. The schema (which tensors, their names) belongs to
 * the caller (src/autoquant/debug_dump.c) and is documented in
 * docs/outputs.md; this file only stores.
 *
 * Storage: every tensor is a 2-D dataset of uint16 (the bf16 bit patterns,
 * exact) with the attribute dtype = "bfloat16"; numpy reads it as
 * (u16.astype(uint32) << 16).view(float32). Parent groups are created as
 * needed. Invariant: the file appears under its final name only complete
 * ("<path>.tmp.<pid>" is written, closed and renamed; removed on failure).
 * Does not: read dumps back (tests use h5py). */
#ifndef LMS_IO_H5DUMP_H
#define LMS_IO_H5DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

struct lms_h5dump_tensor {
	const char *path;     /* absolute dataset path, e.g. "/steps/0/X"; borrowed */
	const uint16_t *data; /* (rows, cols) bf16 bits, row-major; borrowed */
	int64_t rows, cols;
};

struct lms_h5dump_attr {
	const char *obj;  /* "/" or a group/dataset path written by this call */
	const char *name;
	const char *str;  /* string value, or NULL for the integer */
	int64_t i64;
};

/* Writes the tensors (in order; groups made from their paths) and then the
 * attributes to path, atomically. Everything is borrowed for the call.
 * LMS_ERR_IO naming the file and object on failure. */
LMS_NODISCARD enum lms_status lms_h5dump_write(const char *path,
					       const struct lms_h5dump_tensor *t, size_t n_t,
					       const struct lms_h5dump_attr *a, size_t n_a);

#endif
