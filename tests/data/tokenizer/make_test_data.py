#!/usr/bin/env python3
"""make_test_data.py — regenerates the tokenizer test data in this folder with
HF tokenizers (the reference implementation; the committed files were made
with tokenizers 0.23.2):

  edge_cases.json        hand-picked hard inputs and the ids HF gives for them
                         with qwen3-tokenizer.json (add_special_tokens=False)
  variants/<name>.json   small byte-level BPE tokenizers that exercise the
                         other supported components (merges as strings or
                         pairs, ByteLevel use_regex/add_prefix_space, NFD +
                         Lowercase, Split Removed, added tokens with lstrip,
                         rstrip, normalized=true, ignore_merges; tiny_ascii
                         is tiny_pairs with every non-ASCII character as a
                         \\uXXXX escape)
  variants/<name>.golden.json   texts and HF's ids for each variant
  bad/<name>.json + bad/expected.tsv   corrupt or unsupported tokenizer files
                         and the status and message substring lmsens must give

usage: .venv/bin/python tests/data/tokenizer/make_test_data.py
"""
import copy
import json
import os
import sys

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
QWEN = os.path.join(HERE, "qwen3-tokenizer.json")
QWEN_SPLIT = json.load(open(QWEN, encoding="utf-8"))["pre_tokenizer"]["pretokenizers"][0]

EDGE = [
    ("empty", ""),
    ("one space", " "),
    ("spaces only", "     "),
    ("whitespace mix", " \t \n\r\n \u00a0\u3000 "),
    ("newlines only", "\n\n\n\n"),
    ("run of a", "a" * 5000),
    ("run of spaces then word", " " * 3000 + "word"),
    ("run of newlines", "\n" * 2000),
    ("run of bangs", "!" * 1500),
    ("run of digits", "7" * 1000),
    ("run of CJK", "中" * 800),
    ("run of emoji", "😀" * 300),
    ("emoji ZWJ family", "family 👨\u200d👩\u200d👧\u200d👦 here"),
    ("emoji flag and ZWJ", "🏳\ufe0f\u200d🌈 🇯🇵 👍🏽"),
    ("keycap", "1\ufe0f\u20e3 #\ufe0f\u20e3"),
    ("combining marks", "e\u0301\u0302\u0303 a\u0308 Z\u0335\u0336\u0337"),
    ("zalgo", "h\u0336\u0301e\u0337\u0308l\u0338l\u0335o\u0334"),
    ("decomposed accents", "Cafe\u0301 nai\u0308ve re\u0301sume\u0301"),
    ("composed accents", "Café naïve résumé"),
    ("hangul jamo", "\u1100\u1161\u11a8 \uac01"),
    ("devanagari", "नमस्ते दुनिया क्षत्रिय"),
    ("special inside text", "a<|im_start|>b<|im_end|>c"),
    ("special adjacent", "<|endoftext|><|endoftext|><|endoftext|>"),
    ("special partial", "<|endoftext| <|im_start <think"),
    ("special with spaces", " <|im_start|> user \n<|im_end|> "),
    ("non-special added", "<think>reason</think><tool_call>x</tool_call>"),
    ("numbers", "0 12 345 6789 3.14159 -42 1e10 1,000,000 ¼ ½ ¾ ² ³ ⅔ ①"),
    ("fullwidth digits", "０１２３ ٠١٢٣ ۴۵۶"),
    ("CJK", "東京は日本の首都です。北京欢迎你！"),
    ("Korean", "한국어 문장입니다. 안녕하세요"),
    ("Arabic RTL", "مرحبا بالعالم، كيف حالك؟"),
    ("Hebrew RTL", "שלום עולם! מה שלומך?"),
    ("RTL mark", "abc\u200fdef\u200e ghi \u202eevil\u202c"),
    ("mixed scripts", "Hello мир 世界 عالم 🌍 123"),
    ("contractions", "I'm you're they've she'll he'd it's DON'T WE'RE 'tis"),
    ("apostrophes", "''' ' s 's' 'S's"),
    ("code", "def f(x):\n\treturn x**2  # square\n"),
    ("urls", "https://example.com/a?b=c&d=e#f user@mail.org"),
    ("punctuation runs", "...!!!???;;;---___***"),
    ("nul and controls", "a\x00b\x01c\x1fd\x7fe"),
    ("unicode spaces", "a\u2000b\u2001c\u2009d\u200ae\u202ff\u205fg\u3000h"),
    ("line separators", "a\u2028b\u2029c\u0085d"),
    ("mongolian vowel separator", "a \u180e b\u180ec\u180e\u180e d"),
    ("zero width", "a\u200bb\u200cc\u200dd\ufeffe"),
    ("variation selectors", "☺\ufe0f ☺\ufe0e"),
    ("math alphanumerics", "𝐀𝐁𝐂 𝑥𝑦𝑧 ℝ ℕ"),
    ("ligatures", "ﬁ ﬂ ﬀ"),
    ("caption", "A man riding a wave on top of a surfboard."),
    ("caption lower no period", "a giraffe standing next to a tree"),
    ("tab run", "\t\t\tindented\t\t"),
    ("crlf mix", "a\r\n\r\nb\r\rc\n\rd"),
    ("space before newline", "word   \n  next"),
]


