/* fuzz_safetensors.c — libFuzzer target for the safetensors reader
 * (lms_st_open): any file must open or fail with a message; an opened file
 * must satisfy the header's promises — every tensor lies inside the file,
 * nbytes = numel × element size, names are sorted and findable — and every
 * data byte must be readable (a mapping beyond the file would SIGBUS here). */
#include "fuzz_util.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_file file;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!file.path[0])
		fuzz_file_init(&file, "fuzz.safetensors");
	fuzz_file_set(&file, data, size);
	struct lms_st_file *f = NULL;
	enum lms_status st = lms_st_open(file.path, &f);
	fuzz_check_error(st);
	if (st != LMS_OK) {
		if (f)
			abort(); /* *out is NULL on failure */
		return 0;
	}
	uint64_t total = 0;
	unsigned sum = 0;
	for (size_t i = 0; i < lms_st_count(f); i++) {
		const struct lms_st_tensor *t = lms_st_get(f, i);
		uint64_t numel = 1;
		for (int d = 0; d < t->ndim; d++)
			numel *= (uint64_t)t->shape[d];
		if (t->ndim < 0 || t->ndim > LMS_ST_MAX_DIMS || numel != t->numel ||
		    t->nbytes != t->numel * lms_dtype_size(t->dtype) || t->offset > size ||
		    t->nbytes > size - t->offset || (const uint8_t *)t->data == NULL)
			abort();
		if (i > 0 && strcmp(lms_st_get(f, i - 1)->name, t->name) >= 0)
			abort(); /* sorted, unique */
		if (lms_st_find(f, t->name) != t)
			abort();
		if (memcmp(t->data, data + t->offset, t->nbytes) != 0)
			abort(); /* data points at the file's bytes */
		for (uint64_t b = 0; b < t->nbytes; b++)
			sum += ((const uint8_t *)t->data)[b];
		total += t->nbytes;
	}
	if (total != lms_st_data_bytes(f))
		abort();
	(void)sum;
	lms_st_close(f);
	return 0;
}
