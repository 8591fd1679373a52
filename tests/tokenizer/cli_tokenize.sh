#!/usr/bin/env bash
# cli_tokenize.sh — `lmsens tokenize`: output format, --escapes, --decode, and
# the exit code 2 with a clear message for every user error.
set -u
bin=${LMSENS_BIN:?run through ctest}
data=${LMSENS_SOURCE_DIR:?}/tests/data/tokenizer
tok=$data/qwen3-tokenizer.json
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_eq() { # name got want
	if [ "$2" != "$3" ]; then echo "FAIL $1"; echo "  got:  $2"; echo "  want: $3"; fails=$((fails + 1)); fi
}
expect_fail() { # name want-substring cmd... (stdin from $tmp/in)
	local name=$1 want=$2; shift 2
	"$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -ne 2 ] || ! grep -qF -- "$want" "$tmp/err"; then
		echo "FAIL $name: exit $rc (want 2), stderr:"; cat "$tmp/err"; echo "  want substring: $want"
		fails=$((fails + 1))
	fi
	if ! grep -q '^hint: ' "$tmp/err"; then echo "FAIL $name: no hint line"; fails=$((fails + 1)); fi
}

# one JSON array per line, §6.7 vectors of reference/qwen3-vl-lm.md
printf 'Hello world\n Hello world\n\nx<|endoftext|>y\n' >"$tmp/in"
expect_eq lines "$("$bin" tokenize --tokenizer "$tok" <"$tmp/in")" \
"[9707,1879]
[21927,1879]
[]
[87,151643,88]"
# --escapes: \n \r \t \\ are unescaped first
printf 'line1\\nline2\\r\\nline3\\n\\n\\n\na\\\\b\n' >"$tmp/in"
expect_eq escapes "$("$bin" tokenize --tokenizer="$tok" --escapes <"$tmp/in")" \
"[1056,16,198,1056,17,319,1056,18,1406]
$(printf 'a\\b\n' | "$bin" tokenize --tokenizer "$tok")"
# a CR without --escapes stays part of the line
printf 'a\r\n' >"$tmp/in"
expect_eq cr "$("$bin" tokenize --tokenizer "$tok" <"$tmp/in")" "[64,201]"
# --decode reverses
printf '[151644,872,198,6023,151645]\n[]\n' >"$tmp/in"
expect_eq decode "$("$bin" tokenize --tokenizer "$tok" --decode <"$tmp/in")" \
'"<|im_start|>user\nhi<|im_end|>"
""'
# help
"$bin" tokenize --help | grep -q -- '--escapes' || { echo "FAIL help"; fails=$((fails + 1)); }

# user errors: exit 2, error + hint on stderr
printf 'x\n' >"$tmp/in"
expect_fail no-tokenizer "--tokenizer FILE is required" "$bin" tokenize
expect_fail unknown-flag "unknown or incomplete argument '--frobnicate'" "$bin" tokenize --tokenizer "$tok" --frobnicate
expect_fail missing-file "cannot open tokenizer file" "$bin" tokenize --tokenizer "$tmp/none.json"
expect_fail bad-json "truncated.json:1:" "$bin" tokenize --tokenizer "$data/bad/truncated.json"
expect_fail unsupported "model.type: unsupported model type \"WordPiece\"" "$bin" tokenize --tokenizer "$data/bad/model_wordpiece.json"
printf 'fine\nbad \xff here\n' >"$tmp/in"
expect_fail invalid-utf8 "stdin:2: invalid UTF-8 at byte 4" "$bin" tokenize --tokenizer "$tok"
printf 'bad \\q escape\n' >"$tmp/in"
expect_fail bad-escape "stdin:1: bad backslash escape" "$bin" tokenize --tokenizer "$tok" --escapes
printf '[1, "x"]\n' >"$tmp/in"
expect_fail bad-decode "stdin:1: element 1 is not an id" "$bin" tokenize --tokenizer "$tok" --decode
printf '[999999]\n' >"$tmp/in"
expect_fail decode-unknown-id "id 999999 at position 0 names no token" "$bin" tokenize --tokenizer "$tok" --decode

echo "$fails failed"
[ $fails -eq 0 ]
