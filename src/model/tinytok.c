/* tinytok.c — learns LMS_TINYTOK_MERGES byte-level BPE merges from a
 * built-in English text and writes an HF tokenizers file around them.
 *
 * Training (deterministic, small, O(merges × words)):
 *   1. split the text into words with a simplified Qwen pre-tokenizer
 *      (" ?letters", single digits, " ?other+", whitespace runs);
 *   2. map bytes to the GPT-2 byte-level alphabet (symbols 0..255);
 *   3. repeatedly merge the most frequent adjacent pair (count >= 2), ties
 *      broken by the byte strings of (left, right) in strcmp order.
 * Encoding with the written file uses the real Qwen regex; merges learned on
 * the simplified split are still valid merges (both halves are in vocab).
 * Invariant: the written vocab has ids 0..LMS_TINYTOK_BPE_SIZE-1 with no
 * gaps, every merge's halves and result are in vocab. */
#include "model/tinytok.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

#define MAX_WORDS 2048
#define MAX_WLEN 64
#define NTOK LMS_TINYTOK_BPE_SIZE

static const char g_text[] =
    "A man riding a bike down a city street next to parked cars.\n"
    "Two dogs are playing with a red ball on the green grass in the park.\n"
    "A woman is standing in a kitchen, cutting vegetables for dinner.\n"
    "A group of people sitting around a table with plates of food.\n"
    "The train is stopped at the station while passengers wait on the platform.\n"
    "A small cat sleeping on top of a laptop keyboard.\n"
    "An airplane flying over the ocean under a clear blue sky.\n"
    "A young boy holding a baseball bat, waiting for the next pitch.\n"
    "Three horses standing in a field near a wooden fence.\n"
    "A plate with a sandwich, some fries and a pickle on the side.\n"
    "A person skiing down a snowy mountain slope on a sunny day.\n"
    "The kitchen has white cabinets, a stove and a large window.\n"
    "A bus driving down the road in front of a tall building.\n"
    "Two giraffes walking through the tall grass of the savanna.\n"
    "A man and a woman are sitting on a bench looking at the water.\n"
    "A bowl of fruit with apples, bananas and oranges on a counter.\n"
    "People walking on the sidewalk with umbrellas in the rain.\n"
    "A surfer riding a large wave in the ocean.\n"
    "A pizza with cheese and tomatoes sitting on a wooden table.\n"
    "A clock tower standing in the middle of a busy town square.\n"
    "A little girl is flying a kite at the beach with her father.\n"
    "An elephant standing next to a tree in a grassy field.\n"
    "A bathroom with a sink, a toilet and a mirror on the wall.\n"
    "The motorcycle is parked on the side of the street near a shop.\n"
    "A teddy bear sitting on a bed with pillows and a blanket.\n"
    "A tennis player swinging a racket to hit the ball on the court.\n"
    "Several boats floating in the harbor at sunset.\n"
    "A stop sign on the corner of a quiet street with trees.\n"
    "A dog is running through the snow with a stick in its mouth.\n"
    "A living room with a couch, a television and a coffee table.\n"
    "The chef is preparing food in a restaurant kitchen.\n"
    "A herd of sheep grazing on a hill under a cloudy sky.\n"
    "A child eating a slice of cake at a birthday party.\n"
    "Two men playing frisbee in a park on a sunny afternoon.\n"
    "A red fire hydrant on the sidewalk in front of a house.\n"
    "A cow standing in the grass, looking at the camera.\n"
    "A laptop, a phone and a cup of coffee on a desk.\n"
    "A skateboarder doing a trick on a ramp at the skate park.\n"
    "A traffic light hanging over an intersection in the city.\n"
    "A woman holding an umbrella while walking her dog in the rain.\n"
    "The quick brown fox jumps over the lazy dog. It is 2025 and the year "
    "has 12 months, 52 weeks and 365 days; some people say 366!\n"
    "What is the weather like today? It's sunny, but they're saying it'll rain "
    "later, so we've brought our coats.\n"
    "There are many things to see in the picture: a house, a garden, two "
    "children, a bicycle, and a small white dog that is sitting by the door.\n"
    "She said that the food was good, the service was fast and the prices were "
    "fair, which is why they want to come back again next week.\n";

struct trainer {
	char *tok[NTOK];	  /* byte-level strings (UTF-8), owned */
	char raw[NTOK][MAX_WLEN]; /* the raw bytes of each token, NUL-terminated */
	int ntok;
	int words[MAX_WORDS][MAX_WLEN]; /* symbol ids */
	int wlen[MAX_WORDS];
	int wcount[MAX_WORDS];
	int nwords;
	int merge_a[LMS_TINYTOK_MERGES], merge_b[LMS_TINYTOK_MERGES];
};

