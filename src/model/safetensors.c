/* safetensors.c — mmap + header validation of .safetensors files, and
 * sharded checkpoints through model.safetensors.index.json.
 *
 * Every check happens at open time so that later code can trust a tensor's
 * data pointer and byte count. Messages name the file and the tensor; the
 * validation order is: header length → JSON → per-tensor fields → offsets
 * against the data size → overlaps (after sorting by begin offset).
 * Not done here: dtype conversion, model layout (src/model/model.c). */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"

#define MAX_DIM_VALUE (1LL << 40)
#define MAX_NUMEL (1ULL << 56)
#define HINT_CORRUPT "the file is corrupt or not a safetensors file; re-download or re-create it"

static const struct {
	const char *name;
	size_t size;
} g_dtypes[LMS_DTYPE_COUNT] = {
    [LMS_DTYPE_BF16] = {"BF16", 2},	  [LMS_DTYPE_F16] = {"F16", 2},
    [LMS_DTYPE_F32] = {"F32", 4},	  [LMS_DTYPE_F64] = {"F64", 8},
    [LMS_DTYPE_F8_E4M3] = {"F8_E4M3", 1}, [LMS_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [LMS_DTYPE_I8] = {"I8", 1},		  [LMS_DTYPE_U8] = {"U8", 1},
    [LMS_DTYPE_I16] = {"I16", 2},	  [LMS_DTYPE_I32] = {"I32", 4},
    [LMS_DTYPE_I64] = {"I64", 8},	  [LMS_DTYPE_BOOL] = {"BOOL", 1},
};

const char *lms_dtype_name(enum lms_dtype dt)
{
	return (int)dt >= 0 && dt < LMS_DTYPE_COUNT ? g_dtypes[dt].name : "?";
}

size_t lms_dtype_size(enum lms_dtype dt)
{
	return (int)dt >= 0 && dt < LMS_DTYPE_COUNT ? g_dtypes[dt].size : 0;
}

int lms_dtype_parse(const char *s, enum lms_dtype *out)
{
	for (int i = 0; i < LMS_DTYPE_COUNT; i++)
		if (strcmp(s, g_dtypes[i].name) == 0) {
			*out = (enum lms_dtype)i;
			return 0;
		}
	return -1;
}

struct lms_st_file {
	char *path;
	const unsigned char *map; /* whole file, read-only */
	size_t map_len;
	uint64_t data_start;	       /* 8 + header length */
	struct lms_st_tensor *tensors; /* sorted by name */
	char *names;		       /* all names, NUL-separated */
	size_t count;
	uint64_t data_bytes;
};

static int cmp_by_name(const void *a, const void *b)
{
	return strcmp(((const struct lms_st_tensor *)a)->name,
		      ((const struct lms_st_tensor *)b)->name);
}

static int cmp_ptr_by_begin(const void *a, const void *b)
{
	const struct lms_st_tensor *x = *(const struct lms_st_tensor *const *)a;
	const struct lms_st_tensor *y = *(const struct lms_st_tensor *const *)b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Reads a JSON integer that must be within [0, max]. */
static int get_uint(const json_t *v, long long max, uint64_t *out)
{
	if (!json_is_integer(v))
		return -1;
	json_int_t x = json_integer_value(v);
	if (x < 0 || x > max)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

/* Parses one header entry into t (name already set). */
static enum lms_status parse_entry(const char *path, const char *name, const json_t *e,
				   uint64_t data_len, struct lms_st_tensor *t)
{
	if (!json_is_object(e))
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				"%s: tensor '%s': header entry is not a JSON object", path, name);
	const json_t *jd = json_object_get(e, "dtype");
	const json_t *js = json_object_get(e, "shape");
	const json_t *jo = json_object_get(e, "data_offsets");
	if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				"%s: tensor '%s': header entry needs \"dtype\" (string), \"shape\" "
				"(array) and \"data_offsets\" (array)",
				path, name);
	if (lms_dtype_parse(json_string_value(jd), &t->dtype) != 0)
		return lms_fail(
		    LMS_ERR_INPUT,
		    "lmsens reads BF16, F16, F32, F64, F8_E4M3, F8_E5M2 and integer dtypes",
		    "%s: tensor '%s': unknown dtype '%s'", path, name, json_string_value(jd));
	size_t nd = json_array_size(js);
	if (nd > LMS_ST_MAX_DIMS)
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				"%s: tensor '%s': %zu dimensions (max %d)", path, name, nd,
				LMS_ST_MAX_DIMS);
	t->ndim = (int)nd;
	uint64_t numel = 1;
	for (size_t i = 0; i < nd; i++) {
		uint64_t d;
		if (get_uint(json_array_get(js, i), MAX_DIM_VALUE, &d) != 0)
			return lms_fail(
			    LMS_ERR_INPUT, HINT_CORRUPT,
			    "%s: tensor '%s': shape[%zu] is not an integer in [0, 2^40]", path,
			    name, i);
		t->shape[i] = (int64_t)d;
		if (d && numel > MAX_NUMEL / d)
			return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
					"%s: tensor '%s': shape has too many elements", path, name);
		numel *= d;
	}
	t->numel = numel;
	t->nbytes = numel * lms_dtype_size(t->dtype);
	uint64_t b, end;
	if (json_array_size(jo) != 2 || get_uint(json_array_get(jo, 0), LLONG_MAX, &b) != 0 ||
	    get_uint(json_array_get(jo, 1), LLONG_MAX, &end) != 0)
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				"%s: tensor '%s': data_offsets must be two non-negative integers",
				path, name);
	if (b > end || end > data_len)
		return lms_fail(LMS_ERR_INPUT, "the file is truncated or its header is corrupt",
				"%s: tensor '%s': data_offsets [%llu, %llu] out of range (the data "
				"section holds %llu bytes)",
				path, name, (unsigned long long)b, (unsigned long long)end,
				(unsigned long long)data_len);
	if (end - b != t->nbytes)
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				"%s: tensor '%s': data_offsets span %llu bytes but shape × %s size "
				"is %llu bytes",
				path, name, (unsigned long long)(end - b), lms_dtype_name(t->dtype),
				(unsigned long long)t->nbytes);
	t->offset = b; /* made absolute by the caller */
	return LMS_OK;
}

