#!/usr/bin/env bash
# test_pipeline.sh — `lmsens [overrides]` end to end on the CPU backend with
# the tiny checkpoint (lmsens mkmodel --preset tiny):
#   1. one job per pair writes the five artifacts, consistent
#      (check_artifacts.py: monotonized non-negative scores, disabled lm_head
#      NONE/16 bits/score 0, budget, exhaustive optimality);
#   2. a -m bundle over three pairs gives bit-identical statistics to one pair
#      per pass (h5cmp: every dataset, timings excepted);
#   3. determinism: a second run gives identical statistics and identical
#      per-layer-sensitivity.{json,md,svg} and manifest (timings excepted);
#   4. runner.report_only=true rebuilds the reports byte for byte;
#   5. several formats in one pair (a list in quant_pair.format_name);
#   6. user errors exit 2 with a clear message and write no artifacts.
# Usage: test_pipeline.sh H5CMP   (env: LMSENS_BIN, LMSENS_SOURCE_DIR, LMSENS_PYTHON)
set -u
H5CMP=$1
PY=${LMSENS_PYTHON:-python3}
CHECK="$PY $LMSENS_SOURCE_DIR/tests/autoquant_e2e/check_artifacts.py"
. "$LMSENS_SOURCE_DIR/tests/lib/e2e.sh"

e2e_tiny_setup # T, CAP, BASE
COMMON=("${BASE[@]}" dataset.calib_seq_len=48)
PAIRS=(wfp8_afp8 wint8_afp16 wfp4_afp8)

# 1. one pair per pass
for p in "${PAIRS[@]}"; do
	"$LMSENS_BIN" "${COMMON[@]}" quant_pair=$p runner.output_dir="$T/single/$p" > "$T/$p.out" 2> "$T/$p.err"
	check "single $p exits 0" "[ $? -eq 0 ]"
	check "single $p artifacts consistent" "$CHECK '$T/single/$p' > '$T/$p.chk' || { cat '$T/$p.chk'; false; }"
done
check "progress lines name the phases with rates" \
	"grep -q 'calibrate: 4/4 batches' '$T/wfp8_afp8.err' && grep -q 'score: 3/3 steps' '$T/wfp8_afp8.err' && grep -q 'steps/s' '$T/wfp8_afp8.err'"
check "scheme names the artifacts" "[ -f '$T/single/wfp8_afp8/tiny_wfp8_afp8_autoquant_state.h5' ]"

# 2. the bundle: three pairs, one pass
"$LMSENS_BIN" -m "${COMMON[@]}" quant_pair=$(IFS=,; echo "${PAIRS[*]}") hydra.sweep.dir="$T/sweep" \
	> "$T/sweep.out" 2> "$T/sweep.err"
check "bundle exits 0" "[ $? -eq 0 ]"
check "bundle announced" "grep -q 'bundle: jobs #0, #1, #2 share one calibration and scoring pass' '$T/sweep.err'"
check "one calibration pass for the bundle" "[ \$(grep -c 'calibrate: 4/4' '$T/sweep.err') -eq 1 ]"
for k in 0 1 2; do
	p=${PAIRS[$k]}
	h=$(h5 "$T/sweep/$k")
	check "bundle job $k ($p) == single pass" \
		"[ -n '$h' ] && '$H5CMP' --ignore-config '$h' '$T/single/$p/tiny_${p}_autoquant_state.h5'"
	check "bundle job $k per-layer JSON == single pass" \
		"cmp -s '$T/sweep/$k/per-layer-sensitivity.json' '$T/single/$p/per-layer-sensitivity.json'"
done

# 2b. interleaved bundles: a sweep over two sequence lengths makes two passes
# (Hydra order: quant_pair varies slowest, so the bundles are {#0, #2} and {#1, #3})
"$LMSENS_BIN" -m "${BASE[@]}" quant_pair=wfp8_afp8,wint8_afp16 dataset.calib_seq_len=8,48 \
	hydra.sweep.dir="$T/sweep2" > /dev/null 2> "$T/sweep2.err"
check "two-bundle sweep exits 0" "[ $? -eq 0 ]"
check "bundles {#0, #2} and {#1, #3}" \
	"grep -q 'bundle: jobs #0, #2 share' '$T/sweep2.err' && grep -q 'bundle: jobs #1, #3 share' '$T/sweep2.err'"
check "two calibration passes" "[ \$(grep -c 'calibrate: 4/4' '$T/sweep2.err') -eq 2 ]"
check "seq 48 jobs of the second sweep == single pass" \
	"'$H5CMP' --ignore-config '$T/sweep2/1/tiny_wfp8_afp8_autoquant_state.h5' '$T/single/wfp8_afp8/tiny_wfp8_afp8_autoquant_state.h5' && '$H5CMP' --ignore-config '$T/sweep2/3/tiny_wint8_afp16_autoquant_state.h5' '$T/single/wint8_afp16/tiny_wint8_afp16_autoquant_state.h5'"
