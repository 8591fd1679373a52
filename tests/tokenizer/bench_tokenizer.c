/* bench_tokenizer.c — tokenizer speed (label bench; never part of CI).
 *
 * Prints, as the median of repeats on one core:
 *   load     lms_tokenizer_load of the 11 MB Qwen3 tokenizer.json (ms), and
 *            the jansson parse alone (ms), which dominates it;
 *   encode   MB/s over the shipped large captions file, line by line as
 *            src/data/ does: "cold" with a fresh tokenizer (empty word
 *            cache), "warm" on a second pass; and over the golden corpus's
 *            mixed-script text (cold).
 * Targets (docs/tokenizer-data.md): load <= 300 ms, captions >= 5 MB/s.
 * It fails (exit 1) only when something does not load or encode, not on a
 * slow machine; the numbers are for the docs.
 * usage: bench_tokenizer [repeats]   (default 7) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsutil.h"
#include "data/data.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#define TOK LMSENS_SOURCE_DIR "/tests/data/tokenizer/qwen3-tokenizer.json"
#define CAPTIONS LMSENS_SOURCE_DIR "/datasets/vlm-quantize-calib/coco2017_captions_large.txt"
#define GOLDEN LMSENS_SOURCE_DIR "/tests/data/tokenizer/qwen3_public_golden.json"

/* CPU time of this thread: what one core spends, undisturbed by other
 * processes sharing the machine (the wall time is printed too). */
static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Encodes every line once; returns ms, or -1 on failure. */
static double encode_all(struct lms_tokenizer *tok, char **lines, size_t *lens, long n,
			 size_t *n_ids)
{
	struct lms_tokens ids = {0};
	double t0 = now_ms();
	for (long i = 0; i < n; i++) {
		ids.n = 0;
		if (lms_tokenizer_encode(tok, lines[i], lens[i], &ids) != LMS_OK) {
			lms_tokens_free(&ids);
			return -1;
		}
		*n_ids += ids.n;
	}
	double ms = now_ms() - t0;
	lms_tokens_free(&ids);
	return ms;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	if (reps < 1 || reps > 100)
		reps = 7;
	double load[100], load_wall[100], parse[100], cold[100], warm[100], mixed[100];
	char *buf;
	size_t len;
	CHECK(lms_read_file(TOK, (size_t)1 << 30, "tokenizer", &buf, &len) == LMS_OK);
	struct lms_captions cap;
	CHECK(lms_captions_read(CAPTIONS, 0, &cap) == LMS_OK);
	json_t *golden = json_load_file(GOLDEN, 0, NULL);
	CHECK(json_is_array(golden));
	size_t ng = json_array_size(golden), gbytes = 0, cbytes = 0;
	char **glines = calloc(ng, sizeof *glines);
	size_t *glens = calloc(ng, sizeof *glens);
	for (size_t i = 0; i < ng; i++) {
		json_t *t = json_object_get(json_array_get(golden, i), "text");
		glines[i] = (char *)json_string_value(t);
		glens[i] = json_string_length(t);
		gbytes += glens[i];
	}
	for (long i = 0; i < cap.n; i++)
		cbytes += cap.lens[i];

	int jit = 0;
	size_t ids_cap = 0;
	for (int r = 0; r < reps && lms_test_failed_ == 0; r++) {
		double t0 = now_ms();
		json_t *root = json_loadb(buf, len, 0, NULL);
		parse[r] = now_ms() - t0;
		json_decref(root);

		struct lms_tokenizer *tok;
		double w0 = wall_ms();
		t0 = now_ms();
		enum lms_status st = lms_tokenizer_load(TOK, &tok);
		load[r] = now_ms() - t0;
		load_wall[r] = wall_ms() - w0;
		CHECK(st == LMS_OK);
		if (st != LMS_OK)
			break;
		jit = lms_tokenizer_uses_jit(tok);
		size_t n1 = 0, n2 = 0, n3 = 0;
		cold[r] = encode_all(tok, cap.lines, cap.lens, cap.n, &n1);
		warm[r] = encode_all(tok, cap.lines, cap.lens, cap.n, &n2);
		lms_tokenizer_free(tok);
		CHECK(lms_tokenizer_load(TOK, &tok) == LMS_OK);
		mixed[r] = encode_all(tok, glines, glens, (long)ng, &n3);
		lms_tokenizer_free(tok);
		CHECK(cold[r] > 0 && warm[r] > 0 && mixed[r] > 0 && n1 == n2);
		ids_cap = n1;
	}
	if (lms_test_failed_ == 0) {
		printf("tokenizer bench (median of %d, thread CPU time, PCRE2 JIT %s)\n", reps,
		       jit ? "on" : "off");
		printf("  load qwen3 tokenizer.json (%.1f MB): %.1f ms CPU, %.1f ms wall "
		       "(a full jansson parse of the file alone: %.1f ms CPU)\n",
		       len / 1e6, median(load, reps), median(load_wall, reps), median(parse, reps));
		double c = median(cold, reps), w = median(warm, reps), m = median(mixed, reps);
		printf(
		    "  captions %ld lines, %.2f MB, %zu ids: cold %.1f MB/s (%.1f ms), warm %.1f "
		    "MB/s (%.1f ms)\n",
		    cap.n, cbytes / 1e6, ids_cap, cbytes / 1e3 / c, c, cbytes / 1e3 / w, w);
		printf(
		    "  golden mixed-script corpus %zu lines, %.3f MB: cold %.1f MB/s (%.1f ms)\n",
		    ng, gbytes / 1e6, gbytes / 1e3 / m, m);
	}
	free(glines);
	free(glens);
	json_decref(golden);
	lms_captions_free(&cap);
	free(buf);
	return lms_test_finish();
}
