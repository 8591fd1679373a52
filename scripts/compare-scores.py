#!/usr/bin/env python3
"""compare-scores.py A B — how far the scores of two runs are apart. Two kinds of A and B:

  two statistics files (A.h5 B.h5): the first format's per-module and per-group relative
    differences (median, max), the Spearman rank correlation of the group scores, whether the
    search chose the same recipe and both totals. Used for the FP8 replay GEMM against the exact
    path (docs/BENCHMARKS.md). Needs h5py and numpy.
  two sweep directories (job dirs A/<n>/ and B/<n>/): the per-group scores of every
    *_quant_manifest.json: how many differ and the worst relative difference (|a - b| / max(|a|,
    |b|)); keys of A missing from B are listed. The standard library only. Used for the
    equality of results across GPUs and ranks (scripts/gpu-determinism.sh, bench-sweep-gpu.sh).

Prints one line last (scripts take it with tail -n 1); exits 2 on bad arguments. It reports, it
does not judge: no threshold, exit 0 whatever the differences."""
import glob
import json
import os
import sys


def compare_h5(pa, pb):
    import h5py
    import numpy as np

    a, b = h5py.File(pa, "r"), h5py.File(pb, "r")
    sa, sb = a["/modules/scores"][:, 0], b["/modules/scores"][:, 0]
    m = sa > 0
    rel = np.abs(sb[m] - sa[m]) / sa[m]
    ga, gb = a["/groups/scores"][:, 0], b["/groups/scores"][:, 0]
    gm = ga > 0
    grel = np.abs(gb[gm] - ga[gm]) / ga[gm]
    ra, rb = np.argsort(np.argsort(-ga[gm])), np.argsort(np.argsort(-gb[gm]))
    n = len(ra)
    rho = 1 - 6 * np.sum((ra - rb) ** 2) / (n * (n * n - 1)) if n > 1 else 1.0
    same = np.array_equal(a["/search/chosen"][:], b["/search/chosen"][:])
    print(f"modules {m.sum()}: rel diff median {np.median(rel):.3g} max {rel.max():.3g}; groups {gm.sum()}: "
          f"median {np.median(grel):.3g} max {grel.max():.3g}; spearman {rho:.6f}; same recipe {same}; "
          f"total a {ga.sum():.6g} b {gb.sum():.6g}")


def load_sweep(d):
    out = {}
    for m in glob.glob(os.path.join(d, "*", "*_quant_manifest.json")):
        with open(m, encoding="utf-8") as f:
            j = json.load(f)
        job = os.path.basename(os.path.dirname(m))
        for g, st in j["candidate_stats"].items():
            for fmt, s in zip(st["formats"], st["scores"]):
                out[(job, g, fmt)] = s
    return out


def compare_sweeps(da, db):
    a, b = load_sweep(da), load_sweep(db)
    worst = 0.0
    n = nz = 0
    for k, va in a.items():
        vb = b.get(k)
        if vb is None:
            print("missing", k)
            continue
        n += 1
        if va != vb:
            nz += 1
        den = max(abs(va), abs(vb))
        if den > 0:
            worst = max(worst, abs(va - vb) / den)
    print(f"{da} vs {db}: {n} scores, {nz} differ, worst relative difference {worst:.3e}")


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) != 3:
        print("usage: compare-scores.py A.h5 B.h5 | SWEEP_DIR_A SWEEP_DIR_B (--help)", file=sys.stderr)
        return 2
    a, b = argv[1], argv[2]
    if os.path.isdir(a) and os.path.isdir(b):
        compare_sweeps(a, b)
    elif os.path.isfile(a) and os.path.isfile(b):
        compare_h5(a, b)
    else:
        print(f"compare-scores.py: '{a}' and '{b}' must be two statistics files (.h5) or two sweep "
              "directories\nhint: pass both of one kind (find DIR -name '*.h5' names a job's "
              "statistics file)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
