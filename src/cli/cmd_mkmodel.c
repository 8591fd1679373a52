/* cmd_mkmodel.c — `lmsens mkmodel`: write an HF-layout checkpoint with
 * seeded random weights (src/model/mkmodel.h). Exit 0, 2 on a usage error,
 * 1 when writing fails. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/mkmodel.h"

static void help(FILE *f)
{
	fprintf(
	    f,
	    "usage: lmsens mkmodel --preset tiny|small|qwen3-vl-4b --out DIR [options]\n\n"
	    "Writes a Hugging Face checkpoint with seeded random bf16 weights: normal(0, 0.02)\n"
	    "for linear and embedding weights, ones for norms, zeros for biases. Files:\n"
	    "config.json, generation_config.json, *.safetensors (+ index when sharded) and,\n"
	    "for tiny and small, a small byte-level BPE tokenizer.json + tokenizer_config.json.\n\n"
	    "options:\n"
	    "  --preset NAME         tiny | small | qwen3-vl-4b (shapes: docs/model.md)\n"
	    "  --out DIR             output directory (created; files replaced atomically)\n"
	    "  --seed N              random seed (default 0); same seed, same bytes\n"
	    "  --format F            qwen3_vl (default; with a vision tower) | qwen3\n"
	    "  --config-form F       v5 (default; rope_parameters) | 4.57 (rope_theta +\n"
	    "                        rope_scaling)\n"
	    "  --shard-size BYTES    maximum shard size (suffix K, M, G = 10^3.. like HF;\n"
	    "                        default: tiny 128Ki, small 64Mi, qwen3-vl-4b 5G)\n"
	    "  --threads N           generator threads (default: online CPUs, max 64)\n"
	    "  --zeros               all-zero weights as sparse files (instant; for tests)\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1000ULL, end++;
	else if (*end == 'M')
		mul = 1000000ULL, end++;
	else if (*end == 'G')
		mul = 1000000000ULL, end++;
	if (*end == 'B')
		end++;
	if (*end || (mul > 1 && v > UINT64_MAX / mul))
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
	char msg[256];
	snprintf(msg, sizeof msg, fmt, arg);
	return lms_cli_fail(
	    lms_fail(LMS_ERR_USAGE, "run 'lmsens mkmodel --help'", "mkmodel: %s", msg));
}

int lms_cmd_mkmodel(int argc, char **argv)
{
	struct lms_mkmodel_opts o = {.format = LMS_MODEL_QWEN3_VL, .config_v5 = 1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (lms_cli_is_help(a)) {
			help(stdout);
			return 0;
		}
		if (strcmp(a, "--zeros") == 0) {
			o.zeros = 1;
			continue;
		}
		if (a[0] != '-' || a[1] != '-')
			return usage_error("unexpected argument '%s'", a);
		if (!v)
			return usage_error("%s needs a value", a);
		i++;
		uint64_t u = 0;
		if (strcmp(a, "--preset") == 0) {
			o.preset = v;
		} else if (strcmp(a, "--out") == 0) {
			o.out_dir = v;
		} else if (strcmp(a, "--seed") == 0) {
			if (parse_u64(v, &o.seed) != 0)
				return usage_error("--seed: '%s' is not a non-negative integer", v);
		} else if (strcmp(a, "--format") == 0) {
			if (strcmp(v, "qwen3_vl") == 0)
				o.format = LMS_MODEL_QWEN3_VL;
			else if (strcmp(v, "qwen3") == 0)
				o.format = LMS_MODEL_QWEN3;
			else
				return usage_error("--format: '%s' is not qwen3_vl or qwen3", v);
		} else if (strcmp(a, "--config-form") == 0) {
			if (strcmp(v, "v5") == 0)
				o.config_v5 = 1;
			else if (strcmp(v, "4.57") == 0)
				o.config_v5 = 0;
			else
				return usage_error("--config-form: '%s' is not v5 or 4.57", v);
		} else if (strcmp(a, "--shard-size") == 0) {
			if (parse_u64(v, &o.shard_bytes) != 0 || o.shard_bytes == 0)
				return usage_error("--shard-size: '%s' is not a positive size", v);
		} else if (strcmp(a, "--threads") == 0) {
			if (parse_u64(v, &u) != 0 || u < 1 || u > 64)
				return usage_error("--threads: '%s' is not in 1..64", v);
			o.threads = (int)u;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (!o.preset || !o.out_dir)
		return usage_error("%s", "--preset and --out are required");
	if (!lms_mkmodel_find_preset(o.preset))
		return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "presets: tiny, small, qwen3-vl-4b",
					     "mkmodel: unknown preset '%s'", o.preset));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct lms_mkmodel_result r;
	enum lms_status st = lms_mkmodel_write(&o, &r);
	if (st != LMS_OK)
		return lms_cli_fail(st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	printf("wrote %s: preset %s, format %s, %zu tensors (%zu LM) in %zu shard%s, "
	       "%llu parameters, %llu bytes of bf16 data, %.2f s\n",
	       o.out_dir, o.preset, o.format == LMS_MODEL_QWEN3 ? "qwen3" : "qwen3_vl", r.tensors,
	       r.lm_tensors, r.shards, r.shards == 1 ? "" : "s", (unsigned long long)r.params,
	       (unsigned long long)r.data_bytes, dt);
	return 0;
}
