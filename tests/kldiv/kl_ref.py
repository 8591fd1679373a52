#!/usr/bin/env python3
"""lmsens's kl_div method (reference/modelopt-autoquant.md §6, HEAD's true
KL) against an independent PyTorch implementation, on the tiny checkpoint
(lmsens mkmodel --preset tiny --format qwen3) and the shipped captions
(16 samples, seq 48, batch 4: 4 calibration and 3 scoring batches).

Reference (written from §4 and §6, not from lmsens): HF transformers'
Qwen3ForCausalLM in bf16 (eager attention, the batch's attention mask);
activation amax = max|X| over the calibration batches; per scoring batch
the unquantized logits zp, then for every group (q/k/v together, gate/up
together, the rest alone, lm_head included) and format one full forward in
which forward hooks replace each member's output by
F.linear(fq_in(X), fq_w(W)) (tests/quant/ref_quant.py), giving zq; score +=
Σ over all B·T positions and the vocabulary of p·(log p − log q), in fp64
from the bf16 logits (ModelOpt forms it in fp32; fp64 keeps the reference
free of the fp32 log-softmax cancellation, see docs/numerics.md).

Checks:
 1. per-group scores, all 8 formats of the seed pairs + NVFP4, within
    relative 1e-3 of the reference (measured worst printed);
 2. autoquant.kl_prefix_reuse=false (every forward from the embedding) gives
    bit-identical group scores and per-step traces to the prefix reuse;
 3. a second run is bit-identical (determinism);
 4. per pair (the 7 seed pairs + NVFP4_DEFAULT_CFG) and per method
    (kl_div and gradient; the gradient reference is tests/autoquant_e2e/
    score_ref.py's §5 implementation): the same ranking of the groups as the
    reference, and at three effective-bits budgets (one -m sweep, a bundle)
    the same selection as an exhaustive search over the reference scores;
 5. a bundle of three pairs gives the same group scores and traces as one
    pair per pass.
Measured worst relative difference lmsens vs reference (kl_div, per group):
    see MEASURED below (printed by every run).
Exit 0 pass, 1 fail, 77 skip (no torch/transformers/tokenizers/h5py).
"""
import glob
import itertools
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import tokenizers  # noqa: F401
    import torch
    import transformers  # noqa: F401
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(77)

SRC = os.environ["LMSENS_SOURCE_DIR"]
LMSENS = os.environ["LMSENS_BIN"]
sys.path.insert(0, os.path.join(SRC, "tests", "quant"))
sys.path.insert(0, os.path.join(SRC, "tests", "autoquant_e2e"))
import ref_quant  # noqa: E402
import score_ref  # noqa: E402  (batches, model loading, format specs, the §5 reference)

TOL = 1e-3
# What is left is the forward's rounding, not the replay's: the 1-ulp
# differences between HF's bf16 forward and the engine's (accumulation
# order, as for the gradient method's lm_head in score_ref.py) matter most
# where the KL is smallest (the quantized logits differ from the unquantized
# ones by a few bf16 ulps); a reference whose replay GEMM accumulates in
# another order moves by only 2e-7 there.
SMALL = 1e-4
# Measured on this file's settings (lmsens CPU backend vs this reference):
MEASURED = ("measured worst 9.1e-4: INT8_WEIGHT_ONLY_CFG, layers.1.mlp.down_proj, KL 2.4e-5; "
            "8.1e-4 over the groups with KL >= 1e-4")
PAIRS = {  # quant_pair -> format (conf/quant_pair/*.yaml), plus NVFP4
    "wfp4_afp16": "MXFP4_WEIGHT_ONLY_CFG",
    "wfp4_afp8": "W4A8_MXFP4_FP8_CFG",
    "wfp8_afp16": "FP8_WEIGHT_ONLY_CFG",
    "wfp8_afp8": "FP8_DEFAULT_CFG",
    "wint8_afp16": "INT8_WEIGHT_ONLY_CFG",
    "wint8_afp8": "INT8_WEIGHT_FP8_ACT_CFG",
    "wint8_aint8": "INT8_DEFAULT_CFG",
    "wfp8_afp8+nvfp4": "NVFP4_DEFAULT_CFG",  # the wfp8_afp8 pair with format_name overridden
}
BITS = {"MXFP4_WEIGHT_ONLY_CFG": 4.0, "W4A8_MXFP4_FP8_CFG": 4.0, "FP8_WEIGHT_ONLY_CFG": 8.0,
        "FP8_DEFAULT_CFG": 8.0, "INT8_WEIGHT_ONLY_CFG": 8.0, "INT8_WEIGHT_FP8_ACT_CFG": 8.0,
        "INT8_DEFAULT_CFG": 8.0, "NVFP4_DEFAULT_CFG": 4.5}  # 4.5: conf/formats, reference §7.1 (HEAD)
