#!/usr/bin/env bash
# captions_cli.sh — the dataset keys skip_invalid_utf8 and shuffle_seed reach
# the data module through the config: an invalid UTF-8 caption line is an
# error naming file:line:col with a hint, skipped and counted with
# dataset.skip_invalid_utf8=true; a negative shuffle seed is refused.
set -u
B=${LMSENS_BIN:?}
fail=0
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=$((fail + 1)); fi; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
printf 'A dog on a bench.\nA cat \377 on a mat.\n' > bad.txt
for i in $(seq 1 40); do echo "A red bus number $i parked on a street." >> bad.txt; done

"$B" -cn demo dataset.captions_path="$work/bad.txt" runner.output_dir="$work/o1" > /dev/null 2> e1
check "invalid UTF-8: exit 2" "[ $? -eq 2 ]"
check "the error names file:line:col" "grep -q 'bad.txt:2:7: invalid UTF-8' e1"
check "the hint names the key" "grep -q 'dataset.skip_invalid_utf8=true' e1"
"$B" -cn demo dataset.captions_path="$work/bad.txt" dataset.skip_invalid_utf8=true runner.output_dir="$work/o2" > /dev/null 2> e2
check "skip_invalid_utf8=true: exit 0" "[ $? -eq 0 ]"
check "the skipped line is counted" "grep -q 'skipped 1 lines' e2"
"$B" -cn demo runner.output_dir="$work/o0" > /dev/null 2>&1
"$B" -cn demo dataset.shuffle_seed=7 runner.output_dir="$work/o3" > /dev/null 2>&1
check "shuffle_seed=7 runs" "[ $? -eq 0 ]"
check "a shuffled run scores other samples than file order" \
	"[ -s o0/per-layer-sensitivity.json ] && ! cmp -s o3/per-layer-sensitivity.json o0/per-layer-sensitivity.json"
"$B" -cn demo dataset.shuffle_seed=-1 runner.output_dir="$work/o4" > /dev/null 2> e4
check "negative shuffle_seed: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'dataset.shuffle_seed' e4"
echo "$((n - fail)) passed, $fail failed"
[ $fail -eq 0 ]
