#!/usr/bin/env python3
"""prop_vs_hf.py — property test: `lmsens tokenize` gives the same ids as HF
tokenizers (PyPI `tokenizers`) on seeded random text.

The text mixes scripts (Latin with composed and decomposed accents, Cyrillic,
Greek, CJK, Hangul, Arabic, Hebrew, Devanagari, Thai), emoji with ZWJ
sequences, skin tones and flags, whitespace runs of every Unicode kind,
numbers, punctuation, contractions, the tokenizer's added tokens (whole and
partial) and random code points from the whole Unicode range. It runs the
Qwen3 tokenizer and the small variants in tests/data/tokenizer/variants/.

Environment: LMSENS_BIN, LMSENS_SOURCE_DIR, LMSENS_PYTHON (CTest sets them).
Exit 77 (skipped) when there is no Python with `tokenizers`; 1 on a mismatch.
usage: prop_vs_hf.py [--lines N] [--seed S]
"""
import argparse
import os
import random
import subprocess
import tempfile
import sys
import unicodedata

try:
    from tokenizers import Tokenizer
except ImportError as e:  # CTest maps 77 to "skipped"
    print(f"SKIP: Python package 'tokenizers' is not importable ({e}); run scripts/setup-python.sh")
    sys.exit(77)

WORDS = ["a", "the", "man", "riding", "wave", "surfboard", "Hello", "WORLD", "don't", "I'm",
         "they'LL", "'s", "caf\u00e9", "cafe\u0301", "na\u00efve", "nai\u0308ve", "Stra\u00dfe",
         "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m", "\u0130stanbul", "\u1e9e", "\u017fs",
         "\u043f\u0440\u0438\u0432\u0435\u0442", "\u03b1\u03b2\u03b3", "\u4f60\u597d",
         "\u6771\u4eac", "\u65e5\u672c\u8a9e", "\ud55c\uad6d\uc5b4", "\u1100\u1161\u11a8",
         "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd",
         "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
         "x\u00b2", "\u00bd", "\u2460\u2461", "\uff11\uff12", "\u0661\u0662", "3.14", "1,000",
         "\U0001d400\U0001d401", "\ufb01", "e\u0301\u0302\u0303"]
EMOJI = ["\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
         "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f1ef\U0001f1f5", "1\ufe0f\u20e3", "\u263a\ufe0f",
         "\U0001f9d1\U0001f3ff\u200d\U0001f4bb", "\u2764"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n ", "\u00a0", "\u3000", "\u2003",
          "\u2028", "\u0085", "\u180e", "\u200b", "\u202f", "\u205f", "\x0b", "\x0c", "\x1c", "\x1f"]
PUNCT = [".", ",", "!", "?", "...", "--", "\u2014", "(", ")", "\"", "'", "`", "#", "@", "$",
         "%", "&", "*", "/", "\\", "<", ">", "|", "{", "}", "[", "]", "~", "^", "_", "+", "=",
         ":", ";", "\u00bf", "\u3002", "\uff01", "\u00ab", "\u00bb"]
ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>",
         "<|endoftext|", "<|im_", "<thin", "hello world", "Hello World"]


def random_code_point(r):
    """A random assigned code point. Two kinds are left out on purpose, as
    known Unicode-version differences (docs/tokenizer-data.md): code points
    that Python's Unicode (14.0 for 3.11) does not know (PCRE2 10.42 and
    utf8proc 2.8 stop at 15.0 while HF's Oniguruma knows 16.0), and combining
    marks (HF's NFC tables are Unicode 9.0, so it leaves newer marks unordered).
    Old combining marks still come through WORDS."""
    while True:
        cp = r.choice([r.randrange(0x20, 0x800), r.randrange(0x800, 0x10000),
                       r.randrange(0x10000, 0x30000), r.randrange(0xE0000, 0x110000)])
        c = chr(cp)
        if unicodedata.category(c) not in ("Cn", "Cs") and not unicodedata.combining(c):
            return c


def random_text(r):
    parts = []
    for _ in range(r.randrange(0, 24)):
        k = r.random()
        if k < 0.35:
            parts.append(r.choice(WORDS))
        elif k < 0.55:
            parts.append(r.choice(SPACES) * r.choice([1, 1, 1, 2, 5, 40]))
        elif k < 0.65:
            parts.append(r.choice(PUNCT) * r.choice([1, 1, 3]))
        elif k < 0.72:
            parts.append(str(r.randrange(0, 10 ** r.randrange(1, 12))))
        elif k < 0.80:
            parts.append(r.choice(EMOJI))
        elif k < 0.86:
            parts.append(r.choice(ADDED))
        elif k < 0.93:
            parts.append("".join(random_code_point(r) for _ in range(r.randrange(1, 6))))
        else:
            parts.append(r.choice("ab ") * r.randrange(50, 400))  # long runs
        if r.random() < 0.5:
            parts.append(" ")
    return "".join(parts)


def escape(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def compare(binary, tok_path, texts, label):
    hf = Tokenizer.from_file(tok_path)
    want = [hf.encode(t, add_special_tokens=False).ids for t in texts]
    data = "".join(escape(t) + "\n" for t in texts).encode("utf-8")
    p = subprocess.run([binary, "tokenize", "--tokenizer", tok_path, "--escapes"], input=data,
                       capture_output=True, timeout=600)
    if p.returncode != 0:
        print(f"FAIL {label}: lmsens tokenize exited {p.returncode}: {p.stderr.decode()[-2000:]}")
        return len(texts)
    got = [eval_ids(line) for line in p.stdout.decode().splitlines()]
    bad = 0
    if len(got) != len(texts):
        print(f"FAIL {label}: {len(got)} output lines for {len(texts)} inputs")
        return len(texts)
    for i, (t, w, g) in enumerate(zip(texts, want, got)):
        if w != g:
            bad += 1
            if bad <= 8:
                print(f"FAIL {label} line {i + 1}: {t!r}\n  hf:     {w}\n  lmsens: {g}")
    n_ids = sum(len(w) for w in want)
    print(f"{label}: {len(texts)} texts, {n_ids} ids, {bad} mismatches")
    return bad


def eval_ids(line):
    line = line.strip()
    assert line.startswith("[") and line.endswith("]"), line
    return [int(x) for x in line[1:-1].split(",")] if len(line) > 2 else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    binary = os.environ.get("LMSENS_BIN")
    src = os.environ.get("LMSENS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    if not binary:
        print("FAIL: LMSENS_BIN is not set (run through ctest)")
        return 1
    data = os.path.join(src, "tests", "data", "tokenizer")
    r = random.Random(args.seed)
    texts = [random_text(r) for _ in range(args.lines)]
    bad = compare(binary, os.path.join(data, "qwen3-tokenizer.json"), texts, "qwen3")
    for name in ["tiny_pairs", "tiny_strings", "tiny_gpt2", "tiny_norm"]:
        bad += compare(binary, os.path.join(data, "variants", name + ".json"),
                       texts[: args.lines // 3], name)
    # the tokenizer.json that `lmsens mkmodel --preset tiny` writes
    with tempfile.TemporaryDirectory(prefix="lmsens-prop-") as tmp:
        p = subprocess.run([binary, "mkmodel", "--preset", "tiny", "--zeros", "--out", tmp],
                           capture_output=True)
        if p.returncode != 0:
            print(f"FAIL mkmodel: exit {p.returncode}: {p.stderr.decode()[-2000:]}")
            bad += 1
        else:
            bad += compare(binary, os.path.join(tmp, "tokenizer.json"), texts[: args.lines // 3],
                           "mkmodel-tiny")
    print("ok" if bad == 0 else f"{bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
