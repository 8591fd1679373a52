#!/usr/bin/env python3
"""gen-config-reference.py — writes docs/config-reference.md from conf/ and lmsens itself.

Sources, so that the page cannot drift from what lmsens does:
  - `lmsens -cp conf --cfg job` (and `-cn demo`): every key and its default, as composed;
  - `lmsens -cp conf --info defaults`: which file of conf/ each package comes from;
  - the comments in conf/*.yaml: a key's meaning is the comment block right above it (or its
    inline comment) in the file that sets it, else in another option of the same group; the
    comment block that opens a file describes the file (an option of a group);
  - conf/quant_pair/*.yaml and conf/formats/*.yaml (PyYAML) for the pair and format tables.

Invariants: the output depends only on conf/ and lmsens' composition (no paths of this
machine, no time); a key without a meaning is an error (exit 1), so adding a key means
adding its comment. It does not document the flags or the composition rules (docs/config.md).

  gen-config-reference.py --lmsens build/lmsens [--out docs/config-reference.md] [--check]
--check compares instead of writing (exit 1 and a diff when the committed file is stale).
"""
import argparse
import difflib
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "conf")
KEY_RE = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_.-]*|\"[^\"]*\")\s*:(.*)$")


def run(lmsens, *args):
    r = subprocess.run([lmsens, "-cp", CONF, *args], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"gen-config-reference: lmsens {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def strip_inline(rest):
    """The inline comment of a `key: value  # text` line ('' if none); not inside quotes."""
    q = None
    for i, c in enumerate(rest):
        if q:
            q = None if c == q else q
        elif c in "'\"":
            q = c
        elif c == "#" and (i == 0 or rest[i - 1] in " \t"):
            return rest[i + 1:].strip()
    return ""


def scan_comments(path):
    """(file description, {dotted key: meaning}) from one YAML file's comments."""
    desc, meanings, pending, stack = [], {}, [], []
    header = True
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.rstrip("\n")
            if s.strip().startswith("#"):
                (desc if header else pending).append(s.strip()[1:].strip())
                continue
            header = False
            if not s.strip():
                pending = []
                continue
            m = KEY_RE.match(s)
            if not m or s.lstrip().startswith("-"):
                pending = []
                continue
            ind, key, rest = len(m.group(1)), m.group(2).strip('"'), m.group(3)
            while stack and stack[-1][0] >= ind:
                stack.pop()
            stack.append((ind, key))
            dotted = ".".join(k for _, k in stack)
            text = " ".join(pending + ([strip_inline(rest)] if strip_inline(rest) else []))
            if text:
                meanings[dotted] = text
            pending = []
    return " ".join(desc), meanings


def flatten(d, prefix=""):
    """[(dotted key, value)] of the leaves; lists and flow maps of leaves stay values."""
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in ("dataset.size_to_max_samples",):
            out += flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def yaml_value(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return yaml.safe_dump(v, default_flow_style=True, width=1000).strip()
    return str(v)


def type_of(v):
    if v is None:
        return "optional (null)"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "map"
    return "string (interpolated)" if "${" in str(v) else "string"


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def defaults_list(lmsens, *args):
    """[(config path, package)] from --info defaults."""
    rows = []
    for line in run(lmsens, *args, "--info", "defaults").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 3:
            pkg = parts[1] if len(parts) == 4 else ""
            rows.append((parts[0], pkg))
    return rows


def group_of(config_path):
    g = config_path.split("/")[0]
    return g


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def options(group_dir):
    """[(option name, relative path)] of a group directory, recursively, sorted."""
    out = []
    for dp, _, fs in os.walk(os.path.join(CONF, group_dir)):
        for fn in fs:
            if fn.endswith(".yaml"):
                rel = os.path.relpath(os.path.join(dp, fn), CONF)
                out.append((fn[:-5], rel))
    return sorted(out, key=lambda x: x[1])


def generate(lmsens):
    out = []
    w = out.append
    dl = defaults_list(lmsens)
    job = yaml.safe_load(run(lmsens, "--cfg", "job"))
    demo = yaml.safe_load(run(lmsens, "-cn", "demo", "--cfg", "job"))

    # meanings: per package, the comments of the file that sets it, then of
    # every other option of the same group directory
    files = {pkg: os.path.join(CONF, p + ".yaml") for p, pkg in dl}
    meaning, missing = {}, []
    descs = {}
    for rel in sorted(os.path.relpath(os.path.join(dp, f), CONF) for dp, _, fs in os.walk(CONF) for f in fs
                      if f.endswith(".yaml")):
        descs[rel] = scan_comments(os.path.join(CONF, rel))[0]

    def lookup(key):
        best = ("", None)
        for pkg, path in sorted(files.items(), key=lambda x: -len(x[0])):
            if pkg and not key.startswith(pkg + "."):
                continue
            sub = key[len(pkg) + 1:] if pkg else key
            m = scan_comments(path)[1]
            if sub in m:
                return m[sub], os.path.relpath(path, CONF)
            # another option of the same group directory
            d = os.path.dirname(path)
            for fn in sorted(os.listdir(d)):
                mm = scan_comments(os.path.join(d, fn))[1]
                if sub in mm:
                    return mm[sub], os.path.relpath(path, CONF)
            best = ("", os.path.relpath(path, CONF))
            break
        return best

    w("# Configuration reference\n")
    w("<!-- Generated by scripts/gen-config-reference.py from conf/ and `lmsens --cfg job`; do not")
    w("     edit. Regenerate: python3 scripts/gen-config-reference.py --lmsens build/lmsens -->\n")
    w("Every key of the default configuration with its default, type and meaning, every group of")
    w("`conf/` with its options, the quant pairs and the formats registry. The flags, the override")
    w("grammar and the composition rules are in [config.md](config.md); the commands in")
    w("[usage.md](usage.md). A CTest (`test_config_reference`) regenerates this page and fails when")
    w("the committed copy differs, so it follows `conf/` and lmsens' composition.\n")

    w("## Defaults list of the default config\n")
    w("`lmsens` without `-cn` composes `conf/preset/qwen3_lm_sensitivity.yaml`; its defaults list")
    w("(`lmsens --info defaults`) selects one option per group:\n")
    w("| config file | package (where its keys land) | override to choose another option |")
    w("| --- | --- | --- |")
    for p, pkg in dl:
        g = group_of(p)
        how = f"`{g}=<option>`" if g not in ("preset", "model") else ("`-cn <preset>`" if g == "preset" else
                                                                        "`-cn` a preset, or `model.*` keys")
        w(f"| `conf/{p}.yaml` | `{pkg or '(root)'}` | {how} |")
    w("")

    w("## Keys\n")
    w("Defaults are those of `lmsens --cfg job` (interpolations `${...}` shown unresolved; `lmsens")
    w("--cfg job --resolve` resolves them). Change any key with `key=value`; a key that is not")
    w("listed is an error unless added with `+key=value`.\n")
    leaves = flatten(job)
    sections = []
    for k, v in leaves:
        top = k.split(".")[0]
        if top not in sections:
            sections.append(top)
    for top in sections:
        keys = [(k, v) for k, v in leaves if k.split(".")[0] == top]
        srcs = []
        for k, _ in keys:
            f = lookup(k)[1]
            if f and f not in srcs:
                srcs.append(f)
        w(f"### `{top}`\n")
        w("| key | default | type | meaning |")
        w("| --- | --- | --- | --- |")
        for k, v in keys:
            text, _ = lookup(k)
            if not text:
                missing.append(k)
            w(f"| `{k}` | `{cell(yaml_value(v))}` | {type_of(v)} | {cell(text)} |")
        w("")
        if srcs:
            w("Set in " + " and ".join(f"`conf/{f}`" for f in srcs) + ".\n")

    # hydra keys: not part of --cfg job; from the preset file
    pre = "preset/qwen3_lm_sensitivity.yaml"
    hy = load_yaml(os.path.join(CONF, pre)).get("hydra", {})
    hm = scan_comments(os.path.join(CONF, pre))[1]
    w("### `hydra`\n")
    w("Not printed by `--cfg job` (use `--cfg hydra`); set in `conf/" + pre + "`.\n")
    w("| key | default | type | meaning |")
    w("| --- | --- | --- | --- |")
    for k, v in flatten(hy, "hydra."):
        text = hm.get(k, "")
        if not text:
            missing.append(k)
        w(f"| `{k}` | `{cell(yaml_value(v))}` | {type_of(v)} | {cell(text)} |")
    w("")

    w("## Groups and their options\n")
    w("`group=option` picks `conf/<group>/<option>.yaml` (or the same path in a `-cd` directory).\n")
    for g in ("dataset", "autoquant", "output_layout", "model", "preset"):
        w(f"### `{g}`\n")
        w("| option | file | what it is |")
        w("| --- | --- | --- |")
        for name, rel in options(g):
            w(f"| `{name}` | `conf/{rel}` | {cell(descs.get(rel, ''))} |")
            if not descs.get(rel):
                missing.append(f"conf/{rel} (file description)")
        w("")

    w("### `quant_pair`\n")
    w("| option | weight | activation | `format_name` | experimental | what it is |")
    w("| --- | --- | --- | --- | --- | --- |")
    for name, rel in options("quant_pair"):
        q = load_yaml(os.path.join(CONF, rel))
        fmt = q.get("format_name")
        fmt = ", ".join(fmt) if isinstance(fmt, list) else fmt
        w(f"| `{name}` | {q.get('weight')} | {q.get('activation')} | `{fmt}` | "
          f"{yaml_value(q.get('experimental'))} | {cell(descs.get(rel, ''))} |")
        if not descs.get(rel):
            missing.append(f"conf/{rel} (file description)")
    w("")

    w("### Formats registry (`conf/formats/`)\n")
    w("Named by `quant_pair.format_name` (one name, or a list of candidates). `bits` is the")
    w("format's `effective_bits` when the file sets it, else derived from `num_bits`.\n")
    w("| format | weight quantizer | input quantizer | bits | what it is |")
    w("| --- | --- | --- | --- | --- |")

    def q_desc(qc):
        if not qc or not qc.get("enable", True):
            return "off"
        nb = qc.get("num_bits")
        s = f"E{nb[0]}M{nb[1]}" if isinstance(nb, list) else f"INT{nb}"
        bs = qc.get("block_sizes")
        if bs:
            blk = bs.get(-1, bs.get("-1"))
            sb = bs.get("scale_bits")
            s += f", block {blk}" + (f" (scale E{sb[0]}M{sb[1]})" if isinstance(sb, list) else "")
        elif qc.get("axis") == 0:
            s += ", per channel"
        else:
            s += ", per tensor"
        return s

    for name, rel in options("formats"):
        fm = load_yaml(os.path.join(CONF, rel))
        qcfg = fm.get("quant_cfg", {})
        d = descs.get(rel, "").split(" ModelOpt vocabulary")[0]
        d = re.sub(r"^" + re.escape(name) + r"\s*[—-]\s*", "", d)
        w(f"| `{name}` | {q_desc(qcfg.get('*weight_quantizer'))} | {q_desc(qcfg.get('*input_quantizer'))} | "
          f"{fm.get('effective_bits', '(from num_bits)')} | {cell(d)} |")
    w("")

    w("## The demo preset (`-cn demo`)\n")
    w("`conf/preset/demo.yaml` composes the same groups; these keys differ from the default:\n")
    w("| key | demo | default |")
    w("| --- | --- | --- |")
    dj, dd = dict(flatten(job)), dict(flatten(demo))
    for k in list(dd) + [k for k in dj if k not in dd]:
        if k not in dj or k not in dd or dj[k] != dd[k]:
            a = f"`{cell(yaml_value(dd[k]))}`" if k in dd else "(absent)"
            b = f"`{cell(yaml_value(dj[k]))}`" if k in dj else "(absent)"
            w(f"| `{k}` | {a} | {b} |")
    w("")

    w("## Adding a quant pair\n")
    w("1. Pick the format(s) from the registry above (or add one, next section).")
    w("2. Copy a pair, e.g. `conf/quant_pair/wfp8_afp16.yaml`, to `conf/quant_pair/<name>.yaml` (or")
    w("   to `<dir>/quant_pair/<name>.yaml` and pass `-cd <dir>`); set `name: <name>`, `weight`,")
    w("   `activation` (they name the publish folder `weight-<w>-act-<a>`), `format_name`, and a")
    w("   comment line on top saying what the pair is (this page shows it).")
    w("3. Check and run it:\n")
    w("```bash")
    w("lmsens --cfg job quant_pair=<name>              # the composed config")
    w("lmsens -cn demo quant_pair=<name>               # a few seconds on the tiny model")
    w("lmsens quant_pair=<name> output_layout=tmp      # the real job")
    w("```\n")
    w("An unknown `format_name` stops before any work with exit code 2 and the list of known formats.")
    w("Then regenerate this page (`python3 scripts/gen-config-reference.py --lmsens build/lmsens`).\n")
    w("## Adding a format\n")
    w("Add `conf/formats/<NAME>.yaml` (or `<dir>/formats/<NAME>.yaml` with `-cd <dir>`) with")
    w("`name: <NAME>`, a `quant_cfg` with `\"*weight_quantizer\"`")
    w("and `\"*input_quantizer\"` entries in ModelOpt's vocabulary (`num_bits`: an int for INT, `[E, M]`")
    w("for a float format; `axis: null` per tensor, `0` per output channel; `block_sizes: {-1: <size>,")
    w("type: static|dynamic, scale_bits: [E, M]}` for block formats; `enable: false` turns a quantizer")
    w("off), `algorithm: max` and, when the cost model should not derive the bits from `num_bits`,")
    w("`effective_bits`. The quantizer kinds lmsens implements (numerics.md §2): INT of any width per")
    w("tensor, per output channel or in static blocks; FP8 E4M3 per tensor; MX, block 32; NVFP4, block 16;")
    w("a combination outside them is refused with an error naming the file and key. The math of each")
    w("is in [numerics.md](numerics.md); the parser is `src/quant/`. Example (tested by")
    w("`tests/docs/test_config_reference.py`, with a pair that lists it next to FP8):\n")
    w("```yaml")
    w("# INT4 per-channel weight-only")
    w("name: DOC_INT4_CFG")
    w("quant_cfg:")
    w("  \"*weight_quantizer\": {num_bits: 4, axis: 0, enable: true}")
    w("  \"*input_quantizer\": {enable: false}")
    w("algorithm: max")
    w("```\n")
    return "\n".join(out).rstrip() + "\n", missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lmsens", required=True, help="the lmsens binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "config-reference.md"))
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    a = ap.parse_args()
    text, missing = generate(os.path.abspath(a.lmsens))
    if missing:
        print("gen-config-reference: no meaning (a comment in conf/) for:\n  " + "\n  ".join(missing),
              file=sys.stderr)
        sys.exit(1)
    if a.check:
        old = open(a.out, encoding="utf-8").read() if os.path.exists(a.out) else ""
        if old != text:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       a.out + " (committed)", "generated"))
            print(f"{a.out} is stale: run python3 scripts/gen-config-reference.py --lmsens <lmsens>",
                  file=sys.stderr)
            sys.exit(1)
        print(f"{a.out} is up to date")
        return
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
