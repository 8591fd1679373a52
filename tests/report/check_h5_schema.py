"""check_h5_schema.py — reads a job directory written by lmsens with h5py and
the json module only (no lmsens code), and checks that:

  * <scheme>_autoquant_state.h5 has the documented schema (docs/outputs.md):
    every dataset and attribute, with its dtype kind and shape;
  * the tables are consistent (members ↔ module groups, group names = first
    member, costs = n_params × bits / 16, Σ traces = scores, candidate scores
    = the ModelOpt monotonisation of the raw scores);
  * <scheme>_quant_manifest.json agrees with the HDF5 (candidate_stats keys,
    formats, scores, costs, best recipe, achieved effective bits recomputed
    from the chosen formats);
  * per-layer-sensitivity.json ranks layers by descending score.

usage: python check_h5_schema.py RUN_DIR     (exit 0 ok, 1 on a failed check)
"""
import glob
import json
import os
import sys

import h5py
import numpy as np

FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what)


def expect(f, path, kind, shape):
    """kind: numpy dtype kind ('f', 'i', 'u', 'S'); shape: tuple with None = any."""
    check(path in f, f"dataset {path} exists")
    if path not in f:
        return None
    d = f[path]
    check(d.dtype.kind == kind, f"{path} dtype kind {d.dtype.kind} == {kind}")
    check(len(d.shape) == len(shape) and all(s is None or s == t for s, t in zip(shape, d.shape)),
          f"{path} shape {d.shape} matches {shape}")
    return d[()]


