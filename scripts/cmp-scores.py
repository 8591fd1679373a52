#!/usr/bin/env python3
"""cmp-scores.py A.h5 B.h5 — how far two statistics files' scores are apart (first format):
per-module and per-group relative differences (median, max), the Spearman rank correlation of
the group scores and whether the search chose the same recipe. Used for the FP8 replay GEMM
against the exact path (docs/BENCHMARKS.md). Needs h5py and numpy."""
import sys

import h5py
import numpy as np

a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
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