static enum lms_status check_overlaps(struct lms_st_file *f)
{
	if (f->count < 2)
		return LMS_OK;
	const struct lms_st_tensor **v = malloc(f->count * sizeof *v);
	if (!v)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t i = 0; i < f->count; i++)
		v[i] = &f->tensors[i];
	qsort(v, f->count, sizeof *v, cmp_ptr_by_begin);
	enum lms_status st = LMS_OK;
	for (size_t i = 1; i < f->count; i++) {
		const struct lms_st_tensor *a = v[i - 1], *b = v[i];
		if (a->nbytes && b->nbytes && b->offset < a->offset + a->nbytes) {
			st =
			    lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				     "%s: tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] "
				     "and [%llu, %llu])",
				     f->path, a->name, b->name,
				     (unsigned long long)(a->offset - f->data_start),
				     (unsigned long long)(a->offset - f->data_start + a->nbytes),
				     (unsigned long long)(b->offset - f->data_start),
				     (unsigned long long)(b->offset - f->data_start + b->nbytes));
			break;
		}
	}
	free(v);
	return st;
}

static enum lms_status parse_header(struct lms_st_file *f, const json_t *root)
{
	const char *path = f->path;
	uint64_t data_len = f->map_len - f->data_start;
	if (!json_is_object(root))
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT, "%s: header is not a JSON object",
				path);
	size_t n = json_object_size(root), name_bytes = 0;
	const char *key;
	const json_t *val;
	json_object_foreach((json_t *)root, key, val)
	{
		name_bytes += strlen(key) + 1;
	}
	f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
	f->names = malloc(name_bytes ? name_bytes : 1);
	if (!f->tensors || !f->names)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory reading %s", path);
	char *np = f->names;
	json_object_foreach((json_t *)root, key, val)
	{
		if (strcmp(key, "__metadata__") == 0) {
			if (!json_is_object(val))
				return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
						"%s: \"__metadata__\" is not a JSON object", path);
			continue;
		}
		struct lms_st_tensor *t = &f->tensors[f->count];
		size_t kl = strlen(key) + 1;
		memcpy(np, key, kl);
		t->name = np;
		np += kl;
		LMS_TRY(parse_entry(path, key, val, data_len, t));
		t->offset += f->data_start;
		t->data = f->map + t->offset;
		f->data_bytes += t->nbytes;
		f->count++;
	}
	qsort(f->tensors, f->count, sizeof *f->tensors, cmp_by_name);
	return check_overlaps(f);
}

