#!/usr/bin/env bash
# test_cli.sh — `lmsens mkmodel` and `lmsens inspect` end to end: summaries,
# exit code 2 with a clear error for corrupt checkpoints and bad arguments
# (never a crash), the qwen3-vl-4b shapes (--zeros) and, when LMSENS_PYTHON
# has HF tokenizers, that the tiny tokenizer.json loads and round-trips.
set -u
BIN=${LMSENS_BIN:?LMSENS_BIN not set}
T=$(mktemp -d "${TMPDIR:-/tmp}/lmsens-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE NEEDLE CMD... : exit code CODE and NEEDLE in stdout+stderr
expect() {
	local code=$1 needle=$2; shift 2
	local out rc
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" -ne "$code" ]; then bad "$* → exit $rc, want $code"; echo "$out" >&2; return; fi
	if ! grep -qF -- "$needle" <<<"$out"; then bad "$* → output lacks '$needle'"; echo "$out" >&2; return; fi
	ok
}

expect 0 "4 shards" "$BIN" mkmodel --preset tiny --seed 1 --out "$T/tiny"
expect 0 "LM parameters     131,520 (decoder linear layers 98,304)" "$BIN" inspect "$T/tiny"
expect 0 "LM tensors        24 (skipped: 45 of 69 in the checkpoint)" "$BIN" inspect "$T/tiny"
expect 0 "attention heads   4 (KV heads 2, head_dim 32)" "$BIN" inspect "$T/tiny"
expect 0 '"lm_parameters": 131520' "$BIN" inspect --json "$T/tiny"
expect 0 "usage: lmsens inspect" "$BIN" inspect --help
expect 0 "usage: lmsens mkmodel" "$BIN" mkmodel --help

# The 4B shapes, sparse and instant.
expect 0 "713 tensors (398 LM) in 2 shards, 4437815808 parameters" \
	"$BIN" mkmodel --preset qwen3-vl-4b --zeros --config-form 4.57 --out "$T/q4b"
expect 0 "LM parameters     4,022,468,096 (decoder linear layers 3,633,315,840)" "$BIN" inspect "$T/q4b"
expect 0 "shards            2 (8,875,631,616 bytes of tensor data)" "$BIN" inspect "$T/q4b"
expect 0 "config form       4.57 (rope_theta)" "$BIN" inspect "$T/q4b"
rm -rf "$T/q4b"

# Usage errors → 2.
expect 2 "unknown preset 'big'" "$BIN" mkmodel --preset big --out "$T/x"
expect 2 "--preset and --out are required" "$BIN" mkmodel --preset tiny
expect 2 "--format: 'llama' is not qwen3_vl or qwen3" "$BIN" mkmodel --preset tiny --format llama --out "$T/x"
expect 2 "give a checkpoint directory" "$BIN" inspect
expect 2 "cannot open config.json" "$BIN" inspect "$T"

# Corrupt checkpoints → 2 with file, tensor and a hint.
cp -r "$T/tiny" "$T/trunc"
truncate -s 20000 "$T/trunc/model-00002-of-00004.safetensors"
expect 2 "model-00002-of-00004.safetensors: tensor '" "$BIN" inspect "$T/trunc"
expect 2 "hint:" "$BIN" inspect "$T/trunc"
cp -r "$T/tiny" "$T/noshard"
rm "$T/noshard/model-00003-of-00004.safetensors"
expect 2 "names shard 'model-00003-of-00004.safetensors', which does not exist" "$BIN" inspect "$T/noshard"
cp -r "$T/tiny" "$T/garbage"
head -c 4096 /dev/urandom >"$T/garbage/model-00001-of-00004.safetensors"
expect 2 "model-00001-of-00004.safetensors: header length" "$BIN" inspect "$T/garbage"
cp -r "$T/tiny" "$T/noconf"
rm "$T/noconf/config.json"
expect 2 "cannot open config.json" "$BIN" inspect "$T/noconf"
cp -r "$T/tiny" "$T/layers"
sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 1/' "$T/layers/config.json"
expect 2 "0 LM tensor(s) missing; 11 unexpected: 'model.language_model.layers.1." "$BIN" inspect "$T/layers"

# The tiny tokenizer in HF tokenizers.
if [ -n "${LMSENS_PYTHON:-}" ] && "$LMSENS_PYTHON" -c "import tokenizers" 2>/dev/null; then
	if "$LMSENS_PYTHON" - "$T/tiny" <<'PY'
import json, sys
from tokenizers import Tokenizer
d = sys.argv[1]
t = Tokenizer.from_file(d + "/tokenizer.json")
cfg = json.load(open(d + "/config.json"))["text_config"]
assert t.get_vocab_size() == 503 <= cfg["vocab_size"], t.get_vocab_size()
assert t.token_to_id("<|endoftext|>") == cfg["bos_token_id"] == 500
assert t.token_to_id("<|im_end|>") == cfg["eos_token_id"] == 502
for s in ["A man riding a bike down a city street.", "x<|endoftext|>y 2025 naïve 你好\n\n"]:
    e = t.encode(s)
    assert max(e.ids) < cfg["vocab_size"]
    assert t.decode(e.ids, skip_special_tokens=False) == s, (s, e.tokens)
assert len(t.encode("A man riding a bike down a city street.").ids) < 15  # merges apply
PY
	then ok; else bad "tiny tokenizer.json does not load/round-trip in HF tokenizers"; fi
	# lmsens's own tokenizer gives HF's ids on the tiny tokenizer.
	printf '%s\n' "A man riding a bike down a city street." "x<|endoftext|>y 2025 naïve 你好  spaces  " \
		"I'm here, aren't you?" >"$T/lines.txt"
	"$BIN" tokenize --tokenizer "$T/tiny/tokenizer.json" <"$T/lines.txt" | tr -d ' ' >"$T/ours.txt"
	"$LMSENS_PYTHON" -c "
import sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
for l in open(sys.argv[2], encoding='utf-8').read().split('\n')[:-1]:
    print(str(t.encode(l).ids).replace(' ', ''))" "$T/tiny/tokenizer.json" "$T/lines.txt" >"$T/hf.txt"
	if cmp -s "$T/ours.txt" "$T/hf.txt"; then ok; else bad "lmsens tokenize differs from HF on the tiny tokenizer"; diff "$T/ours.txt" "$T/hf.txt" >&2; fi
else
	echo "note: LMSENS_PYTHON without tokenizers; tokenizer.json check skipped"
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
