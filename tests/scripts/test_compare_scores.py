#!/usr/bin/env python3
"""test_compare_scores.py — scripts/compare-scores.py on files made here.

Statistics files (h5py): identical files give zero differences, Spearman 1 and the same recipe;
one module score scaled by 1.5 gives that relative difference as the max (module and group),
and a group order swapped gives the Spearman of the swapped ranks; a different /search/chosen
says so. Sweep directories (manifests): the count of scores, of those that differ, the worst
relative difference, and the keys missing from B. Bad arguments exit 2 with a hint; --help
exits 0. Exits 77 (skipped) without h5py or numpy."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError:
    print("h5py/numpy missing: skipped")
    sys.exit(77)

SRC = os.environ.get("LMSENS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SRC, "scripts", "compare-scores.py")
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1


def run(*args):
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def write_h5(path, modules, groups, chosen):
    with h5py.File(path, "w") as f:
        f["/modules/scores"] = np.array(modules, dtype=np.float64)
        f["/groups/scores"] = np.array(groups, dtype=np.float64)
        f["/search/chosen"] = np.array(chosen, dtype=np.int32)


def write_manifest(d, job, stats):
    os.makedirs(os.path.join(d, job), exist_ok=True)
    with open(os.path.join(d, job, f"tiny_job{job}_quant_manifest.json"), "w") as f:
        json.dump({"candidate_stats": stats}, f)


with tempfile.TemporaryDirectory() as t:
    # scores (rows, formats); the script reads the first format; 0 = disabled (left out)
    mods = [[4.0, 1.0], [2.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
    grps = [[8.0, 1.0], [4.0, 1.0], [2.0, 1.0], [1.0, 1.0]]
    a, b, c = (os.path.join(t, n + ".h5") for n in "abc")
    write_h5(a, mods, grps, [0, 1, 0, 1])
    write_h5(b, mods, grps, [0, 1, 0, 1])
    rc, out, _ = run(a, b)
    check(rc == 0, f"two statistics files: exit 0 ({rc})")
    check(out.strip() == "modules 3: rel diff median 0 max 0; groups 4: median 0 max 0; "
          "spearman 1.000000; same recipe True; total a 15 b 15", "identical files: " + out.strip())

    mods_c = [r[:] for r in mods]
    mods_c[1][0] = 3.0                      # module 1: +50 %
    grps_c = [[4.0, 1.0], [8.0, 1.0], [2.0, 1.0], [1.0, 1.0]]  # groups 0 and 1 swap ranks (+100 %, -50 %)
    write_h5(c, mods_c, grps_c, [0, 0, 0, 1])
    rc, out, _ = run(a, c)
    # ranks (0,1,2,3) vs (1,0,2,3): sum d^2 = 2, n = 4: rho = 1 - 6*2/(4*15) = 0.8
    check(rc == 0 and out.strip() == "modules 3: rel diff median 0 max 0.5; groups 4: median 0.25 max 1; "
          "spearman 0.800000; same recipe False; total a 15 b 15", "changed file: " + out.strip())

    # sweep directories: job 0 equal, job 1 one score 1 % apart, one key missing from B
    da, db = os.path.join(t, "sa"), os.path.join(t, "sb")
    write_manifest(da, "0", {"g0": {"formats": ["FP8", "INT8"], "scores": [1.0, 2.0]}})
    write_manifest(db, "0", {"g0": {"formats": ["FP8", "INT8"], "scores": [1.0, 2.0]}})
    write_manifest(da, "1", {"g0": {"formats": ["FP8"], "scores": [1.0]},
                             "g1": {"formats": ["FP8"], "scores": [0.0]}})
    write_manifest(db, "1", {"g0": {"formats": ["FP8"], "scores": [0.99]}})
    rc, out, _ = run(da, db)
    lines = out.strip().splitlines()
    check(rc == 0 and lines[-1] == f"{da} vs {db}: 3 scores, 1 differ, worst relative difference 1.000e-02",
          "sweeps, last line: " + (lines[-1] if lines else "(none)"))
    check(any(l.startswith("missing ('1', 'g1', 'FP8')") for l in lines), "sweeps: the missing key is listed")
    rc, out, _ = run(da, da)
    check(rc == 0 and out.strip().endswith("4 scores, 0 differ, worst relative difference 0.000e+00"),
          "a sweep against itself: " + out.strip())

    rc, _, err = run(a, da)
    check(rc == 2 and "hint:" in err, f"a file and a directory: exit 2 with a hint ({rc})")
    rc, _, err = run(os.path.join(t, "none.h5"), b)
    check(rc == 2 and "none.h5" in err, f"a missing file: exit 2 naming it ({rc})")
    rc, _, err = run(a)
    check(rc == 2 and "usage:" in err, f"one argument: exit 2 with the usage ({rc})")
    rc, out, _ = run("--help")
    check(rc == 0 and "sweep directories" in out, f"--help: exit 0, describes both kinds ({rc})")

print(f"{fails} failed")
sys.exit(1 if fails else 0)
