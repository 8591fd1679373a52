#!/usr/bin/env python3
"""Consistency checks of one finished job directory (stdlib only).

    check_artifacts.py JOB_DIR [--disabled lm_head]

- the five artifacts exist (manifest, HDF5, per-layer md/json/svg);
- candidate_stats (ModelOpt layout): per group, formats in ascending bits with
  NONE last at score 0; scores >= 0 and non-increasing (monotonized, §5.5);
  costs = Σ numel × bits / 16; a disabled group offers only NONE, scores
  [0] and costs 16 bits;
- best: every group has a recipe among its formats; disabled groups NONE;
  best.constraints.effective_bits = 16 × Σ chosen cost / Σ NONE cost;
  best.score = Σ chosen scores; is_satisfied ⇔ achieved <= target;
- optimality: when there are few enough combinations, an exhaustive search
  over all selections finds no selection within the budget with a smaller
  score (and, when none fits, is_satisfied is false and the least-cost
  selection was taken).
Exit 0 ok, 1 on the first failed check (printed).
"""
import itertools
import json
import os
import re
import sys


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def bits_of(recipe):
    m = re.match(r"^(.*)\(effective-bits: ([0-9.]+)\)$", recipe)
    if not m:
        fail(f"bad recipe string {recipe!r}")
    return m.group(1), float(m.group(2))


def check_h5(path, cs):
    """With h5py: per-step traces add up to the group scores, member scores add
    up to the group score, amaxes are positive, and the manifest's candidate
    scores are the file's monotonized group scores."""
    try:
        import h5py
    except ImportError:
        print("h5py not available: statistics-file checks skipped")
        return
    with h5py.File(path, "r") as f:
        gs = f["groups/scores"][:]
        tr = f["traces/scores"][:]
        # kl_div scores whole groups only: no per-module scores
        ms = f["modules/scores"][:] if "scores" in f["modules"] else None
        mg = f["modules/group"][:]
        names = [n.decode() for n in f["groups/name"][:]]
        dis = f["groups/disabled"][:]
        amax = f["modules/act_amax"][:]
        wamax = f["modules/weight_amax"][:]
    if tr.shape[1:] != gs.shape:
        fail(f"traces shape {tr.shape} vs group scores {gs.shape}")
    for g in range(gs.shape[0]):
        for k in range(gs.shape[1]):
            t = float(tr[:, g, k].sum())
            m = float(ms[mg == g, k].sum()) if ms is not None else float(gs[g, k])
            if abs(t - gs[g, k]) > 1e-12 * max(1e-300, abs(gs[g, k])) + 1e-300:
                fail(f"{names[g]}: traces sum {t} != group score {gs[g, k]}")
            if abs(m - gs[g, k]) > 1e-12 * max(1e-300, abs(gs[g, k])) + 1e-300:
                fail(f"{names[g]}: member scores sum {m} != group score {gs[g, k]}")
        st = cs[names[g] + ".quant_recipe"]
        if not dis[g]:
            mono, best = [], float("inf")
            for k in range(gs.shape[1]):
                best = min(best, float(gs[g, k]) if k < gs.shape[1] - 1 else 0.0)
                mono.append(best)
            if mono != st["scores"]:
                fail(f"{names[g]}: manifest scores {st['scores']} != monotonized file scores {mono}")
    if not (amax > 0).all() or not (wamax > 0).all():
        fail("an activation or weight amax is not positive")