check "seq 8 (truncating) differs from seq 48" \
	"! '$H5CMP' --ignore-config '$T/sweep2/0/tiny_wfp8_afp8_autoquant_state.h5' '$T/single/wfp8_afp8/tiny_wfp8_afp8_autoquant_state.h5' > /dev/null"

# 3. determinism
"$LMSENS_BIN" "${COMMON[@]}" quant_pair=wfp8_afp8 runner.output_dir="$T/again" > /dev/null 2>&1
check "second run exits 0" "[ $? -eq 0 ]"
check "second run: identical statistics (timings excepted)" \
	"'$H5CMP' --ignore-config '$T/again/tiny_wfp8_afp8_autoquant_state.h5' '$T/single/wfp8_afp8/tiny_wfp8_afp8_autoquant_state.h5'"
for f in per-layer-sensitivity.json per-layer-sensitivity.md per-layer-sensitivity.svg; do
	check "second run: identical $f" "cmp -s '$T/again/$f' '$T/single/wfp8_afp8/$f'"
done
check "second run: identical manifest apart from timings" \
	"$PY -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); [d.pop(\"timings\") for d in (a,b)]; sys.exit(a!=b)' \
	'$T/again/tiny_wfp8_afp8_quant_manifest.json' '$T/single/wfp8_afp8/tiny_wfp8_afp8_quant_manifest.json'"

