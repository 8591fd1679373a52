#!/bin/sh
# eval_cli.sh — `lmsens eval` on the demo config: one JSON line per batch with
# a finite loss near ln(512) (the tiny model's weights are N(0, 0.02), so its
# logits are nearly uniform over the 512-token vocabulary), the sum reduction
# equal to mean x tokens, and user errors with exit code 2.
set -u
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$LMSENS_BIN" eval -cn demo > mean.jsonl 2> err.txt
check "eval exits 0" "[ $? -eq 0 ]"
check "4 JSON lines" "[ \$(wc -l < mean.jsonl) -eq 4 ]"
check "batch indices 0..3" "[ \"\$(sed 's/.*\"batch\": \\([0-9]*\\).*/\\1/' mean.jsonl | tr '\n' ' ')\" = '0 1 2 3 ' ]"
# "loss tokens" per line
nums() { sed 's/.*"loss": \([^,]*\), "tokens": \([0-9]*\).*/\1 \2/' "$1"; }
nums mean.jsonl > mean.txt
check "losses within 0.1 of ln(512) = 6.238" \
  "awk '{ if (NF != 2 || \$1 < 6.138 || \$1 > 6.338 || \$2 < 1) exit 1 }' mean.txt"
"$LMSENS_BIN" eval -cn demo autoquant.loss_reduction=sum > sum.jsonl 2>/dev/null
nums sum.jsonl > sum.txt
check "sum = mean x tokens" \
  "paste -d' ' mean.txt sum.txt | awk '{ d = \$3 - \$1 * \$2; if (d < 0) d = -d; if (NF != 4 || \$3 < 100 || d > 1e-6 * \$3) exit 1 }'"

"$LMSENS_BIN" eval -m -cn demo > /dev/null 2> err.txt
check "-m is a usage error (exit 2)" "[ $? -eq 2 ] && grep -q 'does not sweep' err.txt"
"$LMSENS_BIN" eval -cn demo model.path="$work/none" model.synthetic=null > out.txt 2> err.txt
check "missing model: exit 2, names the path" "[ $? -eq 2 ] && grep -q \"$work/none\" err.txt && [ ! -s out.txt ]"
"$LMSENS_BIN" eval --bogus > /dev/null 2> err.txt
check "unknown flag: exit 2" "[ $? -eq 2 ] && grep -q \"unknown flag '--bogus'\" err.txt"
"$LMSENS_BIN" eval --help > help.txt
check "--help" "grep -q 'usage: lmsens eval' help.txt"
exit $fail