def s(x):
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def main(run_dir):
    h5s = glob.glob(os.path.join(run_dir, "*_autoquant_state.h5"))
    check(len(h5s) == 1, "exactly one statistics file")
    path = h5s[0]
    with h5py.File(path, "r") as f:
        root = f.attrs
        check(int(root["schema_version"]) == 1, "schema_version 1")
        for a in ("writer", "tool_version", "scheme", "model_name", "model_path", "model_type",
                  "dataset_name", "dataset_size", "dataset_path", "pair_name", "weight",
                  "activation"):
            check(a in root and isinstance(root[a], (bytes, np.bytes_, str)), f"root attr {a}")
        for a in ("samples", "tokens", "seq_len", "batch_size"):
            check(a in root and np.issubdtype(np.asarray(root[a]).dtype, np.integer), f"root attr {a}")
        scheme = s(root["scheme"])
        st = f["settings"].attrs
        for a in ("method", "loss_reduction"):
            check(a in st, f"settings attr {a}")
        for a in ("effective_bits", "score_size", "calib_steps", "score_steps"):
            check(a in st, f"settings attr {a}")
        expect(f, "settings/disabled_layers", "S", (None,))

        fnames = [s(x) for x in expect(f, "formats/name", "S", (None,))]
        nf = len(fnames)
        bits = expect(f, "formats/bits", "f", (nf,))
        check(fnames[-1] == "NONE" and bits[-1] == 16.0, "NONE last at 16 bits")
        check(all(np.diff(bits) >= 0), "formats ascending by bits")

        gnames = [s(x) for x in expect(f, "groups/name", "S", (None,))]
        ng = len(gnames)
        n_params = expect(f, "groups/n_params", "i", (ng,))
        disabled = expect(f, "groups/disabled", "u", (ng,))
        n_members = expect(f, "groups/n_members", "i", (ng,))
        members = expect(f, "groups/members", "i", (int(n_members.sum()),))
        scores = expect(f, "groups/scores", "f", (ng, nf))
        costs = expect(f, "groups/costs", "f", (ng, nf))
        cand = expect(f, "groups/candidate_scores", "f", (ng, nf))

        mnames = [s(x) for x in expect(f, "modules/name", "S", (None,))]
        nm = len(mnames)
        expect(f, "modules/kind", "S", (nm,))
        expect(f, "modules/layer", "i", (nm,))
        fin = expect(f, "modules/in_features", "i", (nm,))
        fout = expect(f, "modules/out_features", "i", (nm,))
        mgroup = expect(f, "modules/group", "i", (nm,))
        expect(f, "modules/act_amax", "f", (nm,))
        expect(f, "modules/weight_amax", "f", (nm,))
        if "modules/scores" in f:
            mscores = expect(f, "modules/scores", "f", (nm, nf))
        else:
            mscores = None

        traces = expect(f, "traces/scores", "f", (None, ng, nf))
        expect(f, "loss/calib", "f", (None,))
        expect(f, "loss/score", "f", (None,))
        nt = len(expect(f, "timings/phase", "S", (None,)))
        expect(f, "timings/seconds", "f", (nt,))
        cfg = f["config/resolved_yaml"][()]
        check(isinstance(cfg, bytes) and len(cfg) > 0, "config text is a non-empty string")
        text = cfg.decode("utf-8")  # raises on invalid UTF-8
        if "tiny_qwen3" in text:  # the synthetic fixture's config has non-ASCII text
            check("“per tensor”" in text, "config text keeps UTF-8")

        # Consistency of the tables.
        start = np.concatenate([[0], np.cumsum(n_members)])
        for g in range(ng):
            mem = members[start[g]:start[g + 1]]
            check(all(mgroup[m] == g for m in mem), f"group {g} members point back to it")
            check(gnames[g] == mnames[mem[0]], f"group {g} named after its first module")
            check(n_params[g] == sum(int(fin[m]) * int(fout[m]) for m in mem), f"group {g} n_params")
            check(np.array_equal(costs[g], n_params[g] * bits / 16), f"group {g} costs")
            mono = np.minimum.accumulate(scores[g])
            check(np.array_equal(cand[g], mono), f"group {g} candidate scores = monotonised scores")
            if traces.shape[0] and not disabled[g]:
                check(np.allclose(traces[:, g, :].sum(axis=0), scores[g], rtol=1e-12, atol=0),
                      f"group {g}: sum of traces = scores")
            if mscores is not None and not disabled[g]:
                check(np.allclose(mscores[mem].sum(axis=0), scores[g], rtol=1e-12, atol=0),
                      f"group {g}: sum of module scores = group score")

        # The derived compound tables hold the same values as the columns.
        gt = expect(f, "groups/table", "V", (ng,))
        mt = expect(f, "modules/table", "V", (nm,))
        if gt is None or mt is None:
            return finish(path, ng, nm, nf)
        check([s(x) for x in gt["name"]] == gnames, "groups/table name")
        check(np.array_equal(gt["n_params"], n_params) and np.array_equal(gt["disabled"], disabled)
              and np.array_equal(gt["n_members"], n_members), "groups/table counts")
        for i, n in enumerate(fnames[:-1]):
            check(np.array_equal(gt["score_" + n], scores[:, i]), f"groups/table score_{n}")
        check([s(x) for x in mt["name"]] == mnames and np.array_equal(mt["group"], mgroup),
              "modules/table name, group")
        check(np.array_equal(mt["act_amax"], f["modules/act_amax"][()]), "modules/table act_amax")

        chosen = expect(f, "search/chosen", "i", (ng,))
        chosen_fmt = [s(x) for x in expect(f, "search/chosen_format", "S", (ng,))]
        sa = f["search"].attrs
        achieved = float(sa["effective_bits"])
        check(all(chosen_fmt[g] == fnames[chosen[g]] for g in range(ng)), "chosen_format matches chosen")
        check([s(x) for x in gt["chosen"]] == chosen_fmt, "groups/table chosen")
        recomputed = 16 * sum(costs[g, chosen[g]] for g in range(ng)) / costs[:, -1].sum()
        check(abs(recomputed - achieved) <= 1e-12 * 16, f"achieved bits {achieved} == {recomputed}")
        check(bool(sa["is_satisfied"]) == (achieved <= float(st["effective_bits"])), "is_satisfied")
        fb = expect(f, "search/frontier_bits", "f", (None,))
        fs = expect(f, "search/frontier_score", "f", (len(fb),))
        check(all(np.diff(fb) > 0) and all(np.diff(fs) < 0), "frontier: bits up, score down")

    with open(os.path.join(run_dir, scheme + "_quant_manifest.json"), encoding="utf-8") as fh:
        man = json.load(fh)
    cs = man["candidate_stats"]
    check(list(cs) == [n + ".quant_recipe" for n in gnames], "candidate_stats keys in model order")
    for g, name in enumerate(gnames):
        e = cs[name + ".quant_recipe"]
        if disabled[g]:
            check(e["formats"] == ["NONE(effective-bits: 16.0)"] and e["scores"] == [0.0]
                  and e["costs"] == [float(costs[g, -1])], f"{name}: disabled entry")
        else:
            check([x.split("(")[0] for x in e["formats"]] == fnames, f"{name}: formats")
            check(e["scores"] == [float(v) for v in cand[g]], f"{name}: scores exact")
            check(e["costs"] == [float(v) for v in costs[g]], f"{name}: costs exact")
        check(man["best"]["recipe"][name + ".quant_recipe"].startswith(chosen_fmt[g] + "("),
              f"{name}: best recipe")
    check(man["best"]["constraints"]["effective_bits"] == achieved, "manifest achieved bits exact")

    with open(os.path.join(run_dir, "per-layer-sensitivity.json"), encoding="utf-8") as fh:
        rep = json.load(fh)
    ranked = [l for l in rep["layers"] if l["rank"] is not None]
    first = fnames[0]
    check([l["rank"] for l in ranked] == list(range(1, len(ranked) + 1)), "ranks 1..n")
    check(all(a["scores"][first] >= b["scores"][first] for a, b in zip(ranked, ranked[1:])),
          "layers sorted by descending score")
    check(len(rep["layers"]) == ng, "one entry per group")

    return finish(path, ng, nm, nf)


def finish(path, ng, nm, nf):
    print(f"{path}: {ng} groups, {nm} modules, {nf} formats; "
          f"{'OK' if not FAILED else str(len(FAILED)) + ' checks failed'}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
