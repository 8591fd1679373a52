/* quant_driver.c — runs one lmsens CPU fake quantizer on raw float32 files,
 * for tests/quant/test_quant_ref.py (which compares it with the PyTorch
 * reference ref_quant.py bit for bit).
 *
 *   quant_driver SPEC ROWS COLS IN.f32 OUT.f32 [AMAX.f32]
 *
 * SPEC is lms_quant_desc_parse's syntax ("fp8", "int8:axis0", "mx:e2m1", ...).
 * IN holds ROWS·COLS little-endian float32 values, AMAX (optional) holds
 * lms_quant_amax_len values; without it the amax is computed from IN.
 * Not a test by itself; exits 2 on bad arguments. */
#include <stdio.h>
#include <stdlib.h>

#include "quant/quant.h"

static float *read_f32(const char *path, size_t n)
{
	FILE *f = fopen(path, "rb");
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!f || !p || fread(p, sizeof *p, n, f) != n) {
		fprintf(stderr, "quant_driver: cannot read %zu floats from %s\n", n, path);
		exit(2);
	}
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: quant_driver SPEC ROWS COLS IN.f32 OUT.f32 [AMAX.f32]\n");
		return 2;
	}
	struct lms_quantizer_desc d;
	if (lms_quant_desc_parse(argv[1], &d) != LMS_OK) {
		fprintf(stderr, "quant_driver: %s\n", lms_error_message());
		return 2;
	}
	size_t rows = strtoull(argv[2], NULL, 10), cols = strtoull(argv[3], NULL, 10);
	float *x = read_f32(argv[4], rows * cols);
	float *amax = argc == 7 ? read_f32(argv[6], lms_quant_amax_len(&d, rows, cols)) : NULL;
	size_t n = rows * cols;
	float *y = malloc((n > 0 ? n : 1) * sizeof *y);
	if (!y || lms_quant_fake(&d, x, y, rows, cols, amax) != LMS_OK) {
		fprintf(stderr, "quant_driver: %s\n", lms_error_message());
		return 1;
	}
	FILE *f = fopen(argv[5], "wb");
	if (!f || fwrite(y, sizeof *y, rows * cols, f) != rows * cols || fclose(f) != 0) {
		fprintf(stderr, "quant_driver: cannot write %s\n", argv[5]);
		return 1;
	}
	free(x);
	free(y);
	free(amax);
	return 0;
}
