#!/usr/bin/env python3
"""test_config_reference.py — docs/config-reference.md is up to date: the generator
(scripts/gen-config-reference.py, from conf/ and `lmsens --cfg job`) reproduces the committed
file byte for byte, every key of `lmsens --cfg job` has a row, and a key added to conf/ without
a comment makes the generator fail. Exit 77 (skipped) without PyYAML."""
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("PyYAML is missing: skipped")
    sys.exit(77)

SRC = os.environ["LMSENS_SOURCE_DIR"]
BIN = os.environ["LMSENS_BIN"]
GEN = os.path.join(SRC, "scripts", "gen-config-reference.py")
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1


r = subprocess.run([sys.executable, GEN, "--lmsens", BIN, "--check"], capture_output=True, text=True)
check(r.returncode == 0, "the committed docs/config-reference.md equals the generated one")
if r.returncode:
    print(r.stdout[-4000:], r.stderr[-2000:])

doc = open(os.path.join(SRC, "docs", "config-reference.md"), encoding="utf-8").read()
job = yaml.safe_load(subprocess.run([BIN, "-cp", os.path.join(SRC, "conf"), "--cfg", "job"],
                                    capture_output=True, text=True, check=True).stdout)


def leaves(d, p=""):
    for k, v in d.items():
        if isinstance(v, dict) and v and p + k != "dataset.size_to_max_samples":
            yield from leaves(v, p + k + ".")
        else:
            yield p + k


keys = list(leaves(job))
missing = [k for k in keys if f"| `{k}` |" not in doc]
check(len(keys) > 40 and not missing, f"{len(keys)} keys of --cfg job have a row" + (f"; missing {missing}" if missing else ""))
for f in sorted(os.listdir(os.path.join(SRC, "conf", "formats"))):
    check(f"| `{f[:-5]}` |" in doc, f"format {f[:-5]} has a row")

# a key without a comment is refused: a copy of the tree with one new key
with tempfile.TemporaryDirectory() as t:
    shutil.copytree(os.path.join(SRC, "conf"), os.path.join(t, "conf"))
    os.makedirs(os.path.join(t, "scripts"))
    shutil.copy(GEN, os.path.join(t, "scripts"))
    with open(os.path.join(t, "conf", "autoquant", "gradient_default.yaml"), "a") as f:
        f.write("\nundocumented_knob: 3\n")
    r = subprocess.run([sys.executable, os.path.join(t, "scripts", "gen-config-reference.py"), "--lmsens", BIN,
                        "--out", os.path.join(t, "out.md")], capture_output=True, text=True)
    check(r.returncode == 1 and "autoquant.undocumented_knob" in r.stderr,
          "a key without a comment fails the generator, naming the key")
    # and a stale page is reported
    with open(os.path.join(t, "stale.md"), "w") as f:
        f.write(doc.replace("| `autoquant.score_size` | `128`", "| `autoquant.score_size` | `64`"))
    r = subprocess.run([sys.executable, GEN, "--lmsens", BIN, "--check", "--out", os.path.join(t, "stale.md")],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "score_size" in r.stdout, "a stale page fails --check with a diff")

# the recipes "Adding a quant pair" and "Adding a format" work as written: a pair and a
# format in a -cd directory, run on the demo model
with tempfile.TemporaryDirectory() as t:
    os.makedirs(os.path.join(t, "extra", "quant_pair"))
    os.makedirs(os.path.join(t, "extra", "formats"))
    pair = open(os.path.join(SRC, "conf", "quant_pair", "wfp8_afp16.yaml"), encoding="utf-8").read()
    pair = pair.replace("name: wfp8_afp16", "name: wint4_afp16_doc").replace(
        "format_name: FP8_WEIGHT_ONLY_CFG", "format_name: [FP8_WEIGHT_ONLY_CFG, DOC_INT4_CFG]")
    with open(os.path.join(t, "extra", "quant_pair", "wint4_afp16_doc.yaml"), "w") as f:
        f.write("# a pair added by following docs/config-reference.md\n" + pair)
    with open(os.path.join(t, "extra", "formats", "DOC_INT4_CFG.yaml"), "w") as f:
        f.write("# INT4 per-channel weight-only, added by following docs/config-reference.md\n"
                "name: DOC_INT4_CFG\nquant_cfg:\n"
                "  \"*weight_quantizer\": {num_bits: 4, axis: 0, enable: true}\n"
                "  \"*input_quantizer\": {enable: false}\nalgorithm: max\n")
    r = subprocess.run([BIN, "-cd", os.path.join(t, "extra"), "-cn", "demo", "quant_pair=wint4_afp16_doc",
                        f"model.path={t}/model", f"runner.output_dir={t}/run"], capture_output=True, text=True, cwd=t)
    check(r.returncode == 0, "a pair and a format added in a -cd directory run" +
          ("" if r.returncode == 0 else "\n" + r.stderr[-1500:]))
    man = os.path.join(t, "run", "tiny_wint4_afp16_doc_quant_manifest.json")
    check(os.path.exists(man) and "DOC_INT4_CFG" in open(man).read(),
          "its manifest is named after the pair and scores the new format")

print(f"{fails} failed")
sys.exit(1 if fails else 0)
