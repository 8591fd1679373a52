#!/usr/bin/env python3
"""test_help_docs.py — `lmsens --help` and `lmsens <command> --help` agree with the manual.

For every command of the table in src/cli/main.c:
  - `lmsens --help` (and `lmsens help`) lists it, and lists nothing else;
  - `lmsens <command> --help` exits 0 and starts with `usage: lmsens <command>`;
  - docs/usage.md shows it as `lmsens <command>` (in code);
  - every long option (--x) its --help prints is mentioned in docs/ (usage.md or a page it links).
And back: every `lmsens <word>` in the code of docs/usage.md names a command (or is the main job:
flags and key=value), and every --option used on such a line is one its --help prints. The main
job's own flags (lmsens --help of the run: -m, -cn, --cfg, ...) are checked the same way."""
import glob
import os
import re
import subprocess
import sys

SRC = os.environ["LMSENS_SOURCE_DIR"]
BIN = os.environ["LMSENS_BIN"]
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, cwd=SRC)
    return r.returncode, r.stdout + r.stderr


main_c = open(os.path.join(SRC, "src", "cli", "main.c"), encoding="utf-8").read()
table = main_c[main_c.index("g_commands[] = {"):]
table = table[:table.index("};")]
commands = re.findall(r'\{"([a-z_]+)",', table)
check(len(commands) >= 8, f"{len(commands)} commands in src/cli/main.c: {' '.join(commands)}")

usage_md = open(os.path.join(SRC, "docs", "usage.md"), encoding="utf-8").read()
all_docs = "\n".join(open(p, encoding="utf-8").read() for p in
                     sorted(glob.glob(os.path.join(SRC, "docs", "*.md"))) +
                     [os.path.join(SRC, "README.md"), os.path.join(SRC, "slurm", "README.md")])


def code_of(md):
    """The code of a Markdown text: fenced blocks and inline `spans`, one string per line/span."""
    out, fenced = [], False
    for line in md.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append(line)
        else:
            out += re.findall(r"`([^`]+)`", line)
    return out


code = code_of(usage_md)

# the top-level help
for how in (["--help"], ["-h"], ["help"]):
    rc, top = run(*how)
    listed = re.findall(r"^  ([a-z_]+)\s{2,}", top, re.M)
    check(rc == 0 and listed == commands, f"lmsens {how[0]} lists exactly the commands of main.c")
rc, run_help = run("--help")

helps = {}
for c in commands:
    rc, h = run(c, "--help")
    helps[c] = h
    check(rc == 0 and h.startswith(f"usage: lmsens {c}"), f"lmsens {c} --help: exit 0, starts with 'usage: lmsens {c}'")
    shown = any(re.search(rf"(^|[\s$(]|/)lmsens {c}(\s|$)", s) for s in code)
    check(shown, f"docs/usage.md shows `lmsens {c}`")
    sec = re.search(rf"^### `lmsens {c}`\n(.*?)(?=^##)", usage_md + "\n##", re.M | re.S)
    check(sec is not None, f"docs/usage.md has a section ### `lmsens {c}`")
    for opt in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", h))):
        if opt == "--help":
            continue
        check(sec is not None and re.search(rf"(?<![\w-]){re.escape(opt)}\b", sec.group(1)) is not None,
              f"lmsens {c} {opt} is in its section of docs/usage.md")

# the main job's flags (lmsens --help without a command is the run's help)
rc, jh = run("-cn", "demo", "--help")
run_opts = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", jh.split("overrides:")[0]))
for opt in sorted(o for o in run_opts if o.startswith("--") and o != "--help"):
    check(opt in usage_md or opt in open(os.path.join(SRC, "docs", "config.md"), encoding="utf-8").read(),
          f"lmsens {opt} (main job) is documented")

# back: the docs' command lines name real commands and real options
for s in code:
    for m in re.finditer(r"(?:^|[\s$(/])lmsens((?:\s+\S+)*)", s):
        words = m.group(1).split()
        if not words:
            continue
        w0 = words[0]
        if re.fullmatch(r"[a-z][a-z_]*", w0) and w0 not in ("is", "and", "or", "the", "with"):
            check(w0 in commands, f"`lmsens {w0}` in docs/usage.md is a command")
            ref = helps.get(w0, "")
        else:
            ref = jh
        for opt in re.findall(r"(?<![\w=-])(--[a-z][a-z0-9-]*)", " ".join(words)):
            if opt in ("--help",):
                continue
            if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", ref):
                check(False, f"`{opt}` in `lmsens {' '.join(words)[:60]}` is not in that command's --help")

# every complete command line of usage.md §0 plans: `--dry-run` (the model is not read), in a
# scratch directory; launcher prefixes (mpirun -np N) dropped, subcommands and placeholders
# (<...>, ...) skipped
import tempfile  # noqa: E402

glance = re.search(r"^## 0\..*?(?=^## 1\.)", usage_md, re.M | re.S)
check(glance is not None, "docs/usage.md has §0 (commands at a glance)")
n_planned = 0
with tempfile.TemporaryDirectory() as t:
    for s in code_of(glance.group(0) if glance else ""):
        s = re.sub(r"^mpirun -np \d+ ", "", s.strip())
        if not s.startswith("lmsens ") or "<" in s or "..." in s:
            continue
        words = s.split()[1:]
        if words and words[0] in commands:
            continue
        r = subprocess.run([BIN, "-cp", os.path.join(SRC, "conf"), *words, "--dry-run"], capture_output=True,
                           text=True, cwd=t)
        check(r.returncode == 0, f"plans: {s}" + ("" if r.returncode == 0 else f"\n{r.stderr[-600:]}"))
        n_planned += 1
check(n_planned >= 12, f"{n_planned} command lines of §0 planned")

# the links between the manual's pages resolve (files and #anchors)
def slug(h):
    h = re.sub(r"[^\w\- ]", "", h.strip().lower().replace("`", ""))
    return h.replace(" ", "-")


pages = sorted(glob.glob(os.path.join(SRC, "docs", "*.md"))) + [os.path.join(SRC, "README.md"),
                                                                os.path.join(SRC, "slurm", "README.md")]
n_links = 0
for page in pages:
    text = open(page, encoding="utf-8").read()
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(#[^)\s]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
        n_links += 1
        ok = os.path.exists(path)
        if ok and anchor and path.endswith(".md"):
            heads = [slug(h) for h in re.findall(r"^#+ (.*)$", open(path, encoding="utf-8").read(), re.M)]
            ok = anchor[1:] in heads
        if not ok:
            check(False, f"{os.path.relpath(page, SRC)}: link {target}{anchor} does not resolve")
check(n_links >= 15, f"{n_links} links between the manual's pages checked")

print(f"{fails} failed")
sys.exit(1 if fails else 0)