FORMATS = list(BITS)
fails = []


def check(ok, msg):
    if not ok:
        fails.append(msg)
        print("FAIL:", msg)


def group_of(module):
    prefix, _, kind = module.rpartition(".")
    if kind in ("q_proj", "k_proj", "v_proj"):
        return prefix + ".q_proj"
    if kind in ("gate_proj", "up_proj"):
        return prefix + ".gate_proj"
    return module


def kl_sum(zp, zq):
    """Σ p·(log p − log q) over every position and the vocabulary, fp64."""
    lp = torch.log_softmax(zp.double(), -1)
    lq = torch.log_softmax(zq.double(), -1)
    return float((lp.exp() * (lp - lq)).sum())


def reference_kl(model_dir, batches, formats):
    """{(group, format): Σ over the scoring batches of KL(P ‖ Q_group)}."""
    model = score_ref.load(model_dir)
    lins = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    amax = {n: torch.zeros(1) for n in lins}
    hooks = []
    for n, m in lins.items():
        def cal(mod, inp, out, n=n):
            amax[n] = torch.maximum(amax[n], inp[0].detach().abs().max().float().reshape(1))
        hooks.append(m.register_forward_hook(cal))
    with torch.no_grad():
        for b in batches[:score_ref.N_CALIB]:
            model(**b)
    for h in hooks:
        h.remove()
    groups = {}
    for n in lins:
        groups.setdefault(group_of(n), []).append(n)
    state = {"members": (), "fmt": None}

    def replace(mod, inp, out, n):
        if n not in state["members"]:
            return None
        ws, xs, calibrated = score_ref.SPECS[state["fmt"]]
        x = inp[0].detach()
        x2 = x.reshape(-1, x.shape[-1])
        wq = ref_quant.fake(ws, mod.weight.detach().float())
        xq = x2 if xs is None else ref_quant.fake(xs, x2.float(), amax[n] if calibrated else None)
        return torch.nn.functional.linear(xq.to(torch.bfloat16), wq).reshape(out.shape)

    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: replace(mod, i, o, n)) for n, m in lins.items()]
    score = {(g, f): 0.0 for g in groups for f in formats}
    with torch.no_grad():
        for b in batches[:score_ref.N_SCORE]:
            state["members"] = ()
            zp = model(**b).logits
            for g, members in groups.items():
                for f in formats:
                    state["members"], state["fmt"] = members, f
                    score[(g, f)] += kl_sum(zp, model(**b).logits)
            state["members"] = ()
    for h in hooks:
        h.remove()
    return score


def run(args, cwd, check_ok=True):
    p = subprocess.run([LMSENS] + args, capture_output=True, text=True, cwd=cwd)
    if check_ok and p.returncode != 0:
        print(p.stderr[-3000:])
        raise SystemExit(f"lmsens {' '.join(args)} exited {p.returncode}")
    return p


def read_h5(d):
    with h5py.File(glob.glob(os.path.join(d, "*_autoquant_state.h5"))[0], "r") as f:
        return dict(fnames=[s.decode() for s in f["formats/name"][:]],
                    gnames=[s.decode() for s in f["groups/name"][:]],
                    gscores=f["groups/scores"][:], traces=f["traces/scores"][:],
                    has_module_scores="scores" in f["modules"],
                    method=bytes(f["settings"].attrs["method"]).decode())


def chosen(d):
    import json
    m = json.load(open(glob.glob(os.path.join(d, "*_quant_manifest.json"))[0]))
    return {k[: -len(".quant_recipe")]: v.split("(")[0] for k, v in m["best"]["recipe"].items()}