def main():
    job = sys.argv[1]
    disabled = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--disabled" else "lm_head"
    files = os.listdir(job)
    man = [f for f in files if f.endswith("_quant_manifest.json")]
    h5 = [f for f in files if f.endswith("_autoquant_state.h5")]
    if len(man) != 1 or len(h5) != 1:
        fail(f"{job}: expected one manifest and one .h5, got {man} {h5}")
    if man[0][: -len("_quant_manifest.json")] != h5[0][: -len("_autoquant_state.h5")]:
        fail("manifest and statistics file have different schemes")
    for f in ("per-layer-sensitivity.md", "per-layer-sensitivity.json", "per-layer-sensitivity.svg"):
        if f not in files or os.path.getsize(os.path.join(job, f)) == 0:
            fail(f"{job}: {f} missing or empty")
    with open(os.path.join(job, man[0])) as f:
        m = json.load(f)
    target = m["autoquant"]["effective_bits"]
    cs = m["candidate_stats"]
    best = m["best"]
    groups = list(cs)
    if not groups:
        fail("no groups")
    n_dis = 0
    for g in groups:
        st = cs[g]
        fmts = [bits_of(r) for r in st["formats"]]
        if fmts[-1][0] != "NONE" or fmts[-1][1] != 16.0:
            fail(f"{g}: last format is {st['formats'][-1]}, not NONE")
        if [b for _, b in fmts] != sorted(b for _, b in fmts):
            fail(f"{g}: formats not in ascending bits")
        sc = st["scores"]
        if any(s < 0 for s in sc):
            fail(f"{g}: negative score {sc}")
        if sc[-1] != 0.0:
            fail(f"{g}: NONE score {sc[-1]} != 0")
        if any(sc[i + 1] > sc[i] for i in range(len(sc) - 1)):
            fail(f"{g}: scores not monotonized {sc}")
        numel = st["costs"][-1]
        for (name, b), c in zip(fmts, st["costs"]):
            if abs(c - numel * b / 16.0) > 1e-9 * numel:
                fail(f"{g}: cost {c} of {name} != numel {numel} x {b} / 16")
        is_dis = any(disabled in mod for mod in st.get("module_names", [g]))
        if is_dis:
            n_dis += 1
            if [f for f, _ in fmts] != ["NONE"] or sc != [0.0]:
                fail(f"{g}: disabled group offers {st['formats']} with scores {sc}")
            if best["recipe"][g] != "NONE(effective-bits: 16.0)":
                fail(f"{g}: disabled group chose {best['recipe'][g]}")
        if best["recipe"][g] not in st["formats"]:
            fail(f"{g}: chosen {best['recipe'][g]} is not a candidate")
        if sc[0] <= 0.0 and not is_dis:
            fail(f"{g}: score at the most aggressive format is {sc[0]} (expected > 0 on random weights)")
    if n_dis == 0:
        fail(f"no group matched the disabled pattern {disabled!r}")
    total = sum(cs[g]["costs"][-1] for g in groups)
    idx = {g: cs[g]["formats"].index(best["recipe"][g]) for g in groups}
    cost = sum(cs[g]["costs"][idx[g]] for g in groups)
    score = sum(cs[g]["scores"][idx[g]] for g in groups)
    eff = 16.0 * cost / total
    if abs(eff - best["constraints"]["effective_bits"]) > 1e-9:
        fail(f"best effective bits {best['constraints']['effective_bits']} != recomputed {eff}")
    if abs(score - best["score"]) > 1e-12 * max(1.0, abs(score)):
        fail(f"best score {best['score']} != recomputed {score}")
    if best["is_satisfied"] != (eff <= target + 1e-12):
        fail(f"is_satisfied {best['is_satisfied']} but achieved {eff} vs target {target}")
    combos = 1
    for g in groups:
        combos *= len(cs[g]["formats"])
    if combos <= 1 << 18:
        budget = total * target / 16.0
        opt, least = None, None
        for sel in itertools.product(*[range(len(cs[g]["formats"])) for g in groups]):
            c = sum(cs[g]["costs"][i] for g, i in zip(groups, sel))
            s = sum(cs[g]["scores"][i] for g, i in zip(groups, sel))
            if least is None or c < least[0]:
                least = (c, s)
            if c <= budget + 1e-9 and (opt is None or s < opt):
                opt = s
        if opt is None:
            if best["is_satisfied"] or abs(cost - least[0]) > 1e-9:
                fail(f"infeasible target {target}: expected the least-cost selection, is_satisfied false")
        elif score > opt * (1 + 1e-12) + 1e-300:
            fail(f"best score {score} is not optimal (exhaustive optimum {opt})")
        print(f"exhaustive check over {combos} selections ok")
    check_h5(os.path.join(job, h5[0]), cs)
    print(f"ok: {job}: {len(groups)} groups, effective bits {eff:.4f} (target {target}), score {score:.6g}")


if __name__ == "__main__":
    main()