static enum lms_status map_file(struct lms_st_file *f)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lms_fail(errno == ENOENT ? LMS_ERR_NOT_FOUND : LMS_ERR_IO,
				"check that the checkpoint directory is complete and readable",
				"cannot open safetensors file '%s': %s", f->path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return lms_fail(LMS_ERR_INPUT, "give a regular file", "'%s' is not a regular file",
				f->path);
	}
	f->map_len = (size_t)sb.st_size;
	if (f->map_len < 8) {
		close(fd);
		return lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				"%s: truncated: %zu bytes, less than the 8-byte header length",
				f->path, f->map_len);
	}
	void *p = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	int saved = errno;
	close(fd);
	if (p == MAP_FAILED)
		return lms_fail(LMS_ERR_IO, NULL, "cannot map '%s': %s", f->path, strerror(saved));
	f->map = p;
	return LMS_OK;
}

enum lms_status lms_st_open(const char *path, struct lms_st_file **out)
{
	*out = NULL;
	struct lms_st_file *f = calloc(1, sizeof *f);
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory opening '%s'", path);
	}
	enum lms_status st = map_file(f);
	if (st != LMS_OK)
		goto fail;
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | f->map[i];
	if (hlen > f->map_len - 8) {
		st = lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
			      "%s: header length %llu goes past the end of the file (%zu bytes)",
			      path, (unsigned long long)hlen, f->map_len);
		goto fail;
	}
	if (hlen > LMS_ST_MAX_HEADER) {
		st = lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
			      "%s: header length %llu is over the limit of %u bytes", path,
			      (unsigned long long)hlen, LMS_ST_MAX_HEADER);
		goto fail;
	}
	f->data_start = 8 + hlen;
	json_error_t jerr;
	json_t *root =
	    json_loadb((const char *)f->map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			st = lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				      "%s: duplicate tensor name in the header (%s)", path,
				      jerr.text);
		else
			st = lms_fail(LMS_ERR_INPUT, HINT_CORRUPT,
				      "%s: header is not valid JSON at byte %d: %s", path,
				      jerr.position, jerr.text);
		goto fail;
	}
	st = parse_header(f, root);
	json_decref(root);
	if (st != LMS_OK)
		goto fail;
	*out = f;
	return LMS_OK;
fail:
	lms_st_close(f);
	return st;
}

void lms_st_close(struct lms_st_file *f)
{
	if (!f)
		return;
	if (f->map)
		munmap((void *)f->map, f->map_len);
	free(f->tensors);
	free(f->names);
	free(f->path);
	free(f);
}

const char *lms_st_path(const struct lms_st_file *f)
{
	return f->path;
}
size_t lms_st_count(const struct lms_st_file *f)
{
	return f->count;
}
uint64_t lms_st_data_bytes(const struct lms_st_file *f)
{
	return f->data_bytes;
}

const struct lms_st_tensor *lms_st_get(const struct lms_st_file *f, size_t i)
{
	return i < f->count ? &f->tensors[i] : NULL;
}

const struct lms_st_tensor *lms_st_find(const struct lms_st_file *f, const char *name)
{
	struct lms_st_tensor key = {.name = name};
	return bsearch(&key, f->tensors, f->count, sizeof key, cmp_by_name);
}

/* ---- sets ---------------------------------------------------------------- */

