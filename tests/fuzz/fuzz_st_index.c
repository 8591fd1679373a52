/* fuzz_st_index.c — libFuzzer target for model.safetensors.index.json
 * (lms_st_set_open). A checkpoint directory with two valid shards
 * (tensors a, b in shard 1; c in shard 2) is made once; each input becomes
 * the index file. Any index must open or fail with a message; an opened set
 * must hold exactly the tensors of the shards it names, each findable; and
 * no index may make the reader open a file outside the directory: a third,
 * valid shard is placed next to the directory (../outside.safetensors) and
 * in a subdirectory (sub/inner.safetensors), and a set that contains their
 * tensor (x or y) is a path escape. */
#include <sys/stat.h>

#include "fuzz_util.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char root[64] = "/tmp/lmsens-fuzz-index-XXXXXX";
static char ckpt[128];

/* A safetensors file with F32 scalars named names[0..n). */
static void write_shard(const char *dir, const char *file, const char *const *names, int n)
{
	char hdr[256];
	int len = 0;
	len += snprintf(hdr + len, sizeof hdr - len, "{");
	for (int i = 0; i < n; i++)
		len +=
		    snprintf(hdr + len, sizeof hdr - len,
			     "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%d,%d]}",
			     i ? "," : "", names[i], 4 * i, 4 * i + 4);
	len += snprintf(hdr + len, sizeof hdr - len, "}");
	uint8_t buf[512];
	uint64_t hl = (uint64_t)len;
	for (int b = 0; b < 8; b++)
		buf[b] = (uint8_t)(hl >> (8 * b));
	memcpy(buf + 8, hdr, (size_t)len);
	memset(buf + 8 + len, 0x3f, (size_t)(4 * n));
	fuzz_write(dir, file, buf, 8 + (size_t)len + 4 * (size_t)n);
}

static void cleanup(void)
{
	char p[256];
	/* Test-only clean-up of the directory this process made. */
	const char *files[] = {"ckpt/model-00001-of-00002.safetensors",
			       "ckpt/model-00002-of-00002.safetensors",
			       "ckpt/model.safetensors.index.json", "ckpt/sub/inner.safetensors",
			       "outside.safetensors"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(p, sizeof p, "%s/%s", root, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof p, "%s/ckpt/sub", root);
	rmdir(p);
	rmdir(ckpt);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(root))
		abort();
	snprintf(ckpt, sizeof ckpt, "%s/ckpt", root);
	char sub[160];
	snprintf(sub, sizeof sub, "%s/sub", ckpt);
	if (mkdir(ckpt, 0700) != 0 || mkdir(sub, 0700) != 0)
		abort();
	const char *s1[] = {"a", "b"}, *s2[] = {"c"}, *s3[] = {"x"}, *s4[] = {"y"};
	write_shard(ckpt, "model-00001-of-00002.safetensors", s1, 2);
	write_shard(ckpt, "model-00002-of-00002.safetensors", s2, 1);
	write_shard(root, "outside.safetensors", s3, 1);
	write_shard(sub, "inner.safetensors", s4, 1);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write(ckpt, "model.safetensors.index.json", data, size);
	struct lms_st_set *s = NULL;
	enum lms_status st = lms_st_set_open(ckpt, &s);
	fuzz_check_error(st);
	if (st != LMS_OK) {
		if (s)
			abort();
		return 0;
	}
	if (!lms_st_set_is_indexed(s) || lms_st_set_find(s, "x") || lms_st_set_find(s, "y"))
		abort(); /* escaped the checkpoint directory */
	size_t expect = 0;
	for (size_t i = 0; i < lms_st_set_shard_count(s); i++)
		expect += lms_st_count(lms_st_set_shard(s, i));
	if (expect != lms_st_set_count(s) || lms_st_set_shard_count(s) > 2)
		abort();
	for (size_t i = 0; i < lms_st_set_count(s); i++) {
		const struct lms_st_tensor *t = lms_st_set_get(s, i);
		if (lms_st_set_find(s, t->name) != t || t->shard < 0 ||
		    (size_t)t->shard >= lms_st_set_shard_count(s))
			abort();
	}
	lms_st_set_free(s);
	return 0;
}
