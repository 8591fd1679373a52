#!/usr/bin/env python3
# compare-scores.py A B — compares the per-group scores of every *_quant_manifest.json in two
# sweep directories (job dirs A/<n>/ and B/<n>/): how many differ and the worst relative difference.
import json, glob, os, sys
def load(d):
    out = {}
    for m in glob.glob(os.path.join(d, "*", "*_quant_manifest.json")):
        j = json.load(open(m))
        job = os.path.basename(os.path.dirname(m))
        for g, st in j["candidate_stats"].items():
            for f, s in zip(st["formats"], st["scores"]):
                out[(job, g, f)] = s
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
worst = 0.0; n = 0; nz = 0
for k, va in a.items():
    vb = b.get(k)
    if vb is None: print("missing", k); continue
    n += 1
    if va != vb: nz += 1
    den = max(abs(va), abs(vb))
    if den > 0: worst = max(worst, abs(va - vb) / den)
print(f"{sys.argv[1]} vs {sys.argv[2]}: {n} scores, {nz} differ, worst relative difference {worst:.3e}")