struct lms_st_set {
	struct lms_st_file **files;
	size_t n_files;
	int indexed;
	const struct lms_st_tensor **all; /* sorted by name */
	size_t count;
	uint64_t data_bytes;
};

static int cmp_ptr_by_name(const void *a, const void *b)
{
	return strcmp((*(const struct lms_st_tensor *const *)a)->name,
		      (*(const struct lms_st_tensor *const *)b)->name);
}

void lms_st_set_free(struct lms_st_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_files; i++)
		lms_st_close(s->files[i]);
	free(s->files);
	free(s->all);
	free(s);
}

/* Opens `name` in dir as shard number s->n_files. */
static enum lms_status add_shard(struct lms_st_set *s, const char *dir, const char *name)
{
	char path[PATH_MAX];
	LMS_TRY(lms_path_join(path, sizeof path, dir, name));
	struct lms_st_file *f;
	LMS_TRY(lms_st_open(path, &f));
	for (size_t i = 0; i < f->count; i++)
		f->tensors[i].shard = (int)s->n_files;
	s->files[s->n_files++] = f;
	return LMS_OK;
}

static enum lms_status index_shards(struct lms_st_set *s, const char *dir, const char *ipath,
				    const json_t *wm)
{
	/* Distinct shard names, in first-seen order. */
	size_t n = json_object_size(wm);
	const char **names = calloc(n ? n : 1, sizeof *names);
	s->files = calloc(n ? n : 1, sizeof *s->files);
	if (!names || !s->files) {
		free(names);
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	size_t nn = 0;
	const char *key;
	const json_t *val;
	enum lms_status st = LMS_OK;
	json_object_foreach((json_t *)wm, key, val)
	{
		const char *sh = json_string_value(val);
		if (!sh || !*sh || strchr(sh, '/') || strcmp(sh, "..") == 0) {
			st = lms_fail(
			    LMS_ERR_INPUT, "each weight_map value must be a shard file name",
			    "%s: weight_map[\"%s\"] is not a plain file name", ipath, key);
			goto out;
		}
		size_t j = 0;
		while (j < nn && strcmp(names[j], sh) != 0)
			j++;
		if (j == nn)
			names[nn++] = sh;
	}
	for (size_t j = 0; j < nn; j++) {
		char path[PATH_MAX];
		st = lms_path_join(path, sizeof path, dir, names[j]);
		if (st == LMS_OK && !lms_is_file(path))
			st = lms_fail(LMS_ERR_NOT_FOUND,
				      "the checkpoint is incomplete: download or copy every shard",
				      "%s names shard '%s', which does not exist in %s", ipath,
				      names[j], dir);
		if (st == LMS_OK)
			st = add_shard(s, dir, names[j]);
		if (st != LMS_OK)
			goto out;
	}
	/* Every mapped tensor is in its shard; every shard tensor is mapped there. */
	json_object_foreach((json_t *)wm, key, val)
	{
		const char *sh = json_string_value(val);
		size_t j = 0;
		while (strcmp(names[j], sh) != 0)
			j++;
		if (!lms_st_find(s->files[j], key)) {
			st =
			    lms_fail(LMS_ERR_INPUT, "the index and the shards do not match",
				     "%s maps tensor '%s' to shard '%s', which does not contain it",
				     ipath, key, sh);
			goto out;
		}
	}
	for (size_t j = 0; j < nn; j++)
		for (size_t i = 0; i < s->files[j]->count; i++) {
			const char *tn = s->files[j]->tensors[i].name;
			const char *m = json_string_value(json_object_get(wm, tn));
			if (!m || strcmp(m, names[j]) != 0) {
				st = lms_fail(
				    LMS_ERR_INPUT, "the index and the shards do not match",
				    "shard '%s' holds tensor '%s', which %s %s", names[j], tn,
				    ipath, m ? "maps to another shard" : "does not list");
				goto out;
			}
		}
out:
	free(names);
	return st;
}

static enum lms_status build_table(struct lms_st_set *s)
{
	size_t n = 0;
	for (size_t j = 0; j < s->n_files; j++)
		n += s->files[j]->count;
	s->all = malloc((n ? n : 1) * sizeof *s->all);
	if (!s->all)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	for (size_t j = 0; j < s->n_files; j++) {
		for (size_t i = 0; i < s->files[j]->count; i++)
			s->all[s->count++] = &s->files[j]->tensors[i];
		s->data_bytes += s->files[j]->data_bytes;
	}
	qsort(s->all, s->count, sizeof *s->all, cmp_ptr_by_name);
	for (size_t i = 1; i < s->count; i++)
		if (strcmp(s->all[i - 1]->name, s->all[i]->name) == 0)
			return lms_fail(LMS_ERR_INPUT, "the index and the shards do not match",
					"tensor '%s' is stored in two shards", s->all[i]->name);
	return LMS_OK;
}

static enum lms_status open_indexed(struct lms_st_set *s, const char *dir, const char *ipath)
{
	char *text;
	size_t len;
	LMS_TRY(lms_read_file(ipath, LMS_ST_MAX_INDEX, "checkpoint index", &text, &len));
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root)
		return lms_fail(LMS_ERR_INPUT, "the index file is corrupt; re-download it",
				"%s:%d:%d: invalid JSON: %s", ipath, jerr.line, jerr.column,
				jerr.text);
	enum lms_status st;
	const json_t *wm = json_object_get(root, "weight_map");
	if (!json_is_object(wm))
		st = lms_fail(LMS_ERR_INPUT, "the index file is corrupt; re-download it",
			      "%s: \"weight_map\" is missing or not an object", ipath);
	else
		st = index_shards(s, dir, ipath, wm);
	json_decref(root);
	return st;
}

