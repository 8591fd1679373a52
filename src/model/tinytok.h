/* tinytok.h — the small byte-level BPE tokenizer that mkmodel writes next to
 * the tiny and small presets (tokenizer.json + tokenizer_config.json).
 *
 * It has the structure of the real Qwen3 tokenizer (reference/qwen3-vl-lm.md
 * §6): NFC normalizer, Split(Qwen regex, Isolated) + ByteLevel(use_regex
 * false) pre-tokenizer, ByteLevel decoder, BPE model with the 256 byte
 * symbols at ids 0..255 (ordered by the code point of their byte-level
 * character, as in Qwen3), then LMS_TINYTOK_MERGES merges learned
 * deterministically from a built-in English text, then three added special
 * tokens. The same bytes are written every time (no randomness).
 * Not done here: encoding (src/tokenizer/ does that). */
#ifndef LMS_MODEL_TINYTOK_H
#define LMS_MODEL_TINYTOK_H

#include "core/status.h"

#define LMS_TINYTOK_MERGES 244
#define LMS_TINYTOK_BPE_SIZE (256 + LMS_TINYTOK_MERGES)	 /* 500 */
#define LMS_TINYTOK_ENDOFTEXT (LMS_TINYTOK_BPE_SIZE + 0) /* <|endoftext|>: bos, pad */
#define LMS_TINYTOK_IM_START (LMS_TINYTOK_BPE_SIZE + 1)	 /* <|im_start|> */
#define LMS_TINYTOK_IM_END (LMS_TINYTOK_BPE_SIZE + 2)	 /* <|im_end|>: eos */
#define LMS_TINYTOK_SIZE (LMS_TINYTOK_BPE_SIZE + 3)	 /* 503 ids in all */

/* Writes dir/tokenizer.json and dir/tokenizer_config.json atomically. */
LMS_NODISCARD enum lms_status lms_tinytok_write(const char *dir);

#endif
