#!/usr/bin/env bash
# test_kldiv_cuda.sh H5CMP — the kl_div method end to end on the CUDA backend
# against the CPU backend: lmsens -cn demo autoquant.method=kl_div with the
# seven seed quant pairs in one bundle, on the CPU, on CUDA with the default
# attention kernels and on CUDA with the eager-exact ones
# (LMSENS_CUDA_ATTN=eager). For every group of every job's manifest the
# formats and costs must be identical and every score must agree within the
# relative tolerance below (|a − b| / max(|a|, |b|); measured worst values
# printed and recorded in docs/cuda.md). A second CUDA run must give
# bit-identical statistics files (h5cmp). Exits 77 without a CUDA device.
set -euo pipefail
H5CMP=${1:?usage: test_kldiv_cuda.sh H5CMP}
BIN=${LMSENS_BIN:?LMSENS_BIN is not set}
PY=${LMSENS_PYTHON:-}
if [ -z "$PY" ] || ! "$PY" -c 'import json' 2>/dev/null; then PY=python3; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/lmsens-gpu-kldiv.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

pairs=wfp8_afp8,wint8_aint8,wfp4_afp8,wfp4_afp16,wfp8_afp16,wint8_afp16,wint8_afp8
run() { # backend outdir [LMSENS_CUDA_ATTN]
	LMSENS_CUDA_ATTN=${3:-} "$BIN" -cn demo autoquant.method=kl_div -m quant_pair=$pairs \
		runner.backend="$1" model.path="$work/model" hydra.sweep.dir="$2" >"$2.log" 2>&1
}
if ! run cuda cuda; then
	if grep -q "no CUDA device\|built without CUDA" cuda.log; then
		echo "no CUDA device visible: skipped"
		exit 77
	fi
	cat cuda.log
	exit 1
fi
grep -q "backend cuda" cuda.log || { echo "FAIL: the cuda run did not use the CUDA backend"; exit 1; }
run cuda cuda-again || { cat cuda-again.log; exit 1; }
run cuda eager eager || { cat eager.log; exit 1; }
run cpu cpu || { cat cpu.log; exit 1; }

fails=0
for f in cuda/*/*_autoquant_state.h5; do
	"$H5CMP" --ignore-config "$f" "cuda-again/${f#cuda/}" ||
		{ echo "FAIL: two CUDA runs differ: $f"; fails=$((fails + 1)); }
done
echo "  reproducibility: $(ls cuda/*/*_autoquant_state.h5 | wc -l) statistics files of two CUDA runs compared"

# Tolerances (relative, per group score), CUDA against the CPU, from the
# measurement on an H100 (docs/cuda.md): eager-exact attention measured
# worst 3.78e-3 (tolerance 1e-2); the default attention kernels (flash:
# fp32 scores where the CPU's eager graph rounds to bf16) measured worst
# 0.106 (tolerance 0.2). Both: the same recipe in all 7 jobs.
"$PY" - "$work" <<'PYEOF' || fails=$((fails + 1))
import glob, json, os, sys
root = sys.argv[1]
fails = 0
for gdir, tol in (("eager", 1e-2), ("cuda", 0.2)):
    worst, n, recipes = 0.0, 0, 0
    cpu = sorted(glob.glob(f"{root}/cpu/*/*_quant_manifest.json"))
    gpu = sorted(glob.glob(f"{root}/{gdir}/*/*_quant_manifest.json"))
    if len(cpu) != 7 or len(gpu) != 7 or [os.path.relpath(p, f"{root}/cpu") for p in cpu] != \
            [os.path.relpath(p, f"{root}/{gdir}") for p in gpu]:
        print(f"FAIL: {gdir}: expected the same 7 manifests, got cpu {len(cpu)} {gdir} {len(gpu)}")
        sys.exit(1)
    for c, g in zip(cpu, gpu):
        mc, mg = json.load(open(c)), json.load(open(g))
        cs, gs = mc["candidate_stats"], mg["candidate_stats"]
        if sorted(cs) != sorted(gs):
            print(f"FAIL: {gdir} {c}: different groups"); fails += 1; continue
        for key in cs:
            a, b = cs[key], gs[key]
            if a["formats"] != b["formats"] or a["costs"] != b["costs"]:
                print(f"FAIL: {gdir} {key}: formats/costs differ"); fails += 1; continue
            for fa, sa, sb in zip(a["formats"], a["scores"], b["scores"]):
                n += 1
                den = max(abs(sa), abs(sb))
                rel = abs(sa - sb) / den if den > 0 else 0.0
                worst = max(worst, rel)
                if not rel <= tol:
                    print(f"FAIL: {gdir} {os.path.basename(c)} {key} {fa}: cpu {sa!r} cuda {sb!r} rel {rel:.3g}")
                    fails += 1
        recipes += mc["best"]["recipe"] == mg["best"]["recipe"]
    kind = "default (flash)" if gdir == "cuda" else "eager-exact"
    print(f"  kl_div, {kind} attention: {n} group scores compared, worst relative difference "
          f"{worst:.3g} (tolerance {tol}); best recipe identical in {recipes} of 7 jobs")
sys.exit(1 if fails else 0)
PYEOF
[ "$fails" -eq 0 ] && echo "kl_div CUDA vs CPU: all checks passed"
exit $((fails > 0))
