#!/usr/bin/env bash
# test_bench_cli.sh — `lmsens bench` end to end on the CPU with the tiny
# model: every scenario runs (kl_div without a FLOP count), --repeat gives that many
# timed runs, the JSON holds the FLOP counts of src/bench/flops.h for the
# tiny shape and the token counts of the packed batches, and bad arguments
# exit 2 with a message. Timings are not checked (they are measured on the
# GPU machine, docs/BENCHMARKS.md). Label: e2e.
set -u
BIN=${LMSENS_BIN:?LMSENS_BIN not set}
PY=${LMSENS_PYTHON:-python3}
"$PY" -c 'import json' 2>/dev/null || PY=python3
T=$(mktemp -d "${TMPDIR:-/tmp}/lmsens-bench-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "${LMSENS_SOURCE_DIR:?}"
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect() { # CODE NEEDLE CMD...
	local code=$1 needle=$2; shift 2
	local out rc
	out=$("$@" 2>&1); rc=$?
	[ "$rc" -eq "$code" ] || { bad "$* → exit $rc, want $code"; echo "$out" >&2; return; }
	grep -qF -- "$needle" <<<"$out" || { bad "$* → output lacks '$needle'"; echo "$out" >&2; }
}

"$BIN" mkmodel --preset tiny --out "$T/m" >/dev/null 2>&1 || { echo "mkmodel failed"; exit 1; }
small=(runner.backend=cpu dataset.calib_seq_len=32 autoquant.calib_steps=2 autoquant.score_size=8
	dataset.max_calib_samples=512)
expect 0 "| kl_div | 1 | load |" "$BIN" bench --model "$T/m" --work "$T/w" --repeat 2 \
	--peak-size 64 --json "$T/b.json" "${small[@]}"
"$PY" - "$T/b.json" <<'PYEOF' || fails=$((fails + 1))
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["name"]: x for x in d["scenarios"]}
ok = True
def check(c, msg):
    global ok
    if not c:
        print("FAIL:", msg); ok = False
check(d["peak"]["measured"] == 1 and d["peak"]["tflops"] > 0 and d["peak"]["gbps"] > 0, "peaks measured")
check(list(s) == ["standard", "bundle7", "kl_div", "seq2048", "lowmem"], "scenario order %s" % list(s))
lm = s["lowmem"]
check(lm["status"] == "ok" and lm["recompute"] == 1 and lm["weight_cache_bytes"] == 0
      and lm["weight_cache_slots"] == 0 and lm["weight_cache_wanted"] > 0, "lowmem: recompute, no weight cache")
check(s["standard"]["recompute"] == 0 and s["standard"]["weight_cache_slots"] == s["standard"]["weight_cache_wanted"] > 0,
      "standard on the CPU (tiny): activations kept, every quantized weight cached")
kl = s["kl_div"]
check(kl["status"] == "ok" and kl["runs"] == 1 and kl["phases"]["score"] > 0, "kl_div ran")
check(kl["score_flop"] == 0 and kl["replay_flop"] == 0, "kl_div FLOPs not counted")
st = s["standard"]
check(st["status"] == "ok" and st["runs"] == 2, "standard: 2 timed runs")
# tiny: C 64, F 128, L 2, H 4, G 2, D 16, V 512 per docs/model.md; read the config instead
cfg = json.load(open(sys.argv[1].replace("b.json", "m/config.json")))
tc = cfg.get("text_config", cfg)
C, F, L = tc["hidden_size"], tc["intermediate_size"], tc["num_hidden_layers"]
H, G, V = tc["num_attention_heads"], tc["num_key_value_heads"], tc["vocab_size"]
D = tc.get("head_dim", C // H)
dec = 2 * L * (C * H * D * 2 + 2 * C * G * D + 3 * C * F)
lin = dec + 2 * C * V
def attn(T): return L * 4 * H * D * (T + 1) / 2
T = st["seq_len"]
check(T == 32, "seq_len 32")
check(st["score_tokens"] == 8 * T * 1 and st["calib_tokens"] == 2 * 4 * T, "token counts %d %d" % (st["score_tokens"], st["calib_tokens"]))
check(st["formats"] == 1, "one format for wfp8_afp8")
want = st["score_tokens"] * (2 * lin + 3 * attn(T) + dec)
check(abs(st["score_flop"] - want) <= 1e-9 * want, "score flop %g vs %g" % (st["score_flop"], want))
want = st["calib_tokens"] * (lin + attn(T))
check(abs(st["calib_flop"] - want) <= 1e-9 * want, "calib flop")
b7 = s["bundle7"]
check(b7["status"] == "ok" and b7["formats"] > 1, "bundle7 replays several formats")
check(abs(b7["replay_flop"] - b7["formats"] * st["replay_flop"]) <= 1e-9 * b7["replay_flop"], "bundle7 replays scale")
s2 = s["seq2048"]
check(s2["status"] == "ok" and s2["seq_len"] == 32, "user overrides win over the scenario's")
for x in (st, b7, s2):
    check(all(v >= 0 for v in x["phases"].values()) and x["phases"]["score"] > 0, x["name"] + " phases")
sys.exit(0 if ok else 1)
PYEOF
# the seven jobs of bundle7 each wrote their manifest
n=$(ls "$T"/w/bundle7/0/*/*_quant_manifest.json 2>/dev/null | wc -l)
[ "$n" -eq 7 ] || bad "bundle7 wrote $n manifests, want 7"

expect 2 "needs --model" "$BIN" bench
expect 2 "unknown scenario 'nope'" "$BIN" bench --model "$T/m" --scenarios standard,nope
expect 2 "not a valid count" "$BIN" bench --model "$T/m" --repeat 0
expect 2 "unknown flag '--frobnicate'" "$BIN" bench --model "$T/m" --frobnicate 1
expect 2 "config.json" "$BIN" bench --model "$T/missing"
expect 0 "usage: lmsens bench" "$BIN" bench --help
[ "$fails" -eq 0 ] && echo "test_bench_cli: all passed"
exit $((fails > 0))
