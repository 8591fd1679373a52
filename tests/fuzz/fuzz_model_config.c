/* fuzz_model_config.c — libFuzzer target for the HF config.json parser
 * (lms_model_config_parse_json): any text must parse or fail with a message
 * naming the key; a parsed config must give finite parameter counts without
 * overflow traps (UBSan) when lms_model_config_counts runs on it. */
#include "fuzz_util.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	char *text = fuzz_strndup(data, size);
	struct lms_model_config cfg;
	memset(&cfg, 0, sizeof cfg);
	enum lms_status st = lms_model_config_parse_json(text, "fuzz/config.json", &cfg);
	fuzz_check_error(st);
	if (st == LMS_OK) {
		struct lms_model_shape_counts c;
		lms_model_config_counts(&cfg, &c);
		if (cfg.hidden_size <= 0 || cfg.intermediate_size <= 0 || cfg.num_layers <= 0 ||
		    cfg.num_heads <= 0 || cfg.num_kv_heads <= 0 || cfg.head_dim <= 0 ||
		    cfg.vocab_size <= 0 || cfg.num_heads % cfg.num_kv_heads != 0)
			abort(); /* accepted shapes are usable (model.h) */
		if (c.lm_tensors < 13)
			abort(); /* embed + final norm + one layer's 11 tensors at least */
	}
	free(text);
	return 0;
}
