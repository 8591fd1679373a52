#!/usr/bin/env bash
# test_speedups.sh — the pipeline's speed and memory options change no result
# (issue 8), on the CPU backend with the tiny checkpoint:
#   1. calibration without logits (the default) gives the statistics of
#      autoquant.calib_loss=true (which also computes the calibration losses)
#      apart from /loss/calib, which it leaves empty;
#   2. autoquant.recompute=true and =false give identical statistics;
#   3. autoquant.weight_cache=true and =false give identical statistics, for
#      a bundle whose formats share quantizers (deduplicated replays) and for
#      kl_div; a bundle with the cache equals one pair per pass without it;
#   4. the log says what was chosen; a bad value exits 2 naming the key;
#   5. autoquant.replay_gemm=fp8 needs CUDA for FP8 x FP8 formats and leaves
#      the other formats on the exact path (tests/gpu/test_fp8_replay.c
#      checks the FP8 GEMM itself).
# Usage: test_speedups.sh H5CMP   (env: LMSENS_BIN, LMSENS_SOURCE_DIR)
set -u
H5CMP=$1
. "$LMSENS_SOURCE_DIR/tests/lib/e2e.sh"

e2e_tiny_setup # T, CAP, BASE
BASE+=(dataset.calib_seq_len=48)

# 1. calibration without logits
"$LMSENS_BIN" "${BASE[@]}" quant_pair=wfp8_afp8 runner.output_dir="$T/nolog" > /dev/null 2>&1
check "default run exits 0" "[ $? -eq 0 ]"
"$LMSENS_BIN" "${BASE[@]}" quant_pair=wfp8_afp8 autoquant.calib_loss=true runner.output_dir="$T/log" > /dev/null 2>&1
check "calib_loss=true exits 0" "[ $? -eq 0 ]"
check "no logits in calibration: same statistics apart from the calibration losses" \
	"same --ignore-calib-loss '$(h5 "$T/nolog")' '$(h5 "$T/log")'"
check "no logits in calibration: /loss/calib is empty, and only then" \
	"! same '$(h5 "$T/nolog")' '$(h5 "$T/log")'"

# 2. recompute on and off
for v in true false; do
	"$LMSENS_BIN" "${BASE[@]}" quant_pair=wfp4_afp8 autoquant.recompute=$v runner.output_dir="$T/re_$v" \
		> /dev/null 2> "$T/re_$v.err"
	check "recompute=$v exits 0" "[ $? -eq 0 ]"
done
check "recompute=true == recompute=false" "same '$(h5 "$T/re_true")' '$(h5 "$T/re_false")'"

# 3. the weight cache, with formats sharing quantizers (5 formats, 3 distinct
# inputs, 3 distinct weights: the FP8 weight of wfp8_afp16 and wfp8_afp8, the
# INT8 weight of wint8_afp8 and wint8_aint8, the FP8 input of wfp8_afp8 and
# wint8_afp8)
PAIRS=wfp8_afp8,wfp8_afp16,wint8_afp8,wint8_aint8,wfp4_afp8
for v in true false; do
	"$LMSENS_BIN" -m "${BASE[@]}" quant_pair=$PAIRS autoquant.weight_cache=$v hydra.sweep.dir="$T/wc_$v" \
		> /dev/null 2> "$T/wc_$v.err"
	check "bundle, weight_cache=$v exits 0" "[ $? -eq 0 ]"
done
check "the log names the distinct quantizers and the cache" \
	"grep -q 'replay: 5 formats, 3 distinct input and 3 distinct weight quantizers; quantized weights cached for 42 of 42' '$T/wc_true.err' && grep -q 'cached for 0 of 42' '$T/wc_false.err'"
# a budget in GB that holds only some of the 42 (quantizer, linear) pairs:
# cached slots and per-step scratch side by side
"$LMSENS_BIN" -m "${BASE[@]}" quant_pair=$PAIRS autoquant.weight_cache=0.00005 hydra.sweep.dir="$T/wc_part" \
	> /dev/null 2> "$T/wc_part.err"