enum lms_status lms_st_set_open(const char *dir, struct lms_st_set **out)
{
	*out = NULL;
	struct lms_st_set *s = calloc(1, sizeof *s);
	if (!s)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	char ipath[PATH_MAX], spath[PATH_MAX];
	enum lms_status st =
	    lms_path_join(ipath, sizeof ipath, dir, "model.safetensors.index.json");
	if (st == LMS_OK)
		st = lms_path_join(spath, sizeof spath, dir, "model.safetensors");
	if (st != LMS_OK)
		goto fail;
	if (lms_is_file(ipath)) {
		s->indexed = 1;
		st = open_indexed(s, dir, ipath);
	} else if (lms_is_file(spath)) {
		s->files = calloc(1, sizeof *s->files);
		st = s->files ? add_shard(s, dir, "model.safetensors")
			      : lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	} else {
		st = lms_fail(LMS_ERR_NOT_FOUND,
			      "give a Hugging Face checkpoint directory (lmsens mkmodel makes one)",
			      "%s holds neither model.safetensors.index.json nor model.safetensors",
			      dir);
	}
	if (st == LMS_OK)
		st = build_table(s);
	if (st != LMS_OK)
		goto fail;
	*out = s;
	return LMS_OK;
fail:
	lms_st_set_free(s);
	return st;
}

size_t lms_st_set_shard_count(const struct lms_st_set *s)
{
	return s->n_files;
}
int lms_st_set_is_indexed(const struct lms_st_set *s)
{
	return s->indexed;
}
size_t lms_st_set_count(const struct lms_st_set *s)
{
	return s->count;
}
uint64_t lms_st_set_data_bytes(const struct lms_st_set *s)
{
	return s->data_bytes;
}

const struct lms_st_file *lms_st_set_shard(const struct lms_st_set *s, size_t i)
{
	return i < s->n_files ? s->files[i] : NULL;
}

const struct lms_st_tensor *lms_st_set_get(const struct lms_st_set *s, size_t i)
{
	return i < s->count ? s->all[i] : NULL;
}

const struct lms_st_tensor *lms_st_set_find(const struct lms_st_set *s, const char *name)
{
	struct lms_st_tensor key = {.name = name};
	const struct lms_st_tensor *kp = &key;
	const struct lms_st_tensor *const *r =
	    bsearch(&kp, s->all, s->count, sizeof *s->all, cmp_ptr_by_name);
	return r ? *r : NULL;
}
