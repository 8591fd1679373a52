/* cmd_inspect.c — `lmsens inspect [--json] DIR`: validate a checkpoint
 * (config.json, every safetensors header, the LM weight map; shapes only,
 * no weight data is read) and print the model summary. Exit 2 with the
 * error (file, tensor, what is wrong) when the checkpoint is corrupt or
 * inconsistent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/model.h"

static void help(FILE *f)
{
	fprintf(f, "usage: lmsens inspect [--json] DIR\n\n"
		   "Checks the Hugging Face checkpoint in DIR (config.json, safetensors shards,\n"
		   "language-model tensor names and shapes) and prints its summary. --json prints\n"
		   "the same as one JSON object. Exit code 2 when the checkpoint is invalid.\n");
}

/* 4022468096 → "4,022,468,096" */
static const char *commas(uint64_t v, char *buf, size_t cap)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	size_t o = 0;
	for (int i = 0; i < n && o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

/* Shortest %g form that reads back as the same double (1e-06, not 9.99e-07). */
static const char *num(double v, char *buf, size_t cap)
{
	if (v == (double)(long long)v && v < 1e15 && v > -1e15) {
		snprintf(buf, cap, "%lld", (long long)v); /* rope theta 5000000 */
		return buf;
	}
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static void print_text(const struct lms_model *m)
{
	const struct lms_model_config *c = lms_model_get_config(m);
	const struct lms_model_counts *k = lms_model_get_counts(m);
	char a[32], b[32];
	printf("checkpoint        %s\n", lms_model_get_dir(m));
	printf("model type        %s (%s)\n", c->model_type,
	       c->family == LMS_MODEL_QWEN3_VL ? "Qwen3-VL, language model only" : "Qwen3");
	printf("layers            %d\n", c->num_layers);
	printf("hidden size       %d\n", c->hidden_size);
	printf("intermediate size %d\n", c->intermediate_size);
	printf("attention heads   %d (KV heads %d, head_dim %d)\n", c->num_heads, c->num_kv_heads,
	       c->head_dim);
	printf("vocabulary        %d\n", c->vocab_size);
	printf("tied embeddings   %s\n", c->tie_word_embeddings ? "yes" : "no");
	printf("rope theta        %s\n", num(c->rope_theta, a, sizeof a));
	printf("rms_norm_eps      %s\n", num(c->rms_norm_eps, a, sizeof a));
	printf("config form       %s\n",
	       c->config_form_v5 ? "v5 (rope_parameters)" : "4.57 (rope_theta)");
	printf("LM tensors        %zu (skipped: %zu of %zu in the checkpoint)\n", k->lm_tensors,
	       k->skipped_tensors, k->total_tensors);
	printf("LM parameters     %s (decoder linear layers %s)\n",
	       commas(k->lm_params, a, sizeof a), commas(k->linear_params, b, sizeof b));
	printf("LM bytes (bf16)   %s\n", commas(k->lm_bytes, a, sizeof a));
	printf("shards            %zu (%s bytes of tensor data)\n", k->shards,
	       commas(k->file_bytes, a, sizeof a));
}

static void print_json(const struct lms_model *m)
{
	const struct lms_model_config *c = lms_model_get_config(m);
	const struct lms_model_counts *k = lms_model_get_counts(m);
	char th[40], eps[40];
	printf("{\"model_type\": \"%s\", \"num_hidden_layers\": %d, \"hidden_size\": %d, "
	       "\"intermediate_size\": %d, \"num_attention_heads\": %d, "
	       "\"num_key_value_heads\": %d, \"head_dim\": %d, \"vocab_size\": %d, "
	       "\"tie_word_embeddings\": %s, \"rope_theta\": %s, \"rms_norm_eps\": %s, "
	       "\"config_form\": \"%s\", \"lm_tensors\": %zu, \"skipped_tensors\": %zu, "
	       "\"total_tensors\": %zu, \"lm_parameters\": %llu, \"linear_parameters\": %llu, "
	       "\"lm_bytes\": %llu, \"shards\": %zu, \"file_bytes\": %llu}\n",
	       c->model_type, c->num_layers, c->hidden_size, c->intermediate_size, c->num_heads,
	       c->num_kv_heads, c->head_dim, c->vocab_size,
	       c->tie_word_embeddings ? "true" : "false", num(c->rope_theta, th, sizeof th),
	       num(c->rms_norm_eps, eps, sizeof eps), c->config_form_v5 ? "v5" : "4.57",
	       k->lm_tensors, k->skipped_tensors, k->total_tensors,
	       (unsigned long long)k->lm_params, (unsigned long long)k->linear_params,
	       (unsigned long long)k->lm_bytes, k->shards, (unsigned long long)k->file_bytes);
}

int lms_cmd_inspect(int argc, char **argv)
{
	const char *dir = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (lms_cli_is_help(argv[i])) {
			help(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-' || dir)
			return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "run 'lmsens inspect --help'",
						     "inspect: unexpected argument '%s'", argv[i]));
		else
			dir = argv[i];
	}
	if (!dir)
		return lms_cli_fail(lms_fail(LMS_ERR_USAGE, "run 'lmsens inspect --help'",
					     "inspect: give a checkpoint directory"));
	struct lms_model *m;
	enum lms_status st = lms_model_load_ex(dir, LMS_MODEL_LOAD_SHAPES_ONLY, &m);
	if (st != LMS_OK)
		return lms_cli_fail(st);
	if (json)
		print_json(m);
	else
		print_text(m);
	lms_model_free(m);
	return 0;
}
