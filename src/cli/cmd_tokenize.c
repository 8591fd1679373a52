/* cmd_tokenize.c — `lmsens tokenize`: encode stdin lines with a tokenizer.json.
 *
 * One JSON array of ids per input line on stdout (add_special_tokens=False),
 * or with --decode the reverse: one JSON array of ids per line in, one JSON
 * string out. --escapes unescapes \n \r \t \\ in each input line first, so a
 * line can carry any text (the format of the golden corpus). Lines end at
 * '\n'; nothing else is stripped. Exit 2 on a bad tokenizer file or bad input
 * (invalid UTF-8, a bad escape), naming the line.
 *
 * What it does not do: batching, padding or truncation (see src/data/). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tokenizer/tokenizer.h"

static void help(FILE *f)
{
	fprintf(f, "usage: lmsens tokenize --tokenizer FILE [--escapes] [--decode] < lines\n\n"
		   "Encodes each line of stdin with an HF tokenizer.json (byte-level BPE, as HF\n"
		   "tokenizers does with add_special_tokens=False) and prints one JSON array of\n"
		   "ids per line.\n\n"
		   "  --tokenizer FILE  the tokenizer.json to use\n"
		   "  --escapes         unescape \\n \\r \\t \\\\ in each line before encoding\n"
		   "  --decode          read one JSON array of ids per line and print the\n"
		   "                    decoded text as a JSON string\n"
		   "  -h, --help        this help\n");
}

/* Unescapes in place; returns 0 on an unknown escape. */
static int unescape(char *s, size_t *n)
{
	size_t w = 0;
	for (size_t r = 0; r < *n; r++) {
		if (s[r] != '\\') {
			s[w++] = s[r];
			continue;
		}
		if (++r == *n)
			return 0;
		switch (s[r]) {
		case 'n':
			s[w++] = '\n';
			break;
		case 'r':
			s[w++] = '\r';
			break;
		case 't':
			s[w++] = '\t';
			break;
		case '\\':
			s[w++] = '\\';
			break;
		default:
			return 0;
		}
	}
	*n = w;
	return 1;
}

static enum lms_status encode_line(struct lms_tokenizer *tok, char *line, size_t n, int escapes,
				   long lineno, struct lms_tokens *ids)
{
	if (escapes && !unescape(line, &n))
		return lms_fail(LMS_ERR_INPUT, "only \\n \\r \\t and \\\\ are escapes",
				"stdin:%ld: bad backslash escape", lineno);
	ids->n = 0;
	enum lms_status st = lms_tokenizer_encode(tok, line, n, ids);
	if (st != LMS_OK) {
		lms_error_context("stdin:%ld", lineno);
		return st;
	}
	putchar('[');
	for (size_t i = 0; i < ids->n; i++)
		printf(i ? ",%d" : "%d", (int)ids->ids[i]);
	fputs("]\n", stdout);
	return LMS_OK;
}

static int grow_ids(struct lms_tokens *ids)
{
	size_t cap = ids->cap * 2 + 16;
	int32_t *p = realloc(ids->ids, cap * sizeof *p);
	if (!p)
		return 0;
	ids->ids = p;
	ids->cap = cap;
	return 1;
}

static enum lms_status decode_line(struct lms_tokenizer *tok, const char *line, size_t n,
				   long lineno, struct lms_tokens *ids)
{
	json_error_t err;
	json_t *arr = json_loadb(line, n, 0, &err);
	ids->n = 0;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return lms_fail(LMS_ERR_INPUT, "give one JSON array of ids per line",
				"stdin:%ld: not a JSON array of ids", lineno);
	}
	enum lms_status st = LMS_OK;
	for (size_t i = 0; i < json_array_size(arr) && st == LMS_OK; i++) {
		json_t *v = json_array_get(arr, i);
		int32_t id = json_is_integer(v) ? (int32_t)json_integer_value(v) : -1;
		if (!json_is_integer(v) || json_integer_value(v) != id)
			st = lms_fail(LMS_ERR_INPUT, "give one JSON array of integer ids per line",
				      "stdin:%ld: element %zu is not an id", lineno, i);
		else if (ids->n == ids->cap && !grow_ids(ids))
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		else
			ids->ids[ids->n++] = id;
	}
	json_decref(arr);
	LMS_TRY(st);
	char *text;
	size_t len;
	st = lms_tokenizer_decode(tok, ids->ids, ids->n, 0, &text, &len);
	if (st != LMS_OK) {
		lms_error_context("stdin:%ld", lineno);
		return st;
	}
	json_t *s = json_stringn(text, len);
	free(text);
	char *dump = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
	json_decref(s);
	if (!dump)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	puts(dump);
	free(dump);
	return LMS_OK;
}

int lms_cmd_tokenize(int argc, char **argv)
{
	const char *path = NULL;
	int escapes = 0, decode = 0;
	for (int i = 1; i < argc; i++) {
		if (lms_cli_is_help(argv[i])) {
			help(stdout);
			return 0;
		} else if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strncmp(argv[i], "--tokenizer=", 12) == 0) {
			path = argv[i] + 12;
		} else if (strcmp(argv[i], "--escapes") == 0) {
			escapes = 1;
		} else if (strcmp(argv[i], "--decode") == 0) {
			decode = 1;
		} else {
			help(stderr);
			return lms_cli_fail(
			    lms_fail(LMS_ERR_USAGE, "see 'lmsens tokenize --help'",
				     "tokenize: unknown or incomplete argument '%s'", argv[i]));
		}
	}
	if (!path)
		return lms_cli_fail(lms_fail(LMS_ERR_USAGE,
					     "pass --tokenizer path/to/tokenizer.json",
					     "tokenize: --tokenizer FILE is required"));
	struct lms_tokenizer *tok;
	enum lms_status st = lms_tokenizer_load(path, &tok);
	if (st != LMS_OK)
		return lms_cli_fail(st);
	struct lms_tokens ids = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	long lineno = 0;
	while (st == LMS_OK && (got = getline(&line, &cap, stdin)) >= 0) {
		size_t n = (size_t)got;
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		st = decode ? decode_line(tok, line, n, lineno, &ids)
			    : encode_line(tok, line, n, escapes, lineno, &ids);
	}
	free(line);
	lms_tokens_free(&ids);
	lms_tokenizer_free(tok);
	if (st == LMS_OK && fflush(stdout) != 0)
		st = lms_fail(LMS_ERR_IO, NULL, "tokenize: writing stdout failed");
	return st == LMS_OK ? 0 : lms_cli_fail(st);
}