check "bundle, weight_cache=0.00005 (GB) exits 0 and caches part" \
	"[ $? -eq 0 ] && grep -q 'cached for [1-9][0-9]* of 42' '$T/wc_part.err' && ! grep -q 'cached for 42 of 42' '$T/wc_part.err'"
for k in 0 1 2 3 4; do
	check "bundle job $k: weight_cache=true == false" "same '$(h5 "$T/wc_true/$k")' '$(h5 "$T/wc_false/$k")'"
	check "bundle job $k: partial weight cache == none" "same '$(h5 "$T/wc_part/$k")' '$(h5 "$T/wc_false/$k")'"
done
"$LMSENS_BIN" "${BASE[@]}" quant_pair=wfp8_afp16 autoquant.weight_cache=false runner.output_dir="$T/one" \
	> /dev/null 2>&1
check "cached, deduplicated bundle job == one pair per pass without the cache" \
	"same '$(h5 "$T/wc_true/1")' '$(h5 "$T/one")'"
for v in true false; do
	"$LMSENS_BIN" -m "${BASE[@]}" autoquant=kl_div_default autoquant.batch_size=4 autoquant.score_size=4 \
		autoquant.effective_bits=12 quant_pair=wfp8_afp8,wint8_afp8 autoquant.weight_cache=$v \
		hydra.sweep.dir="$T/kl_$v" > /dev/null 2> "$T/kl_$v.err"
	check "kl_div, weight_cache=$v exits 0" "[ $? -eq 0 ]"
done
for k in 0 1; do
	check "kl_div job $k: weight_cache=true == false" "same '$(h5 "$T/kl_true/$k")' '$(h5 "$T/kl_false/$k")'"
done

# 4. user errors
"$LMSENS_BIN" "${BASE[@]}" autoquant.recompute=maybe runner.output_dir="$T/e1" > /dev/null 2> "$T/e1.err"
check "recompute=maybe: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'autoquant.recompute' '$T/e1.err'"
"$LMSENS_BIN" "${BASE[@]}" autoquant.weight_cache=-2 runner.output_dir="$T/e2" > /dev/null 2> "$T/e2.err"
check "weight_cache=-2: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'autoquant.weight_cache' '$T/e2.err'"
"$LMSENS_BIN" "${BASE[@]}" autoquant.weight_cache=many runner.output_dir="$T/e2b" > /dev/null 2> "$T/e2b.err"
check "weight_cache=many: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'autoquant.weight_cache' '$T/e2b.err'"
"$LMSENS_BIN" "${BASE[@]}" autoquant.replay_gemm=fp16 runner.output_dir="$T/e3" > /dev/null 2> "$T/e3.err"
check "replay_gemm=fp16: exit 2 naming the key" "[ $? -eq 2 ] && grep -q 'autoquant.replay_gemm' '$T/e3.err'"
"$LMSENS_BIN" "${BASE[@]}" quant_pair=wfp8_afp8 autoquant.replay_gemm=fp8 runner.backend=cpu \
	runner.output_dir="$T/e4" > /dev/null 2> "$T/e4.err"
check "replay_gemm=fp8 on the CPU backend: exit 2, needs CUDA" "[ $? -eq 2 ] && grep -q 'needs the CUDA backend' '$T/e4.err'"
"$LMSENS_BIN" "${BASE[@]}" quant_pair=wint8_afp16 autoquant.replay_gemm=fp8 runner.backend=cpu \
	runner.output_dir="$T/f8int" > /dev/null 2>&1
"$LMSENS_BIN" "${BASE[@]}" quant_pair=wint8_afp16 runner.backend=cpu runner.output_dir="$T/exint" \
	> /dev/null 2>&1
check "replay_gemm=fp8 without an FP8 x FP8 format: the exact replay, same statistics" \
	"same '$(h5 "$T/f8int")' '$(h5 "$T/exint")'"
exit $fail