/* GPT-2 byte → code point map (reference §6.3). */
static int byte_cp(int b)
{
	if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
		return b;
	int n = 0;
	for (int x = 0; x < b; x++)
		if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
			n++;
	return 256 + n;
}

static void utf8(int cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = 0;
	} else {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		out[2] = 0;
	}
}

static int cmp_cp(const void *a, const void *b)
{
	return byte_cp(*(const int *)a) - byte_cp(*(const int *)b);
}

static int cls(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 'L';
	if (c >= '0' && c <= '9')
		return 'N';
	if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
		return 'S';
	return 'P';
}

static void add_word(struct trainer *t, const int *ids, int n)
{
	for (int w = 0; w < t->nwords; w++)
		if (t->wlen[w] == n && memcmp(t->words[w], ids, (size_t)n * sizeof *ids) == 0) {
			t->wcount[w]++;
			return;
		}
	if (t->nwords == MAX_WORDS || n > MAX_WLEN)
		return;
	memcpy(t->words[t->nwords], ids, (size_t)n * sizeof *ids);
	t->wlen[t->nwords] = n;
	t->wcount[t->nwords++] = 1;
}

/* Length of the word at s[i] under the simplified Qwen split (see top). */
static size_t word_len(const unsigned char *s, size_t n, size_t i)
{
	int c = cls(s[i]);
	size_t j = i + 1;
	if (c == 'N')
		return 1;
	if (c == 'S') {
		if (s[i] == ' ' && j < n && cls(s[j]) != 'S')
			c = cls(s[j++]); /* a space joins the following word */
		else {
			while (j < n && cls(s[j]) == 'S')
				j++;
			/* A run followed by a word leaves its last space to that word. */
			if (j < n && j - i > 1 && s[j - 1] == ' ')
				j--;
			return j - i;
		}
	}
	if (c == 'N')
		return j - i;
	while (j < n && cls(s[j]) == c && j - i < MAX_WLEN - 1)
		j++;
	while (c == 'P' && j < n && s[j] == '\n' && j - i < MAX_WLEN - 1)
		j++;
	return j - i;
}

static void split_words(struct trainer *t, const int *byte_id)
{
	const unsigned char *s = (const unsigned char *)g_text;
	size_t n = strlen(g_text);
	for (size_t i = 0; i < n;) {
		size_t len = word_len(s, n, i);
		int ids[MAX_WLEN], m = 0;
		for (size_t k = i; k < i + len && m < MAX_WLEN; k++)
			ids[m++] = byte_id[s[k]];
		add_word(t, ids, m);
		i += len;
	}
}

static int better(const struct trainer *t, int a, int b, int ba, int bb)
{
	int c = strcmp(t->raw[a], t->raw[ba]);
	return c < 0 || (c == 0 && strcmp(t->raw[b], t->raw[bb]) < 0);
}

static enum lms_status train(struct trainer *t)
{
	static int counts[NTOK][NTOK];
	for (int m = 0; m < LMS_TINYTOK_MERGES; m++) {
		memset(counts, 0, sizeof counts);
		for (int w = 0; w < t->nwords; w++)
			for (int k = 0; k + 1 < t->wlen[w]; k++)
				counts[t->words[w][k]][t->words[w][k + 1]] += t->wcount[w];
		int ba = -1, bb = -1, bc = 1;
		for (int a = 0; a < t->ntok; a++)
			for (int b = 0; b < t->ntok; b++)
				if (counts[a][b] > bc ||
				    (counts[a][b] == bc && bc > 1 && better(t, a, b, ba, bb))) {
					ba = a;
					bb = b;
					bc = counts[a][b];
				}
		if (ba < 0 || strlen(t->raw[ba]) + strlen(t->raw[bb]) >= MAX_WLEN)
			return lms_fail(LMS_ERR_INTERNAL, NULL,
					"tiny tokenizer: only %d merges could be learned", m);
		int id = t->ntok++;
		size_t ra = strlen(t->raw[ba]), rb = strlen(t->raw[bb]); /* < MAX_WLEN in all */
		memcpy(t->raw[id], t->raw[ba], ra);
		memcpy(t->raw[id] + ra, t->raw[bb], rb + 1);
		size_t la = strlen(t->tok[ba]), lb = strlen(t->tok[bb]);
		if (!(t->tok[id] = malloc(la + lb + 1)))
			return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
		memcpy(t->tok[id], t->tok[ba], la);
		memcpy(t->tok[id] + la, t->tok[bb], lb + 1);
		t->merge_a[m] = ba;
		t->merge_b[m] = bb;
		for (int w = 0; w < t->nwords; w++) {
			int o = 0;
			for (int k = 0; k < t->wlen[w]; k++) {
				if (k + 1 < t->wlen[w] && t->words[w][k] == ba &&
				    t->words[w][k + 1] == bb) {
					t->words[w][o++] = id;
					k++;
				} else {
					t->words[w][o++] = t->words[w][k];
				}
			}
			t->wlen[w] = o;
		}
	}
	return LMS_OK;
}