def hf_ids(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def train_base():
    """A 600-token byte-level BPE trained on the synthetic captions, with the
    Qwen pipeline (NFC, Qwen split regex, ByteLevel without regex)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=600, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    path = os.path.join(ROOT, "datasets", "vlm-quantize-calib", "coco2017_captions_medium.txt")
    tok.train([path], tr)
    j = json.loads(tok.to_str())
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        copy.deepcopy(QWEN_SPLIT),
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    n = len(j["model"]["vocab"])
    j["added_tokens"] = [
        {"id": n, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": True},
        {"id": n + 1, "content": "<|im_start|>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": True},
        {"id": n + 2, "content": "<think>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": False},
    ]
    return j


def variants(base):
    v = {}
    pairs = copy.deepcopy(base)
    pairs["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m
                                for m in pairs["model"]["merges"]]
    v["tiny_pairs"] = pairs
    strings = copy.deepcopy(base)
    strings["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m
                                  for m in strings["model"]["merges"]]
    v["tiny_strings"] = strings
    gpt2 = copy.deepcopy(strings)
    gpt2["normalizer"] = None
    gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True,
                             "trim_offsets": True, "use_regex": True}
    v["tiny_gpt2"] = gpt2
    norm = copy.deepcopy(pairs)
    norm["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}]}
    norm["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "|"}, "behavior": "Removed", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}]}
    n = max(norm["model"]["vocab"].values()) + 1 + len(norm["added_tokens"])
    norm["model"]["ignore_merges"] = True
    norm["added_tokens"][0]["lstrip"] = True
    norm["added_tokens"][1]["rstrip"] = True
    norm["added_tokens"].append({"id": n, "content": "hello world", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": True,
                                 "special": False})
    v["tiny_norm"] = norm
    v["tiny_ascii"] = copy.deepcopy(pairs)  # written with \\uXXXX escapes (ensure_ascii)
    return v


VARIANT_TEXTS = [
    "", "A man riding a wave on top of a surfboard.", "  Two dogs   playing\tin the snow \n",
    "x<|endoftext|>y", "a <|endoftext|> b", "<|im_start|>  user", "HELLO World, hello world!",
    "Hello|World|split|", "Ünïcödé ÀÉÎ straße İstanbul", "e\u0301 cafe\u0301", "🏳\ufe0f\u200d🌈 ok",
    "numbers 12345 and 3.5", "I'm here, aren't you? I'LL GO", "<think>x</think>", "中文 العربية",
]

BAD = []  # (name, mutation, status, substring)


def bad(name, status, needle):
    def deco(fn):
        BAD.append((name, fn, status, needle))
        return fn
    return deco


def set_path(j, path, value):
    cur = j
    for k in path[:-1]:
        cur = cur[k]
    if value is KeyError:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return j


BAD_CASES = [
    ("top_level_array", lambda j: [1, 2], "input", "expected a JSON object"),
    ("model_missing", lambda j: set_path(j, ["model"], KeyError), "input", "model: missing"),
    ("model_wordpiece", lambda j: set_path(j, ["model", "type"], "WordPiece"), "unsupported",
     "model.type: unsupported model type \"WordPiece\""),
    ("vocab_not_object", lambda j: set_path(j, ["model", "vocab"], [1, 2]), "input", "model.vocab"),
    ("vocab_negative_id", lambda j: set_path(j, ["model", "vocab", "!"], -5), "input",
     "model.vocab[\"!\"]: expected an id"),
    ("vocab_string_id", lambda j: set_path(j, ["model", "vocab", "!"], "7"), "input",
     "model.vocab[\"!\"]"),
    ("merge_three_parts", lambda j: set_path(j, ["model", "merges", 2], "a b c"), "input",
     "model.merges[2]: \"a b c\" is not two tokens"),
    ("merge_part_missing", lambda j: set_path(j, ["model", "merges", 3], ["Ġ", "zzzq"]), "input",
     "model.merges[3]: part \"zzzq\" is not in model.vocab"),
    ("merge_result_missing", lambda j: set_path(j, ["model", "merges", 4], ["q", "q"]), "input",
     "model.merges[4]: merged token \"qq\" is not in model.vocab"),
    ("merge_number", lambda j: set_path(j, ["model", "merges", 0], 17), "input",
     "model.merges[0]: expected"),
    ("dropout", lambda j: set_path(j, ["model", "dropout"], 0.1), "unsupported", "model.dropout"),
    ("byte_fallback", lambda j: set_path(j, ["model", "byte_fallback"], True), "unsupported",
     "model.byte_fallback"),
    ("subword_prefix", lambda j: set_path(j, ["model", "continuing_subword_prefix"], "##"),
     "unsupported", "model.continuing_subword_prefix"),
    ("unk_missing", lambda j: set_path(j, ["model", "unk_token"], "<unk>"), "input",
     "model.unk_token: \"<unk>\" is not in model.vocab"),
    ("normalizer_bert", lambda j: set_path(j, ["normalizer"], {"type": "BertNormalizer"}),
     "unsupported", "normalizer: unsupported normalizer \"BertNormalizer\""),
    ("normalizer_seq_replace", lambda j: set_path(j, ["normalizer"], {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Replace", "pattern": {"String": "a"}, "content": "b"}]}),
     "unsupported", "normalizer.normalizers[1]: unsupported normalizer \"Replace\""),
    ("pretok_null", lambda j: set_path(j, ["pre_tokenizer"], None), "unsupported", "pre_tokenizer"),
    ("pretok_whitespace", lambda j: set_path(j, ["pre_tokenizer"], {"type": "Whitespace"}),
     "unsupported", "pre_tokenizer: unsupported pre-tokenizer \"Whitespace\""),
    ("split_invert", lambda j: set_path(j, ["pre_tokenizer", "pretokenizers", 0, "invert"], True),
     "unsupported", "pre_tokenizer.pretokenizers[0]: unsupported Split with invert=true"),
    ("split_contiguous", lambda j: set_path(j, ["pre_tokenizer", "pretokenizers", 0, "behavior"],
                                            "Contiguous"),
     "unsupported", "Split behavior \"Contiguous\""),
    ("split_bad_regex", lambda j: set_path(j, ["pre_tokenizer", "pretokenizers", 0, "pattern"],
                                           {"Regex": "(ab"}),
     "input", "pre_tokenizer.pretokenizers[0].pattern: cannot compile the pattern"),
    ("bytelevel_not_last", lambda j: set_path(j, ["pre_tokenizer", "pretokenizers"],
                                              list(reversed(j["pre_tokenizer"]["pretokenizers"]))),
     "unsupported", "ByteLevel must come last"),
    ("no_bytelevel", lambda j: set_path(j, ["pre_tokenizer", "pretokenizers"],
                                        j["pre_tokenizer"]["pretokenizers"][:1]),
     "unsupported", "without a final ByteLevel"),
    ("decoder_wordpiece", lambda j: set_path(j, ["decoder"], {"type": "WordPiece"}), "unsupported",
     "decoder.type: unsupported decoder \"WordPiece\""),
    ("truncation_set", lambda j: set_path(j, ["truncation"], {"max_length": 8}), "unsupported",
     "truncation: unsupported non-null value"),
    ("added_no_content", lambda j: set_path(j, ["added_tokens", 1, "content"], KeyError), "input",
     "added_tokens[1]: expected an object"),
    ("added_single_word", lambda j: set_path(j, ["added_tokens", 0, "single_word"], True),
     "unsupported", "added_tokens[0]: unsupported single_word=true"),
    ("added_bool_type", lambda j: set_path(j, ["added_tokens", 0, "lstrip"], "yes"), "input",
     "added_tokens[0].lstrip: expected true or false"),
]


def main():
    qwen = Tokenizer.from_file(QWEN)
    edge = [{"name": n, "text": t, "ids": hf_ids(qwen, t)} for n, t in EDGE]
    write_json(os.path.join(HERE, "edge_cases.json"), edge)

    base = train_base()
    vdir = os.path.join(HERE, "variants")
    os.makedirs(vdir, exist_ok=True)
    for name, j in variants(base).items():
        text = json.dumps(j, ensure_ascii=(name == "tiny_ascii"))
        tok = Tokenizer.from_str(text)
        with open(os.path.join(vdir, name + ".json"), "w", encoding="utf-8") as f:
            f.write(text)
        write_json(os.path.join(vdir, name + ".golden.json"),
                   [{"text": t, "ids": hf_ids(tok, t)} for t in VARIANT_TEXTS])

    bdir = os.path.join(HERE, "bad")
    os.makedirs(bdir, exist_ok=True)
    rows = []
    for name, fn, status, needle in BAD_CASES:
        j = fn(copy.deepcopy(base))
        with open(os.path.join(bdir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        rows.append(f"{name}.json\t{status}\t{needle}")
    with open(os.path.join(bdir, "truncated.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(base, ensure_ascii=False)[:5000])
    rows.append("truncated.json\tinput\tinvalid JSON")
    with open(os.path.join(bdir, "empty.json"), "w", encoding="utf-8") as f:
        pass
    rows.append("empty.json\tinput\tinvalid JSON")
    rows.append("does_not_exist.json\tnot-found\tcannot open tokenizer file")
    with open(os.path.join(bdir, "expected.tsv"), "w", encoding="utf-8") as f:
        f.write("# file\tstatus\tmessage substring (written by make_test_data.py)\n")
        f.write("\n".join(rows) + "\n")
    print(f"wrote {len(edge)} edge cases, {len(variants(base))} variants, {len(rows)} bad cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