def best_selection(scores, numel, fmt, target):
    """Exhaustive search: minimal Σ score with 16·Σ cost / Σ NONE cost <= target
    (lm_head disabled: NONE)."""
    names = [g for g in scores if g != "lm_head"]
    total = sum(numel.values()) * 16.0
    best = None
    for sel in itertools.product((0, 1), repeat=len(names)):
        cost = numel["lm_head"] * 16.0 + sum(numel[g] * (BITS[fmt] if s else 16.0) for g, s in zip(names, sel))
        if 16.0 * cost / total > target + 1e-12:
            continue
        sc = sum(scores[g] for g, s in zip(names, sel) if s)
        if best is None or sc < best[0]:
            best = (sc, sel)
    out = {g: (fmt if s else "NONE") for g, s in zip(names, best[1])}
    out["lm_head"] = "NONE"
    return out


def main():
    work = tempfile.mkdtemp(prefix="lmsens-klref-")
    model_dir = os.path.join(work, "model")
    run(["mkmodel", "--preset", "tiny", "--format", "qwen3", "--out", model_dir], work)
    cap = os.path.join(SRC, "datasets", "vlm-quantize-calib", "coco2017_captions_small.txt")
    base = [f"model.path={model_dir}", "model.name=tiny", f"dataset.captions_path={cap}",
            f"dataset.max_calib_samples={score_ref.N_SAMPLES}", f"dataset.calib_seq_len={score_ref.SEQ_LEN}",
            f"autoquant.batch_size={score_ref.BATCH}", f"autoquant.score_size={score_ref.SCORE_SIZE}"]
    allf = [f"quant_pair.format_name=[{','.join(FORMATS)}]", "autoquant.disabled_layers=[]"]
    kl = ["autoquant=kl_div_default"]
    outs = {k: os.path.join(work, k) for k in ("kl", "kl_noreuse", "kl_again", "grad")}
    run(kl + base + allf + [f"runner.output_dir={outs['kl']}"], work)
    run(kl + base + allf + ["autoquant.kl_prefix_reuse=false", f"runner.output_dir={outs['kl_noreuse']}"], work)
    run(kl + base + allf + [f"runner.output_dir={outs['kl_again']}"], work)
    run(base + allf + [f"runner.output_dir={outs['grad']}"], work)
    a, b, c = (read_h5(outs[k]) for k in ("kl", "kl_noreuse", "kl_again"))
    check(a["method"] == "kl_div" and not a["has_module_scores"], "kl_div: method attribute / no module scores")
    check(np.array_equal(a["gscores"], b["gscores"]) and np.array_equal(a["traces"], b["traces"]),
          "prefix reuse vs from the embedding: group scores/traces not bit-identical")
    check(np.array_equal(a["gscores"], c["gscores"]) and np.array_equal(a["traces"], c["traces"]),
          "determinism: a second run differs")
    ours = {(g, a["fnames"][j]): float(a["gscores"][i, j]) for i, g in enumerate(a["gnames"])
            for j in range(len(a["fnames"]))}

    batches = score_ref.batches_for(model_dir)
    ref = reference_kl(model_dir, batches, FORMATS)
    print("lmsens kl_div vs the PyTorch §6 reference (per group, 9 groups, lm_head included):")
    for f in FORMATS:
        worst, where = max((score_ref.rel(ours[k], ref[k]), k[0]) for k in ref if k[1] == f)
        print(f"  {f:28s} worst relative difference {worst:.3g} ({where}, KL {ref[(where, f)]:.3g})")
        for k in ref:
            if k[1] == f:
                d = score_ref.rel(ours[k], ref[k])
                check(d <= TOL, f"kl_div {f}: {d:.3g} > {TOL} at {k[0]} (KL {ref[k]:.3g})")
        check(all(ref[k] > 0 for k in ref if k[1] == f), f"kl_div {f}: a reference score is not positive")
    allworst = max(score_ref.rel(ours[k], ref[k]) for k in ref)
    bigworst = max(score_ref.rel(ours[k], ref[k]) for k in ref if ref[k] >= SMALL)
    print(f"  overall worst {allworst:.3g}, {bigworst:.3g} where KL >= {SMALL:g} ({MEASURED})")

    # gradient reference, per group
    gref_lin = score_ref.reference_scores(model_dir, batches, FORMATS)
    gref = {}
    for (n, f), v in gref_lin.items():
        gref[(group_of(n), f)] = gref.get((group_of(n), f), 0.0) + v
    gr = read_h5(outs["grad"])
    gours = {(g, gr["fnames"][j]): float(gr["gscores"][i, j]) for i, g in enumerate(gr["gnames"])
             for j in range(len(gr["fnames"]))}
    gworst = max(score_ref.rel(gours[k], gref[k]) for k in gref if k[0] != "lm_head")
    print(f"lmsens gradient vs the §5 reference per group (lm_head aside): worst {gworst:.3g}")
    check(gworst <= TOL, f"gradient group scores {gworst:.3g} > {TOL}")

    # numel per group
    model = score_ref.load(model_dir)
    numel = {}
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            numel[group_of(n)] = numel.get(group_of(n), 0) + m.weight.numel()
    del model

    # 4. per pair and method: ranking and the selection at three budgets
    for method, refs, extra in (("kl_div", ref, kl), ("gradient", gref, [])):
        for pair, fmt in PAIRS.items():
            qp = ["quant_pair=" + pair.split("+")[0]]
            if "+" in pair:
                qp.append(f"quant_pair.format_name={fmt}")
            targets = [BITS[fmt] + (16.0 - BITS[fmt]) * t for t in (0.3, 0.55, 0.8)]
            sweep = os.path.join(work, f"sw_{method}_{pair}")
            run(["-m"] + extra + base + qp + ["autoquant.effective_bits=" + ",".join(f"{t:g}" for t in targets),
                                               f"hydra.sweep.dir={sweep}"], work)
            r = read_h5(os.path.join(sweep, "0"))
            mine = {g: float(r["gscores"][i, 0]) for i, g in enumerate(r["gnames"]) if g != "lm_head"}
            theirs = {g: refs[(g, fmt)] for g in mine}
            rank = sorted(mine, key=lambda g: -mine[g]) == sorted(theirs, key=lambda g: -theirs[g])
            check(rank, f"{method} {pair}: ranking differs from the reference")
            same = 0
            if method == "kl_div":
                cp = subprocess.run([sys.executable, os.path.join(SRC, "tests", "autoquant_e2e", "check_artifacts.py"),
                                     os.path.join(sweep, "0")], capture_output=True, text=True)
                check(cp.returncode == 0, f"kl_div {pair}: check_artifacts: {cp.stdout.strip()[-300:]}")
            for k, t in enumerate(targets):
                want = best_selection({**theirs, "lm_head": 0.0}, numel, fmt, t)
                got = chosen(os.path.join(sweep, str(k)))
                got = {g: v for g, v in got.items()}
                same += got == want
                check(got == want, f"{method} {pair} @ {t:g} bits: selection {got} != reference {want}")
            print(f"  {method:8s} {pair:16s} ranking {'same' if rank else 'DIFFERENT'}, "
                  f"selection same at {same}/3 budgets")

    # 5. bundle == one pair per pass (kl_div)
    trio = ["wfp8_afp8", "wint8_afp16", "wfp4_afp8"]
    bdir = os.path.join(work, "bundle")
    p = run(["-m"] + kl + base + ["quant_pair=" + ",".join(trio), "autoquant.effective_bits=12",
                                  f"hydra.sweep.dir={bdir}"], work)
    check("share one calibration and scoring pass" in p.stderr, "kl_div bundle not announced")
    for k, pair in enumerate(trio):
        single = read_h5(os.path.join(work, f"sw_kl_div_{pair}", "0"))
        bun = read_h5(os.path.join(bdir, str(k)))
        check(np.array_equal(single["gscores"], bun["gscores"]) and np.array_equal(single["traces"], bun["traces"]),
              f"kl_div bundle job {k} ({pair}) differs from one pair per pass")
    print("kl_div reference check:", "FAILED" if fails else "passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