static const char *const g_qwen_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const g_special[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

static json_t *byte_level(void)
{
	return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
			 "trim_offsets", 0, "use_regex", 0);
}

static json_t *added_token(int id, const char *content)
{
	return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content,
			 "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1);
}

static json_t *tokenizer_json(const struct trainer *t)
{
	json_t *vocab = json_object(), *merges = json_array(), *added = json_array();
	for (int i = 0; i < t->ntok; i++)
		json_object_set_new(vocab, t->tok[i], json_integer(i));
	for (int m = 0; m < LMS_TINYTOK_MERGES; m++)
		json_array_append_new(
		    merges, json_pack("[s, s]", t->tok[t->merge_a[m]], t->tok[t->merge_b[m]]));
	for (int k = 0; k < 3; k++)
		json_array_append_new(added, added_token(LMS_TINYTOK_BPE_SIZE + k, g_special[k]));
	json_t *split = json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
				  g_qwen_regex, "behavior", "Isolated", "invert", 0);
	json_t *model = json_pack("{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:b, s:o, s:o}", "type",
				  "BPE", "dropout", "unk_token", "continuing_subword_prefix", "",
				  "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback", 0,
				  "ignore_merges", 0, "vocab", vocab, "merges", merges);
	return json_pack("{s:s, s:n, s:n, s:o, s:{s:s}, s:{s:s, s:[o, o]}, s:o, s:o, s:o}",
			 "version", "1.0", "truncation", "padding", "added_tokens", added,
			 "normalizer", "type", "NFC", "pre_tokenizer", "type", "Sequence",
			 "pretokenizers", split, byte_level(), "post_processor", byte_level(),
			 "decoder", byte_level(), "model", model);
}

static json_t *tokenizer_config_json(void)
{
	json_t *dec = json_object();
	for (int k = 0; k < 3; k++) {
		char id[16];
		snprintf(id, sizeof id, "%d", LMS_TINYTOK_BPE_SIZE + k);
		json_t *a = added_token(LMS_TINYTOK_BPE_SIZE + k, g_special[k]);
		json_object_del(a, "id");
		json_object_set_new(dec, id, a);
	}
	return json_pack("{s:b, s:b, s:o, s:n, s:b, s:s, s:s, s:s, s:i, s:s, s:b, s:n}",
			 "add_bos_token", 0, "add_prefix_space", 0, "added_tokens_decoder", dec,
			 "bos_token", "clean_up_tokenization_spaces", 0, "eos_token", g_special[2],
			 "pad_token", g_special[0], "errors", "replace", "model_max_length", 32768,
			 "tokenizer_class", "Qwen2Tokenizer", "split_special_tokens", 0,
			 "unk_token");
}

static enum lms_status write_json(const char *dir, const char *name, json_t *j)
{
	if (!j)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "building %s failed", name);
	char path[PATH_MAX];
	enum lms_status st = lms_path_join(path, sizeof path, dir, name);
	char *text = st == LMS_OK ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (st != LMS_OK)
		return st;
	if (!text)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory writing %s", name);
	size_t len = strlen(text);
	st = lms_write_file_atomic(path, text, len);
	free(text);
	return st;
}

enum lms_status lms_tinytok_write(const char *dir)
{
	struct trainer *t = calloc(1, sizeof *t);
	if (!t)
		return lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	int order[256], byte_id[256];
	for (int b = 0; b < 256; b++)
		order[b] = b;
	qsort(order, 256, sizeof *order, cmp_cp);
	enum lms_status st = LMS_OK;
	for (int i = 0; i < 256 && st == LMS_OK; i++) {
		char u[4];
		utf8(byte_cp(order[i]), u);
		byte_id[order[i]] = i;
		t->raw[i][0] = (char)order[i];
		t->raw[i][1] = 0;
		if (!(t->tok[i] = strdup(u)))
			st = lms_fail(LMS_ERR_NOMEM, NULL, "out of memory");
	}
	t->ntok = 256;
	if (st == LMS_OK) {
		split_words(t, byte_id);
		st = train(t);
	}
	if (st == LMS_OK)
		st = write_json(dir, "tokenizer.json", tokenizer_json(t));
	if (st == LMS_OK)
		st = write_json(dir, "tokenizer_config.json", tokenizer_config_json());
	for (int i = 0; i < t->ntok; i++)
		free(t->tok[i]);
	free(t);
	return st;
}