# 4. report-only
d="$T/again"
cp "$d/per-layer-sensitivity.json" "$T/pls.json"
cp "$d/tiny_wfp8_afp8_quant_manifest.json" "$T/man.json"
rm -f "$d"/per-layer-sensitivity.* "$d"/*_quant_manifest.json
"$LMSENS_BIN" "${COMMON[@]}" quant_pair=wfp8_afp8 runner.output_dir="$d" runner.report_only=true > /dev/null 2> "$T/ro.err"
check "report_only exits 0" "[ $? -eq 0 ]"
check "report_only does not score" "! grep -q 'score:' '$T/ro.err'"
check "report_only rebuilds per-layer JSON byte for byte" "cmp -s '$d/per-layer-sensitivity.json' '$T/pls.json'"
check "report_only rebuilds the manifest byte for byte" "cmp -s '$d/tiny_wfp8_afp8_quant_manifest.json' '$T/man.json'"
check "report_only artifacts consistent" "$CHECK '$d' > /dev/null"

# 4b. report-only from a manifest when there is no statistics file: an lmsens
# manifest (same ranking, scores, choices and frontier as the run), and a
# manifest of ModelOpt's own search state (mtq.auto_quantize on the tiny
# qwen3 model, INT4 block + FP8, target 9 bits; tests/data/autoquant_e2e):
# the exact search re-run at ModelOpt's achieved 8.5 bits picks ModelOpt's
# (CBC's) recipe with its score.
m="$T/mf"; mkdir -p "$m"
cp "$T/single/wint8_afp16/tiny_wint8_afp16_quant_manifest.json" "$m/"
"$LMSENS_BIN" "${COMMON[@]}" quant_pair=wint8_afp16 runner.report_only=true runner.output_dir="$m" > /dev/null 2> "$T/mf.err"
check "report_only from an lmsens manifest exits 0 and says so" "[ $? -eq 0 ] && grep -q 'rebuilt from the manifest' '$T/mf.err'"
check "report_only from an lmsens manifest: same layers, scores, choices, frontier" \
	"$PY -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); k=lambda m: ([(l[\"layer\"],l[\"scores\"],l[\"chosen_format\"],l[\"rank\"]) for l in m[\"layers\"]], m[\"frontier\"], m[\"summary\"][\"total_score\"]); sys.exit(k(a)!=k(b))' \
	'$m/per-layer-sensitivity.json' '$T/single/wint8_afp16/per-layer-sensitivity.json'"
m="$T/mo"; mkdir -p "$m"
cp "$LMSENS_SOURCE_DIR/tests/data/autoquant_e2e/modelopt_manifest/qwen3_tiny_w4a16_fp8_quant_manifest.json" "$m/"
"$LMSENS_BIN" "${COMMON[@]}" runner.report_only=true runner.output_dir="$m" > /dev/null 2> "$T/mo.err"
check "report_only from a ModelOpt manifest exits 0" "[ $? -eq 0 ] && [ -s '$m/per-layer-sensitivity.md' ] && [ -s '$m/per-layer-sensitivity.svg' ]"
check "ModelOpt manifest: lmsens's exact search reproduces ModelOpt's recipe and score" \
	"$PY -c 'import json,sys,glob; r=json.load(open(\"$m/per-layer-sensitivity.json\")); mo=json.load(open(glob.glob(\"$m/*manifest.json\")[0]))[\"best\"]; got={l[\"layer\"]+\".quant_recipe\": l[\"chosen_format\"] for l in r[\"layers\"]}; want={k: v.split(\"(\")[0] for k,v in mo[\"recipe\"].items()}; s=r[\"summary\"]; sys.exit(not (got==want and abs(s[\"total_score\"]-mo[\"score\"])<=1e-12*mo[\"score\"] and s[\"achieved_effective_bits\"]==mo[\"constraints\"][\"effective_bits\"]))'"
echo '{"candidate_stats": 3}' > "$T/bad_quant_manifest.json"; mkdir -p "$T/bad"; mv "$T/bad_quant_manifest.json" "$T/bad/"
"$LMSENS_BIN" "${COMMON[@]}" runner.report_only=true runner.output_dir="$T/bad" > /dev/null 2> "$T/bad.err"
check "report_only from a bad manifest: exit 2 naming the file" "[ $? -eq 2 ] && grep -q 'bad_quant_manifest.json: no candidate_stats' '$T/bad.err'"

# 5. several formats in one pair: exhaustive optimality over 3^8 selections
"$LMSENS_BIN" "${COMMON[@]}" quant_pair=wfp8_afp8 'quant_pair.format_name=[FP8_DEFAULT_CFG,MXFP4_WEIGHT_ONLY_CFG]' \
	autoquant.effective_bits=9 runner.output_dir="$T/multi" > /dev/null 2> "$T/multi.err"
check "two-format pair exits 0" "[ $? -eq 0 ]"
check "two-format pair consistent and optimal" "$CHECK '$T/multi' | grep -q 'exhaustive check over 6561 selections ok'"
check "two-format pair satisfied at 9 bits" \
	"$PY -c 'import json,glob,sys; m=json.load(open(glob.glob(\"$T/multi/*manifest.json\")[0])); sys.exit(not m[\"best\"][\"is_satisfied\"])'"
check "two-format pair: FP8 scores below MXFP4 scores in every group" \
	"$PY -c 'import json,glob,sys; m=json.load(open(glob.glob(\"$T/multi/*manifest.json\")[0])); sys.exit(any(len(s[\"scores\"])==3 and not s[\"scores\"][1] < s[\"scores\"][0] for s in m[\"candidate_stats\"].values()))'"

# 6. user errors
"$LMSENS_BIN" "${COMMON[@]}" runner.backend=cuda runner.output_dir="$T/e1" > /dev/null 2> "$T/e1.err"
rc=$?
if grep -q 'built without CUDA' "$T/e1.err"; then
	check "runner.backend=cuda without CUDA: exit 2" "[ $rc -eq 2 ] && ! ls '$T/e1/'*.h5 > /dev/null 2>&1"
elif grep -q 'no CUDA device' "$T/e1.err"; then
	check "runner.backend=cuda without a GPU: exit 2" "[ $rc -eq 2 ]"
else
	check "runner.backend=cuda with a GPU runs" "[ $rc -eq 0 ]"
fi
"$LMSENS_BIN" "${COMMON[@]}" runner.backend=tpu runner.output_dir="$T/e2" > /dev/null 2> "$T/e2.err"
check "runner.backend=tpu: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'runner.backend' '$T/e2.err'"
"$LMSENS_BIN" "${COMMON[@]}" model.path="$T/nomodel" runner.output_dir="$T/e3" > /dev/null 2> "$T/e3.err"
check "missing model: exit 2 naming the path, no artifacts" \
	"[ $? -eq 2 ] && grep -q '$T/nomodel' '$T/e3.err' && ! ls '$T/e3/'*.h5 > /dev/null 2>&1"
"$LMSENS_BIN" "${COMMON[@]}" dataset.captions_path="$T/none.txt" runner.output_dir="$T/e4" > /dev/null 2> "$T/e4.err"
check "missing captions: exit 2 naming the file" "[ $? -eq 2 ] && grep -q '$T/none.txt' '$T/e4.err'"
"$LMSENS_BIN" "${COMMON[@]}" autoquant.batch_size=0 runner.output_dir="$T/e5" > /dev/null 2> "$T/e5.err"
check "batch_size 0: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'autoquant.batch_size' '$T/e5.err'"
"$LMSENS_BIN" "${COMMON[@]}" quant_pair=wint8_afp16 runner.report_only=true runner.output_dir="$d" > /dev/null 2> "$T/ro2.err"
check "report_only with another pair uses the directory's only statistics file" \
	"[ $? -eq 0 ] && grep -q 'only statistics file' '$T/ro2.err' && cmp -s '$d/per-layer-sensitivity.json' '$T/pls.json'"
"$LMSENS_BIN" "${COMMON[@]}" runner.report_only=true runner.output_dir="$T/e6" > /dev/null 2> "$T/e6.err"
check "report_only without statistics: exit 2" "[ $? -eq 2 ] && grep -q 'no statistics file' '$T/e6.err'"
exit $fail
