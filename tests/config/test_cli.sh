#!/usr/bin/env bash
# test_cli.sh — the main job's command line end to end: --cfg job, --info,
# --dry-run, -cn/-cp/-cd, -m, the files a run writes (.lmsens/*.yaml,
# multirun.yaml), the experimental-pair warning and exit codes.
set -u
bin=${LMSENS_BIN:?}
src=${LMSENS_SOURCE_DIR:?}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cd "$t" # a directory without conf/: lmsens must find the source tree's conf/
unset LMSENS_CONF_DIR
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect() { # expect RC "needle" -- args...
	local want=$1 needle=$2
	shift 3
	"$bin" "$@" >"$t/out" 2>"$t/err"
	local rc=$?
	[ "$rc" = "$want" ] || { bad "lmsens $*: rc $rc, want $want"; cat "$t/err" >&2; return; }
	grep -qF -- "$needle" "$t/out" "$t/err" || { bad "lmsens $*: no '$needle' in output"; cat "$t/out" "$t/err" >&2; return; }
	ok
}

expect 0 "format_name: INT8_WEIGHT_ONLY_CFG" -- --cfg job quant_pair=wint8_afp16
expect 0 "captions_path: $t/datasets/vlm-quantize-calib/coco2017_captions_small.txt" -- --cfg job --resolve
expect 0 "dir: tmp/model-experiments/qwen3_lm_sensitivity/" -- --cfg hydra
expect 0 "quant_pair/wfp8_afp8" -- --info defaults
expect 0 "$src/conf" -- --info searchpath
expect 0 "output_dir: $t/tmp/demo/" -- -cn demo --dry-run
expect 0 "#11 : output_layout=publish quant_pair=wint8_afp16 dataset.size=large" -- --dry-run -m output_layout=publish quant_pair=wfp4_afp8,wfp8_afp8,wfp8_afp16,wint8_afp16 dataset.size=small,medium,large
expect 0 "output_dir: /path/to/run_dir" -- runner.dry_run=true runner.report_only=true runner.output_dir=/path/to/run_dir
expect 2 "Could not find 'quant_pair/xyz'" -- quant_pair=xyz
expect 2 "hint: " -- quant_pair=xyz
expect 2 "unknown flag '--bogus'" -- --bogus
expect 2 "Ambiguous value for argument 'dataset.size=small,medium'" -- dataset.size=small,medium
expect 0 "domain: fb.com" -- -cp "$src/tests/data/config/conf" -cn primary --cfg job
expect 0 "usage: lmsens [flags]" -- --dry-run --help

# --info defaults: one row per config where its content merges (Hydra's table)
"$bin" --info defaults -cp "$src/tests/data/config/conf" -cn primary | awk 'NR > 2 { print $1 "|" $2 "|" $3 "|" $4 }' >"$t/got"
printf '%s\n' "db/mysql|db|False|primary" "server/site/fb|server.site|False|server/apache" \
	"server/apache|server|True|primary" "db/sqlite|backup|False|primary" "primary|True|<root>|" >"$t/want"
cmp -s "$t/want" "$t/got" && ok || { bad "--info defaults table"; diff "$t/want" "$t/got" >&2; }

# -cd adds a directory: a new quant pair is just a YAML file
mkdir -p "$t/extra/quant_pair"
printf 'name: wmine\nweight: int8\nactivation: fp16\nformat_name: INT8_WEIGHT_ONLY_CFG\nexperimental: false\n' >"$t/extra/quant_pair/wmine.yaml"
expect 0 "weight-int8-act-fp16" -- -cd "$t/extra" quant_pair=wmine output_layout=publish --dry-run

# a run writes .lmsens/ files before the job starts and warns for experimental pairs; the job
# itself fails (exit 2) on a model path that does not exist
expect 2 "quant_pair 'wint8_afp8' is experimental" -- output_layout=tmp quant_pair=wint8_afp8 dataset.size=small "hydra.run.dir=$t/run" "model.path=$t/nomodel"
[ -f "$t/run/.lmsens/config.yaml" ] && ok || bad "no .lmsens/config.yaml"
[ -f "$t/run/.lmsens/hydra.yaml" ] && ok || bad "no .lmsens/hydra.yaml"
printf -- "- output_layout=tmp\n- quant_pair=wint8_afp8\n- dataset.size=small\n- hydra.run.dir=%s/run\n- model.path=%s/nomodel\n" "$t" "$t" >"$t/want"
cmp -s "$t/want" "$t/run/.lmsens/overrides.yaml" && ok || { bad "overrides.yaml differs"; diff "$t/want" "$t/run/.lmsens/overrides.yaml" >&2; }
grep -qF "format_name: INT8_WEIGHT_FP8_ACT_CFG" "$t/run/.lmsens/config.yaml" && ok || bad "config.yaml content"
ls "$t/run/.lmsens" | grep -q tmp && bad "temporary file left behind" || ok

# a sweep writes multirun.yaml and one directory per job
expect 2 "#1 : quant_pair=wfp8_afp16" -- -m quant_pair=wfp8_afp8,wfp8_afp16 "hydra.sweep.dir=$t/sweep" "model.path=$t/nomodel"
[ -f "$t/sweep/multirun.yaml" ] && ok || bad "no multirun.yaml"
grep -qF -- "- quant_pair=wfp8_afp8,wfp8_afp16" "$t/sweep/multirun.yaml" && ok || bad "multirun.yaml lacks the sweep"
for j in 0 1; do [ -f "$t/sweep/$j/.lmsens/config.yaml" ] && ok || bad "no sweep/$j/.lmsens/config.yaml"; done

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
