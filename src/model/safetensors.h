/* safetensors.h — memory-mapped, validated reading of safetensors files and
 * of sharded checkpoints (model.safetensors.index.json + shards).
 *
 * A .safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON mapping tensor names to {dtype, shape, data_offsets}, then the data.
 * lms_st_open maps the file read-only and validates everything before it
 * returns: N within the file and at most LMS_ST_MAX_HEADER bytes, the JSON
 * well formed with unique names, every dtype known, every shape sane, and
 * every data_offsets pair in range, non-overlapping with the others and
 * exactly shape × element size long. After a successful open every
 * lms_st_tensor.data points at nbytes readable bytes.
 *
 * Invariants: tensors are kept sorted by name (binary search); pointers into
 * the mapping are NOT aligned to the element size (the header length is
 * arbitrary), so readers copy or use memcpy.
 * Not done here: dtype conversion and any knowledge of model layouts
 * (src/model/model.c does both). Writing lives in src/model/mkmodel.c. */
#ifndef LMS_MODEL_SAFETENSORS_H
#define LMS_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define LMS_ST_MAX_HEADER (100u * 1000u * 1000u) /* bytes of JSON header */
#define LMS_ST_MAX_DIMS 8
#define LMS_ST_MAX_INDEX (64u * 1024u * 1024u) /* bytes of index JSON */

enum lms_dtype {
	LMS_DTYPE_BF16 = 0,
	LMS_DTYPE_F16,
	LMS_DTYPE_F32,
	LMS_DTYPE_F64,
	LMS_DTYPE_F8_E4M3,
	LMS_DTYPE_F8_E5M2,
	LMS_DTYPE_I8,
	LMS_DTYPE_U8,
	LMS_DTYPE_I16,
	LMS_DTYPE_I32,
	LMS_DTYPE_I64,
	LMS_DTYPE_BOOL,
	LMS_DTYPE_COUNT
};

/* The safetensors spelling ("BF16", "F8_E4M3", ...). Never NULL. */
const char *lms_dtype_name(enum lms_dtype dt);
/* Bytes per element. */
size_t lms_dtype_size(enum lms_dtype dt);
/* 0 and *out set when s is a known dtype name, else -1. */
int lms_dtype_parse(const char *s, enum lms_dtype *out);

struct lms_st_tensor {
	const char *name; /* borrowed; valid while the file/set is open */
	enum lms_dtype dtype;
	int ndim; /* 0..LMS_ST_MAX_DIMS; 0 is a scalar */
	int64_t shape[LMS_ST_MAX_DIMS];
	uint64_t numel;	  /* product of shape (1 for a scalar) */
	uint64_t nbytes;  /* numel × element size */
	uint64_t offset;  /* absolute file offset of the first data byte */
	const void *data; /* borrowed, into the read-only mapping; unaligned */
	int shard;	  /* index of the file in its set (0 for a lone file) */
};

/* ---- one file ------------------------------------------------------------ */
struct lms_st_file;

/* Maps and validates path. *out is new (free with lms_st_close) on success,
 * NULL on failure, with the error naming the file and the tensor. */
LMS_NODISCARD enum lms_status lms_st_open(const char *path, struct lms_st_file **out);
void lms_st_close(struct lms_st_file *f); /* NULL-safe */

const char *lms_st_path(const struct lms_st_file *f);
size_t lms_st_count(const struct lms_st_file *f);
/* i-th tensor in name order; borrowed. */
const struct lms_st_tensor *lms_st_get(const struct lms_st_file *f, size_t i);
/* NULL when absent; borrowed. */
const struct lms_st_tensor *lms_st_find(const struct lms_st_file *f, const char *name);
/* Sum of nbytes over the file's tensors. */
uint64_t lms_st_data_bytes(const struct lms_st_file *f);

/* ---- a checkpoint directory ---------------------------------------------- */
struct lms_st_set;

/* Opens dir/model.safetensors.index.json and every shard it names, or
 * dir/model.safetensors when there is no index. Checks that every mapped
 * shard exists, every mapped tensor is in the shard the index names, and
 * no shard holds a tensor the index does not list. *out is new (free with
 * lms_st_set_free) on success. */
LMS_NODISCARD enum lms_status lms_st_set_open(const char *dir, struct lms_st_set **out);
void lms_st_set_free(struct lms_st_set *s); /* NULL-safe */

size_t lms_st_set_shard_count(const struct lms_st_set *s);
const struct lms_st_file *lms_st_set_shard(const struct lms_st_set *s, size_t i);
/* 1 when the set came from an index file. */
int lms_st_set_is_indexed(const struct lms_st_set *s);
size_t lms_st_set_count(const struct lms_st_set *s);
/* i-th tensor over all shards, in name order; borrowed. */
const struct lms_st_tensor *lms_st_set_get(const struct lms_st_set *s, size_t i);
const struct lms_st_tensor *lms_st_set_find(const struct lms_st_set *s, const char *name);
uint64_t lms_st_set_data_bytes(const struct lms_st_set *s);

#endif
