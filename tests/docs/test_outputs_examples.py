#!/usr/bin/env python3
"""test_outputs_examples.py — the examples of docs/outputs.md work on a real job's files.

Runs `lmsens -cn demo` once, then:
  - every Python block of outputs.md that opens an .h5 with h5py runs on the job's statistics
    file (the example path replaced); a block that imports pandas is skipped when pandas is not
    installed (said so);
  - every h5ls/h5dump line of the command-line block exits 0 on that file (skipped without them);
  - every key (`"key":`) of the manifest and per-layer-sensitivity.json examples exists in the
    job's real files, and the manifest example is valid JSON.
Needs h5py (LMSENS_PYTHON); exit 77 without it."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py  # noqa: F401
except ImportError:
    print("h5py is missing: skipped")
    sys.exit(77)

SRC = os.environ["LMSENS_SOURCE_DIR"]
BIN = os.environ["LMSENS_BIN"]
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1


md = open(os.path.join(SRC, "docs", "outputs.md"), encoding="utf-8").read()
blocks = re.findall(r"^```(\w*)\n(.*?)^```", md, re.M | re.S)


def keys_of(o, out):
    if isinstance(o, dict):
        for k, v in o.items():
            out.add(k)
            keys_of(v, out)
    elif isinstance(o, list):
        for v in o:
            keys_of(v, out)
    return out


with tempfile.TemporaryDirectory() as t:
    run = os.path.join(t, "run")
    r = subprocess.run([BIN, "-cn", "demo", f"model.path={t}/model", f"runner.output_dir={run}"], cwd=t,
                       capture_output=True, text=True)
    check(r.returncode == 0, "lmsens -cn demo ran" + ("" if r.returncode == 0 else "\n" + r.stderr[-1500:]))
    h5 = [f for f in os.listdir(run) if f.endswith("_autoquant_state.h5")] if r.returncode == 0 else []
    if not h5:
        print(f"{fails + 1} failed")
        sys.exit(1)
    state = os.path.join(run, h5[0])
    scheme = h5[0][:-len("_autoquant_state.h5")]

    n_py = 0
    for lang, code in blocks:
        if lang != "python" or "h5py.File(" not in code:
            continue
        if "pandas" in code:
            try:
                import pandas  # noqa: F401
            except ImportError:
                print("note: pandas is not installed: the pandas example was not run")
                continue
        code = re.sub(r'"run/[^"]*\.h5"', json.dumps(state), code)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=t)
        n_py += 1
        check(r.returncode == 0, f"outputs.md Python example #{n_py} runs" +
              ("" if r.returncode == 0 else "\n" + r.stderr[-1500:]))
    check(n_py >= 1, f"{n_py} h5py examples run")

    if shutil.which("h5dump") and shutil.which("h5ls"):
        n_cmd = 0
        for lang, code in blocks:
            if lang != "bash":
                continue
            for line in code.splitlines():
                line = line.split("#")[0].strip()
                if not re.match(r"h5(dump|ls)\b", line):
                    continue
                cmd = re.sub(r"run/\S+\.h5", state, line).split()
                r = subprocess.run(cmd, capture_output=True, text=True)
                n_cmd += 1
                check(r.returncode == 0, f"`{line}` exits 0")
        check(n_cmd >= 3, f"{n_cmd} h5ls/h5dump examples run")
    else:
        print("note: h5dump/h5ls are not installed: the command-line examples were not run")

    manifest = json.load(open(os.path.join(run, f"{scheme}_quant_manifest.json")))
    report = json.load(open(os.path.join(run, "per-layer-sensitivity.json")))
    jsons = [code for lang, code in blocks if lang == "json"]
    check(len(jsons) >= 2, "outputs.md has the manifest and report JSON examples")
    try:
        json.loads(jsons[0])
        check(True, "the manifest example is valid JSON")
    except ValueError as e:
        check(False, f"the manifest example is not valid JSON: {e}")
    for name, ex, real in (("manifest", jsons[0], manifest), ("per-layer-sensitivity.json", jsons[1], report)):
        real_keys = keys_of(real, set())
        # keys of the real file plus the group/module names used as keys in the example
        ex_keys = set(re.findall(r'"([A-Za-z_][\w]*)"\s*:', ex))
        missing = sorted(k for k in ex_keys if k not in real_keys)
        check(not missing, f"every key of the {name} example is in the real file" +
              (f"; not found: {missing}" if missing else ""))
        top = [k for k in real if k not in ex]
        check(not top, f"every top-level key of the real {name} is in the example" +
              (f"; missing: {top}" if top else ""))

print(f"{fails} failed")
sys.exit(1 if fails else 0)
